"""Crossing ids as idempotency keys, tenant isolation, and route choice.

Prices come from the bundled catalogue. For 10,000 input tokens and a
10,000-token output cap the worst cases are:

- gpt-4.1 ($2/M input, $8/M output): 0.02 + 0.08 = 0.10 USD
- gpt-4.1-mini ($0.40/M, $1.60/M): 0.004 + 0.016 = 0.020 USD
- gpt-4.1-nano ($0.10/M, $0.40/M): 0.001 + 0.004 = 0.005 USD
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ssoar.config._settings import Settings, load_settings
from ssoar.errors import Conflict, NotFound, RequestError, SessionClosed
from ssoar.live import (
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    RouteSpec,
    UsageReport,
)
from ssoar.report._explain import explain_session
from ssoar.report._verify import verify_store

TENANT = "acme"
OTHER_TENANT = "globex"
INVOKER = "agent:router"

ROUTES = [
    RouteSpec(
        provider="openai", model="gpt-4.1", region="us-east-1", jurisdiction="US"
    ),
    RouteSpec(
        provider="openai",
        model="gpt-4.1-nano",
        region="cn-north-1",
        jurisdiction="CN",
    ),
    RouteSpec(
        provider="openai",
        model="gpt-4.1-mini",
        region="eu-west-1",
        jurisdiction="EU",
    ),
]
ALLOWED_JURISDICTIONS = ["EU", "US"]
JURISDICTION_POLICY = """\
// Model calls run only in the jurisdictions the session allows.
@id("test.model.allowed-jurisdictions")
forbid (principal, action == Action::"model_invocation", resource)
when {
  context has allowed_jurisdictions && context has jurisdiction &&
  !context.allowed_jurisdictions.contains(context.jurisdiction)
};
"""


def _model_call(key: str, max_output_tokens: int = 10_000) -> BeginCrossing:
    return BeginCrossing(
        kind="model_invocation",
        crossing_id=key,
        provider="openai",
        model="gpt-4.1",
        input_tokens=10_000,
        max_output_tokens=max_output_tokens,
        invoker=INVOKER,
    )


def _routed_call(key: str) -> BeginCrossing:
    return BeginCrossing(
        kind="model_invocation",
        crossing_id=key,
        routes=ROUTES,
        input_tokens=10_000,
        max_output_tokens=10_000,
        invoker=INVOKER,
    )


def _open(
    booth: LiveBooth,
    tenant: str = TENANT,
    *,
    budget: str = "1.00",
    allowed_jurisdictions: list[str] | None = None,
) -> str:
    answer = booth.open_session(
        tenant,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=[
                QuotaSpec(
                    id="budget",
                    unit="money",
                    limit=budget,
                    currency="USD",
                    kinds=["model_invocation"],
                )
            ],
            allowed_jurisdictions=allowed_jurisdictions,
        ),
    )
    return answer.session_id


def _without_replayed(answer: CrossingAnswer) -> dict[str, object]:
    fields = msgspec.structs.asdict(answer)
    fields.pop("replayed")
    return fields


def _codes(answer: CrossingAnswer) -> list[str]:
    return [reason.code for reason in answer.reasons]


def _assert_verified(booth: LiveBooth) -> None:
    report = verify_store(booth.store, booth.key.public_key)
    assert [str(failure) for failure in report.failures] == []


# Idempotency


def test_begin_replay_same_request(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"

    first = booth.begin(TENANT, session_id, _model_call("call"))
    second = booth.begin(TENANT, session_id, _model_call("call"))

    assert not first.replayed
    assert second.replayed
    assert _without_replayed(second) == _without_replayed(first)
    assert second.reserved == {account: "0.10"}
    record = booth.close_session(TENANT, session_id)
    assert record["crossings"]["by_kind"]["model_invocation"]["total"] == 1
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["reserved"]) == Decimal("0.10")


def test_begin_replay_keeps_one_reservation(booth: LiveBooth) -> None:
    session_id = _open(booth, budget="0.10")

    first = booth.begin(TENANT, session_id, _model_call("call"))
    replays = [booth.begin(TENANT, session_id, _model_call("call")) for _ in range(3)]

    # The budget covers one worst case, so replays must not reserve more.
    assert first.allowed
    assert all(answer.allowed and answer.replayed for answer in replays)
    another = booth.begin(TENANT, session_id, _model_call("another"))
    assert not another.allowed
    assert _codes(another) == ["entitlement_overdrawn"]


def test_begin_replay_of_denial(booth: LiveBooth) -> None:
    session_id = _open(booth, budget="0.05")

    first = booth.begin(TENANT, session_id, _model_call("too-big"))
    second = booth.begin(TENANT, session_id, _model_call("too-big"))

    assert not first.allowed
    assert second.replayed
    assert _without_replayed(second) == _without_replayed(first)


def test_begin_same_key_other_request(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.begin(TENANT, session_id, _model_call("call"))

    with pytest.raises(Conflict, match="already used in session"):
        booth.begin(TENANT, session_id, _model_call("call", max_output_tokens=5_000))


def test_begin_replay_full_crossing_id(booth: LiveBooth) -> None:
    session_id = _open(booth)
    first = booth.begin(TENANT, session_id, _model_call("call"))

    second = booth.begin(TENANT, session_id, _model_call(first.crossing_id))

    assert second.replayed
    assert second.crossing_id == first.crossing_id


def test_begin_replay_attribute_order(booth: LiveBooth) -> None:
    session_id = _open(booth)
    call = _model_call("call")
    first = msgspec.structs.replace(call, attributes={"ticket": "T-1", "step": 2})
    second = msgspec.structs.replace(call, attributes={"step": 2, "ticket": "T-1"})
    booth.begin(TENANT, session_id, first)

    answer = booth.begin(TENANT, session_id, second)

    assert answer.replayed


def test_complete_replay_and_conflict(booth: LiveBooth) -> None:
    session_id = _open(booth)
    account = f"{session_id}/quota/budget"
    booth.begin(TENANT, session_id, _model_call("call"))
    report = CompleteCrossing(usage=UsageReport(input_tokens=10_000, output_tokens=500))

    first = booth.complete(TENANT, session_id, "call", report)
    second = booth.complete(TENANT, session_id, "call", report)

    assert not first.replayed
    assert second.replayed
    assert _without_replayed(second) == _without_replayed(first)
    assert first.posted == {account: "0.024"}  # 10,000 x $2/M + 500 x $8/M
    with pytest.raises(Conflict, match="already completed with a different report"):
        booth.complete(
            TENANT,
            session_id,
            "call",
            CompleteCrossing(usage=UsageReport(input_tokens=10_000, output_tokens=501)),
        )
    record = booth.close_session(TENANT, session_id)
    totals = record["totals"]["entitlement"][account]
    assert Decimal(totals["posted"]) == Decimal("0.024")
    assert Decimal(totals["released"]) == Decimal("0.076")


def test_begin_on_closed_session(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.close_session(TENANT, session_id)

    with pytest.raises(SessionClosed) as raised:
        booth.begin(TENANT, session_id, _model_call("late"))

    assert raised.value.session_id == session_id
    assert raised.value.close_reason == "closed"
    assert session_id in str(raised.value)


def test_close_twice_returns_record(booth: LiveBooth) -> None:
    session_id = _open(booth)
    first = booth.close_session(TENANT, session_id)
    second = booth.close_session(TENANT, session_id)

    assert second == first


def test_other_tenant_sees_not_found(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.begin(TENANT, session_id, _model_call("call"))
    missing = "ses-does-not-exist"

    def message(tenant: str, sid: str, action: str) -> str:
        operations: dict[str, Callable[[], object]] = {
            "begin": lambda: booth.begin(tenant, sid, _model_call("other")),
            "session": lambda: booth.session(tenant, sid),
            "crossing": lambda: booth.crossing(tenant, sid, "call"),
            "complete": lambda: booth.complete(tenant, sid, "call", CompleteCrossing()),
            "close": lambda: booth.close_session(tenant, sid),
        }
        with pytest.raises(NotFound) as raised:
            operations[action]()
        return str(raised.value)

    for action in ("begin", "session", "crossing", "complete", "close"):
        foreign = message(OTHER_TENANT, session_id, action)
        absent = message(TENANT, missing, action)
        assert foreign.replace(session_id, "<id>") == absent.replace(missing, "<id>"), (
            action
        )

    # Nothing the other tenant tried changed the session.
    call = booth.crossing(TENANT, session_id, "call")
    assert call.state == "open"
    assert booth.session(TENANT, session_id).state == "open"


def test_other_tenant_closed_session(booth: LiveBooth) -> None:
    session_id = _open(booth)
    booth.close_session(TENANT, session_id)
    missing = "ses-does-not-exist"

    with pytest.raises(NotFound) as foreign:
        booth.begin(OTHER_TENANT, session_id, _model_call("other"))
    with pytest.raises(NotFound) as absent:
        booth.begin(OTHER_TENANT, missing, _model_call("other"))

    assert str(foreign.value).replace(session_id, "<id>") == str(absent.value).replace(
        missing, "<id>"
    )


# Routes


@pytest.fixture
def routed_settings(tmp_path: Path) -> Settings:
    """Settings with a tenant policy directory that keeps model calls in the
    session's allowed jurisdictions, which the template's defaults do not."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "jurisdictions.cedar").write_text(
        JURISDICTION_POLICY, encoding="utf-8"
    )
    return load_settings(
        {
            "db": str(tmp_path / "routes.db"),
            "key_file": str(tmp_path / "routes.key"),
            "policy_dir": str(policy_dir),
        },
        environ={},
    )


def _route_answer(
    booth: LiveBooth, session_id: str, crossing_id: str
) -> dict[str, Any]:
    answer = explain_session(booth.store, session_id)
    for row in answer["questions"]["where_routed"]["answer"]:
        if row["crossing_id"] == crossing_id:
            return dict(row)
    raise AssertionError(f"no route answer for {crossing_id}")


def test_cheapest_allowed_route(
    routed_settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    booth = make_booth(settings=routed_settings)
    session_id = _open(booth, allowed_jurisdictions=ALLOWED_JURISDICTIONS)
    account = f"{session_id}/quota/budget"

    answer = booth.begin(TENANT, session_id, _routed_call("routed"))

    assert answer.allowed
    assert answer.route == "openai/eu-west-1/gpt-4.1-mini"
    assert answer.actor == "model:openai/gpt-4.1-mini"
    assert {key: Decimal(value) for key, value in answer.reserved.items()} == {
        account: Decimal("0.020")
    }

    # 10,000 x $0.40/M + 3,000 x $1.60/M
    usage = UsageReport(input_tokens=10_000, output_tokens=3_000)
    done = booth.complete(TENANT, session_id, "routed", CompleteCrossing(usage=usage))
    assert done.charge is not None
    assert Decimal(done.charge["amount"]) == Decimal("0.0088")
    booth.close_session(TENANT, session_id)

    route = _route_answer(booth, session_id, f"{session_id}/routed")
    assert route["route"] == "openai/eu-west-1/gpt-4.1-mini"
    assert route["model"] == "gpt-4.1-mini"
    assert route["region"] == "eu-west-1"
    assert route["jurisdiction"] == "EU"
    assert route["route_candidates"] == [
        "openai/cn-north-1/gpt-4.1-nano (0.005 USD): denied: policy_denied",
        "openai/eu-west-1/gpt-4.1-mini (0.020 USD): chosen",
        "openai/us-east-1/gpt-4.1 (0.10 USD): allowed",
    ]
    _assert_verified(booth)


def test_routes_within_small_budget(
    routed_settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    # 0.05 USD fits the allowed EU route twice and the US route never.
    booth = make_booth(settings=routed_settings)
    session_id = _open(
        booth, budget="0.05", allowed_jurisdictions=ALLOWED_JURISDICTIONS
    )
    account = f"{session_id}/quota/budget"

    answers = [
        booth.begin(TENANT, session_id, _routed_call(f"call-{index}"))
        for index in range(3)
    ]

    assert [answer.allowed for answer in answers] == [True, True, False]
    for answer in answers[:2]:
        assert answer.route == "openai/eu-west-1/gpt-4.1-mini"
        assert Decimal(answer.reserved[account]) == Decimal("0.020")
    assert answers[2].reserved == {}
    booth.close_session(TENANT, session_id)

    first = _route_answer(booth, session_id, f"{session_id}/call-0")
    assert first["route_candidates"] == [
        "openai/cn-north-1/gpt-4.1-nano (0.005 USD): denied: policy_denied",
        "openai/eu-west-1/gpt-4.1-mini (0.020 USD): chosen",
        "openai/us-east-1/gpt-4.1 (0.10 USD): denied: entitlement_overdrawn",
    ]
    denied = _route_answer(booth, session_id, f"{session_id}/call-2")
    # Only 0.01 USD is left, so the EU route no longer fits.
    assert denied["route_candidates"] == [
        "openai/cn-north-1/gpt-4.1-nano (0.005 USD): denied: policy_denied",
        "openai/eu-west-1/gpt-4.1-mini (0.020 USD): denied: entitlement_overdrawn",
        "openai/us-east-1/gpt-4.1 (0.10 USD): denied: entitlement_overdrawn",
    ]
    _assert_verified(booth)


def test_denied_routes_name_budget(
    routed_settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    booth = make_booth(settings=routed_settings)
    session_id = _open(
        booth, budget="0.01", allowed_jurisdictions=ALLOWED_JURISDICTIONS
    )

    answer = booth.begin(TENANT, session_id, _routed_call("call"))

    assert not answer.allowed
    assert "entitlement_overdrawn" in _codes(answer)


def test_explain_cli_lists_candidates(
    routed_settings: Settings, make_booth: Callable[..., LiveBooth]
) -> None:
    booth = make_booth(settings=routed_settings)
    session_id = _open(booth, allowed_jurisdictions=ALLOWED_JURISDICTIONS)
    booth.begin(TENANT, session_id, _routed_call("routed"))
    booth.close_session(TENANT, session_id)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }

    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ssoar.cli import main; main()",
            "explain",
            session_id,
            "--db",
            str(routed_settings.db),
        ],
        capture_output=True,
        text=True,
        env={**environment, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert (
        "considered openai/cn-north-1/gpt-4.1-nano (0.005 USD): denied: "
        "policy_denied" in output
    )
    assert "considered openai/eu-west-1/gpt-4.1-mini (0.020 USD): chosen" in output
    assert "considered openai/us-east-1/gpt-4.1 (0.10 USD): allowed" in output


def test_default_policies_keep_jurisdictions(booth: LiveBooth) -> None:
    session_id = _open(booth, allowed_jurisdictions=ALLOWED_JURISDICTIONS)

    answer = booth.begin(TENANT, session_id, _routed_call("routed"))

    assert answer.allowed
    assert answer.route == "openai/eu-west-1/gpt-4.1-mini"


def test_tool_call_target_is_its_tool(booth: LiveBooth) -> None:
    """Leaving out the target or naming another tool cannot escape the grant."""
    opened = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec("agent:bot")],
            grants=[GrantSpec("agent:bot", ["tool_call"], targets=["tool:search"])],
        ),
    )
    request = BeginCrossing(
        kind="tool_call",
        actor="tool:refund",
        invoker="agent:bot",
        attributes={"mutates_state": True},
    )
    answer = booth.begin(TENANT, opened.session_id, request)
    assert answer.allowed is False
    codes = [reason.code for reason in answer.reasons]
    assert codes == ["policy_denied", "authority_out_of_scope"]
    with pytest.raises(RequestError) as mismatch:
        booth.begin(
            TENANT,
            opened.session_id,
            BeginCrossing(
                kind="tool_call",
                actor="tool:refund",
                invoker="agent:bot",
                target="tool:search",
            ),
        )
    assert mismatch.value.field == "target"
