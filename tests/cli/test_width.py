"""The width of the command line's output on terminals, pipes and files."""

from __future__ import annotations

import pytest

from ssoar.cli._app import _PIPE_WIDTH, _width


def test_pipe_gets_wide_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert _width() == _PIPE_WIDTH


def test_columns_wins_on_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert _width() == 1000


def test_bad_columns_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "wide")
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert _width() == _PIPE_WIDTH
