"""Fixtures for live booth tests: a settable clock and booths on tmp_path files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ssoar.config._settings import Settings, load_settings
from ssoar.live import LiveBooth


class Clock:
    """A clock that tests move by hand. The booth reads it as its ``clock``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += timedelta(seconds=seconds)

    def set(self, text: str) -> None:
        """Set the clock to an ISO 8601 instant such as 2026-03-10T15:59:00Z."""
        self.now = datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def clock() -> Clock:
    """A clock standing at 2026-03-10T12:00:00Z until a test moves it."""
    return Clock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a database and key file in tmp_path, ignoring SSOAR_* variables."""
    return load_settings(
        {"db": str(tmp_path / "live.db"), "key_file": str(tmp_path / "live.key")},
        environ={},
    )


@pytest.fixture
def make_booth(settings: Settings, clock: Clock) -> Iterator[Callable[..., LiveBooth]]:
    """Open booths on the test's files and close them all at teardown.

    Keyword arguments override the fixture's settings, clock and webhook flag.
    """
    booths: list[LiveBooth] = []

    def make(**options: Any) -> LiveBooth:
        booth = LiveBooth(
            options.pop("settings", settings),
            clock=options.pop("clock", clock),
            deliver_webhooks=options.pop("deliver_webhooks", False),
            **options,
        )
        booths.append(booth)
        return booth

    yield make
    for booth in booths:
        booth.close()


@pytest.fixture
def booth(make_booth: Callable[..., LiveBooth]) -> LiveBooth:
    """One booth on the test's files, with the fixture clock, without webhooks."""
    return make_booth()
