"""Quota windows at the live booth: a quota starts afresh at local midnight.

Each full model call reserves 10,000 input tokens and a 10,000-token output
cap, 20,000 tokens, which is the whole of every token quota here. A call of
one input token and one output token is then denied until the next window.
Window starts, and so account ids, are UTC instants of local midnights:

- Asia/Shanghai is UTC+8 all year: midnight of 2026-03-11 is 2026-03-10T16:00Z.
- America/New_York is UTC-5 until 2026-03-08 and UTC-4 after.
- Europe/Berlin moves from UTC+1 to UTC+2 at 02:00 on 2026-03-29, so that
  local day runs 23 hours, from 2026-03-28T23:00Z to 2026-03-29T22:00Z.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ssoar.live import (
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    UsageReport,
)
from ssoar.report._verify import verify_store

TENANT = "acme"
INVOKER = "agent:nightly"
LIMIT = "20000"
TEN_DAYS = 10 * 86_400
HUNDRED_DAYS = 100 * 86_400
FULL_USAGE = UsageReport(input_tokens=10_000, output_tokens=10_000)
TINY_USAGE = UsageReport(input_tokens=1, output_tokens=1)


class Clock(Protocol):
    """The settable clock of the ``clock`` fixture."""

    def __call__(self) -> datetime: ...

    def set(self, text: str) -> None: ...


def _call(key: str, *, tokens: int = 10_000) -> BeginCrossing:
    return BeginCrossing(
        kind="model_invocation",
        crossing_id=key,
        provider="openai",
        model="gpt-4.1",
        input_tokens=tokens,
        max_output_tokens=tokens,
        invoker=INVOKER,
    )


def _open(
    booth: LiveBooth, quotas: list[QuotaSpec] | None = None, lifetime: int = TEN_DAYS
) -> str:
    answer = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=quotas or [],
            idle_timeout_seconds=lifetime,
            max_lifetime_seconds=lifetime,
        ),
    )
    return answer.session_id


def _spend_window(
    booth: LiveBooth, clock: Clock, session_id: str, at: str, key: str
) -> CrossingAnswer:
    """Begin a full call at ``at`` and complete it at its worst case."""
    clock.set(at)
    begun = booth.begin(TENANT, session_id, _call(key))
    assert begun.allowed, (key, begun.reasons)
    booth.complete(TENANT, session_id, key, CompleteCrossing(usage=FULL_USAGE))
    return begun


def _tiny_call(
    booth: LiveBooth, clock: Clock, session_id: str, at: str, key: str
) -> CrossingAnswer:
    clock.set(at)
    return booth.begin(TENANT, session_id, _call(key, tokens=1))


def _codes(answer: CrossingAnswer) -> list[str]:
    return [reason.code for reason in answer.reasons]


def _assert_settled(booth: LiveBooth, record: dict[str, Any]) -> None:
    for account_id, totals in record["totals"]["entitlement"].items():
        reserved = Decimal(totals["reserved"])
        settled = Decimal(totals["posted"]) + Decimal(totals["released"])
        assert reserved == settled, account_id
        assert Decimal(totals["overdrawn"]) == 0, account_id
    report = verify_store(booth.store, booth.key.public_key)
    assert [str(failure) for failure in report.failures] == []


def test_daily_plan_shanghai_midnight(booth: LiveBooth, clock: Clock) -> None:
    booth.set_plan(
        TENANT,
        [
            QuotaSpec(
                id="daily-tokens",
                unit="tokens",
                limit=LIMIT,
                scope="tenant",
                kinds=["model_invocation"],
                window="daily",
                time_zone="Asia/Shanghai",
            )
        ],
    )
    clock.set("2026-03-10T15:00:00Z")
    session_id = _open(booth)
    account = f"tenant:{TENANT}/quota/daily-tokens"

    spent = _spend_window(booth, clock, session_id, "2026-03-10T15:59:00Z", "spend")
    denied = _tiny_call(booth, clock, session_id, "2026-03-10T15:59:59Z", "late")
    clock.set("2026-03-10T16:00:00Z")
    fresh = booth.begin(TENANT, session_id, _call("fresh"))

    assert spent.reserved == {f"{account}@2026-03-09T16:00:00Z": LIMIT}
    assert not denied.allowed
    assert _codes(denied) == ["entitlement_overdrawn"]
    assert denied.reserved == {}
    assert fresh.allowed
    assert fresh.reserved == {f"{account}@2026-03-10T16:00:00Z": LIMIT}

    # A session opened later in the new local day shares the new window.
    other = _open(booth)
    shared = booth.begin(TENANT, other, _call("shared", tokens=1))
    assert not shared.allowed
    assert _codes(shared) == ["entitlement_overdrawn"]

    booth.complete(TENANT, session_id, "fresh", CompleteCrossing(usage=FULL_USAGE))
    record = booth.close_session(TENANT, session_id)
    booth.close_session(TENANT, other)
    entitlement = record["totals"]["entitlement"]
    assert set(entitlement) == {
        f"{account}@2026-03-09T16:00:00Z",
        f"{account}@2026-03-10T16:00:00Z",
    }
    for totals in entitlement.values():
        assert Decimal(totals["posted"]) == Decimal(LIMIT)
    _assert_settled(booth, record)


def test_monthly_anchor_31_new_york(booth: LiveBooth, clock: Clock) -> None:
    quota = QuotaSpec(
        id="monthly-tokens",
        unit="tokens",
        limit=LIMIT,
        kinds=["model_invocation"],
        window="monthly",
        time_zone="America/New_York",
        anchor_day=31,
    )
    clock.set("2026-02-27T00:00:00Z")
    session_id = _open(booth, [quota], lifetime=HUNDRED_DAYS)
    account = f"{session_id}/quota/monthly-tokens"

    # The window that began on 31 January ends at local midnight starting
    # 28 February, the last day of the month, which is 05:00Z under EST.
    january = _spend_window(booth, clock, session_id, "2026-02-28T04:59:00Z", "january")
    january_late = _tiny_call(
        booth, clock, session_id, "2026-02-28T04:59:59Z", "january-late"
    )
    february = _spend_window(
        booth, clock, session_id, "2026-02-28T05:00:00Z", "february"
    )
    # The February window runs to 31 March, local midnight at 04:00Z under EDT.
    february_late = _tiny_call(
        booth, clock, session_id, "2026-03-31T03:59:59Z", "february-late"
    )
    march = _spend_window(booth, clock, session_id, "2026-03-31T04:00:00Z", "march")
    # April has 30 days, so its window starts on the 30th.
    march_late = _tiny_call(
        booth, clock, session_id, "2026-04-30T03:59:59Z", "march-late"
    )
    april = _spend_window(booth, clock, session_id, "2026-04-30T04:00:00Z", "april")

    assert january.reserved == {f"{account}@2026-01-31T05:00:00Z": LIMIT}
    assert february.reserved == {f"{account}@2026-02-28T05:00:00Z": LIMIT}
    assert march.reserved == {f"{account}@2026-03-31T04:00:00Z": LIMIT}
    assert april.reserved == {f"{account}@2026-04-30T04:00:00Z": LIMIT}
    for late in (january_late, february_late, march_late):
        assert not late.allowed, late.crossing_id
        assert _codes(late) == ["entitlement_overdrawn"], late.crossing_id

    record = booth.close_session(TENANT, session_id)
    assert len(record["totals"]["entitlement"]) == 4
    _assert_settled(booth, record)


def test_daily_berlin_short_day(booth: LiveBooth, clock: Clock) -> None:
    quota = QuotaSpec(
        id="daily-tokens",
        unit="tokens",
        limit=LIMIT,
        kinds=["model_invocation"],
        window="daily",
        time_zone="Europe/Berlin",
    )
    clock.set("2026-03-28T22:00:00Z")
    session_id = _open(booth, [quota])
    account = f"{session_id}/quota/daily-tokens"

    saturday = _tiny_call(booth, clock, session_id, "2026-03-28T22:59:59Z", "sat")
    booth.complete(TENANT, session_id, "sat", CompleteCrossing(usage=TINY_USAGE))
    sunday = _spend_window(booth, clock, session_id, "2026-03-28T23:00:00Z", "sun")
    # One second before the local day ends, the window is still spent.
    sunday_late = _tiny_call(
        booth, clock, session_id, "2026-03-29T21:59:59Z", "sun-late"
    )
    # A 24-hour window would run to 23:00Z, but the 23-hour local day ends
    # at 22:00Z.
    clock.set("2026-03-29T22:00:00Z")
    monday = booth.begin(TENANT, session_id, _call("mon"))

    assert saturday.reserved == {f"{account}@2026-03-27T23:00:00Z": "2"}
    assert sunday.reserved == {f"{account}@2026-03-28T23:00:00Z": LIMIT}
    assert not sunday_late.allowed
    assert _codes(sunday_late) == ["entitlement_overdrawn"]
    assert monday.allowed
    assert monday.reserved == {f"{account}@2026-03-29T22:00:00Z": LIMIT}

    record = booth.close_session(TENANT, session_id)
    _assert_settled(booth, record)
