"""Tests for the settlement record: state, totals, exposure and its signature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ssoar.audit._canonical import canonical_json
from ssoar.audit._signing import SignatureInvalid, SigningKey, verify_signature
from ssoar.ledger._authority import AuthorityCheck, AuthorityStatus, Grant, GrantScope
from ssoar.ledger._billing import BillingEntry, BillingStatus
from ssoar.ledger._compute import meter_crossing
from ssoar.ledger._entitlement import (
    Account,
    Overdraft,
    Quota,
    QuotaScope,
    QuotaUnit,
    Transfer,
    TransferPhase,
)
from ssoar.model import (
    CloseReason,
    Crossing,
    CrossingState,
    Decision,
    Money,
    Session,
    SessionState,
    TokenUsage,
    UsageSource,
)
from ssoar.settlement._exceptions import ReasonCode, SettlementException
from ssoar.settlement._outcome import CrossingOutcome, EntitlementEntry
from ssoar.settlement._settle import (
    AccountSummary,
    build_settlement,
    sign_settlement,
)

OPENED = datetime(2025, 6, 1, tzinfo=UTC)
CLOSED = OPENED + timedelta(hours=1)
SESSION = Session("s-1", "acme", "generic", OPENED, origin="import")
USAGE = TokenUsage.from_inclusive(input_tokens=100, output_tokens=20)
VALID = AuthorityCheck(AuthorityStatus.VALID, "agent:a", "g-1", "grant g-1", ())
KEY = SigningKey.from_private_key(Ed25519PrivateKey.from_private_bytes(bytes(32)))


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def make_decision(obligations: tuple[str, ...] = ()) -> Decision:
    return Decision(True, True, (), (), obligations, (), "sha256:test")


def model_call(
    crossing_id: str, model: str, charge: Money | None, toll: str = "0.0010"
) -> CrossingOutcome:
    crossing = Crossing(
        crossing_id=crossing_id,
        session_id="s-1",
        kind="model_invocation",
        actor_id=f"model:{model}",
        started_at=OPENED,
        state=CrossingState.COMPLETED,
        attributes={"model": model},
        usage=USAGE,
        usage_source=UsageSource.REPORTED,
    )
    status = BillingStatus.PRICED if charge else BillingStatus.PRICE_UNKNOWN
    return CrossingOutcome(
        crossing=crossing,
        decision=make_decision(),
        authority=VALID,
        billing=BillingEntry(crossing_id, status, charge, usd(toll), USAGE),
        compute=meter_crossing(crossing),
    )


def route(crossing_id: str, cost: Money) -> CrossingOutcome:
    crossing = Crossing(
        crossing_id=crossing_id,
        session_id="s-1",
        kind="carrier_path",
        actor_id="carrier:c",
        started_at=OPENED,
        state=CrossingState.COMPLETED,
    )
    return CrossingOutcome(
        crossing=crossing,
        decision=make_decision(),
        authority=VALID,
        billing=BillingEntry(
            crossing_id, BillingStatus.PRICED, cost, usd("0.0005"), None
        ),
        entries={"placement": {"route": "r-1"}},
    )


def exception(
    crossing_id: str, reason: ReasonCode, at_risk: Money | None, review: str
) -> SettlementException:
    return SettlementException(
        crossing_id, "model_invocation", reason, reason.value, at_risk, usd(review)
    )


OUTCOMES = [
    model_call("c-clean", "gpt-4o", usd("0.50")),
    model_call("c-bad", "llama-3.1-8b", usd("0.25")),
    model_call("c-unpriced", "mystery", None),
    route("c-route", Money(Decimal("0.75"), "EUR")),
]
EXCEPTIONS = {
    "c-clean": [],
    "c-bad": [
        exception("c-bad", ReasonCode.POLICY_DENIED, usd("0.25"), "50.00"),
        exception("c-bad", ReasonCode.AUTHORITY_MISSING, None, "40.00"),
    ],
    "c-unpriced": [exception("c-unpriced", ReasonCode.PRICE_UNKNOWN, None, "5.00")],
    "c-route": [],
}


def settle(
    outcomes: list[CrossingOutcome] = OUTCOMES,
    exceptions: dict[str, list[SettlementException]] = EXCEPTIONS,
    **changes: Any,
) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "session": SESSION,
        "outcomes": outcomes,
        "exceptions": exceptions,
        "close_reason": CloseReason.IMPORTED,
        "closed_at": CLOSED,
        "settled_at": CLOSED,
        "grants": [],
        "revoked": [],
        "accounts": [],
        "transfers": [],
        "merkle_root": bytes(32),
        "tree_size": 5,
        "policy_digest": "sha256:test",
    }
    arguments.update(changes)
    return build_settlement(**arguments)


# State


@pytest.mark.parametrize("reason", [CloseReason.CLOSED, CloseReason.IMPORTED])
def test_clean_session_settled(reason: CloseReason) -> None:
    record = settle(OUTCOMES[:1], {"c-clean": []}, close_reason=reason)
    assert record["state"] == "settled"


@pytest.mark.parametrize("reason", [CloseReason.SWEPT, CloseReason.ERROR])
def test_forced_close_unclean(reason: CloseReason) -> None:
    record = settle(OUTCOMES[:1], {"c-clean": []}, close_reason=reason)
    assert record["state"] == "settled_unclean"


def test_exception_makes_unclean() -> None:
    assert settle()["state"] == "settled_unclean"


def test_settlement_record_header() -> None:
    record = settle()
    assert record["format"] == "ssoar-settlement/1"
    assert record["type"] == "settlement"
    assert record["session_id"] == "s-1"
    assert record["opened_at"] == "2025-06-01T00:00:00.000000Z"
    assert record["closed_at"] == "2025-06-01T01:00:00.000000Z"
    assert record["close_reason"] == "imported"


def test_settlement_record_root() -> None:
    """The signed root and tree size sit at the top level of the record."""
    record = settle(merkle_root=bytes(range(32)), tree_size=9)
    assert record["merkle_root"] == bytes(range(32)).hex()
    assert record["tree_size"] == 9
    assert record["hash_algorithm"] == "sha256"
    assert "audit" not in record


# Totals


def test_settlement_crossing_totals() -> None:
    assert settle()["crossings"] == {
        "total": 4,
        "reconciled": 2,
        "unreconciled": 2,
        "by_kind": {
            "carrier_path": {"total": 1, "reconciled": 1},
            "model_invocation": {"total": 3, "reconciled": 1},
        },
    }


def test_billing_totals_usd() -> None:
    totals = settle()["totals"]["billing"]["USD"]
    # Usage: 0.50 + 0.25 priced; 0.50 of it from the reconciled crossing.
    assert Decimal(totals["usage"]) == Decimal("0.75")
    assert Decimal(totals["usage_reconciled"]) == Decimal("0.50")
    # Tolls: three model calls at 0.0010 and one route at 0.0005 = 0.0035,
    # of which c-clean (0.0010) and c-route (0.0005) are collected.
    assert Decimal(totals["tolls_assessed"]) == Decimal("0.0035")
    assert Decimal(totals["tolls_collected"]) == Decimal("0.0015")
    assert Decimal(totals["tolls_uncollectible"]) == Decimal("0.0020")


def test_billing_totals_per_currency() -> None:
    totals = settle()["totals"]["billing"]["EUR"]
    assert Decimal(totals["usage"]) == Decimal("0.75")
    assert Decimal(totals["usage_reconciled"]) == Decimal("0.75")
    assert Decimal(totals["tolls_assessed"]) == Decimal(0)


def test_settlement_compute_totals() -> None:
    compute = settle()["totals"]["compute"]
    # Three model calls of 100 input and 20 output tokens each.
    assert compute["tokens"]["input_uncached_tokens"] == 300
    assert compute["tokens"]["output_tokens"] == 60
    assert compute["tokens"]["total_tokens"] == 360
    assert compute["tokens_reconciled"]["total_tokens"] == 120
    # Only llama-3.1-8b has a published size: 2 x 8e9 x 120 tokens.
    assert compute["flops_known"] == "1920000000000"
    assert compute["crossings_with_unknown_flops"] == 2


def test_settlement_exposure_totals() -> None:
    exposure = settle()["exposure"]
    # Money at risk 0.25; review 50 + 40 + 5 = 95.
    usd_exposure = exposure["by_currency"]["USD"]
    assert Decimal(usd_exposure["money_at_risk"]) == Decimal("0.25")
    assert Decimal(usd_exposure["review_cost"]) == Decimal("95.00")
    assert Decimal(usd_exposure["total"]) == Decimal("95.25")
    assert exposure["crossings_with_unknown_price"] == 1


def test_exceptions_listed_in_order() -> None:
    listed = settle()["exceptions"]
    assert [(item["crossing_id"], item["reason"]) for item in listed] == [
        ("c-bad", "policy_denied"),
        ("c-bad", "authority_missing"),
        ("c-unpriced", "price_unknown"),
    ]


def test_settlement_obligations_grouped() -> None:
    crossing = OUTCOMES[0].crossing
    outcome = CrossingOutcome(
        crossing=crossing,
        decision=make_decision(("deliver_stream", "carry_forward:retention")),
        authority=VALID,
        billing=OUTCOMES[0].billing,
        compute=OUTCOMES[0].compute,
    )
    record = settle([outcome], {"c-clean": []})
    assert record["obligations"] == {
        "discharged": [{"crossing_id": "c-clean", "obligation": "deliver_stream"}],
        "carried_forward": [
            {"crossing_id": "c-clean", "obligation": "carry_forward:retention"}
        ],
        "open": [],
    }


def test_settlement_authority_totals() -> None:
    scope = GrantScope(frozenset({"tool_call"}))
    grants = [
        Grant("g-1", "tenant:acme", "agent:a", scope, OPENED, CLOSED, session_id="s-1"),
        Grant("g-2", "tenant:acme", "agent:b", scope, OPENED, CLOSED, session_id="s-1"),
        Grant("g-3", "tenant:acme", "agent:c", scope, OPENED, CLOSED),
    ]
    record = settle(grants=grants, revoked=["g-1"])
    assert record["totals"]["authority"] == {
        "grants_issued": 3,
        "grants_revoked": 1,
        "grants_outstanding": ["g-2"],
    }


def test_settlement_entitlement_totals() -> None:
    quota = Quota("q", QuotaScope.SESSION, QuotaUnit.TOKENS, Decimal(500))
    account = Account("acct", quota, "s-1")
    reserve = Transfer(
        "c-clean/acct/reserve",
        "acct",
        "c-clean",
        TransferPhase.RESERVE,
        Decimal(150),
        "c-clean/acct/reserve",
    )
    post = Transfer(
        "c-clean/acct/post",
        "acct",
        "c-clean",
        TransferPhase.POST,
        Decimal(120),
        "c-clean/acct/reserve",
    )
    release = Transfer(
        "c-clean/acct/release",
        "acct",
        "c-clean",
        TransferPhase.RELEASE,
        Decimal(30),
        "c-clean/acct/reserve",
    )
    overdraft = Overdraft("acct", "c-clean", Decimal(200), Decimal(180))
    outcome = CrossingOutcome(
        crossing=OUTCOMES[0].crossing,
        decision=make_decision(),
        authority=VALID,
        billing=OUTCOMES[0].billing,
        compute=OUTCOMES[0].compute,
        entitlement=EntitlementEntry((reserve, post), (overdraft,)),
    )
    # The outcome's own transfers are among the session's transfers and are
    # counted once.
    record = settle(
        [outcome],
        {"c-clean": []},
        accounts=[AccountSummary(account, Decimal(20))],
        transfers=[reserve, post, release],
    )
    assert record["totals"]["entitlement"]["acct"] == {
        "unit": "tokens",
        "currency": None,
        "limit": "500",
        "posted_before": "20",
        "reserved": "150",
        "posted": "120",
        "released": "30",
        "overdrawn": "20",
    }


# Signature


def test_settlement_signature_verifies() -> None:
    signed = sign_settlement(settle(), KEY)
    verify_signature(signed.public_key, signed.signature, signed.data)


def test_signed_data_is_canonical_record() -> None:
    signed = sign_settlement(settle(), KEY)
    assert signed.record["key_id"] == KEY.key_id
    assert signed.data == canonical_json(signed.record)
    assert signed.key_id == KEY.key_id
    assert signed.session_id == "s-1"


def test_signed_state_property() -> None:
    signed = sign_settlement(settle(), KEY)
    assert signed.state is SessionState.SETTLED_UNCLEAN


def test_changed_record_fails_verification() -> None:
    signed = sign_settlement(settle(), KEY)
    changed = dict(signed.record, state="settled")
    with pytest.raises(SignatureInvalid):
        verify_signature(signed.public_key, signed.signature, canonical_json(changed))


def test_sign_leaves_record_unchanged() -> None:
    record = settle()
    sign_settlement(record, KEY)
    assert "key_id" not in record


def test_open_reservation_released_counted() -> None:
    """A reservation held open until close is released there and counted."""
    quota = Quota("q", QuotaScope.SESSION, QuotaUnit.TOKENS, Decimal(500))
    account = Account("acct", quota, "s-1")
    reserve = Transfer(
        "c-open/acct/reserve",
        "acct",
        "c-open",
        TransferPhase.RESERVE,
        Decimal(40),
        "c-open/acct/reserve",
    )
    release = Transfer(
        "c-open/acct/release",
        "acct",
        "c-open",
        TransferPhase.RELEASE,
        Decimal(40),
        "c-open/acct/reserve",
    )
    record = settle(
        OUTCOMES[:1],
        {"c-clean": []},
        accounts=[AccountSummary(account, Decimal(0))],
        transfers=[reserve, release],
    )
    assert record["totals"]["entitlement"]["acct"] == {
        "unit": "tokens",
        "currency": None,
        "limit": "500",
        "posted_before": "0",
        "reserved": "40",
        "posted": "0",
        "released": "40",
        "overdrawn": "0",
    }
