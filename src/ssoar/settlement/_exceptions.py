"""Settlement exceptions: why a crossing did not reconcile, and what review costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from ssoar.model._money import Money

__all__ = [
    "DEFAULT_REVIEW_COSTS_USD",
    "REASON_DESCRIPTIONS",
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
    POLICY_ERROR = "policy_error"
    ADMISSION_MISSING = "admission_missing"
    AUTHORITY_MISSING = "authority_missing"
    AUTHORITY_EXPIRED = "authority_expired"
    AUTHORITY_OUT_OF_SCOPE = "authority_out_of_scope"
    AUTHORITY_UNTRACEABLE = "authority_untraceable"
    ENTITLEMENT_MISSING = "entitlement_missing"
    ENTITLEMENT_OVERDRAWN = "entitlement_overdrawn"
    PRICE_UNKNOWN = "price_unknown"
    USAGE_MISSING = "usage_missing"
    USAGE_ESTIMATED = "usage_estimated"
    LEDGER_INCOMPLETE = "ledger_incomplete"
    LEDGER_MISMATCH = "ledger_mismatch"
    OBLIGATION_OPEN = "obligation_open"
    OPEN_AT_CLOSE = "open_at_close"


REASON_DESCRIPTIONS: Mapping[ReasonCode, str] = {
    ReasonCode.POLICY_DENIED: (
        "The booth's policies refused, or would have refused, the crossing. "
    ),
    ReasonCode.POLICY_ERROR: (
        "A policy failed to evaluate; the booth counts that as a denial. "
    ),
    ReasonCode.ADMISSION_MISSING: (
        "The acting participant was never admitted to the session. "
    ),
    ReasonCode.AUTHORITY_MISSING: "No grant named the acting participant.",
    ReasonCode.AUTHORITY_EXPIRED: (
        "The grant was expired, revoked or not yet valid when the crossing acted. "
    ),
    ReasonCode.AUTHORITY_OUT_OF_SCOPE: (
        "A grant named the participant, but not this kind of crossing or target. "
    ),
    ReasonCode.AUTHORITY_UNTRACEABLE: (
        "The delegation chain does not lead back to an admitted participant. "
    ),
    ReasonCode.ENTITLEMENT_MISSING: (
        "The kind must draw on an entitlement, and no quota applied. "
    ),
    ReasonCode.ENTITLEMENT_OVERDRAWN: "The crossing used more than its quota had left.",
    ReasonCode.PRICE_UNKNOWN: "The price catalogue has no price for the model.",
    ReasonCode.USAGE_MISSING: (
        "The crossing completed without reporting the usage its ledgers need. "
    ),
    ReasonCode.USAGE_ESTIMATED: (
        "Usage was never reported; the crossing is settled at an estimate. "
    ),
    ReasonCode.LEDGER_INCOMPLETE: "A ledger the kind must touch has no usable entry.",
    ReasonCode.LEDGER_MISMATCH: (
        "Two ledgers disagree, such as billed tokens differing from metered tokens. "
    ),
    ReasonCode.OBLIGATION_OPEN: (
        "An obligation attached by policy was neither discharged nor carried forward."
    ),
    ReasonCode.OPEN_AT_CLOSE: "The crossing had not finished when the session closed.",
}
"""What each reason code means, for reports and documentation."""


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
