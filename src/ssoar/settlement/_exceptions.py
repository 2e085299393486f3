"""Settlement exceptions: why a crossing did not reconcile, and what review costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from ssoar.model._money import Money

__all__ = [
    "DEFAULT_REVIEW_COSTS_USD",
    "ReasonCode",
    "ReviewCosts",
    "SettlementException",
]


class ReasonCode(StrEnum):
    """Why a crossing did not reconcile.

    The order of the members is their precedence: when a crossing has several
    exceptions, its money at risk is reported under the first one, so a sum
    over reasons never counts the same money twice.
    """

    POLICY_DENIED = "policy_denied"
    """The booth's policies refused, or would have refused, the crossing."""
    POLICY_ERROR = "policy_error"
    """A policy failed to evaluate; the booth counts that as a denial."""
    ADMISSION_MISSING = "admission_missing"
    """The acting participant was never admitted to the session."""
    AUTHORITY_MISSING = "authority_missing"
    """No grant named the acting participant."""
    AUTHORITY_EXPIRED = "authority_expired"
    """The grant was expired, revoked or not yet valid when the crossing acted."""
    AUTHORITY_OUT_OF_SCOPE = "authority_out_of_scope"
    """A grant named the participant, but not this kind of crossing or target."""
    AUTHORITY_UNTRACEABLE = "authority_untraceable"
    """The delegation chain does not lead back to an admitted participant."""
    ENTITLEMENT_MISSING = "entitlement_missing"
    """The kind must draw on an entitlement, and no quota applied."""
    ENTITLEMENT_OVERDRAWN = "entitlement_overdrawn"
    """The crossing used more than its quota had left."""
    PRICE_UNKNOWN = "price_unknown"
    """The price catalogue has no price for the model."""
    USAGE_MISSING = "usage_missing"
    """The crossing completed without reporting the usage its ledgers need."""
    USAGE_ESTIMATED = "usage_estimated"
    """Usage was never reported; the crossing is settled at an estimate."""
    LEDGER_INCOMPLETE = "ledger_incomplete"
    """A ledger the kind must touch has no usable entry."""
    LEDGER_MISMATCH = "ledger_mismatch"
    """Two ledgers disagree, such as billed tokens differing from metered tokens."""
    OBLIGATION_OPEN = "obligation_open"
    """An obligation attached by policy was neither discharged nor carried forward."""
    OPEN_AT_CLOSE = "open_at_close"
    """The crossing had not finished when the session closed."""


DEFAULT_REVIEW_COSTS_USD: Mapping[ReasonCode, Decimal] = {
    ReasonCode.POLICY_DENIED: Decimal("50.00"),
    ReasonCode.POLICY_ERROR: Decimal("25.00"),
    ReasonCode.ADMISSION_MISSING: Decimal("25.00"),
    ReasonCode.AUTHORITY_MISSING: Decimal("40.00"),
    ReasonCode.AUTHORITY_EXPIRED: Decimal("15.00"),
    ReasonCode.AUTHORITY_OUT_OF_SCOPE: Decimal("30.00"),
    ReasonCode.AUTHORITY_UNTRACEABLE: Decimal("40.00"),
    ReasonCode.ENTITLEMENT_MISSING: Decimal("10.00"),
    ReasonCode.ENTITLEMENT_OVERDRAWN: Decimal("10.00"),
    ReasonCode.PRICE_UNKNOWN: Decimal("5.00"),
    ReasonCode.USAGE_MISSING: Decimal("5.00"),
    ReasonCode.USAGE_ESTIMATED: Decimal("2.00"),
    ReasonCode.LEDGER_INCOMPLETE: Decimal("10.00"),
    ReasonCode.LEDGER_MISMATCH: Decimal("15.00"),
    ReasonCode.OBLIGATION_OPEN: Decimal("20.00"),
    ReasonCode.OPEN_AT_CLOSE: Decimal("20.00"),
}
"""Default cost of reviewing one exception of each reason, in US dollars.

They stand for analyst time: a few minutes to confirm an estimate, up to an
hour to reconstruct who authorised an action. They are starting points;
set ``review_costs`` in the configuration to a deployment's own figures.
"""


@dataclass(frozen=True, slots=True)
class ReviewCosts:
    """The configured review cost per reason code, in one currency."""

    currency: str = "USD"
    costs: Mapping[ReasonCode, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_REVIEW_COSTS_USD)
    )

    def cost(self, reason: ReasonCode) -> Money:
        """Return the review cost of one exception with ``reason``."""
        return Money(self.costs.get(reason, Decimal(0)), self.currency)


@dataclass(frozen=True, slots=True)
class SettlementException:
    """One reason one crossing did not reconcile, with its exposure."""

    crossing_id: str
    kind: str
    reason: ReasonCode
    message: str
    money_at_risk: Money | None
    """The crossing's charge, reported under its first exception only; None
    for later exceptions of the same crossing and when the price is unknown."""
    review_cost: Money

    def to_json(self) -> dict[str, object]:
        """Return the exception as a JSON object."""
        return {
            "crossing_id": self.crossing_id,
            "kind": self.kind,
            "reason": self.reason.value,
            "message": self.message,
            "money_at_risk": self.money_at_risk.to_json()
            if self.money_at_risk
            else None,
            "review_cost": self.review_cost.to_json(),
        }
