"""Settings: declared once, read from options, environment, file and defaults."""

from ssoar.config._settings import (
    SETTINGS,
    Setting,
    Settings,
    load_settings,
    settings_reference,
)

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings", "settings_reference"]
