"""UTC timestamps: parsing from trace formats and one canonical text form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["format_time", "parse_time", "utc_now"]

_NANOS_DIGITS_MAX = 20
"""Digits in the longest nanosecond count read as one: 2**64 has 20."""
# Timestamps before 2000 or after 2200 in a trace are almost certainly a
# unit mistake (seconds read as nanoseconds, or the reverse).
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def parse_time(value: object, *, field: str) -> datetime:
    """Parse a timestamp into an aware UTC datetime.

    Accepts ISO 8601 text with an offset or ``Z`` (Langfuse, OpenTelemetry
    JSON exports), integer nanoseconds since the epoch as int or digit string
    (OTLP ``startTimeUnixNano``) and aware datetimes.

    Raises:
        ValueError: If the value has no timezone, is not a timestamp, or lies
            outside 2000-2200.
    """
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = _from_nanos(value, field)
    elif (
        isinstance(value, str)
        and len(value) <= _NANOS_DIGITS_MAX
        and value.isascii()
        and value.isdigit()
    ):
        result = _from_nanos(int(value), field)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{field}={value!r} is not an ISO 8601 timestamp; expected text like "
                '"2025-07-11T07:45:13.601Z" or integer nanoseconds since the epoch'
            ) from None
    else:
        raise ValueError(
            f"{field}={value!r} has type {type(value).__name__}; expected an ISO 8601 "
            "string or integer nanoseconds since the epoch"
        )
    if result.tzinfo is None or result.utcoffset() is None:
        raise ValueError(
            f'{field}={value!r} has no timezone; write it in UTC with a trailing "Z"'
        )
    try:
        result = result.astimezone(UTC)
    except OverflowError:
        # Valid ISO 8601 near year 1 or 9999 can convert to a UTC time outside
        # the range of datetime, such as 9999-12-31T23:59:59-05:00.
        raise ValueError(
            f"{field}={value!r} is outside 2000-2200 in UTC; check the timestamp"
        ) from None
    if not _EARLIEST <= result < _LATEST:
        raise ValueError(
            f"{field}={value!r} is {result.isoformat()}, outside 2000-2200; check "
            "whether the unit is nanoseconds"
        )
    return result


def _from_nanos(nanos: int, field: str) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=nanos // 1000)
    except OverflowError:
        raise ValueError(
            f"{field}={nanos} is not a time: expected nanoseconds since the epoch "
            "between 2000 and 2200"
        ) from None


def format_time(value: datetime) -> str:
    """Format an aware datetime as UTC ISO 8601 with microseconds and ``Z``.

    Every stored and signed timestamp uses this one form, so the same instant
    always has the same bytes.
    """
    assert value.tzinfo is not None, "naive datetimes never reach storage"
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # The same text as isoformat(timespec="microseconds") with "Z" for
    # "+00:00", in half the time: every record formats several instants.
    return _FORMAT % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )
