"""Tests for quota windows: calendar boundaries, daylight saving, gaps and folds.

Expected instants were worked out by hand from each zone's UTC offsets, as
given in the comments. Offsets and transition dates follow the tz database
rules in 2025b, which the historical and present-day cases here share with
2026f. A country that changes its rules can move the future cases.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.ledger._windows import (
    QuotaWindow,
    WindowError,
    WindowRule,
    rule_from_json,
    rule_to_json,
    window_bounds,
    window_key,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def bounds(rule: WindowRule, at: datetime) -> tuple[datetime, datetime]:
    """Call window_bounds for a rule that resets, failing on None."""
    result = window_bounds(rule, at)
    assert result is not None, f"{rule} returned no window"
    return result


def daily(zone: str) -> WindowRule:
    return WindowRule(QuotaWindow.DAILY, zone)


# Daily windows


def test_shanghai_daily_before_midnight() -> None:
    # Asia/Shanghai is UTC+8 all year, so local midnight is 16:00 UTC on the
    # previous day. 15:59:59Z on 2026-03-10 is 23:59:59 local on the 10th.
    rule = daily("Asia/Shanghai")
    start, end = bounds(rule, utc(2026, 3, 10, 15, 59, 59))
    assert start == utc(2026, 3, 9, 16)
    assert end == utc(2026, 3, 10, 16)


def test_shanghai_daily_last_microsecond() -> None:
    rule = daily("Asia/Shanghai")
    start, end = bounds(rule, utc(2026, 3, 10, 15, 59, 59, 999_999))
    assert start == utc(2026, 3, 9, 16)
    assert end == utc(2026, 3, 10, 16)


def test_shanghai_daily_at_midnight() -> None:
    rule = daily("Asia/Shanghai")
    start, end = bounds(rule, utc(2026, 3, 10, 16))
    assert start == utc(2026, 3, 10, 16)
    assert end == utc(2026, 3, 11, 16)


def test_shanghai_daily_key() -> None:
    rule = daily("Asia/Shanghai")
    assert window_key(rule, utc(2026, 3, 10, 15, 59, 59)) == "2026-03-09T16:00:00Z"
    assert window_key(rule, utc(2026, 3, 10, 16)) == "2026-03-10T16:00:00Z"


def test_daily_accepts_non_utc_instant() -> None:
    # 23:59:59 in Shanghai and 15:59:59 at UTC+0 are the same instant.
    rule = daily("Asia/Shanghai")
    shanghai_time = datetime(2026, 3, 10, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))
    fixed_offset = datetime(2026, 3, 10, 15, 59, 59, tzinfo=timezone(timedelta(0)))
    expected = (utc(2026, 3, 9, 16), utc(2026, 3, 10, 16))
    assert window_bounds(rule, shanghai_time) == expected
    assert window_bounds(rule, fixed_offset) == expected


def test_bounds_are_utc() -> None:
    rule = daily("Asia/Shanghai")
    at = datetime(2026, 3, 10, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    start, end = bounds(rule, at)
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


def test_utc_daily() -> None:
    start, end = bounds(daily("UTC"), utc(2026, 7, 4, 12, 30))
    assert start == utc(2026, 7, 4)
    assert end == utc(2026, 7, 5)


def test_rule_defaults_to_utc() -> None:
    rule = WindowRule(QuotaWindow.DAILY)
    assert rule.time_zone == "UTC"
    assert rule.anchor_day == 1


# Daylight saving in Europe/Berlin: CET is UTC+1, CEST is UTC+2. DST starts on
# 2026-03-29 at 01:00Z and ends on 2026-10-25 at 01:00Z.


def test_berlin_daily_spring_23_hours() -> None:
    # 2026-03-29 starts at 00:00 CET = 2026-03-28T23:00Z and ends at
    # 2026-03-30 00:00 CEST = 2026-03-29T22:00Z.
    start, end = bounds(daily("Europe/Berlin"), utc(2026, 3, 29, 12))
    assert start == utc(2026, 3, 28, 23)
    assert end == utc(2026, 3, 29, 22)
    assert end - start == 23 * HOUR


def test_berlin_daily_autumn_25_hours() -> None:
    # 2026-10-25 starts at 00:00 CEST = 2026-10-24T22:00Z and ends at
    # 2026-10-26 00:00 CET = 2026-10-25T23:00Z.
    start, end = bounds(daily("Europe/Berlin"), utc(2026, 10, 25, 12))
    assert start == utc(2026, 10, 24, 22)
    assert end == utc(2026, 10, 25, 23)
    assert end - start == 25 * HOUR


def test_berlin_daily_repeated_hour() -> None:
    # 00:30Z and 01:30Z both read 02:30 in Berlin, once in CEST and once in
    # CET. Both lie in the 25-hour day.
    rule = daily("Europe/Berlin")
    first = bounds(rule, utc(2026, 10, 25, 0, 30))
    second = bounds(rule, utc(2026, 10, 25, 1, 30))
    assert first == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert second == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))


def test_berlin_daily_days_around_change() -> None:
    # The days before and after the spring change are 24 hours long.
    rule = daily("Europe/Berlin")
    assert bounds(rule, utc(2026, 3, 28, 22, 59, 59)) == (
        utc(2026, 3, 27, 23),
        utc(2026, 3, 28, 23),
    )
    assert bounds(rule, utc(2026, 3, 29, 22)) == (
        utc(2026, 3, 29, 22),
        utc(2026, 3, 30, 22),
    )


def test_berlin_monthly_spans_spring_change() -> None:
    # 2026-03-01 00:00 CET = 2026-02-28T23:00Z. 2026-04-01 00:00 CEST =
    # 2026-03-31T22:00Z. 31 days less the hour skipped on 2026-03-29.
    rule = WindowRule(QuotaWindow.MONTHLY, "Europe/Berlin", 1)
    start, end = bounds(rule, utc(2026, 3, 15, 12))
    assert start == utc(2026, 2, 28, 23)
    assert end == utc(2026, 3, 31, 22)
    assert end - start == 31 * DAY - HOUR


def test_berlin_monthly_spans_autumn_change() -> None:
    # 2026-10-01 00:00 CEST = 2026-09-30T22:00Z. 2026-11-01 00:00 CET =
    # 2026-10-31T23:00Z. 31 days and the hour repeated on 2026-10-25.
    rule = WindowRule(QuotaWindow.MONTHLY, "Europe/Berlin", 1)
    start, end = bounds(rule, utc(2026, 10, 25, 1, 30))
    assert start == utc(2026, 9, 30, 22)
    assert end == utc(2026, 10, 31, 23)
    assert end - start == 31 * DAY + HOUR


# Monthly windows anchored on the 31st start on each month's last day when the
# month is shorter.


def test_monthly_31_february_non_leap() -> None:
    rule = WindowRule(QuotaWindow.MONTHLY, "UTC", 31)
    assert bounds(rule, utc(2026, 2, 15, 12)) == (utc(2026, 1, 31), utc(2026, 2, 28))
    assert bounds(rule, utc(2026, 2, 27, 23, 59, 59)) == (
        utc(2026, 1, 31),
        utc(2026, 2, 28),
    )
    assert bounds(rule, utc(2026, 2, 28)) == (utc(2026, 2, 28), utc(2026, 3, 31))


def test_monthly_31_february_leap() -> None:
    rule = WindowRule(QuotaWindow.MONTHLY, "UTC", 31)
    assert bounds(rule, utc(2028, 2, 28, 12)) == (utc(2028, 1, 31), utc(2028, 2, 29))
    assert bounds(rule, utc(2028, 2, 29)) == (utc(2028, 2, 29), utc(2028, 3, 31))


def test_monthly_31_april() -> None:
    rule = WindowRule(QuotaWindow.MONTHLY, "UTC", 31)
    assert bounds(rule, utc(2026, 4, 15)) == (utc(2026, 3, 31), utc(2026, 4, 30))
    assert bounds(rule, utc(2026, 4, 29, 23, 59, 59)) == (
        utc(2026, 3, 31),
        utc(2026, 4, 30),
    )
    assert bounds(rule, utc(2026, 4, 30)) == (utc(2026, 4, 30), utc(2026, 5, 31))


def test_monthly_31_first_of_month() -> None:
    # The 1st of a month lies in the window that started on the last day of
    # the month before.
    rule = WindowRule(QuotaWindow.MONTHLY, "UTC", 31)
    assert bounds(rule, utc(2026, 5, 1)) == (utc(2026, 4, 30), utc(2026, 5, 31))


def test_monthly_29_non_leap_year() -> None:
    rule = WindowRule(QuotaWindow.MONTHLY, "UTC", 29)
    assert bounds(rule, utc(2026, 2, 28, 12)) == (utc(2026, 2, 28), utc(2026, 3, 29))
    assert bounds(rule, utc(2026, 2, 27)) == (utc(2026, 1, 29), utc(2026, 2, 28))


def test_monthly_15_in_shanghai() -> None:
    # Local midnight on the 15th is 16:00Z on the 14th.
    rule = WindowRule(QuotaWindow.MONTHLY, "Asia/Shanghai", 15)
    assert bounds(rule, utc(2026, 6, 14, 15, 59, 59)) == (
        utc(2026, 5, 14, 16),
        utc(2026, 6, 14, 16),
    )
    assert bounds(rule, utc(2026, 6, 14, 16)) == (
        utc(2026, 6, 14, 16),
        utc(2026, 7, 14, 16),
    )


def test_monthly_31_berlin_year_tiles() -> None:
    # Each start is local midnight on the last day of a month. Starts from
    # 2026-03-31 to 2026-09-30 are in CEST (UTC+2), the others in CET (UTC+1).
    rule = WindowRule(QuotaWindow.MONTHLY, "Europe/Berlin", 31)
    expected_starts = [
        utc(2026, 1, 30, 23),
        utc(2026, 2, 27, 23),
        utc(2026, 3, 30, 22),
        utc(2026, 4, 29, 22),
        utc(2026, 5, 30, 22),
        utc(2026, 6, 29, 22),
        utc(2026, 7, 30, 22),
        utc(2026, 8, 30, 22),
        utc(2026, 9, 29, 22),
        utc(2026, 10, 30, 23),
        utc(2026, 11, 29, 23),
        utc(2026, 12, 30, 23),
        utc(2027, 1, 30, 23),
    ]
    starts = []
    start, end = bounds(rule, utc(2026, 2, 1))
    for _ in range(12):
        starts.append(start)
        next_start, next_end = bounds(rule, end)
        assert next_start == end
        start, end = next_start, next_end
    starts.append(start)
    assert starts == expected_starts


# Weekly windows


def test_weekly_monday_new_york_spring() -> None:
    # New York is UTC-5 (EST) until DST starts on 2026-03-08, then UTC-4.
    # Monday 2026-03-02 00:00 EST = 05:00Z; Monday 2026-03-09 00:00 EDT = 04:00Z.
    rule = WindowRule(QuotaWindow.WEEKLY, "America/New_York", 1)
    week = (utc(2026, 3, 2, 5), utc(2026, 3, 9, 4))
    assert bounds(rule, utc(2026, 3, 8, 12)) == week
    assert bounds(rule, utc(2026, 3, 2, 5)) == week
    assert bounds(rule, utc(2026, 3, 9, 3, 59, 59)) == week
    assert week[1] - week[0] == 7 * DAY - HOUR


def test_weekly_monday_new_york_boundaries() -> None:
    rule = WindowRule(QuotaWindow.WEEKLY, "America/New_York", 1)
    # Sunday 2026-03-01 23:59:59 EST is in the week from Monday 2026-02-23.
    assert bounds(rule, utc(2026, 3, 2, 4, 59, 59)) == (
        utc(2026, 2, 23, 5),
        utc(2026, 3, 2, 5),
    )
    assert bounds(rule, utc(2026, 3, 9, 4)) == (utc(2026, 3, 9, 4), utc(2026, 3, 16, 4))


def test_weekly_sunday_shanghai() -> None:
    # 2026-03-10T12:00Z is Tuesday 20:00 local, in the week from Sunday 2026-03-08.
    rule = WindowRule(QuotaWindow.WEEKLY, "Asia/Shanghai", 7)
    assert bounds(rule, utc(2026, 3, 10, 12)) == (
        utc(2026, 3, 7, 16),
        utc(2026, 3, 14, 16),
    )


def test_weekly_anchor_day_itself() -> None:
    # Monday 2026-03-09 08:00 local in Shanghai is in the week it starts.
    rule = WindowRule(QuotaWindow.WEEKLY, "Asia/Shanghai", 1)
    assert bounds(rule, utc(2026, 3, 9)) == (utc(2026, 3, 8, 16), utc(2026, 3, 15, 16))


# Gaps and folds at local midnight


def test_santiago_gap_skips_midnight() -> None:
    # Chile moves from UTC-4 to UTC-3 at 04:00Z on Sunday 2026-09-06, which
    # is 00:00 local. Local time jumps to 01:00, so the day starts at 04:00Z
    # and ends at 2026-09-07 00:00 UTC-3 = 03:00Z.
    rule = daily("America/Santiago")
    assert bounds(rule, utc(2026, 9, 6, 12)) == (utc(2026, 9, 6, 4), utc(2026, 9, 7, 3))
    assert bounds(rule, utc(2026, 9, 6, 3, 59, 59)) == (
        utc(2026, 9, 5, 4),
        utc(2026, 9, 6, 4),
    )


def test_santiago_fold_before_midnight() -> None:
    # Chile moves from UTC-3 to UTC-4 at 03:00Z on Sunday 2026-04-05. Local
    # time goes back from 00:00 to 23:00 on Saturday, so Saturday runs from
    # 00:00 UTC-3 = 03:00Z to 00:00 UTC-4 = 04:00Z the next day.
    rule = daily("America/Santiago")
    saturday = (utc(2026, 4, 4, 3), utc(2026, 4, 5, 4))
    assert bounds(rule, utc(2026, 4, 5, 2, 30)) == saturday
    assert bounds(rule, utc(2026, 4, 5, 3, 30)) == saturday
    assert saturday[1] - saturday[0] == 25 * HOUR


def test_havana_gap_at_midnight() -> None:
    # Cuba moves from UTC-5 to UTC-4 at 00:00 local (05:00Z) on 2025-03-09.
    # The day starts at 01:00 local, the same instant.
    rule = daily("America/Havana")
    assert bounds(rule, utc(2025, 3, 9, 12)) == (
        utc(2025, 3, 9, 5),
        utc(2025, 3, 10, 4),
    )
    assert bounds(rule, utc(2025, 3, 9, 4, 59, 59)) == (
        utc(2025, 3, 8, 5),
        utc(2025, 3, 9, 5),
    )


def test_havana_fold_repeats_midnight() -> None:
    # Cuba moves from UTC-4 to UTC-5 at 01:00 local (05:00Z) on 2025-11-02,
    # going back to 00:00. Midnight happens at 04:00Z and again at 05:00Z,
    # and the window starts at the first.
    rule = daily("America/Havana")
    day = (utc(2025, 11, 2, 4), utc(2025, 11, 3, 5))
    assert bounds(rule, utc(2025, 11, 2, 4)) == day
    assert bounds(rule, utc(2025, 11, 2, 4, 30)) == day
    assert bounds(rule, utc(2025, 11, 2, 5)) == day
    assert bounds(rule, utc(2025, 11, 2, 5, 30)) == day
    assert bounds(rule, utc(2025, 11, 2, 3, 59, 59)) == (
        utc(2025, 11, 1, 4),
        utc(2025, 11, 2, 4),
    )


def test_toronto_gap_across_midnight() -> None:
    # On 1919-03-30 Toronto moved from UTC-5 to UTC-4 at 23:30 local
    # (04:30Z on the 31st), jumping to 00:30. Midnight of the 31st never
    # happened, so its day starts at the transition and ends at
    # 1919-04-01 00:00 UTC-4 = 04:00Z.
    rule = daily("America/Toronto")
    assert bounds(rule, utc(1919, 3, 31, 12)) == (
        utc(1919, 3, 31, 4, 30),
        utc(1919, 4, 1, 4),
    )
    assert bounds(rule, utc(1919, 3, 31, 4, 29, 59)) == (
        utc(1919, 3, 30, 5),
        utc(1919, 3, 31, 4, 30),
    )


def test_goose_bay_fold_across_midnight() -> None:
    # On 2000-10-29 Goose Bay moved from UTC-3 to UTC-4 at 00:01 local
    # (03:01Z), going back to 23:01 on the 28th. Midnight of the 29th happens
    # at 03:00Z and again at 04:00Z. The instant 03:30Z reads 23:30 on the
    # 28th but comes after the first midnight, so it is in the 29th's window.
    rule = daily("America/Goose_Bay")
    day_29 = (utc(2000, 10, 29, 3), utc(2000, 10, 30, 4))
    assert bounds(rule, utc(2000, 10, 29, 3, 30)) == day_29
    assert bounds(rule, utc(2000, 10, 29, 3)) == day_29
    assert bounds(rule, utc(2000, 10, 29, 4)) == day_29
    assert bounds(rule, utc(2000, 10, 29, 2, 59, 59)) == (
        utc(2000, 10, 28, 3),
        utc(2000, 10, 29, 3),
    )


def test_apia_skipped_day_daily() -> None:
    # Samoa skipped 2011-12-30. At 10:00Z its local time jumped from
    # 2011-12-29 24:00 (UTC-10) to 2011-12-31 00:00 (UTC+14). The 29th ends and the
    # 31st starts at that instant.
    rule = daily("Pacific/Apia")
    assert bounds(rule, utc(2011, 12, 30, 9, 59, 59)) == (
        utc(2011, 12, 29, 10),
        utc(2011, 12, 30, 10),
    )
    assert bounds(rule, utc(2011, 12, 30, 10)) == (
        utc(2011, 12, 30, 10),
        utc(2011, 12, 31, 10),
    )


def test_apia_skipped_day_weekly() -> None:
    # Monday 2011-12-26 00:00 UTC-10 = 10:00Z. Monday 2012-01-02 00:00 UTC+14
    # = 2012-01-01T10:00Z. The week is six days long.
    rule = WindowRule(QuotaWindow.WEEKLY, "Pacific/Apia", 1)
    start, end = bounds(rule, utc(2011, 12, 30, 12))
    assert start == utc(2011, 12, 26, 10)
    assert end == utc(2012, 1, 1, 10)
    assert end - start == 6 * DAY


def test_apia_monthly_anchor_on_skipped_day() -> None:
    # The window anchored on the 30th starts at the first instant after the
    # skipped midnight of 2011-12-30, and ends at 2012-01-30 00:00 UTC+14.
    rule = WindowRule(QuotaWindow.MONTHLY, "Pacific/Apia", 30)
    assert bounds(rule, utc(2011, 12, 31)) == (
        utc(2011, 12, 30, 10),
        utc(2012, 1, 29, 10),
    )
    assert bounds(rule, utc(2011, 12, 30, 9, 59, 59)) == (
        utc(2011, 11, 30, 10),
        utc(2011, 12, 30, 10),
    )


# Windows that never reset, and the supported range


def test_none_window_has_no_bounds() -> None:
    rule = WindowRule(QuotaWindow.NONE)
    assert window_bounds(rule, utc(2026, 3, 10)) is None
    assert window_key(rule, utc(2026, 3, 10)) is None


def test_extreme_supported_instants() -> None:
    # Pacific/Kiritimati is UTC+14, so the last supported instant is on
    # 9999-01-01 locally. Pacific/Pago_Pago is UTC-11, so the first is on
    # 0001-12-31 locally.
    late = WindowRule(QuotaWindow.MONTHLY, "Pacific/Kiritimati", 31)
    early = WindowRule(QuotaWindow.MONTHLY, "Pacific/Pago_Pago", 31)
    late_start, late_end = bounds(late, utc(9998, 12, 31, 23, 59, 59))
    early_start, early_end = bounds(early, utc(2, 1, 1))
    assert late_start <= utc(9998, 12, 31, 23, 59, 59) < late_end
    assert early_start <= utc(2, 1, 1) < early_end


# Errors


def test_naive_instant_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        window_bounds(daily("UTC"), datetime(2026, 3, 10, 15, 59, 59))
    assert str(caught.value) == (
        "instant 2026-03-10T15:59:59 has no time zone; pass an aware datetime "
        "such as datetime(2026, 3, 10, tzinfo=UTC)"
    )


def test_naive_instant_rejected_for_none_window() -> None:
    with pytest.raises(WindowError, match="has no time zone"):
        window_bounds(WindowRule(QuotaWindow.NONE), datetime(2026, 3, 10))


def test_naive_instant_rejected_by_key() -> None:
    with pytest.raises(WindowError, match="has no time zone"):
        window_key(daily("UTC"), datetime(2026, 3, 10))


def test_date_instant_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        window_bounds(daily("UTC"), date(2026, 3, 10))  # type: ignore[arg-type]
    assert "instant datetime.date(2026, 3, 10) is not a datetime" in str(caught.value)


@pytest.mark.parametrize(
    "at",
    [utc(9999, 1, 1), utc(1, 12, 31, 23, 59, 59)],
    ids=["year-9999", "year-1"],
)
def test_instant_out_of_range_rejected(at: datetime) -> None:
    with pytest.raises(WindowError) as caught:
        window_bounds(daily("UTC"), at)
    assert str(caught.value) == (
        f"instant {at.isoformat()} is outside the supported years 2 to 9998; "
        "pass an instant inside them"
    )


def test_unknown_zone_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        daily("Mars/Base")
    assert str(caught.value) == (
        "time zone 'Mars/Base' is not an IANA time zone name; use a name such as "
        "'Europe/Berlin'"
    )


@pytest.mark.parametrize(
    "name",
    ["", "utc", "America", "/etc/localtime", "../Europe/Berlin"],
    ids=["empty", "lower-case", "directory", "absolute-path", "relative-path"],
)
def test_invalid_zone_names_rejected(name: str) -> None:
    with pytest.raises(WindowError) as caught:
        daily(name)
    assert str(caught.value) == (
        f"time zone {name!r} is not an IANA time zone name; use a name such as "
        "'Europe/Berlin'"
    )


def test_localtime_zone_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        daily("localtime")
    assert str(caught.value) == (
        "time zone 'localtime' is a machine-specific alias, not an IANA time zone "
        "name; use a name such as 'Europe/Berlin'"
    )


def test_non_string_zone_rejected() -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule(QuotaWindow.DAILY, 8)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "time zone 8 is not a string; use an IANA time zone name such as "
        "'Europe/Berlin'"
    )


def test_window_must_be_enum_member() -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule("hourly")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "window 'hourly' is not a QuotaWindow; use one of 'none', 'daily', "
        "'weekly', 'monthly', for example QuotaWindow.DAILY"
    )


@pytest.mark.parametrize("anchor_day", [0, 8, -1])
def test_weekly_anchor_out_of_range(anchor_day: int) -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule(QuotaWindow.WEEKLY, "UTC", anchor_day)
    assert str(caught.value) == (
        f"anchor_day {anchor_day} is out of range for a weekly window, which "
        "takes an ISO weekday; use 1 (Monday) to 7 (Sunday)"
    )


@pytest.mark.parametrize("anchor_day", [0, 32])
def test_monthly_anchor_out_of_range(anchor_day: int) -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule(QuotaWindow.MONTHLY, "UTC", anchor_day)
    assert str(caught.value) == (
        f"anchor_day {anchor_day} is out of range for a monthly window, which "
        "takes a day of the month; use 1 to 31 (months shorter than the anchor "
        "start on their last day)"
    )


@pytest.mark.parametrize("window", [QuotaWindow.DAILY, QuotaWindow.NONE])
def test_anchor_rejected_without_calendar(window: QuotaWindow) -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule(window, "UTC", 3)
    assert str(caught.value) == (
        f"anchor_day 3 has no meaning for a {window.value!r} window; leave "
        "anchor_day at its default of 1"
    )


@pytest.mark.parametrize("anchor_day", [True, 1.0, "1"], ids=["bool", "float", "str"])
def test_anchor_must_be_integer(anchor_day: object) -> None:
    with pytest.raises(WindowError) as caught:
        WindowRule(QuotaWindow.MONTHLY, "UTC", anchor_day)  # type: ignore[arg-type]
    assert str(caught.value) == (
        f"anchor_day {anchor_day!r} is not an integer; use a whole number such as 1"
    )


def test_window_error_is_value_error() -> None:
    assert issubclass(WindowError, ValueError)


# JSON


def test_rule_to_json_fields() -> None:
    rule = WindowRule(QuotaWindow.MONTHLY, "Europe/Berlin", 31)
    assert rule_to_json(rule) == {
        "window": "monthly",
        "time_zone": "Europe/Berlin",
        "anchor_day": 31,
    }


def test_rule_from_json_defaults() -> None:
    assert rule_from_json({"window": "daily"}) == WindowRule(QuotaWindow.DAILY)


def test_rule_from_json_all_fields() -> None:
    data = {"window": "weekly", "time_zone": "Asia/Shanghai", "anchor_day": 7}
    assert rule_from_json(data) == WindowRule(QuotaWindow.WEEKLY, "Asia/Shanghai", 7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            ["daily"],
            "window rule ['daily'] is not a JSON object; use an object such as "
            '{"window": "daily", "time_zone": "UTC"}',
        ),
        (
            {"time_zone": "UTC"},
            "window rule {'time_zone': 'UTC'} is missing the key 'window'; set it "
            "to one of 'none', 'daily', 'weekly', 'monthly'",
        ),
        (
            {"window": "hourly"},
            "window 'hourly' is not a quota window; use one of 'none', 'daily', "
            "'weekly', 'monthly'",
        ),
        (
            {"window": "daily", "zone": "UTC", "anchor": 1},
            "window rule has unknown keys ['anchor', 'zone']; use only "
            "['window', 'time_zone', 'anchor_day']",
        ),
        (
            {"window": "daily", "time_zone": None},
            "time_zone None is not a string; use an IANA time zone name such as "
            "'Europe/Berlin'",
        ),
        (
            {"window": "monthly", "anchor_day": "31"},
            "anchor_day '31' is not an integer; use a whole number such as 1",
        ),
        (
            {"window": "monthly", "anchor_day": 32},
            "anchor_day 32 is out of range for a monthly window, which takes a day "
            "of the month; use 1 to 31 (months shorter than the anchor start on "
            "their last day)",
        ),
        (
            {"window": "daily", "time_zone": "Mars/Base"},
            "time zone 'Mars/Base' is not an IANA time zone name; use a name such "
            "as 'Europe/Berlin'",
        ),
    ],
    ids=[
        "not-object",
        "missing-window",
        "unknown-window",
        "unknown-keys",
        "zone-not-string",
        "anchor-not-integer",
        "anchor-out-of-range",
        "unknown-zone",
    ],
)
def test_rule_from_json_rejects(data: object, message: str) -> None:
    with pytest.raises(WindowError) as caught:
        rule_from_json(data)
    assert str(caught.value) == message


# Properties over random rules and instants

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Shanghai",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Apia",
    "America/Havana",
    "America/Goose_Bay",
    "Asia/Kathmandu",
]

zones = st.sampled_from(ZONES)
rules = st.one_of(
    st.builds(WindowRule, st.just(QuotaWindow.DAILY), zones),
    st.builds(WindowRule, st.just(QuotaWindow.WEEKLY), zones, st.integers(1, 7)),
    st.builds(WindowRule, st.just(QuotaWindow.MONTHLY), zones, st.integers(1, 31)),
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 12, 31, 23, 59, 59, 999_999),
    timezones=st.just(UTC),
)

# Shortest and longest windows between 2000 and 2100 in ZONES. A daylight
# change takes or adds at most an hour, and Samoa's skipped day makes one
# week six days long.
LENGTH_RANGES = {
    QuotaWindow.DAILY: (23 * HOUR, 25 * HOUR),
    QuotaWindow.WEEKLY: (6 * DAY, 7 * DAY + HOUR),
    QuotaWindow.MONTHLY: (28 * DAY - HOUR, 31 * DAY + HOUR),
}


def boundary_days(boundary: datetime, zone: ZoneInfo) -> list[date]:
    """Return the local dates whose midnight falls at ``boundary``.

    That is each date whose midnight lies after the local time one second
    before ``boundary`` and at or before the local time at ``boundary``. An
    ordinary midnight gives one date. A gap that skips midnight gives the
    skipped date, and Samoa's skipped day gives two. Any other instant gives
    none.
    """
    wall = boundary.astimezone(zone).replace(tzinfo=None)
    wall_before = (boundary - timedelta(seconds=1)).astimezone(zone)
    days = []
    day = wall_before.date() + DAY
    while datetime.combine(day, time()) <= wall:
        days.append(day)
        day += DAY
    return days


def is_anchor_day(rule: WindowRule, day: date) -> bool:
    if rule.window is QuotaWindow.WEEKLY:
        return day.isoweekday() == rule.anchor_day
    if rule.window is QuotaWindow.MONTHLY:
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        return day.day == min(rule.anchor_day, days_in_month)
    return True


@settings(max_examples=400, deadline=None)
@given(rule=rules, at=instants)
def test_window_contains_instant(rule: WindowRule, at: datetime) -> None:
    start, end = bounds(rule, at)
    assert start <= at < end
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


@settings(max_examples=400, deadline=None)
@given(rule=rules, at=instants)
def test_windows_tile(rule: WindowRule, at: datetime) -> None:
    start, end = bounds(rule, at)
    assert bounds(rule, start) == (start, end)
    assert bounds(rule, end)[0] == end
    assert bounds(rule, end - timedelta(microseconds=1)) == (start, end)
    assert bounds(rule, start - timedelta(microseconds=1))[1] == start


@settings(max_examples=400, deadline=None)
@given(rule=rules, at=instants)
def test_window_starts_at_local_midnight(rule: WindowRule, at: datetime) -> None:
    zone = ZoneInfo(rule.time_zone)
    start, _ = bounds(rule, at)
    days = boundary_days(start, zone)
    assert days, f"{start} is not a local midnight in {rule.time_zone}"
    assert any(is_anchor_day(rule, day) for day in days), days
    local_start = start.astimezone(zone)
    if local_start.time() == time():
        assert local_start.fold == 0, "start is the second of two midnights"


@settings(max_examples=400, deadline=None)
@given(rule=rules, at=instants)
def test_window_length_in_range(rule: WindowRule, at: datetime) -> None:
    start, end = bounds(rule, at)
    shortest, longest = LENGTH_RANGES[rule.window]
    assert shortest <= end - start <= longest


@settings(max_examples=200, deadline=None)
@given(rule=rules, at=instants, at_zone=zones)
def test_instant_zone_does_not_matter(
    rule: WindowRule, at: datetime, at_zone: str
) -> None:
    assert window_bounds(rule, at.astimezone(ZoneInfo(at_zone))) == window_bounds(
        rule, at
    )


@settings(max_examples=200, deadline=None)
@given(rule=rules, at=instants)
def test_key_is_utc_start(rule: WindowRule, at: datetime) -> None:
    start, _ = bounds(rule, at)
    key = window_key(rule, at)
    assert key is not None
    assert key.endswith("Z")
    assert datetime.fromisoformat(key.removesuffix("Z")).replace(tzinfo=UTC) == start


@given(rule=st.one_of(rules, st.builds(WindowRule, st.just(QuotaWindow.NONE), zones)))
def test_json_round_trip(rule: WindowRule) -> None:
    assert rule_from_json(rule_to_json(rule)) == rule
