"""Concurrent reservations never take more than a budget holds.

Each model call here is gpt-4.1 with 10,000 input tokens and a 10,000-token
output cap. The bundled catalogue prices gpt-4.1 at $2 per million input and
$8 per million output tokens, so the worst case is 0.02 + 0.08 = 0.10 USD and
a 1.00 USD budget covers exactly ten such calls. Twenty calls released at once,
from threads of one process or from four processes on one database file,
must get exactly ten admissions and ten denials.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from ssoar.config._settings import Settings, load_settings
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
from ssoar.model._time import utc_now
from ssoar.report._verify import verify_store

TENANT = "acme"
INVOKER = "agent:planner"
CALLS = 20
PROCESSES = 4
CALLS_PER_PROCESS = CALLS // PROCESSES
BARRIER_TIMEOUT_SECONDS = 30
WORST_CASE = Decimal("0.10")
"""10,000 input tokens at $2/M plus 10,000 output tokens at $8/M."""
SMALLER_CHARGE = Decimal("0.06")
"""10,000 input tokens at $2/M plus 5,000 output tokens at $8/M."""
FULL_USAGE = UsageReport(input_tokens=10_000, output_tokens=10_000)
SMALLER_USAGE = UsageReport(input_tokens=10_000, output_tokens=5_000)

SESSION_BUDGET = QuotaSpec(
    id="budget",
    unit="money",
    limit="1.00",
    currency="USD",
    kinds=["model_invocation"],
)
PLAN_BUDGET = QuotaSpec(
    id="plan-budget",
    unit="money",
    limit="1.00",
    scope="tenant",
    currency="USD",
    kinds=["model_invocation"],
)
PLAN_ACCOUNT = f"tenant:{TENANT}/quota/plan-budget"


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


def _open(booth: LiveBooth, quotas: Sequence[QuotaSpec] = ()) -> str:
    answer = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=list(quotas),
        ),
    )
    return answer.session_id


def _begin_together(
    booth: LiveBooth, session_ids: Sequence[str]
) -> list[CrossingAnswer]:
    """Begin CALLS model calls from as many threads, released by one barrier.

    Call ``i`` goes to ``session_ids[i % len(session_ids)]``.
    """
    barrier = threading.Barrier(CALLS)

    def begin(index: int) -> CrossingAnswer:
        session_id = session_ids[index % len(session_ids)]
        barrier.wait(timeout=BARRIER_TIMEOUT_SECONDS)
        return booth.begin(TENANT, session_id, _model_call(f"call-{index:02d}"))

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        return list(pool.map(begin, range(CALLS)))


def _reason_codes(answer: CrossingAnswer) -> list[str]:
    return [reason.code for reason in answer.reasons]


def _assert_balanced(record: dict[str, Any]) -> None:
    """Assert that every account's reservations were posted or released."""
    for account_id, totals in record["totals"]["entitlement"].items():
        reserved = Decimal(totals["reserved"])
        posted = Decimal(totals["posted"])
        released = Decimal(totals["released"])
        assert reserved == posted + released, account_id
        assert Decimal(totals["overdrawn"]) == 0, account_id


def _assert_verified(booth: LiveBooth) -> None:
    report = verify_store(booth.store, booth.key.public_key)
    assert [str(failure) for failure in report.failures] == []
    assert report.ok


def _verify_with_cli(settings: Settings) -> dict[str, Any]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ssoar.cli import main; main()",
            "verify",
            "--db",
            str(settings.db),
            "--key-file",
            str(settings.key_file),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_session_budget_threads(booth: LiveBooth) -> None:
    session_id = _open(booth, [SESSION_BUDGET])
    account = f"{session_id}/quota/budget"

    answers = _begin_together(booth, [session_id])

    admitted = sorted(
        (answer for answer in answers if answer.allowed),
        key=lambda answer: answer.crossing_id,
    )
    denied = [answer for answer in answers if not answer.allowed]
    assert len(admitted) == 10
    assert len(denied) == 10
    for answer in admitted:
        assert answer.state == "open"
        assert answer.reserved == {account: "0.10"}
    for answer in denied:
        assert answer.state == "denied"
        assert _reason_codes(answer) == ["entitlement_overdrawn"]
        assert answer.reserved == {}

    # Half finish at their worst case, half use 5,000 fewer output tokens.
    for index, answer in enumerate(admitted):
        usage = FULL_USAGE if index % 2 == 0 else SMALLER_USAGE
        key = answer.crossing_id.removeprefix(f"{session_id}/")
        done = booth.complete(TENANT, session_id, key, CompleteCrossing(usage=usage))
        assert done.state == "completed"
    record = booth.close_session(TENANT, session_id)

    spent = 5 * WORST_CASE + 5 * SMALLER_CHARGE
    assert spent == Decimal("0.80")
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["limit"]) == Decimal("1.00")
    assert Decimal(totals["reserved"]) == Decimal("1.00")
    assert Decimal(totals["posted"]) == spent
    assert Decimal(totals["released"]) == Decimal("1.00") - spent
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == spent
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) <= Decimal("1.00")
    assert record["crossings"]["by_kind"]["model_invocation"]["total"] == CALLS
    _assert_balanced(record)
    _assert_verified(booth)


def test_tenant_plan_threads(booth: LiveBooth) -> None:
    booth.set_plan(TENANT, [PLAN_BUDGET])
    first = _open(booth)
    second = _open(booth)

    answers = _begin_together(booth, [first, second])

    admitted = [answer for answer in answers if answer.allowed]
    denied = [answer for answer in answers if not answer.allowed]
    assert len(admitted) == 10
    assert len(denied) == 10
    for answer in admitted:
        assert answer.reserved == {PLAN_ACCOUNT: "0.10"}
    for answer in denied:
        assert _reason_codes(answer) == ["entitlement_overdrawn"]

    for answer in admitted:
        key = answer.crossing_id.removeprefix(f"{answer.session_id}/")
        booth.complete(
            TENANT, answer.session_id, key, CompleteCrossing(usage=FULL_USAGE)
        )
    records = [booth.close_session(TENANT, sid) for sid in (first, second)]

    posted = sum(
        Decimal(record["totals"]["entitlement"][PLAN_ACCOUNT]["posted"])
        for record in records
    )
    usage = sum(
        Decimal(record["totals"]["billing"]["USD"]["usage"]) for record in records
    )
    assert posted == Decimal("1.00")
    assert usage == Decimal("1.00")
    for record in records:
        _assert_balanced(record)

    # The plan is spent, so a call of a session opened later is denied too.
    later = _open(booth)
    tiny = booth.begin(
        TENANT,
        later,
        BeginCrossing(
            kind="model_invocation",
            crossing_id="tiny",
            provider="openai",
            model="gpt-4.1",
            input_tokens=1,
            max_output_tokens=1,
            invoker=INVOKER,
        ),
    )
    assert not tiny.allowed
    assert _reason_codes(tiny) == ["entitlement_overdrawn"]
    booth.close_session(TENANT, later)
    _assert_verified(booth)


def _calls_in_process(
    db: str,
    key_file: str,
    session_ids: list[str],
    worker: int,
    barrier: Any,
    results: Any,
) -> None:
    """Begin CALLS_PER_PROCESS calls from threads of a new booth, then finish them.

    Runs in a spawned process. Each thread waits on the shared barrier, so
    the calls of every process start together. Puts one message on
    ``results``: ("ok", outcomes) with a (session id, key, allowed, reason
    codes, reserved) tuple per call, or ("error", traceback).
    """
    try:
        settings = load_settings({"db": db, "key_file": key_file}, environ={})
        booth = LiveBooth(settings, deliver_webhooks=False)
        try:

            def begin(index: int) -> tuple[str, str, CrossingAnswer]:
                call = worker * CALLS_PER_PROCESS + index
                session_id = session_ids[call % len(session_ids)]
                key = f"call-{call:02d}"
                barrier.wait(timeout=BARRIER_TIMEOUT_SECONDS)
                answer = booth.begin(TENANT, session_id, _model_call(key))
                return session_id, key, answer

            with ThreadPoolExecutor(max_workers=CALLS_PER_PROCESS) as pool:
                begun = list(pool.map(begin, range(CALLS_PER_PROCESS)))
            outcomes = []
            for session_id, key, answer in begun:
                if answer.allowed:
                    booth.complete(
                        TENANT, session_id, key, CompleteCrossing(usage=FULL_USAGE)
                    )
                outcomes.append(
                    (
                        session_id,
                        key,
                        answer.allowed,
                        _reason_codes(answer),
                        answer.reserved,
                    )
                )
        finally:
            booth.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))
        raise
    results.put(("ok", outcomes))


def _run_processes(settings: Settings, session_ids: list[str]) -> list[tuple[Any, ...]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(CALLS)
    results = context.Queue()
    processes = [
        context.Process(
            target=_calls_in_process,
            args=(
                str(settings.db),
                str(settings.key_file),
                session_ids,
                worker,
                barrier,
                results,
            ),
        )
        for worker in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    messages = [results.get(timeout=2 * BARRIER_TIMEOUT_SECONDS) for _ in processes]
    for process in processes:
        process.join(timeout=BARRIER_TIMEOUT_SECONDS)
    errors = [detail for status, detail in messages if status == "error"]
    assert errors == []
    for process in processes:
        assert process.exitcode == 0
    return [outcome for _, outcomes in messages for outcome in outcomes]


@pytest.mark.parametrize("budget", ["session", "tenant"])
def test_budget_across_processes(
    budget: str, settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    # The workers read the real clock. This booth must too, because grants
    # expire at the end of the session's lifetime as this booth counts it.
    booth = make_booth(clock=utc_now)
    if budget == "session":
        session_ids = [_open(booth, [SESSION_BUDGET])]
        accounts = {session_ids[0]: f"{session_ids[0]}/quota/budget"}
    else:
        booth.set_plan(TENANT, [PLAN_BUDGET])
        session_ids = [_open(booth), _open(booth)]
        accounts = {session_id: PLAN_ACCOUNT for session_id in session_ids}

    outcomes = _run_processes(settings, session_ids)

    keys = sorted(key for _, key, _, _, _ in outcomes)
    assert keys == [f"call-{index:02d}" for index in range(CALLS)]
    admitted = [outcome for outcome in outcomes if outcome[2]]
    denied = [outcome for outcome in outcomes if not outcome[2]]
    assert len(admitted) == 10
    assert len(denied) == 10
    for session_id, _, _, codes, reserved in admitted:
        assert codes == []
        assert reserved == {accounts[session_id]: "0.10"}
    for _, _, _, codes, reserved in denied:
        assert codes == ["entitlement_overdrawn"]
        assert reserved == {}

    # This booth cached the sessions before the workers wrote, so closing
    # must see every crossing they added.
    records = [booth.close_session(TENANT, sid) for sid in session_ids]
    total_crossings = sum(
        record["crossings"]["by_kind"]["model_invocation"]["total"]
        for record in records
    )
    assert total_crossings == CALLS
    posted = sum(
        Decimal(record["totals"]["entitlement"][accounts[sid]]["posted"])
        for sid, record in zip(session_ids, records, strict=True)
    )
    assert posted == Decimal("1.00")
    usage = sum(
        Decimal(record["totals"]["billing"]["USD"]["usage"]) for record in records
    )
    assert usage == Decimal("1.00")
    for record in records:
        _assert_balanced(record)
    _assert_verified(booth)
    verified = _verify_with_cli(settings)
    assert verified["ok"] is True
    assert verified["sessions_checked"] == len(session_ids)
