"""Tests for the reconciliation rules and the reason codes they produce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ssoar.ledger._authority import AuthorityCheck, AuthorityStatus
from ssoar.ledger._billing import BillingEntry, BillingStatus
from ssoar.ledger._compute import meter_crossing
from ssoar.ledger._entitlement import Transfer, TransferPhase
from ssoar.model import (
    Crossing,
    CrossingState,
    Decision,
    DenialReason,
    Money,
    TokenUsage,
    UsageSource,
    load_template,
)
from ssoar.settlement._exceptions import (
    DEFAULT_REVIEW_COSTS_USD,
    ReasonCode,
    ReviewCosts,
    SettlementException,
)
from ssoar.settlement._outcome import CrossingOutcome, EntitlementEntry
from ssoar.settlement._rules import find_exceptions, obligation_dispositions

GENERIC = load_template("generic")
AT = datetime(2025, 6, 1, tzinfo=UTC)
USAGE = TokenUsage.from_inclusive(input_tokens=100, output_tokens=20)
CHARGE = Money(Decimal("0.50"), "USD")
TOLL = Money(Decimal("0.0010"), "USD")
VALID = AuthorityCheck(AuthorityStatus.VALID, "agent:a", "g-1", "grant g-1", ())
REVIEW = ReviewCosts()


def make_decision(
    *codes: str, allowed: bool | None = None, retrospective: bool = True, **extra: Any
) -> Decision:
    reasons = tuple(DenialReason(code, f"because {code}") for code in codes)
    return Decision(
        allowed=not reasons if allowed is None else allowed,
        retrospective=retrospective,
        reasons=reasons,
        policy_ids=extra.get("policy_ids", ()),
        obligations=extra.get("obligations", ()),
        errors=(),
        policy_digest="sha256:test",
    )


def reservation(
    account_id: str, reserved: str, posted: str, released: str = "0"
) -> tuple[Transfer, ...]:
    reservation_id = f"c-1/{account_id}/reserve"
    transfers = [
        Transfer(
            reservation_id,
            account_id,
            "c-1",
            TransferPhase.RESERVE,
            Decimal(reserved),
            reservation_id,
        ),
        Transfer(
            f"c-1/{account_id}/post",
            account_id,
            "c-1",
            TransferPhase.POST,
            Decimal(posted),
            reservation_id,
        ),
    ]
    if Decimal(released):
        transfers.append(
            Transfer(
                f"c-1/{account_id}/release",
                account_id,
                "c-1",
                TransferPhase.RELEASE,
                Decimal(released),
                reservation_id,
            )
        )
    return tuple(transfers)


def model_outcome(**changes: Any) -> CrossingOutcome:
    """A clean model invocation; ``changes`` replace parts of it."""
    crossing = Crossing(
        crossing_id="c-1",
        session_id="s-1",
        kind="model_invocation",
        actor_id="model:gpt-4o",
        invoker_id="agent:a",
        started_at=AT,
        state=changes.pop("state", CrossingState.COMPLETED),
        attributes={"model": "gpt-4o"},
        usage=changes.pop("usage", USAGE),
        usage_source=changes.pop("usage_source", UsageSource.REPORTED),
    )
    billing = BillingEntry(
        "c-1", BillingStatus.PRICED, CHARGE, TOLL, crossing.usage, model_id="gpt-4o"
    )
    outcome = CrossingOutcome(
        crossing=crossing,
        decision=make_decision(),
        authority=VALID,
        billing=billing,
        compute=meter_crossing(crossing),
    )
    return replace(outcome, **changes)


def kind_outcome(
    kind: str,
    *,
    state: CrossingState = CrossingState.COMPLETED,
    decision: Decision | None = None,
    entitlement: EntitlementEntry | None = None,
    entries: dict[str, dict[str, Any]] | None = None,
) -> CrossingOutcome:
    """A crossing of ``kind`` with no usage, a toll and the given ledger entries."""
    crossing = Crossing(
        crossing_id="c-1",
        session_id="s-1",
        kind=kind,
        actor_id="agent:a",
        started_at=AT,
        state=state,
    )
    return CrossingOutcome(
        crossing=crossing,
        decision=decision or make_decision(),
        authority=VALID,
        billing=BillingEntry("c-1", BillingStatus.NOT_METERED, None, TOLL, None),
        entitlement=entitlement
        if entitlement is not None
        else EntitlementEntry(reservation("acct", "1", "1")),
        entries=entries or {},
    )


def exceptions_of(outcome: CrossingOutcome) -> list[SettlementException]:
    kind = outcome.crossing.kind
    return find_exceptions(
        outcome,
        GENERIC.spec(kind),
        usage_expected=kind == "model_invocation",
        review_costs=REVIEW,
    )


def reasons_of(outcome: CrossingOutcome) -> list[str]:
    return [item.reason.value for item in exceptions_of(outcome)]


# One case per reason code.

CASES: dict[ReasonCode, Callable[[], CrossingOutcome]] = {
    ReasonCode.POLICY_DENIED: lambda: model_outcome(
        decision=make_decision("policy_denied")
    ),
    ReasonCode.POLICY_ERROR: lambda: model_outcome(
        decision=make_decision("policy_error")
    ),
    ReasonCode.ADMISSION_MISSING: lambda: model_outcome(
        decision=make_decision("admission_missing")
    ),
    ReasonCode.AUTHORITY_MISSING: lambda: model_outcome(
        decision=make_decision("authority_missing")
    ),
    ReasonCode.AUTHORITY_EXPIRED: lambda: model_outcome(
        decision=make_decision("authority_expired")
    ),
    ReasonCode.AUTHORITY_OUT_OF_SCOPE: lambda: model_outcome(
        decision=make_decision("authority_out_of_scope")
    ),
    ReasonCode.AUTHORITY_UNTRACEABLE: lambda: model_outcome(
        decision=make_decision("authority_untraceable")
    ),
    ReasonCode.ENTITLEMENT_MISSING: lambda: kind_outcome(
        "participant_admission", entitlement=EntitlementEntry()
    ),
    ReasonCode.ENTITLEMENT_OVERDRAWN: lambda: model_outcome(
        decision=make_decision("entitlement_overdrawn")
    ),
    ReasonCode.PRICE_UNKNOWN: lambda: model_outcome(
        billing=BillingEntry(
            "c-1", BillingStatus.PRICE_UNKNOWN, None, TOLL, USAGE, message="no price"
        )
    ),
    ReasonCode.USAGE_MISSING: lambda: model_outcome(
        usage=None,
        usage_source=UsageSource.NONE,
        billing=BillingEntry("c-1", BillingStatus.USAGE_MISSING, None, TOLL, None),
    ),
    ReasonCode.USAGE_ESTIMATED: lambda: model_outcome(
        usage_source=UsageSource.ESTIMATED
    ),
    ReasonCode.LEDGER_INCOMPLETE: lambda: kind_outcome(
        "memory_write", entries={"memory": {"memory_store": None}}
    ),
    ReasonCode.LEDGER_MISMATCH: lambda: model_outcome(
        billing=BillingEntry(
            "c-1",
            BillingStatus.PRICED,
            CHARGE,
            TOLL,
            TokenUsage.from_inclusive(input_tokens=999, output_tokens=20),
        )
    ),
    ReasonCode.OBLIGATION_OPEN: lambda: kind_outcome(
        "accessibility_activation",
        state=CrossingState.FAILED,
        decision=make_decision(obligations=("deliver_stream",)),
    ),
    ReasonCode.OPEN_AT_CLOSE: lambda: kind_outcome(
        "tool_call", state=CrossingState.OPEN
    ),
}


def test_cases_cover_every_reason() -> None:
    assert set(CASES) == set(ReasonCode)


@pytest.mark.parametrize("reason", list(ReasonCode), ids=lambda reason: reason.value)
def test_rule_produces_reason(reason: ReasonCode) -> None:
    assert reasons_of(CASES[reason]()) == [reason.value]


@pytest.mark.parametrize(
    "outcome",
    [
        model_outcome(),
        kind_outcome("tool_call", entries={"settlement": {"state": "completed"}}),
        kind_outcome("memory_write", entries={"memory": {"memory_store": "m-1"}}),
        kind_outcome("residency_shift", entries={"placement": {"region": "eu"}}),
        kind_outcome("participant_admission"),
        kind_outcome(
            "accessibility_activation",
            decision=make_decision(obligations=("deliver_stream",)),
        ),
    ],
    ids=[
        "model",
        "tool",
        "memory",
        "residency",
        "admission",
        "obligation discharged",
    ],
)
def test_clean_crossing_no_exceptions(outcome: CrossingOutcome) -> None:
    assert exceptions_of(outcome) == []


def test_completed_without_usage_missing() -> None:
    """A completed model call with no usage misses usage even when billing is silent."""
    outcome = model_outcome(
        usage=None,
        usage_source=UsageSource.NONE,
        billing=BillingEntry("c-1", BillingStatus.NO_USAGE, None, TOLL, None),
    )
    assert reasons_of(outcome) == ["usage_missing"]


def test_placement_empty_incomplete() -> None:
    outcome = kind_outcome("residency_shift", entries={"placement": {}})
    assert reasons_of(outcome) == ["ledger_incomplete"]


def test_reservation_mismatch_reported() -> None:
    outcome = model_outcome(
        entitlement=EntitlementEntry(reservation("acct", "5", "3", "1"))
    )
    assert reasons_of(outcome) == ["ledger_mismatch"]


def test_reservation_balanced_with_release() -> None:
    outcome = model_outcome(
        entitlement=EntitlementEntry(reservation("acct", "5", "3", "2"))
    )
    assert reasons_of(outcome) == []


def test_carried_forward_obligation_reconciles() -> None:
    outcome = kind_outcome(
        "memory_write",
        state=CrossingState.FAILED,
        decision=make_decision(obligations=("carry_forward:memory_retention",)),
        entries={"memory": {"memory_store": "m-1"}},
    )
    assert reasons_of(outcome) == []


# Live denials


def test_live_denial_reconciles() -> None:
    """A crossing the booth stopped in time is reconciled, whatever it lacks."""
    outcome = kind_outcome(
        "participant_admission",
        state=CrossingState.DENIED,
        decision=make_decision("policy_denied", retrospective=False),
        entitlement=EntitlementEntry(),
    )
    assert exceptions_of(outcome) == []


def test_retrospective_denial_reported() -> None:
    outcome = kind_outcome(
        "participant_admission",
        state=CrossingState.DENIED,
        decision=make_decision("policy_denied", retrospective=True),
        entitlement=EntitlementEntry(),
    )
    assert reasons_of(outcome) == ["policy_denied", "entitlement_missing"]


def test_live_denial_that_ran_reported() -> None:
    """A live denial of a crossing that still completed does not reconcile."""
    outcome = model_outcome(
        decision=make_decision("authority_missing", retrospective=False)
    )
    assert reasons_of(outcome) == ["authority_missing"]


# Precedence and money at risk


def several_problems() -> CrossingOutcome:
    return model_outcome(
        decision=make_decision(
            "authority_missing", "policy_denied", "admission_missing"
        ),
        usage_source=UsageSource.ESTIMATED,
        state=CrossingState.OPEN,
    )


def test_exceptions_in_precedence_order() -> None:
    assert reasons_of(several_problems()) == [
        "policy_denied",
        "admission_missing",
        "authority_missing",
        "usage_estimated",
        "open_at_close",
    ]


def test_money_at_risk_on_first_only() -> None:
    exceptions = exceptions_of(several_problems())
    assert exceptions[0].money_at_risk == CHARGE
    assert [item.money_at_risk for item in exceptions[1:]] == [None] * 4


def test_review_cost_per_exception() -> None:
    exceptions = exceptions_of(several_problems())
    # Default review costs: 50, 25, 40, 2 and 20 US dollars.
    assert [item.review_cost.amount for item in exceptions] == [
        Decimal("50.00"),
        Decimal("25.00"),
        Decimal("40.00"),
        Decimal("2.00"),
        Decimal("20.00"),
    ]


def test_exception_message_from_reason() -> None:
    exceptions = exceptions_of(several_problems())
    assert exceptions[0].message == "because policy_denied"
    assert exceptions[0].crossing_id == "c-1"
    assert exceptions[0].kind == "model_invocation"


def test_unknown_price_no_money_at_risk() -> None:
    exceptions = exceptions_of(CASES[ReasonCode.PRICE_UNKNOWN]())
    assert exceptions[0].money_at_risk is None


def test_review_costs_custom_currency() -> None:
    costs = ReviewCosts("EUR", {ReasonCode.POLICY_DENIED: Decimal("7")})
    assert costs.cost(ReasonCode.POLICY_DENIED) == Money(Decimal(7), "EUR")
    assert costs.cost(ReasonCode.PRICE_UNKNOWN) == Money(Decimal(0), "EUR")


def test_default_review_costs_cover_reasons() -> None:
    assert set(DEFAULT_REVIEW_COSTS_USD) == set(ReasonCode)


def test_exception_to_json() -> None:
    exception = exceptions_of(CASES[ReasonCode.POLICY_DENIED]())[0]
    assert exception.to_json() == {
        "crossing_id": "c-1",
        "kind": "model_invocation",
        "reason": "policy_denied",
        "message": "because policy_denied",
        "money_at_risk": {"amount": "0.50", "currency": "USD"},
        "review_cost": {"amount": "50.00", "currency": "USD"},
    }


# Obligations


@pytest.mark.parametrize(
    ("state", "obligation", "disposition"),
    [
        (CrossingState.COMPLETED, "deliver_stream", "discharged"),
        (CrossingState.FAILED, "deliver_stream", "open"),
        (CrossingState.OPEN, "deliver_stream", "open"),
        (CrossingState.FAILED, "carry_forward:memory_retention", "carried_forward"),
        (CrossingState.COMPLETED, "carry_forward:x", "carried_forward"),
    ],
)
def test_obligation_disposition_by_state(
    state: CrossingState, obligation: str, disposition: str
) -> None:
    outcome = kind_outcome(
        "accessibility_activation",
        state=state,
        decision=make_decision(obligations=(obligation,)),
    )
    assert obligation_dispositions(outcome) == {obligation: disposition}
