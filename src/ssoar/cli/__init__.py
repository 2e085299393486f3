"""The ``ssoar`` command line."""

from ssoar.cli import _live  # noqa: F401  (registers serve, sweep and api-key)
from ssoar.cli._app import app, main

__all__ = ["app", "main"]
