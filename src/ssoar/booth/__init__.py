"""The booth: the policy question asked at every crossing, and its decision."""

from ssoar.booth._booth import AUTHORITY_REASONS, Booth, BoothFacts
from ssoar.booth._entities import DECISION_MEMO_SIZE_MAX, SessionEntities

__all__ = [
    "AUTHORITY_REASONS",
    "DECISION_MEMO_SIZE_MAX",
    "Booth",
    "BoothFacts",
    "SessionEntities",
]
