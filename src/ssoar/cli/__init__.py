"""The ``ssoar`` command line."""

from ssoar.cli._app import app, main

__all__ = ["app", "main"]
