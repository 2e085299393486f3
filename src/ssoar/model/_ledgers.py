"""The ledgers a crossing can touch."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Ledger"]


class Ledger(StrEnum):
    """A ledger that records one aspect of a crossing.

    Compute, billing, entitlement and authority are the four meter readings
    that must agree at settlement; the others record where a session went,
    what it kept and what it left to settle.
    """

    COMPUTE = "compute"
    """Tokens and, where the model size is published, floating-point operations."""
    BILLING = "billing"
    """Money charged for usage and the booth's toll, per currency."""
    ENTITLEMENT = "entitlement"
    """Quota reservations, postings and releases."""
    AUTHORITY = "authority"
    """Which grant a crossing acted under, and the delegation chain behind it."""
    AUDIT = "audit"
    """The session's Merkle log of canonical records."""
    MEMORY = "memory"
    """What was written to a memory layer, and whether it outlives the session."""
    PLACEMENT = "placement"
    """Where the session ran: region, jurisdiction and network route."""
    SETTLEMENT = "settlement"
    """State changes that the session's settlement must account for."""
