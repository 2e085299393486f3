"""Tests for parsing trace timestamps and the one canonical time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.model import format_time, parse_time

MOMENT = datetime(2025, 7, 11, 7, 45, 13, 601_000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2025-07-11T07:45:13.601Z",
        "2025-07-11T07:45:13.601z",
        "2025-07-11T07:45:13.601+00:00",
        "2025-07-11T09:45:13.601+02:00",
        "2025-07-11T02:45:13.601-05:00",
        " 2025-07-11T07:45:13.601Z ",
    ],
)
def test_parse_iso_text(value: str) -> None:
    result = parse_time(value, field="start")
    assert result == MOMENT
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [1_752_219_913_601_000_000, "1752219913601000000"],
    ids=["int", "digits"],
)
def test_parse_epoch_nanoseconds(value: object) -> None:
    assert parse_time(value, field="start") == MOMENT


def test_parse_nanoseconds_truncated_to_micros() -> None:
    # 999 nanoseconds past MOMENT are below one microsecond.
    assert parse_time(1_752_219_913_601_000_999, field="start") == MOMENT


def test_parse_aware_datetime() -> None:
    local = MOMENT.astimezone(timezone(timedelta(hours=9)))
    result = parse_time(local, field="start")
    assert result == MOMENT
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    ["2025-07-11T07:45:13.601", datetime(2025, 7, 11, 7, 45)],
    ids=["text", "datetime"],
)
def test_parse_naive_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="no timezone"):
        parse_time(value, field="start")


@pytest.mark.parametrize(
    "value",
    [
        "1999-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        # Seconds since the epoch read as nanoseconds land in 1970.
        1_752_219_913,
        "1752219913",
    ],
)
def test_parse_out_of_range_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="outside 2000-2200"):
        parse_time(value, field="start")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            10**30,
            f"start={10**30} is not a time: expected nanoseconds since the epoch "
            "between 2000 and 2200",
        ),
        (
            -(10**25),
            f"start={-(10**25)} is not a time: expected nanoseconds since the "
            "epoch between 2000 and 2200",
        ),
        # 2**63 ns is a datetime, just past the allowed range.
        (
            2**63,
            "start=9223372036854775808 is 2262-04-11T23:47:16.854775+00:00, "
            "outside 2000-2200; check whether the unit is nanoseconds",
        ),
    ],
)
def test_parse_huge_integer_value_error(value: int, message: str) -> None:
    """Integers far outside any datetime raise ValueError, not OverflowError."""
    with pytest.raises(ValueError) as raised:
        parse_time(value, field="start")
    assert type(raised.value) is ValueError
    assert str(raised.value) == message


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", ""])
def test_parse_invalid_text_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        parse_time(value, field="start")


@pytest.mark.parametrize("value", [1.5, True, None, b"2025"])
def test_parse_other_types_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="has type"):
        parse_time(value, field="start")


def test_parse_range_boundaries() -> None:
    assert parse_time("2000-01-01T00:00:00Z", field="t") == datetime(
        2000, 1, 1, tzinfo=UTC
    )
    assert parse_time("2199-12-31T23:59:59.999999Z", field="t") == datetime(
        2199, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MOMENT, "2025-07-11T07:45:13.601000Z"),
        (datetime(2025, 1, 1, tzinfo=UTC), "2025-01-01T00:00:00.000000Z"),
        (
            datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-01T00:00:00.000000Z",
        ),
        (
            datetime(2025, 1, 1, tzinfo=ZoneInfo("America/New_York")),
            "2025-01-01T05:00:00.000000Z",
        ),
    ],
)
def test_format_time_canonical(value: datetime, expected: str) -> None:
    assert format_time(value) == expected


_MOMENTS = st.datetimes(
    # A day inside each bound, so every offset below stays within 2000-2200.
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2199, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)


@settings(max_examples=200)
@given(_MOMENTS)
def test_format_parse_round_trip(moment: datetime) -> None:
    text = format_time(moment)
    assert parse_time(text, field="t") == moment
    assert format_time(parse_time(text, field="t")) == text


@settings(max_examples=200)
@given(_MOMENTS, _MOMENTS)
def test_format_sorts_like_time(first: datetime, second: datetime) -> None:
    """The canonical text sorts in time order, so stored times compare as text."""
    assert (format_time(first) < format_time(second)) == (first < second)


@settings(max_examples=300)
@given(_MOMENTS)
def test_format_equals_isoformat(moment: datetime) -> None:
    """The canonical text is ISO 8601 in UTC with microseconds and "Z"."""
    expected = moment.astimezone(UTC).isoformat(timespec="microseconds")
    assert format_time(moment) == expected.removesuffix("+00:00") + "Z"
