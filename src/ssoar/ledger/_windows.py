"""Quota windows: the calendar periods after which a quota starts again at zero.

A window runs from one boundary to the next, as ``[start, end)``. Boundaries
are local midnights in the rule's IANA time zone, so a daily window is 23 or
25 hours long on days when daylight-saving time starts or ends. Two cases need
a rule of their own:

- A gap skips local midnight (America/Santiago when DST starts, or Pacific/Apia
  on 2011-12-30, a day that never happened there). The boundary is then the
  first instant after midnight that exists, which is the instant of the
  transition. A skipped day gives an empty daily window, which no instant
  falls in.
- A fold repeats local midnight (America/Havana when DST ends). The boundary
  is then the earlier of the two midnights, the one with ``fold=0``.

Every bound is returned as a UTC-aware datetime. The zone rules come from
``zoneinfo``, which reads the system time zone database first and the
``tzdata`` package second. Windows in future years follow the rules in
whichever database is installed, and can move when a country changes its
rules.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "QuotaWindow",
    "WindowError",
    "WindowRule",
    "rule_from_json",
    "rule_to_json",
    "window_bounds",
    "window_key",
]

_DAYS_IN_WEEK = 7
_MAX_DAY_OF_MONTH = 31
_DEFAULT_ANCHOR_DAY = 1
_DEFAULT_TIME_ZONE = "UTC"

# Names that zoneinfo loads from the system database but that are not zones of
# the IANA database: "localtime" mirrors the machine's own setting, so a rule
# using it would give different windows on different machines.
_NON_IANA_ZONE_NAMES = frozenset({"localtime", "posixrules"})

# Instants outside these years are rejected, so that stepping a month and a
# day from the local date of ``at`` stays inside the range of ``datetime``.
_EARLIEST_INSTANT = datetime(2, 1, 1, tzinfo=UTC)
_LATEST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)

_JSON_KEYS = ("window", "time_zone", "anchor_day")


class WindowError(ValueError):
    """An invalid quota window rule or an instant a window cannot be found for."""


class QuotaWindow(StrEnum):
    """How often a quota resets."""

    NONE = "none"
    """The quota never resets."""
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


_WINDOW_NAMES = ", ".join(repr(window.value) for window in QuotaWindow)


@dataclass(frozen=True, slots=True)
class WindowRule:
    """The calendar window a quota resets on.

    Raises:
        WindowError: When a field has an invalid value. The message names the
            value and the fix.
    """

    window: QuotaWindow
    time_zone: str = _DEFAULT_TIME_ZONE
    """IANA time zone name whose local midnights are the window boundaries."""
    anchor_day: int = _DEFAULT_ANCHOR_DAY
    """The day a window starts: for MONTHLY the day of the month (1..31), for
    WEEKLY the ISO weekday (1 is Monday, 7 is Sunday). DAILY and NONE windows
    take no anchor, so it must stay at 1."""

    def __post_init__(self) -> None:
        if not isinstance(self.window, QuotaWindow):
            raise WindowError(
                f"window {self.window!r} is not a QuotaWindow; use one of "
                f"{_WINDOW_NAMES}, for example QuotaWindow.DAILY"
            )
        _load_zone(self.time_zone)
        _validate_anchor_day(self.window, self.anchor_day)


def _load_zone(name: object) -> ZoneInfo:
    """Load the IANA time zone ``name``, raising WindowError when it is invalid."""
    if not isinstance(name, str):
        raise WindowError(
            f"time zone {name!r} is not a string; use an IANA time zone name "
            "such as 'Europe/Berlin'"
        )
    if name in _NON_IANA_ZONE_NAMES:
        raise WindowError(
            f"time zone {name!r} is a machine-specific alias, not an IANA time "
            "zone name; use a name such as 'Europe/Berlin'"
        )
    try:
        return ZoneInfo(name)
    # ZoneInfo raises ValueError for malformed keys such as absolute paths and
    # an OSError subclass for a directory name such as "America".
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise WindowError(
            f"time zone {name!r} is not an IANA time zone name; use a name such "
            "as 'Europe/Berlin'"
        ) from error


def _validate_anchor_day(window: QuotaWindow, anchor_day: object) -> None:
    if isinstance(anchor_day, bool) or not isinstance(anchor_day, int):
        raise WindowError(
            f"anchor_day {anchor_day!r} is not an integer; use a whole number such as 1"
        )
    if window is QuotaWindow.WEEKLY:
        if not 1 <= anchor_day <= _DAYS_IN_WEEK:
            raise WindowError(
                f"anchor_day {anchor_day} is out of range for a weekly window, "
                "which takes an ISO weekday; use 1 (Monday) to 7 (Sunday)"
            )
    elif window is QuotaWindow.MONTHLY:
        if not 1 <= anchor_day <= _MAX_DAY_OF_MONTH:
            raise WindowError(
                f"anchor_day {anchor_day} is out of range for a monthly window, "
                "which takes a day of the month; use 1 to 31 (months shorter "
                "than the anchor start on their last day)"
            )
    elif anchor_day != _DEFAULT_ANCHOR_DAY:
        raise WindowError(
            f"anchor_day {anchor_day} has no meaning for a {window.value!r} "
            f"window; leave anchor_day at its default of {_DEFAULT_ANCHOR_DAY}"
        )


def window_bounds(rule: WindowRule, at: datetime) -> tuple[datetime, datetime] | None:
    """Find the window of ``rule`` that contains the instant ``at``.

    Returns:
        ``(start, end)`` as UTC-aware datetimes with ``start <= at < end``, or
        None for a NONE window, which never resets. The ``end`` of one window
        is the ``start`` of the next.

    Raises:
        WindowError: When ``at`` is naive or outside the years 2 to 9998.
    """
    instant = _to_utc(at)
    if rule.window is QuotaWindow.NONE:
        return None
    zone = ZoneInfo(rule.time_zone)

    start_day = _period_start_day(rule, instant.astimezone(zone).date())
    start = _local_midnight(start_day, zone)
    end = _local_midnight(_next_period_day(rule, start_day), zone)

    # The local date of ``at`` can name the wrong window when a fold repeats
    # the hour around midnight. In America/Goose_Bay on 2000-10-29 the clocks
    # went back from 00:01 to 23:01, so 23:30 on the 28th, seen the second
    # time, comes after the first midnight of the 29th. Step to the window
    # that contains ``at``. Windows a skipped day makes empty are stepped over.
    while instant >= end:
        start_day = _next_period_day(rule, start_day)
        start = end
        end = _local_midnight(_next_period_day(rule, start_day), zone)
    # NOTE: Stepping back needs a zone that skips past a local midnight and
    # then repeats it, so that the local date of ``at`` names a later window.
    # This loop keeps ``start <= at`` true for such a zone, but no test
    # reaches it.
    while instant < start:
        start_day = _previous_period_day(rule, start_day)
        end = start
        start = _local_midnight(start_day, zone)
    return start, end


def window_key(rule: WindowRule, at: datetime) -> str | None:
    """Name the window of ``rule`` that contains ``at`` by its UTC start.

    The key is the start in ISO 8601 with a ``Z`` suffix, such as
    ``"2026-03-09T16:00:00Z"``, or None for a NONE window. It is stable across
    runs and machines that share the time zone rules, but it names a window
    only within one rule: two rules with the same start get the same key.

    Raises:
        WindowError: As ``window_bounds`` does.
    """
    bounds = window_bounds(rule, at)
    if bounds is None:
        return None
    start, _ = bounds
    return start.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def rule_to_json(rule: WindowRule) -> dict[str, str | int]:
    """Convert ``rule`` to a JSON object that ``rule_from_json`` reads back."""
    return {
        "window": rule.window.value,
        "time_zone": rule.time_zone,
        "anchor_day": rule.anchor_day,
    }


def rule_from_json(data: object) -> WindowRule:
    """Build a WindowRule from a JSON object such as ``rule_to_json`` returns.

    ``window`` is required. ``time_zone`` defaults to ``"UTC"`` and
    ``anchor_day`` to 1.

    Raises:
        WindowError: When ``data`` is not an object, has a missing, unknown or
            wrongly typed key, or describes an invalid rule.
    """
    if not isinstance(data, Mapping):
        raise WindowError(
            f"window rule {data!r} is not a JSON object; use an object such as "
            '{"window": "daily", "time_zone": "UTC"}'
        )
    unknown_keys = sorted(str(key) for key in data if key not in _JSON_KEYS)
    if unknown_keys:
        raise WindowError(
            f"window rule has unknown keys {unknown_keys}; use only {list(_JSON_KEYS)}"
        )
    if "window" not in data:
        raise WindowError(
            f"window rule {dict(data)!r} is missing the key 'window'; set it to "
            f"one of {_WINDOW_NAMES}"
        )

    window_name = data["window"]
    try:
        window = QuotaWindow(window_name)
    except ValueError as error:
        raise WindowError(
            f"window {window_name!r} is not a quota window; use one of {_WINDOW_NAMES}"
        ) from error
    time_zone = data.get("time_zone", _DEFAULT_TIME_ZONE)
    if not isinstance(time_zone, str):
        raise WindowError(
            f"time_zone {time_zone!r} is not a string; use an IANA time zone "
            "name such as 'Europe/Berlin'"
        )
    anchor_day = data.get("anchor_day", _DEFAULT_ANCHOR_DAY)
    if isinstance(anchor_day, bool) or not isinstance(anchor_day, int):
        raise WindowError(
            f"anchor_day {anchor_day!r} is not an integer; use a whole number such as 1"
        )
    return WindowRule(window, time_zone, anchor_day)


def _to_utc(at: object) -> datetime:
    if not isinstance(at, datetime):
        raise WindowError(
            f"instant {at!r} is not a datetime; pass an aware datetime such as "
            "datetime(2026, 3, 10, tzinfo=UTC)"
        )
    if at.tzinfo is None or at.utcoffset() is None:
        raise WindowError(
            f"instant {at.isoformat()} has no time zone; pass an aware datetime "
            "such as datetime(2026, 3, 10, tzinfo=UTC)"
        )
    instant = at.astimezone(UTC)
    if not _EARLIEST_INSTANT <= instant < _LATEST_INSTANT:
        raise WindowError(
            f"instant {at.isoformat()} is outside the supported years 2 to 9998; "
            "pass an instant inside them"
        )
    return instant


def _period_start_day(rule: WindowRule, local_day: date) -> date:
    """Return the local date on which the window containing ``local_day`` starts."""
    if rule.window is QuotaWindow.DAILY:
        return local_day
    if rule.window is QuotaWindow.WEEKLY:
        days_since_anchor = (local_day.isoweekday() - rule.anchor_day) % _DAYS_IN_WEEK
        return local_day - timedelta(days=days_since_anchor)
    this_month = _monthly_anchor(local_day.year, local_day.month, rule.anchor_day)
    if local_day >= this_month:
        return this_month
    year, month = _shift_month(local_day.year, local_day.month, -1)
    return _monthly_anchor(year, month, rule.anchor_day)


def _next_period_day(rule: WindowRule, start_day: date) -> date:
    if rule.window is QuotaWindow.DAILY:
        return start_day + timedelta(days=1)
    if rule.window is QuotaWindow.WEEKLY:
        return start_day + timedelta(days=_DAYS_IN_WEEK)
    year, month = _shift_month(start_day.year, start_day.month, 1)
    return _monthly_anchor(year, month, rule.anchor_day)


def _previous_period_day(rule: WindowRule, start_day: date) -> date:
    if rule.window is QuotaWindow.DAILY:
        return start_day - timedelta(days=1)
    if rule.window is QuotaWindow.WEEKLY:
        return start_day - timedelta(days=_DAYS_IN_WEEK)
    year, month = _shift_month(start_day.year, start_day.month, -1)
    return _monthly_anchor(year, month, rule.anchor_day)


def _monthly_anchor(year: int, month: int, anchor_day: int) -> date:
    """Return day ``anchor_day`` of the month, or its last day if it is shorter."""
    _, days_in_month = calendar.monthrange(year, month)
    return date(year, month, min(anchor_day, days_in_month))


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of local midnight starting ``day`` in ``zone``.

    In a fold this is the earlier midnight (``fold=0``). In a gap it is the
    first instant after midnight that exists.
    """
    wall = datetime.combine(day, time())
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _first_instant_at_or_after(wall, zone)


def _first_instant_at_or_after(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the first UTC instant whose local time in ``zone`` is ``wall`` or later.

    Called only when ``wall`` falls in a gap. zoneinfo maps a wall time in a
    gap with the offset before the transition (``fold=0``) to an instant
    after the gap, and with the offset after it (``fold=1``) to an instant
    before the gap. The transition lies between the two, and a binary search
    finds it. Transitions in the tz database fall on whole seconds.
    """
    candidates = sorted(
        wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)
    )
    before, after = candidates
    while after - before > timedelta(seconds=1):
        half_seconds = int((after - before).total_seconds()) // 2
        middle = before + timedelta(seconds=half_seconds)
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return after
