"""Routing: the candidate ways to run a model invocation, and the record of the choice.

The booth prepares each candidate route (its crossing, authority check,
reservations and price), decides each one, and takes the cheapest one that
it admits. The chosen crossing records every route considered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from ssoar.ledger._authority import AuthorityCheck
from ssoar.ledger._entitlement import Account, Overdraft
from ssoar.model._crossing import Crossing, Decision
from ssoar.model._money import Money
from ssoar.model._usage import TokenUsage

__all__ = ["Candidate", "cost_order", "record_routes"]

_ZERO = Decimal(0)


@dataclass(slots=True)
class Candidate:
    """One way to run a crossing, prepared but not yet applied."""

    crossing: Crossing
    authority: AuthorityCheck
    requests: list[tuple[Account, Decimal]]
    overdrafts: list[Overdraft]
    estimate: TokenUsage | None
    price: Money | None
    price_problem: str | None
    route: str | None
    decision: Decision | None = None


def cost_order(candidate: Candidate) -> tuple[int, Decimal]:
    if candidate.price is None:
        return (1, _ZERO)
    return (0, candidate.price.amount)


def record_routes(chosen: Candidate, candidates: list[Candidate]) -> Candidate:
    """Record every route considered, and why the others were passed over."""
    considered = []
    for candidate in candidates:
        decision = candidate.decision
        assert decision is not None
        price = (
            f"{candidate.price.amount} {candidate.price.currency}"
            if candidate.price
            else "price unknown"
        )
        verdict = (
            "chosen"
            if candidate is chosen and decision.allowed
            else "allowed"
            if decision.allowed
            else "denied: " + ", ".join(reason.code for reason in decision.reasons)
        )
        considered.append(f"{candidate.route} ({price}): {verdict}")
    attributes = dict(chosen.crossing.attributes)
    attributes["route_candidates"] = tuple(considered)
    chosen.crossing = replace(chosen.crossing, attributes=attributes)
    return chosen
