"""Settlement: the reconciliation rules, exceptions, exposure and the signed record."""

from ssoar.settlement._exceptions import (
    DEFAULT_REVIEW_COSTS_USD,
    REASON_DESCRIPTIONS,
    ReasonCode,
    ReviewCosts,
    SettlementException,
)
from ssoar.settlement._outcome import CrossingOutcome, EntitlementEntry
from ssoar.settlement._rules import (
    CARRY_FORWARD_PREFIX,
    find_exceptions,
    obligation_dispositions,
)
from ssoar.settlement._settle import (
    SETTLEMENT_FORMAT,
    AccountSummary,
    SignedSettlement,
    build_settlement,
    sign_settlement,
)

__all__ = [
    "CARRY_FORWARD_PREFIX",
    "DEFAULT_REVIEW_COSTS_USD",
    "REASON_DESCRIPTIONS",
    "SETTLEMENT_FORMAT",
    "AccountSummary",
    "CrossingOutcome",
    "EntitlementEntry",
    "ReasonCode",
    "ReviewCosts",
    "SettlementException",
    "SignedSettlement",
    "build_settlement",
    "find_exceptions",
    "obligation_dispositions",
    "sign_settlement",
]
