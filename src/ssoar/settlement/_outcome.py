"""The outcome of one crossing: its decision and every ledger entry it made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ssoar.ledger._authority import AuthorityCheck
from ssoar.ledger._billing import BillingEntry
from ssoar.ledger._compute import ComputeEntry
from ssoar.ledger._entitlement import Overdraft, Transfer, TransferPhase
from ssoar.model._crossing import Crossing, Decision

__all__ = ["CrossingOutcome", "EntitlementEntry"]

_PHASE_POSITIONS = {
    TransferPhase.RESERVE: 1,
    TransferPhase.POST: 2,
    TransferPhase.RELEASE: 3,
}
_ZERO = Decimal(0)


@dataclass(slots=True)
class EntitlementEntry:
    """The entitlement transfers of one crossing, and any usage past a quota.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    transfers: tuple[Transfer, ...] = ()
    overdrafts: tuple[Overdraft, ...] = ()

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Accounts the crossing drew on, in first-use order."""
        seen = dict.fromkeys(transfer.account_id for transfer in self.transfers)
        seen.update(
            dict.fromkeys(overdraft.account_id for overdraft in self.overdrafts)
        )
        return tuple(seen)

    def to_json(self) -> dict[str, object]:
        """Return the entry as a JSON object: one posting per reservation.

        Each posting gives the amounts reserved, posted and released on one
        account; the transfer ids follow from the crossing and account ids, so
        the record does not repeat them.
        """
        amounts: dict[str, list[Any]] = {}
        for transfer in self.transfers:
            entry = amounts.get(transfer.reservation_id)
            if entry is None:
                entry = amounts[transfer.reservation_id] = [
                    transfer.account_id,
                    _ZERO,
                    _ZERO,
                    _ZERO,
                ]
            entry[_PHASE_POSITIONS[transfer.phase]] += transfer.amount
        postings = [
            {
                "account_id": account_id,
                "reserved": str(reserved),
                "posted": str(posted),
                "released": str(released),
            }
            for account_id, reserved, posted, released in amounts.values()
        ]
        return {
            "postings": postings,
            "overdrafts": [
                {
                    "account_id": overdraft.account_id,
                    "requested": str(overdraft.requested),
                    "available": str(overdraft.available),
                }
                for overdraft in self.overdrafts
            ],
        }


@dataclass(slots=True)
class CrossingOutcome:
    """A crossing after the booth: its decision and its ledger entries.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    crossing: Crossing
    decision: Decision
    authority: AuthorityCheck
    billing: BillingEntry
    compute: ComputeEntry | None = None
    entitlement: EntitlementEntry = field(default_factory=EntitlementEntry)
    entries: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """Bodies of the memory, placement and settlement ledger entries, by ledger."""

    def to_record(self) -> dict[str, object]:
        """Return the audit record of the crossing: every field of every entry."""
        return {
            "type": "crossing",
            "session_id": self.crossing.session_id,
            "crossing": self.crossing.to_json(),
            "decision": self.decision.to_json(),
            "ledgers": {
                "authority": self.authority.to_json(),
                "billing": self.billing.to_json(),
                "compute": self.compute.to_json() if self.compute else None,
                "entitlement": self.entitlement.to_json(),
                **{ledger: dict(body) for ledger, body in sorted(self.entries.items())},
            },
        }
