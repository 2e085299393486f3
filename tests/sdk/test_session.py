"""The SDK's Session and Crossing handles: closing, denials, tools, typed methods."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sdk_support import FakeClock, record_answers

import ssoar
from ssoar.live import LiveBooth, SessionNotice
from ssoar.sdk import Client, Session

AGENTIC_KINDS = [
    "model_invocation",
    "tool_call",
    "memory_write",
    "residency_shift",
    "carrier_path",
    "identity_proof",
]


def open_session(client: Client, **options: Any) -> Session:
    """Open a session in which every crossing touches an entitlement.

    agent:bot has a grant for every kind in AGENTIC_KINDS unless
    ``grants`` is given.
    """
    options.setdefault("participants", ["human:alice", "agent:bot"])
    options.setdefault("grants", [ssoar.GrantSpec("agent:bot", AGENTIC_KINDS)])
    options.setdefault(
        "quotas",
        [
            ssoar.QuotaSpec("crossings", "crossings", "100"),
            ssoar.QuotaSpec("budget", "money", "1.00", currency="USD"),
        ],
    )
    return client.session(**options)


def invoke_gpt(session: Session) -> ssoar.Crossing:
    """Begin a gpt-4.1 call whose worst case is exactly 0.10 USD."""
    return session.invoke_model(
        "openai",
        "gpt-4.1",
        input_tokens=10_000,
        max_output_tokens=10_000,
        invoker="agent:bot",
    )


def by_kind(session: Session, kind: str) -> dict[str, int]:
    assert session.settlement is not None
    return session.settlement["crossings"]["by_kind"][kind]


def billed_usage(session: Session) -> Decimal:
    assert session.settlement is not None
    return Decimal(session.settlement["totals"]["billing"]["USD"]["usage"])


def live_session_row(db: Path, session_id: str) -> tuple[str, str, str | None]:
    """Read (state, close_reason, error) of a session from the booth's database."""
    connection = sqlite3.connect(db)
    try:
        row = connection.execute(
            "SELECT state, close_reason, error FROM live_sessions WHERE session_id = ?",
            (session_id,),
        ).fetchone()
    finally:
        connection.close()
    assert row is not None
    return row


# Closing


def test_normal_exit_settles(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        assert session.state == "open"
        assert not session.closed.is_set()
        invoke_gpt(session).complete(
            usage=ssoar.UsageReport(input_tokens=9_000, output_tokens=1_000)
        )

    assert session.closed.is_set()
    assert session.state == "settled"
    assert session.settlement is not None
    assert session.settlement["close_reason"] == "closed"
    assert session.settlement["exceptions"] == []
    # 9,000 input at $2/M plus 1,000 output at $8/M.
    assert billed_usage(session) == Decimal("0.026")


def test_open_crossing_at_exit_is_unclean(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        call = invoke_gpt(session)

    assert session.state == "settled_unclean"
    assert session.settlement is not None
    exceptions = session.settlement["exceptions"]
    assert [item["reason"] for item in exceptions] == [
        "usage_estimated",
        "open_at_close",
    ]
    assert {item["crossing_id"] for item in exceptions} == {call.crossing_id}
    assert exceptions[0]["money_at_risk"] == {"amount": "0.10", "currency": "USD"}
    assert billed_usage(session) == Decimal("0.10")


def test_error_exit_records_error(booth_client: Client, tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="tool exploded"),
        open_session(booth_client) as session,
    ):
        raise ValueError("tool exploded")

    assert session.closed.is_set()
    assert session.settlement is not None
    assert session.settlement["close_reason"] == "error"
    assert session.state == "settled_unclean"
    state, close_reason, error = live_session_row(tmp_path / "s.db", session.session_id)
    assert state == "settled_unclean"
    assert close_reason == "error"
    assert error == "ValueError: tool exploded"


def test_close_twice_returns_same_record(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        first = session.close()
        second = session.close()

    assert second is first
    assert session.settlement is first
    assert first["state"] == "settled"


# Crossing handles


def test_handle_completes_on_exit(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with session.call_tool("lookup_order", invoker="agent:bot") as call:
            assert not call.done
            assert call.answer.state == "open"
        assert call.done
        assert call.answer.state == "completed"

    assert by_kind(session, "tool_call") == {"total": 1, "reconciled": 1}
    assert session.state == "settled"


def test_handle_fails_on_exception(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with pytest.raises(ConnectionError), invoke_gpt(session) as call:
            raise ConnectionError("upstream reset the connection")
        budget = f"{session.session_id}/quota/budget"
        assert call.answer.state == "failed"
        assert call.answer.charge is None
        assert call.answer.usage_source == "none"
        assert call.answer.reserved[budget] == "0.10"
        assert Decimal(call.answer.posted[budget]) == 0

    # A failed call that reported no usage is not billed and not metered.
    assert session.state == "settled"
    assert session.settlement is not None
    assert session.settlement["exceptions"] == []
    assert billed_usage(session) == 0
    assert session.settlement["totals"]["compute"]["tokens"]["total_tokens"] == 0
    entitlement = session.settlement["totals"]["entitlement"][budget]
    assert Decimal(entitlement["posted"]) == 0
    assert Decimal(entitlement["released"]) == Decimal("0.10")


def test_handle_keeps_explicit_completion(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with pytest.raises(RuntimeError), invoke_gpt(session) as call:
            call.complete(usage=ssoar.UsageReport(input_tokens=100, output_tokens=10))
            raise RuntimeError("after the call finished")
        assert call.answer.state == "completed"
        assert call.answer.usage_source == "reported"


# Denials


def test_state_change_without_grant_denied(booth_client: Client) -> None:
    grants = [ssoar.GrantSpec("agent:bot", ["model_invocation"])]
    with (
        open_session(booth_client, grants=grants) as session,
        pytest.raises(ssoar.CrossingDenied) as denied,
    ):
        session.call_tool("issue_refund", invoker="agent:bot", mutates_state=True)

    error = denied.value
    assert error.policy_ids == ("agentic.tool.state-change-needs-grant",)
    assert "policy_denied" in error.codes
    assert error.codes == tuple(code for code, _ in error.reasons)
    assert all(message for _, message in error.reasons)
    assert error.crossing_id.startswith(session.session_id + "/")
    # The booth stopped the crossing in time, so it reconciles.
    assert by_kind(session, "tool_call") == {"total": 1, "reconciled": 1}


def test_state_change_with_grant_allowed(booth_client: Client) -> None:
    with (
        open_session(booth_client) as session,
        session.call_tool(
            "issue_refund", invoker="agent:bot", mutates_state=True
        ) as call,
    ):
        assert call.answer.allowed
        assert call.answer.policy_ids == ["agentic.tool.permit"]

    assert session.state == "settled"


# Tool decorator


def test_tool_decorator_makes_crossings(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        answers = record_answers(session)

        @session.tool(invoker="agent:bot")
        def lookup_order(order_id: str) -> str:
            if order_id == "missing":
                raise KeyError(order_id)
            return f"order {order_id}: shipped"

        assert lookup_order.__name__ == "lookup_order"
        assert lookup_order("1") == "order 1: shipped"
        assert lookup_order(order_id="2") == "order 2: shipped"
        with pytest.raises(KeyError):
            lookup_order("missing")

    assert [answer.actor for answer in answers.begun] == ["tool:lookup_order"] * 3
    assert [answer.state for answer in answers.completed] == [
        "completed",
        "completed",
        "failed",
    ]
    assert by_kind(session, "tool_call") == {"total": 3, "reconciled": 3}


def test_denied_tool_body_never_runs(booth_client: Client) -> None:
    ran = []
    grants = [ssoar.GrantSpec("agent:bot", ["model_invocation"])]
    with open_session(booth_client, grants=grants) as session:

        @session.tool("refunds", invoker="agent:bot", mutates_state=True)
        def issue_refund(order_id: str) -> None:
            ran.append(order_id)

        with pytest.raises(ssoar.CrossingDenied) as denied:
            issue_refund("1234")

    assert ran == []
    assert denied.value.policy_ids == ("agentic.tool.state-change-needs-grant",)
    assert by_kind(session, "tool_call") == {"total": 1, "reconciled": 1}


# Close callbacks and the sweeper


def test_on_close_runs_once(booth_client: Client) -> None:
    notices: list[SessionNotice | None] = []
    with open_session(booth_client) as session:
        session.on_close(notices.append)
        assert notices == []
        session.close()
        session.close()

    assert len(notices) == 1
    notice = notices[0]
    assert notice is not None
    assert notice.session_id == session.session_id
    assert notice.state == "settled"
    assert notice.close_reason == "closed"

    late: list[SessionNotice | None] = []
    session.on_close(late.append)
    assert late == [notice]


def test_on_close_runs_on_sweep(
    clocked_client: Client, clocked_booth: LiveBooth, fake_clock: FakeClock
) -> None:
    notices: list[SessionNotice | None] = []
    with open_session(clocked_client, idle_timeout_seconds=60) as session:
        session.on_close(notices.append)
        fake_clock.advance(59)
        assert clocked_client.sweep() == []
        assert notices == []

        fake_clock.advance(2)
        swept = clocked_client.sweep()
        assert [record["session_id"] for record in swept] == [session.session_id]
        assert swept[0]["close_reason"] == "swept"
        assert session.closed.is_set()
        assert len(notices) == 1

        with pytest.raises(ssoar.SessionClosed) as closed:
            session.call_tool("lookup_order", invoker="agent:bot")
        assert closed.value.session_id == session.session_id
        assert closed.value.close_reason == "swept"

    notice = notices[0]
    assert notice is not None
    assert notice.close_reason == "swept"
    assert notice.error is not None
    assert "idle" in notice.error
    assert len(notices) == 1
    assert session.settlement is not None
    assert session.settlement["close_reason"] == "swept"
    assert session.state == "settled_unclean"


def test_sweep_found_by_remote_begin(
    http_client: Client, clocked_booth: LiveBooth, fake_clock: FakeClock
) -> None:
    notices: list[SessionNotice | None] = []
    with open_session(http_client, idle_timeout_seconds=60) as session:
        session.on_close(notices.append)
        fake_clock.advance(61)
        assert len(clocked_booth.sweep()) == 1
        # A remote booth reports a sweep to the SDK only through a webhook.
        assert not session.closed.is_set()

        with pytest.raises(ssoar.SessionClosed) as closed:
            invoke_gpt(session)
        assert closed.value.close_reason == "swept"
        assert session.closed.is_set()
        assert notices == [None]

    assert notices == [None]
    assert session.settlement is not None
    assert session.settlement["close_reason"] == "swept"


# Typed methods


def test_memory_write_persistence_needs_authority(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with pytest.raises(ssoar.CrossingDenied) as denied:
            session.write_memory("notes", persistent=True, invoker="agent:bot")
        assert denied.value.policy_ids == ("agentic.memory.persistence-authorised",)

        with session.write_memory(
            "notes",
            record="customer prefers email",
            persistent=True,
            persistence_authorised=True,
            invoker="agent:bot",
        ) as write:
            assert write.answer.kind == "memory_write"
            assert write.answer.actor == "memory:notes"
            assert write.answer.obligations == ["carry_forward:memory_retention"]

    assert session.state == "settled"
    assert session.settlement is not None
    carried = session.settlement["obligations"]["carried_forward"]
    assert carried == [
        {
            "crossing_id": write.crossing_id,
            "obligation": "carry_forward:memory_retention",
        }
    ]


def test_residency_shift_outside_allowed_denied(booth_client: Client) -> None:
    with open_session(booth_client, allowed_jurisdictions=["EU"]) as session:
        with pytest.raises(ssoar.CrossingDenied) as denied:
            session.shift_residency("us-east-1", jurisdiction="US", invoker="agent:bot")
        assert denied.value.policy_ids == ("agentic.residency.allowed-jurisdictions",)

        with session.shift_residency(
            "eu-west-1", jurisdiction="EU", invoker="agent:bot"
        ) as shift:
            assert shift.answer.kind == "residency_shift"
            assert shift.answer.actor == "jurisdiction:EU"

    assert by_kind(session, "residency_shift") == {"total": 2, "reconciled": 2}
    assert session.state == "settled"


def test_carrier_route_cost_billed(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with session.route_carrier(
            "eu-backbone", carrier="acme-net", cost="0.05", invoker="agent:bot"
        ) as route:
            assert route.answer.kind == "carrier_path"
            assert route.answer.actor == "carrier:acme-net"
            budget = f"{session.session_id}/quota/budget"
            assert route.answer.reserved[budget] == "0.05"
        assert route.answer.posted[budget] == "0.05"

    assert session.state == "settled"
    assert billed_usage(session) == Decimal("0.05")


def test_carrier_actual_cost_billed(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        route = session.route_carrier(
            "eu-backbone", carrier="acme-net", cost="0.05", invoker="agent:bot"
        )
        route.complete(cost="0.04")
        budget = f"{session.session_id}/quota/budget"
        assert route.answer.posted[budget] == "0.04"

    assert session.settlement is not None
    entitlement = session.settlement["totals"]["entitlement"][budget]
    assert Decimal(entitlement["posted"]) == Decimal("0.04")
    assert billed_usage(session) == Decimal("0.04")


def test_identity_proof_needs_validity(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with pytest.raises(ssoar.CrossingDenied) as denied:
            session.prove_identity(
                "idv", subject="human:alice", valid_seconds=0, invoker="agent:bot"
            )
        # No permit matches, so no policy decided: Cedar denies by default.
        assert denied.value.policy_ids == ()
        assert "policy_denied" in denied.value.codes

        with session.prove_identity(
            "idv", subject="human:alice", valid_seconds=600, invoker="agent:bot"
        ) as proof:
            assert proof.answer.kind == "identity_proof"
            assert proof.answer.actor == "verifier:idv"
            assert proof.answer.policy_ids == ["agentic.identity.permit"]

    assert session.state == "settled"


def test_accessibility_needs_generic_template(booth_client: Client) -> None:
    with open_session(booth_client) as session:
        with pytest.raises(ssoar.RequestError) as rejected:
            session.activate_accessibility(
                "captions", recipient="human:alice", invoker="agent:bot"
            )
        assert rejected.value.field == "kind"

    grants = [ssoar.GrantSpec("agent:bot", ["accessibility_activation"])]
    with (
        open_session(booth_client, template="generic", grants=grants) as session,
        session.activate_accessibility(
            "captions", recipient="human:alice", invoker="agent:bot"
        ) as activation,
    ):
        assert activation.answer.kind == "accessibility_activation"
        assert activation.answer.actor == "accessibility:captions"
        assert activation.answer.policy_ids == ["generic.accessibility.permit"]
        assert activation.answer.obligations == ["deliver_stream"]

    assert session.state == "settled"
    assert session.settlement is not None
    assert session.settlement["template"] == "generic"
    discharged = session.settlement["obligations"]["discharged"]
    assert discharged == [
        {"crossing_id": activation.crossing_id, "obligation": "deliver_stream"}
    ]


def test_refused_admission_at_open_raises(tmp_path: Path) -> None:
    """A session whose listed participant is refused is closed at once and raises."""
    with ssoar.connect(
        db=tmp_path / "refused.db", key_file=tmp_path / "refused.key", tenant="acme"
    ) as client:
        client.set_plan([ssoar.QuotaSpec("seats", "crossings", "1", scope="tenant")])
        with pytest.raises(ssoar.CrossingDenied) as refused:
            client.session(participants=["agent:one", "agent:two"])
        assert refused.value.codes == ("entitlement_overdrawn",)
        booth = client.booth
        assert booth is not None
        rows = booth.store.connection.execute(
            "SELECT state, close_reason, error FROM live_sessions"
        ).fetchall()
    assert rows == [
        (
            "settled_unclean",
            "error",
            "the booth refused to admit agent:two when the session opened",
        )
    ]
