"""The reconciliation rules: when a crossing settles cleanly, and why not.

A crossing reconciles when all of these hold at settlement:

1. the booth admitted it (or, for imported history, would have admitted it)
   under a recorded policy set;
2. its actor held a valid grant, traceable to an admitted participant, at the
   moment it acted;
3. it has an entry in every ledger its kind must touch, and the entries
   agree: billed tokens equal metered tokens, and every reservation equals
   what was posted plus what was released;
4. it reached a final state before the session closed, and each obligation
   attached to it was discharged or explicitly carried forward;
5. its record is in the session's audit log.

Every rule that fails becomes a settlement exception with a reason code.
"""

from __future__ import annotations

from decimal import Decimal

from ssoar.ledger._billing import BillingStatus
from ssoar.ledger._entitlement import TransferPhase
from ssoar.model._crossing import CrossingState, UsageSource
from ssoar.model._ledgers import Ledger
from ssoar.model._template import CrossingKindSpec
from ssoar.settlement._exceptions import ReasonCode, ReviewCosts, SettlementException
from ssoar.settlement._outcome import CrossingOutcome

__all__ = ["CARRY_FORWARD_PREFIX", "find_exceptions", "obligation_dispositions"]

CARRY_FORWARD_PREFIX = "carry_forward:"
"""Obligations with this prefix outlive the session and are listed in its settlement."""

_ZERO = Decimal(0)
_PRECEDENCE = {reason: position for position, reason in enumerate(ReasonCode)}
_BILLING_REASONS = {
    BillingStatus.PRICE_UNKNOWN: ReasonCode.PRICE_UNKNOWN,
    BillingStatus.USAGE_MISSING: ReasonCode.USAGE_MISSING,
}


def obligation_dispositions(outcome: CrossingOutcome) -> dict[str, str]:
    """Return each obligation: ``discharged``, ``carried_forward`` or ``open``."""
    dispositions: dict[str, str] = {}
    for obligation in outcome.decision.obligations:
        if obligation.startswith(CARRY_FORWARD_PREFIX):
            dispositions[obligation] = "carried_forward"
        elif outcome.crossing.state is CrossingState.COMPLETED:
            dispositions[obligation] = "discharged"
        else:
            dispositions[obligation] = "open"
    return dispositions


def find_exceptions(
    outcome: CrossingOutcome,
    spec: CrossingKindSpec,
    *,
    usage_expected: bool,
    review_costs: ReviewCosts,
) -> list[SettlementException]:
    """Apply every reconciliation rule to one crossing.

    Args:
        outcome: The crossing and its ledger entries.
        spec: The map row of the crossing's kind.
        usage_expected: Whether crossings of this kind must report token usage.
        review_costs: The configured review cost per reason code.

    Returns:
        The crossing's exceptions in precedence order; empty when it reconciled.
    """
    found: dict[ReasonCode, str] = {}
    _check_decision(outcome, found)
    _check_ledgers(outcome, spec, usage_expected, found)
    _check_agreement(outcome, found)
    _check_final_state(outcome, found)
    reasons = sorted(found, key=_PRECEDENCE.__getitem__)
    charge = outcome.billing.usage_charge
    exceptions: list[SettlementException] = []
    for position, reason in enumerate(reasons):
        exceptions.append(
            SettlementException(
                crossing_id=outcome.crossing.crossing_id,
                kind=outcome.crossing.kind,
                reason=reason,
                message=found[reason],
                money_at_risk=charge if position == 0 else None,
                review_cost=review_costs.cost(reason),
            )
        )
    return exceptions


def _check_decision(outcome: CrossingOutcome, found: dict[ReasonCode, str]) -> None:
    """Rules 1 and 2: admitted under policy, by a participant with authority."""
    decision = outcome.decision
    if decision.allowed:
        return
    if outcome.crossing.state is CrossingState.DENIED and not decision.retrospective:
        # The booth stopped it in time: a refused crossing is a reconciled one.
        return
    for reason in decision.reasons:
        found.setdefault(ReasonCode(reason.code), reason.message)


def _check_ledgers(
    outcome: CrossingOutcome,
    spec: CrossingKindSpec,
    usage_expected: bool,
    found: dict[ReasonCode, str],
) -> None:
    """Rule 3, first half: an entry in every ledger the kind must touch."""
    crossing = outcome.crossing
    if crossing.state is CrossingState.DENIED and not outcome.decision.retrospective:
        return
    if crossing.kind == "session_closure":
        # The closing crossing touches every ledger by closing it: its
        # entries are the settlement itself, not per-ledger postings.
        return
    reason = _BILLING_REASONS.get(outcome.billing.status)
    if reason is ReasonCode.USAGE_MISSING and crossing.state is CrossingState.OPEN:
        # An unfinished call has reported nothing yet; open_at_close says so.
        reason = None
    if reason is not None:
        found.setdefault(reason, outcome.billing.message or reason.value)
    expects_usage = usage_expected and Ledger.COMPUTE in spec.ledgers
    completed = crossing.state is CrossingState.COMPLETED
    if expects_usage and completed and crossing.usage is None:
        found.setdefault(
            ReasonCode.USAGE_MISSING, "no usage reached the compute ledger"
        )
    if crossing.usage_source is UsageSource.ESTIMATED:
        found.setdefault(
            ReasonCode.USAGE_ESTIMATED,
            "usage was not reported; the crossing is settled at an estimate",
        )
    if Ledger.ENTITLEMENT in spec.ledgers and not outcome.entitlement.account_ids:
        found.setdefault(
            ReasonCode.ENTITLEMENT_MISSING,
            f"no quota applies to {crossing.kind}; declare one to account for it",
        )
    for ledger, required in ((Ledger.MEMORY, "memory_store"), (Ledger.PLACEMENT, None)):
        if ledger not in spec.ledgers:
            continue
        body = outcome.entries.get(ledger.value)
        if not body or (required and not body.get(required)):
            found.setdefault(
                ReasonCode.LEDGER_INCOMPLETE,
                f"the {ledger.value} ledger has no entry naming where this went",
            )


def _check_agreement(outcome: CrossingOutcome, found: dict[ReasonCode, str]) -> None:
    """Rule 3, second half: the ledger entries agree with each other."""
    billing = outcome.billing
    compute = outcome.compute
    if billing.status is BillingStatus.PRICED and billing.billed_usage is not None:
        metered = compute.usage if compute else None
        if metered is not billing.billed_usage and metered != billing.billed_usage:
            found.setdefault(
                ReasonCode.LEDGER_MISMATCH,
                f"billed tokens {billing.billed_usage} differ from metered tokens "
                f"{metered}",
            )
    for overdraft in outcome.entitlement.overdrafts:
        # Imported usage past a quota is also a denial reason, found above;
        # a live crossing that used more than it reserved is found here.
        found.setdefault(
            ReasonCode.ENTITLEMENT_OVERDRAWN,
            f"account {overdraft.account_id} had {overdraft.available} for this "
            f"crossing, which used {overdraft.requested}",
        )
    if not outcome.entitlement.transfers or not outcome.crossing.state.is_final:
        return
    # Reserved minus posted and released, per reservation: zero once resolved.
    unresolved: dict[str, Decimal] = {}
    for transfer in outcome.entitlement.transfers:
        sign = 1 if transfer.phase is TransferPhase.RESERVE else -1
        previous = unresolved.get(transfer.reservation_id, _ZERO)
        unresolved[transfer.reservation_id] = previous + sign * transfer.amount
    for reservation_id, difference in unresolved.items():
        if difference:
            found.setdefault(
                ReasonCode.LEDGER_MISMATCH,
                f"reservation {reservation_id} reserved {difference} more than it "
                "posted and released",
            )


def _check_final_state(outcome: CrossingOutcome, found: dict[ReasonCode, str]) -> None:
    """Rule 4: finished before close, with every obligation settled."""
    if outcome.crossing.state is CrossingState.OPEN:
        found.setdefault(
            ReasonCode.OPEN_AT_CLOSE,
            "the crossing had not finished when the session closed",
        )
    for obligation, disposition in obligation_dispositions(outcome).items():
        if disposition == "open":
            found.setdefault(
                ReasonCode.OBLIGATION_OPEN,
                f"obligation {obligation!r} was not discharged: the crossing "
                f"ended {outcome.crossing.state.value}",
            )
