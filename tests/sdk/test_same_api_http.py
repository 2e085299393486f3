"""The same scenario through the in-process SDK and through the HTTP SDK.

Both clients reach one fake-clock booth: in process with
``ssoar.connect(booth=...)`` and over HTTP through ``ssoar.server.build_app``
on uvicorn. Their decisions, amounts and settlements must be equal once
session ids, times and signatures are set aside.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from sdk_support import TENANT, record_answers

import ssoar
from ssoar.live import LiveBooth
from ssoar.sdk import Client, Session

SESSION_PLACEHOLDER = "<session>"
VARYING_SETTLEMENT_KEYS = frozenset(
    {"session_id", "opened_at", "closed_at", "settled_at", "merkle_root"}
)
"""Settlement keys that differ between two runs of one scenario."""


@pytest.fixture
def local_client(clocked_booth: LiveBooth) -> Iterator[Client]:
    client = ssoar.connect(booth=clocked_booth, tenant=TENANT)
    yield client
    client.close()


def run_scenario(client: Client) -> dict[str, Any]:
    """Run a short session with allowed, denied, failed and open crossings."""
    denials: list[dict[str, Any]] = []
    with client.session(
        participants=["human:alice", "agent:bot"],
        grants=[ssoar.GrantSpec("agent:bot", ["model_invocation", "carrier_path"])],
        quotas=[
            ssoar.QuotaSpec("crossings", "crossings", "20"),
            ssoar.QuotaSpec("budget", "money", "0.50", currency="USD"),
        ],
        allowed_jurisdictions=["EU"],
        labels={"scenario": "same-api"},
    ) as session:
        answers = record_answers(session)
        opened = session.answer

        model = invoke(session, "model-1", max_output_tokens=1_000)
        model.complete(
            usage=ssoar.UsageReport(
                input_tokens=1_200,
                output_tokens=300,
                cache_read_tokens=200,
                reasoning_tokens=64,
            )
        )
        retried = invoke(session, "model-2", max_output_tokens=1_000)
        retried.attempt_failed("HTTP 500 from upstream", attempt_id="1")
        retried.complete(usage=ssoar.UsageReport(input_tokens=900, output_tokens=50))
        failed = invoke(session, "model-3", max_output_tokens=1_000)
        failed.fail("upstream reset the connection")

        denials.append(denied(lambda: invoke(session, "too-big", 100_000)))
        denials.append(
            denied(
                lambda: session.call_tool(
                    "issue_refund",
                    invoker="agent:bot",
                    mutates_state=True,
                    crossing_id="refund",
                )
            )
        )
        denials.append(
            denied(
                lambda: session.shift_residency(
                    "us-east-1",
                    jurisdiction="US",
                    invoker="agent:bot",
                    crossing_id="move-us",
                )
            )
        )
        route = session.route_carrier(
            "eu-backbone",
            carrier="acme-net",
            cost="0.05",
            invoker="agent:bot",
            crossing_id="route-1",
        )
        route.complete(cost="0.05")
        # Left open: the close settles it at its reservation, estimated.
        invoke(session, "model-open", max_output_tokens=2_000)

    assert session.settlement is not None
    return {
        "opened": normalise(msgspec.to_builtins(opened), session),
        "begun": [answer_json(answer, session) for answer in answers.begun],
        "attempts": [answer_json(answer, session) for answer in answers.attempts],
        "completed": [answer_json(answer, session) for answer in answers.completed],
        "denials": [normalise(denial, session) for denial in denials],
        "state": session.state,
        "settlement": settlement_json(session.settlement, session),
    }


def invoke(
    session: Session, crossing_id: str, max_output_tokens: int
) -> ssoar.Crossing:
    return session.invoke_model(
        "openai",
        "gpt-4.1",
        input_tokens=2_000,
        max_output_tokens=max_output_tokens,
        invoker="agent:bot",
        crossing_id=crossing_id,
    )


def denied(begin: Any) -> dict[str, Any]:
    """Run a begin that must be denied; return what the denial carried."""
    with pytest.raises(ssoar.CrossingDenied) as raised:
        begin()
    error = raised.value
    return {
        "crossing_id": error.crossing_id,
        "reasons": [list(reason) for reason in error.reasons],
        "policy_ids": list(error.policy_ids),
    }


def answer_json(answer: ssoar.live.CrossingAnswer, session: Session) -> Any:
    return normalise(msgspec.to_builtins(answer), session)


def settlement_json(settlement: dict[str, Any], session: Session) -> Any:
    stable = {
        key: value
        for key, value in settlement.items()
        if key not in VARYING_SETTLEMENT_KEYS
    }
    return normalise(stable, session)


def normalise(value: Any, session: Session) -> Any:
    """Replace the session id by a placeholder, through a JSON round trip."""
    text = json.dumps(value, sort_keys=True)
    return json.loads(text.replace(session.session_id, SESSION_PLACEHOLDER))


def test_scenario_expectations(local_client: Client) -> None:
    result = run_scenario(local_client)

    assert result["state"] == "settled_unclean"
    denial_codes = [
        [code for code, _ in denial["reasons"]] for denial in result["denials"]
    ]
    assert denial_codes[0] == ["entitlement_overdrawn"]
    assert "policy_denied" in denial_codes[1]
    assert result["denials"][1]["policy_ids"] == [
        "agentic.tool.state-change-needs-grant"
    ]
    assert result["denials"][2]["policy_ids"] == [
        "agentic.residency.allowed-jurisdictions"
    ]
    states = {answer["crossing_id"]: answer["state"] for answer in result["completed"]}
    assert states == {
        "<session>/model-1": "completed",
        "<session>/model-2": "completed",
        "<session>/model-3": "failed",
        "<session>/route-1": "completed",
    }
    assert result["attempts"][0]["attempts"] == 1
    posted = {
        answer["crossing_id"]: answer["posted"]["<session>/quota/budget"]
        for answer in result["completed"]
    }
    # model-1: 1,000 uncached input at $2/M, 200 cached at $0.50/M and 300
    # output at $8/M. model-2: 900 input and 50 output. model-3 reported no usage.
    assert posted == {
        "<session>/model-1": "0.0045",
        "<session>/model-2": "0.0022",
        "<session>/model-3": "0",
        "<session>/route-1": "0.05",
    }
    # The open call is billed at its reservation: 2,000 input and 2,000 output.
    billing = result["settlement"]["totals"]["billing"]["USD"]
    assert Decimal(billing["usage"]) == Decimal("0.0767")
    exceptions = result["settlement"]["exceptions"]
    assert {item["crossing_id"] for item in exceptions} == {"<session>/model-open"}


def test_same_results_in_process_and_http(
    local_client: Client, http_client: Client
) -> None:
    local = run_scenario(local_client)
    remote = run_scenario(http_client)

    assert remote["opened"] == local["opened"]
    assert remote["denials"] == local["denials"]
    for name in ("begun", "attempts", "completed"):
        assert len(remote[name]) == len(local[name])
        for remote_answer, local_answer in zip(remote[name], local[name], strict=True):
            assert remote_answer == local_answer
    assert remote["state"] == local["state"]
    for key in local["settlement"]:
        assert remote["settlement"][key] == local["settlement"][key], key
    assert remote["settlement"].keys() == local["settlement"].keys()


def test_http_settlement_matches_booth_record(
    http_client: Client, clocked_booth: LiveBooth
) -> None:
    with http_client.session(
        participants=["human:alice"],
        quotas=[ssoar.QuotaSpec("crossings", "crossings", "5")],
    ) as session:
        pass

    assert session.settlement is not None
    stored = clocked_booth.close_session(TENANT, session.session_id)
    assert json.loads(json.dumps(stored)) == session.settlement
