"""Reservations of model calls: what is posted, what is released, what is flagged.

Prices come from the bundled catalogue: gpt-4.1 costs $2 per million input
tokens, $0.50 per million cached input tokens and $8 per million output
tokens. Every call reserves its worst case: 10,000 input tokens and a
10,000-token output cap, 0.02 + 0.08 = 0.10 USD.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from ssoar.config._settings import Settings
from ssoar.errors import BoothUnavailable, Conflict, NotFound
from ssoar.live import (
    AttemptReport,
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
from ssoar.model._time import utc_now
from ssoar.report._explain import explain_session
from ssoar.report._verify import verify_store

TENANT = "acme"
INVOKER = "agent:writer"
RESERVATION = Decimal("0.10")
BUDGET = QuotaSpec(
    id="budget",
    unit="money",
    limit="1.00",
    currency="USD",
    kinds=["model_invocation"],
)


def _model_call(key: str) -> BeginCrossing:
    return BeginCrossing(
        kind="model_invocation",
        crossing_id=key,
        provider="openai",
        model="gpt-4.1",
        input_tokens=10_000,
        max_output_tokens=10_000,
        invoker=INVOKER,
    )


def _open(booth: LiveBooth) -> str:
    answer = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=[BUDGET],
        ),
    )
    return answer.session_id


def _exceptions_of(record: dict[str, Any], crossing_id: str) -> list[dict[str, Any]]:
    return [item for item in record["exceptions"] if item["crossing_id"] == crossing_id]


def _money_at_risk(exceptions: list[dict[str, Any]]) -> Decimal:
    """Sum the money at risk of some exceptions, all in USD."""
    total = Decimal(0)
    for item in exceptions:
        risk = item["money_at_risk"]
        if risk is not None:
            assert risk["currency"] == "USD"
            total += Decimal(risk["amount"])
    return total


def _charges(booth: LiveBooth, session_id: str) -> dict[str, dict[str, Any]]:
    """Return each stored crossing's billing entry, as ssoar explain shows it."""
    answer = explain_session(booth.store, session_id)
    changed = answer["questions"]["which_ledger_changed"]["answer"]
    return {item["crossing_id"]: item["ledgers"]["billing"] for item in changed}


def _assert_verified(booth: LiveBooth) -> None:
    report = verify_store(booth.store, booth.key.public_key)
    assert [str(failure) for failure in report.failures] == []


def test_usage_reported_at_completion(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    begun = booth.begin(TENANT, session_id, _model_call("streamed"))
    assert begun.reserved == {account: "0.10"}
    assert begun.charge is None

    # A stream reports usage only in its last chunk: 10,000 input tokens of
    # which 4,000 were cache reads, and 2,345 output tokens.
    usage = UsageReport(
        input_tokens=10_000, cache_read_tokens=4_000, output_tokens=2_345
    )
    done = booth.complete(TENANT, session_id, "streamed", CompleteCrossing(usage=usage))

    # 6,000 x $2/M + 4,000 x $0.50/M + 2,345 x $8/M
    expected = Decimal("0.012") + Decimal("0.002") + Decimal("0.01876")
    assert expected == Decimal("0.03276")
    assert done.usage_source == "reported"
    assert done.charge is not None
    assert Decimal(done.charge["amount"]) == expected
    assert done.charge["currency"] == "USD"
    assert Decimal(done.posted[account]) == expected

    record = booth.close_session(TENANT, session_id)
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == RESERVATION
    assert Decimal(totals["posted"]) == expected
    assert Decimal(totals["released"]) == RESERVATION - expected
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == expected
    assert _exceptions_of(record, f"{session_id}/streamed") == []
    _assert_verified(booth)


def test_usage_missing_settles_estimated(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("silent"))

    done = booth.complete(TENANT, session_id, "silent", CompleteCrossing())

    assert done.state == "completed"
    assert done.usage_source == "estimated"
    assert Decimal(done.posted[account]) == RESERVATION
    assert done.charge is not None
    assert Decimal(done.charge["amount"]) == RESERVATION

    record = booth.close_session(TENANT, session_id)
    exceptions = _exceptions_of(record, f"{session_id}/silent")
    assert [item["reason"] for item in exceptions] == ["usage_estimated"]
    assert exceptions[0]["money_at_risk"] == {"amount": "0.10", "currency": "USD"}
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["posted"]) == RESERVATION
    assert Decimal(totals["released"]) == 0
    _assert_verified(booth)


def test_open_at_close_settles_reserved(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("unfinished"))

    record = booth.close_session(TENANT, session_id)

    crossing_id = f"{session_id}/unfinished"
    exceptions = _exceptions_of(record, crossing_id)
    reasons = {item["reason"] for item in exceptions}
    assert reasons == {"open_at_close", "usage_estimated"}
    # The crossing's money at risk is listed once, on its first exception.
    assert _money_at_risk(exceptions) == RESERVATION
    assert record["state"] == "settled_unclean"
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == RESERVATION
    assert Decimal(totals["posted"]) == RESERVATION
    assert Decimal(totals["released"]) == 0
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == RESERVATION
    exposure = record["exposure"]["by_currency"]["USD"]
    assert Decimal(exposure["money_at_risk"]) == RESERVATION
    _assert_verified(booth)


def test_no_admitted_call_charged_zero(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.begin(TENANT, session_id, _model_call("reported"))
    booth.begin(TENANT, session_id, _model_call("estimated"))
    booth.begin(TENANT, session_id, _model_call("unfinished"))
    booth.complete(
        TENANT,
        session_id,
        "reported",
        CompleteCrossing(usage=UsageReport(input_tokens=500, output_tokens=0)),
    )
    booth.complete(TENANT, session_id, "estimated", CompleteCrossing())
    booth.close_session(TENANT, session_id)

    charges = _charges(booth, session_id)

    expected = {
        f"{session_id}/reported": Decimal("0.001"),  # 500 x $2/M
        f"{session_id}/estimated": RESERVATION,
        f"{session_id}/unfinished": RESERVATION,
    }
    for crossing_id, amount in expected.items():
        charge = charges[crossing_id]["usage_charge"]
        assert charge is not None, crossing_id
        assert Decimal(charge["amount"]) == amount, crossing_id
        assert Decimal(charge["amount"]) > 0, crossing_id


def test_failed_call_without_usage_released(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("failed"))

    # A call that failed with no usage report, such as one whose every
    # attempt got an HTTP 500, is not billed: its reservation is released.
    done = booth.complete(
        TENANT,
        session_id,
        "failed",
        CompleteCrossing(outcome="failed", error="HTTP 500 from the provider"),
    )

    assert done.state == "failed"
    assert done.usage_source == "none"
    assert done.charge is None
    assert done.posted == {account: "0"}
    record = booth.close_session(TENANT, session_id)
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["posted"]) == 0
    assert Decimal(totals["released"]) == RESERVATION
    assert _exceptions_of(record, f"{session_id}/failed") == []
    _assert_verified(booth)


def test_attempts_charge_once(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("retried"))

    first = booth.attempt(
        TENANT,
        session_id,
        "retried",
        AttemptReport(error="HTTP 429 rate limited", attempt_id="try-1"),
    )
    second = booth.attempt(
        TENANT,
        session_id,
        "retried",
        AttemptReport(error="HTTP 503 unavailable", attempt_id="try-2"),
    )
    repeated = booth.attempt(
        TENANT,
        session_id,
        "retried",
        AttemptReport(error="HTTP 429 rate limited", attempt_id="try-1"),
    )
    assert first.attempts == 1
    assert not first.replayed
    assert second.attempts == 2
    assert repeated.attempts == 2
    assert repeated.replayed
    assert first.reserved == {account: "0.10"}
    assert second.reserved == {account: "0.10"}

    # The third try succeeds: 8,000 input and 1,500 output tokens.
    done = booth.complete(
        TENANT,
        session_id,
        "retried",
        CompleteCrossing(usage=UsageReport(input_tokens=8_000, output_tokens=1_500)),
    )
    charge = Decimal("0.016") + Decimal("0.012")  # 8,000 x $2/M + 1,500 x $8/M
    assert done.attempts == 2
    assert done.charge is not None
    assert Decimal(done.charge["amount"]) == charge
    assert done.posted == {account: str(charge)}

    record = booth.close_session(TENANT, session_id)
    assert record["crossings"]["by_kind"]["model_invocation"]["total"] == 1
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == charge
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == RESERVATION
    assert Decimal(totals["posted"]) == charge
    assert Decimal(totals["released"]) == RESERVATION - charge
    assert _exceptions_of(record, f"{session_id}/retried") == []

    crossing_record = _stored_crossing(booth, session_id, f"{session_id}/retried")
    assert crossing_record["crossing"]["attributes"]["attempts"] == [
        "try-1: HTTP 429 rate limited",
        "try-2: HTTP 503 unavailable",
    ]
    _assert_verified(booth)


def _stored_crossing(
    booth: LiveBooth, session_id: str, crossing_id: str
) -> dict[str, Any]:
    for leaf in booth.store.leaves(session_id):
        record: dict[str, Any] = orjson.loads(leaf.record)
        if (
            record["type"] == "crossing"
            and record["crossing"]["crossing_id"] == crossing_id
        ):
            return record
    raise AssertionError(f"no stored crossing {crossing_id}")


def test_attempt_after_completion(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.begin(TENANT, session_id, _model_call("done"))
    booth.attempt(
        TENANT, session_id, "done", AttemptReport(error="timeout", attempt_id="a")
    )
    booth.complete(TENANT, session_id, "done", CompleteCrossing())

    repeated = booth.attempt(
        TENANT, session_id, "done", AttemptReport(error="timeout", attempt_id="a")
    )
    assert repeated.replayed
    assert repeated.attempts == 1

    with pytest.raises(Conflict, match="attempts are recorded only while it is open"):
        booth.attempt(
            TENANT, session_id, "done", AttemptReport(error="late", attempt_id="b")
        )


def test_restart_continues_session(make_booth: Callable[..., LiveBooth]) -> None:
    first = make_booth()
    session_id = _open(first)
    account = f"{session_id}/quota/budget"
    first.begin(TENANT, session_id, _model_call("finished"))
    first.complete(
        TENANT,
        session_id,
        "finished",
        CompleteCrossing(usage=UsageReport(input_tokens=10_000, output_tokens=2_500)),
    )
    first.begin(TENANT, session_id, _model_call("in-flight"))
    first.close()

    second = make_booth()
    session = second.session(TENANT, session_id)
    assert session.state == "open"
    # One admission and two model calls.
    assert session.crossings == 3
    finished = second.crossing(TENANT, session_id, "finished")
    assert finished.state == "completed"
    assert finished.posted == {account: "0.04"}  # 10,000 x $2/M + 2,500 x $8/M
    in_flight = second.crossing(TENANT, session_id, "in-flight")
    assert in_flight.state == "open"
    assert in_flight.reserved == {account: "0.10"}
    # A begin retried after the restart returns the first answer, replayed.
    retried = second.begin(TENANT, session_id, _model_call("in-flight"))
    assert retried.replayed
    assert retried.reserved == {account: "0.10"}

    # The budget held 1.00: 0.04 posted and 0.10 reserved leave 0.86, which
    # covers eight more worst cases and not nine.
    answers = [
        second.begin(TENANT, session_id, _model_call(f"more-{index}"))
        for index in range(9)
    ]
    assert [answer.allowed for answer in answers] == [True] * 8 + [False]
    assert [reason.code for reason in answers[8].reasons] == ["entitlement_overdrawn"]

    second.complete(
        TENANT,
        session_id,
        "in-flight",
        CompleteCrossing(usage=UsageReport(input_tokens=10_000, output_tokens=0)),
    )
    for index in range(8):
        second.complete(
            TENANT,
            session_id,
            f"more-{index}",
            CompleteCrossing(usage=UsageReport(input_tokens=0, output_tokens=0)),
        )
    record = second.close_session(TENANT, session_id)

    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == Decimal("1.00")
    assert Decimal(totals["posted"]) == Decimal("0.06")  # 0.04 + 0.02
    assert Decimal(totals["released"]) == Decimal("0.94")
    assert record["crossings"]["by_kind"]["model_invocation"]["total"] == 11
    _assert_verified(second)


def _hold_write_lock(
    path: str, acquired: threading.Event, release: threading.Event
) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        acquired.set()
        release.wait(timeout=30)
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def test_locked_ledger_unavailable(
    monkeypatch: pytest.MonkeyPatch, make_booth: Callable[..., LiveBooth]
) -> None:
    # The store waits up to its busy timeout for SQLite's write lock, so a
    # short one keeps this test fast. It is read when the booth opens the store.
    monkeypatch.setattr("ssoar.store._sqlite._BUSY_TIMEOUT_MS", 200)
    booth = make_booth()
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"

    acquired = threading.Event()
    release = threading.Event()
    holder = threading.Thread(
        target=_hold_write_lock, args=(str(booth.settings.db), acquired, release)
    )
    holder.start()
    try:
        assert acquired.wait(timeout=10)
        with pytest.raises(BoothUnavailable, match="could not be written"):
            booth.begin(TENANT, session_id, _model_call("during-lock"))
    finally:
        release.set()
        holder.join(timeout=30)

    # Nothing was reserved, so the crossing is unknown and the whole budget
    # still admits ten worst cases.
    with pytest.raises(NotFound):
        booth.crossing(TENANT, session_id, "during-lock")
    answers = [
        booth.begin(TENANT, session_id, _model_call(f"after-{index}"))
        for index in range(11)
    ]
    assert [answer.allowed for answer in answers] == [True] * 10 + [False]
    retried = booth.begin(TENANT, session_id, _model_call("during-lock"))
    assert not retried.replayed
    assert [reason.code for reason in retried.reasons] == ["entitlement_overdrawn"]
    record = booth.close_session(TENANT, session_id)
    assert Decimal(record["totals"]["entitlement"][account]["reserved"]) == Decimal(
        "1.00"
    )
    _assert_verified(booth)


def test_failed_commit_drops_reservation(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("before"))

    # Make the commit fail after the booth decided. A second connection adds
    # a trigger that aborts every write to the event log.
    saboteur = sqlite3.connect(str(booth.settings.db), isolation_level=None)
    try:
        saboteur.execute(
            "CREATE TRIGGER reject_events BEFORE INSERT ON live_events "
            "BEGIN SELECT RAISE(ABORT, 'disk write failed'); END"
        )
        with pytest.raises(BoothUnavailable, match="disk write failed"):
            booth.begin(TENANT, session_id, _model_call("lost"))
        saboteur.execute("DROP TRIGGER reject_events")
    finally:
        saboteur.close()

    with pytest.raises(NotFound):
        booth.crossing(TENANT, session_id, "lost")
    before = booth.crossing(TENANT, session_id, "before")
    assert before.reserved == {account: "0.10"}
    # "before" reserved 0.10 and the failed call reserved nothing, so nine fit.
    answers = [
        booth.begin(TENANT, session_id, _model_call(f"after-{index}"))
        for index in range(10)
    ]
    assert [answer.allowed for answer in answers] == [True] * 9 + [False]
    record = booth.close_session(TENANT, session_id)
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == Decimal("1.00")
    assert Decimal(totals["posted"]) == Decimal("1.00")
    _assert_verified(booth)


def _overspend(booth: LiveBooth) -> tuple[str, CrossingAnswer]:
    """Open a 0.20 USD session and complete one call at 0.18 USD on 0.10 reserved.

    The caller declared 10,000 input tokens and the provider counted 50,000:
    50,000 x $2/M + 10,000 x $8/M = 0.10 + 0.08 = 0.18 USD.
    """
    session_id = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=[
                QuotaSpec(
                    id="budget",
                    unit="money",
                    limit="0.20",
                    currency="USD",
                    kinds=["model_invocation"],
                )
            ],
        ),
    ).session_id
    booth.begin(TENANT, session_id, _model_call("undercounted"))
    done = booth.complete(
        TENANT,
        session_id,
        "undercounted",
        CompleteCrossing(usage=UsageReport(input_tokens=50_000, output_tokens=10_000)),
    )
    return session_id, done


def test_usage_over_reservation_recorded(booth: LiveBooth) -> None:
    session_id, done = _overspend(booth)
    account = f"{session_id}/quota/budget"

    assert done.charge is not None
    assert Decimal(done.charge["amount"]) == Decimal("0.18")
    # The reservation is posted in full and the excess is an overdraft.
    assert done.posted == {account: "0.10"}
    record = booth.close_session(TENANT, session_id)
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["posted"]) == Decimal("0.10")
    assert Decimal(totals["overdrawn"]) == Decimal("0.08")
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == Decimal("0.18")


def test_overspend_counts_against_budget(booth: LiveBooth) -> None:
    session_id, _ = _overspend(booth)

    # 0.18 of 0.20 is spent, so a 0.10 worst case no longer fits.
    answer = booth.begin(TENANT, session_id, _model_call("next"))

    assert not answer.allowed
    assert [reason.code for reason in answer.reasons] == ["entitlement_overdrawn"]


def test_overspend_is_an_exception(booth: LiveBooth) -> None:
    session_id, _ = _overspend(booth)

    record = booth.close_session(TENANT, session_id)

    exceptions = _exceptions_of(record, f"{session_id}/undercounted")
    assert [item["reason"] for item in exceptions] == ["entitlement_overdrawn"]


_CRASHING_CLIENT = """
import os, sys
from ssoar.config._settings import load_settings
from ssoar.live import (
    BeginCrossing, GrantSpec, LiveBooth, OpenSession, ParticipantSpec, QuotaSpec,
)
settings = load_settings({"db": sys.argv[1], "key_file": sys.argv[2]}, environ={})
booth = LiveBooth(settings, deliver_webhooks=False)
booth.open_session("acme", OpenSession(
    session_id="ses-crash",
    participants=[ParticipantSpec(id="agent:writer")],
    grants=[GrantSpec(grantee="agent:writer", kinds=["model_invocation"])],
    quotas=[QuotaSpec(id="budget", unit="money", limit="1.00", currency="USD",
                      kinds=["model_invocation"])],
))
answer = booth.begin("acme", "ses-crash", BeginCrossing(
    kind="model_invocation", crossing_id="in-flight", provider="openai",
    model="gpt-4.1", input_tokens=10000, max_output_tokens=10000,
    invoker="agent:writer",
))
print(answer.allowed, flush=True)
# Die without closing the booth or the database.
os._exit(9)
"""


def test_crash_keeps_reservation(
    settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            _CRASHING_CLIENT,
            str(settings.db),
            str(settings.key_file),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == 9, crashed.stderr
    assert crashed.stdout == "True\n"

    # The booth returned before the crash, so the reservation must be durable.
    booth = make_booth(clock=utc_now)
    account = "ses-crash/quota/budget"
    in_flight = booth.crossing(TENANT, "ses-crash", "in-flight")
    assert in_flight.state == "open"
    assert in_flight.reserved == {account: "0.10"}
    answers = [
        booth.begin(TENANT, "ses-crash", _model_call(f"after-{index}"))
        for index in range(10)
    ]
    assert [answer.allowed for answer in answers] == [True] * 9 + [False]
    record = booth.close_session(TENANT, "ses-crash")
    assert Decimal(record["totals"]["entitlement"][account]["reserved"]) == Decimal(
        "1.00"
    )
    _assert_verified(booth)


def test_full_crossing_quota_closes_clean(booth: LiveBooth) -> None:
    session_id = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=[QuotaSpec(id="crossings", unit="crossings", limit="3")],
        ),
    ).session_id
    # The admission took one crossing, and two model calls take the rest.
    for key in ("first", "second"):
        assert booth.begin(TENANT, session_id, _model_call(key)).allowed
        booth.complete(
            TENANT,
            session_id,
            key,
            CompleteCrossing(usage=UsageReport(input_tokens=10, output_tokens=10)),
        )
    assert not booth.begin(TENANT, session_id, _model_call("third")).allowed

    record = booth.close_session(TENANT, session_id)

    closure = _exceptions_of(record, f"{session_id}/closure")
    assert closure == []
