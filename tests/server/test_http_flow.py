"""A whole session through the SDK over HTTP, then read back over HTTP.

The SDK (``ssoar.connect(url, api_key=...)``) admits a participant, issues a
grant, makes a model call with reported usage and a state-changing tool
call, and closes the session. The settlement fetched from
/v1/sessions/{id}/settlement must verify with the booth's public key, the
explanation must answer the eight questions, and an inclusion proof fetched
over HTTP must pass tools/ssoar-verify-proof run as a separate process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from booth_service import Service, assert_problem

import ssoar
from ssoar.audit._canonical import canonical_record_json
from ssoar.audit._signing import SignatureInvalid, verify_signature
from ssoar.live import BeginCrossing
from ssoar.report._explain import QUESTIONS

VERIFY_PROOF = Path(__file__).resolve().parents[2] / "tools" / "ssoar-verify-proof"
AGENT = "agent:support-bot"
REVIEWER = "human:reviewer"
# gpt-4.1 costs $2 per million input and $8 per million output tokens.
USAGE = ssoar.UsageReport(input_tokens=8_000, output_tokens=2_000)
USAGE_COST = Decimal("0.032")


@dataclass(frozen=True)
class Flow:
    """What the SDK session produced."""

    session_id: str
    model_crossing: str
    tool_crossing: str
    settlement: dict[str, Any]


@pytest.fixture(scope="module")
def flow(service: Service) -> Flow:
    client = ssoar.connect(service.url, api_key=service.key("acme").secret)
    try:
        with client.session(
            participants=[AGENT],
            grants=[ssoar.GrantSpec(AGENT, ["model_invocation"])],
            quotas=[ssoar.QuotaSpec("spend", "money", "5.00", currency="USD")],
            labels={"ticket": "4712"},
        ) as session:
            admitted = session.admit(REVIEWER)
            assert admitted.allowed
            session.grant(AGENT, ["tool_call"], grant_id="refund-tools")
            with session.invoke_model(
                "openai",
                "gpt-4.1",
                input_tokens=10_000,
                max_output_tokens=10_000,
                invoker=AGENT,
            ) as call:
                answer = call.complete(usage=USAGE)
                assert answer.state == "completed"
                assert answer.charge == {"amount": str(USAGE_COST), "currency": "USD"}
            with session.call_tool(
                "issue_refund", invoker=AGENT, mutates_state=True
            ) as tool:
                pass
            assert tool.done
    finally:
        client.close()
    assert session.closed.is_set()
    assert session.settlement is not None
    return Flow(
        session.session_id, call.crossing_id, tool.crossing_id, session.settlement
    )


@pytest.fixture(scope="module")
def reader(service: Service) -> httpx.Client:
    return service.client(service.key("acme", "read"))


def test_session_settles_clean(flow: Flow) -> None:
    settlement = flow.settlement
    assert settlement["state"] == "settled"
    assert settlement["close_reason"] == "closed"
    assert settlement["tenant"] == "acme"
    assert settlement["exceptions"] == []
    crossings = settlement["crossings"]
    # Two admissions, the model call, the tool call and the closure.
    assert crossings["total"] == 5
    assert crossings["reconciled"] == 5
    usage = settlement["totals"]["billing"]["USD"]["usage"]
    assert Decimal(usage) == USAGE_COST
    authority = settlement["totals"]["authority"]
    assert authority["grants_issued"] == 2
    assert authority["grants_outstanding"] == []


def test_settlement_signature_verifies(
    service: Service, reader: httpx.Client, flow: Flow
) -> None:
    response = reader.get(f"/v1/sessions/{flow.session_id}/settlement")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"] == flow.settlement
    public_key = bytes.fromhex(body["public_key"])
    assert public_key == service.booth.key.public_key
    assert body["key_id"] == service.booth.key.key_id
    assert body["record"]["key_id"] == body["key_id"]

    signature = bytes.fromhex(body["signature"])
    message = canonical_record_json(body["record"])
    verify_signature(public_key, signature, message)

    tampered = {**body["record"], "state": "settled_unclean"}
    with pytest.raises(SignatureInvalid):
        verify_signature(public_key, signature, canonical_record_json(tampered))


def test_explain_answers_eight_questions(reader: httpx.Client, flow: Flow) -> None:
    response = reader.get(f"/v1/sessions/{flow.session_id}/explain")
    assert response.status_code == 200, response.text
    explained = response.json()
    assert explained["session"]["session_id"] == flow.session_id
    questions = explained["questions"]
    assert len(questions) == 8
    assert list(questions) == [key for key, _ in QUESTIONS]
    for key, text in QUESTIONS:
        assert questions[key]["question"] == text
        assert questions[key]["answer"] is not None, key


@pytest.mark.parametrize("crossing", ["model", "tool"])
def test_proof_passes_verify_tool(
    service: Service,
    reader: httpx.Client,
    flow: Flow,
    tmp_path: Path,
    crossing: str,
) -> None:
    record_id = flow.model_crossing if crossing == "model" else flow.tool_crossing
    assert "/" in record_id
    response = reader.get(
        f"/v1/sessions/{flow.session_id}/proof/{quote(record_id, safe='')}"
    )
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["session_id"] == flow.session_id
    assert document["record_id"] == record_id
    proof = tmp_path / "proof.json"
    proof.write_bytes(response.content)

    checked = subprocess.run(
        [
            sys.executable,
            str(VERIFY_PROOF),
            "--public-key",
            service.booth.key.public_key.hex(),
            str(proof),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_proof_of_forged_record_fails_tool(
    reader: httpx.Client, flow: Flow, tmp_path: Path
) -> None:
    # The tool must be able to fail: a proof whose leaf hash was changed.
    response = reader.get(
        f"/v1/sessions/{flow.session_id}/proof/{quote(flow.model_crossing, safe='')}"
    )
    document = response.json()
    leaf_hash = document["leaf_hash"]
    document["leaf_hash"] = ("0" if leaf_hash[0] != "0" else "1") + leaf_hash[1:]
    proof = tmp_path / "forged.json"
    proof.write_text(json.dumps(document))
    checked = subprocess.run(
        [sys.executable, str(VERIFY_PROOF), str(proof)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr


def test_closed_session_reads_as_settled(reader: httpx.Client, flow: Flow) -> None:
    response = reader.get(f"/v1/sessions/{flow.session_id}")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "settled"
    listed = reader.get("/v1/sessions").json()["sessions"]
    assert flow.session_id in {item["session_id"] for item in listed}


def test_sdk_raises_on_closed_session(service: Service, flow: Flow) -> None:
    client = ssoar.connect(service.url, api_key=service.key("acme").secret)
    try:
        with pytest.raises(ssoar.SessionClosed) as raised:
            client.transport.begin(
                flow.session_id,
                BeginCrossing(kind="tool_call", invoker=AGENT),
            )
    finally:
        client.close()
    assert raised.value.session_id == flow.session_id


def test_session_id_with_slash_reachable(service: Service) -> None:
    # Either the service rejects such an id at open, or it can reach the
    # session afterwards; accepting it and then answering "no-route" strands it.
    client = service.client(service.key("acme"))
    opened = client.post("/v1/sessions", json={"session_id": "team/ticket-9"})
    if opened.status_code == 422:
        assert opened.json()["field"] == "session_id"
        return
    assert opened.status_code == 201, opened.text
    response = client.get(f"/v1/sessions/{quote('team/ticket-9', safe='')}")
    assert response.status_code == 200, response.text


def test_unknown_session_is_problem(reader: httpx.Client) -> None:
    response = reader.get("/v1/sessions/ses-unknown/settlement")
    assert_problem(response, 404)
