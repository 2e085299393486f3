"""Settlement: closing a session into one signed record across every ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ssoar.audit._canonical import canonical_record_json
from ssoar.audit._signing import SigningKey
from ssoar.ledger._authority import Grant
from ssoar.ledger._entitlement import Account, Transfer, TransferPhase
from ssoar.model._session import CloseReason, Session, SessionState
from ssoar.model._time import format_time
from ssoar.model._usage import PART_FIELDS
from ssoar.settlement._exceptions import SettlementException
from ssoar.settlement._outcome import CrossingOutcome
from ssoar.settlement._rules import obligation_dispositions

__all__ = [
    "SETTLEMENT_FORMAT",
    "SignedSettlement",
    "build_settlement",
    "sign_settlement",
]

SETTLEMENT_FORMAT = "ssoar-settlement/1"


@dataclass(frozen=True, slots=True)
class SignedSettlement:
    """A settlement record, its canonical bytes and their Ed25519 signature."""

    session_id: str
    record: Mapping[str, Any]
    data: bytes
    signature: bytes
    key_id: str
    public_key: bytes

    @property
    def state(self) -> SessionState:
        """The session's final state."""
        return SessionState(str(self.record["state"]))


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An entitlement account as this session saw it."""

    account: Account
    posted_before: Decimal


def build_settlement(
    *,
    session: Session,
    outcomes: Sequence[CrossingOutcome],
    exceptions: Mapping[str, Sequence[SettlementException]],
    close_reason: CloseReason,
    closed_at: datetime,
    settled_at: datetime,
    grants: Sequence[Grant],
    revoked: Iterable[str],
    accounts: Sequence[AccountSummary],
    transfers: Sequence[Transfer],
    merkle_root: bytes,
    tree_size: int,
    policy_digest: str,
    close_error: str | None = None,
) -> dict[str, Any]:
    """Build the settlement record of a closed session.

    Args:
        exceptions: Each crossing's exceptions, keyed by crossing id; a
            crossing reconciled when its list is empty.
        transfers: Every entitlement transfer on the session's accounts:
            reservations, postings and the releases at close.
        close_error: Why a session closed on an error or was swept.
    """
    every_exception = [
        item
        for outcome in outcomes
        for item in exceptions[outcome.crossing.crossing_id]
    ]
    clean = not every_exception and close_reason in (
        CloseReason.CLOSED,
        CloseReason.IMPORTED,
    )
    state = SessionState.SETTLED if clean else SessionState.SETTLED_UNCLEAN
    reconciled = {
        outcome.crossing.crossing_id
        for outcome in outcomes
        if not exceptions[outcome.crossing.crossing_id]
    }
    revoked_ids = set(revoked)
    record: dict[str, Any] = {
        "format": SETTLEMENT_FORMAT,
        "type": "settlement",
        "session_id": session.session_id,
        "tenant": session.tenant,
        "template": session.template,
        "origin": session.origin,
        "opened_at": format_time(session.opened_at),
        "closed_at": format_time(closed_at),
        "settled_at": format_time(settled_at),
        "close_reason": close_reason.value,
        "state": state.value,
        "policy_digest": policy_digest,
        "crossings": _crossing_totals(outcomes, reconciled),
        "totals": {
            "compute": _compute_totals(outcomes, reconciled),
            "billing": _billing_totals(outcomes, reconciled),
            "entitlement": _entitlement_totals(outcomes, accounts, transfers),
            "authority": {
                "grants_issued": len(grants),
                "grants_revoked": len(revoked_ids),
                "grants_outstanding": sorted(
                    grant.grant_id
                    for grant in grants
                    if grant.session_id == session.session_id
                    and grant.grant_id not in revoked_ids
                ),
            },
        },
        "obligations": _obligations(outcomes),
        "exceptions": [item.to_json() for item in every_exception],
        "exposure": _exposure(every_exception),
        "hash_algorithm": "sha256",
        "merkle_root": merkle_root.hex(),
        "tree_size": tree_size,
    }
    if close_error is not None:
        # Only sessions closed on an error carry it, so other records keep
        # the fields they always had.
        record["close_error"] = close_error
    return record


def sign_settlement(record: Mapping[str, Any], key: SigningKey) -> SignedSettlement:
    """Canonicalise and sign a settlement record."""
    signed = dict(record)
    signed["key_id"] = key.key_id
    data = canonical_record_json(signed)
    return SignedSettlement(
        session_id=str(signed["session_id"]),
        record=signed,
        data=data,
        signature=key.sign(data),
        key_id=key.key_id,
        public_key=key.public_key,
    )


def _crossing_totals(
    outcomes: Sequence[CrossingOutcome], reconciled: set[str]
) -> dict[str, Any]:
    by_kind: dict[str, dict[str, int]] = defaultdict(
        lambda: {"total": 0, "reconciled": 0}
    )
    for outcome in outcomes:
        entry = by_kind[outcome.crossing.kind]
        entry["total"] += 1
        entry["reconciled"] += outcome.crossing.crossing_id in reconciled
    return {
        "total": len(outcomes),
        "reconciled": len(reconciled),
        "unreconciled": len(outcomes) - len(reconciled),
        "by_kind": dict(sorted(by_kind.items())),
    }


def _token_totals(outcomes: Iterable[CrossingOutcome]) -> dict[str, int]:
    totals = {
        "input_uncached_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 0,
        "reasoning_tokens": 0,
    }
    for outcome in outcomes:
        if outcome.compute is None:
            continue
        usage = outcome.compute.usage
        for key in PART_FIELDS:
            totals[key] += getattr(usage, key)
    totals["total_tokens"] = sum(totals.values())
    return totals


def _compute_totals(
    outcomes: Sequence[CrossingOutcome], reconciled: set[str]
) -> dict[str, Any]:
    flops_known = 0
    flops_unknown = 0
    for outcome in outcomes:
        compute = outcome.compute
        if compute is None or compute.usage.total_tokens == 0:
            continue
        if compute.flops is None:
            flops_unknown += 1
        else:
            flops_known += compute.flops
    return {
        "tokens": _token_totals(outcomes),
        "tokens_reconciled": _token_totals(
            outcome
            for outcome in outcomes
            if outcome.crossing.crossing_id in reconciled
        ),
        "flops_known": str(flops_known),
        "crossings_with_unknown_flops": flops_unknown,
    }


def _billing_totals(
    outcomes: Sequence[CrossingOutcome], reconciled: set[str]
) -> dict[str, Any]:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for outcome in outcomes:
        billing = outcome.billing
        if billing.usage_charge is not None:
            currency = billing.usage_charge.currency
            sums[currency]["usage"] += billing.usage_charge.amount
            if outcome.crossing.crossing_id in reconciled:
                sums[currency]["usage_reconciled"] += billing.usage_charge.amount
        toll = billing.toll
        sums[toll.currency]["tolls_assessed"] += toll.amount
        key = (
            "tolls_collected"
            if outcome.crossing.crossing_id in reconciled
            else "tolls_uncollectible"
        )
        sums[toll.currency][key] += toll.amount
    fields = (
        "usage",
        "usage_reconciled",
        "tolls_assessed",
        "tolls_collected",
        "tolls_uncollectible",
    )
    return {
        currency: {field: str(values[field]) for field in fields}
        for currency, values in sorted(sums.items())
    }


def _entitlement_totals(
    outcomes: Sequence[CrossingOutcome],
    accounts: Sequence[AccountSummary],
    transfers: Sequence[Transfer],
) -> dict[str, Any]:
    phases: dict[str, dict[TransferPhase, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    excess: dict[str, Decimal] = defaultdict(Decimal)
    for transfer in transfers:
        phases[transfer.account_id][transfer.phase] += transfer.amount
    for outcome in outcomes:
        for overdraft in outcome.entitlement.overdrafts:
            excess[overdraft.account_id] += overdraft.excess
    result: dict[str, Any] = {}
    for summary in accounts:
        account_id = summary.account.account_id
        totals = phases[account_id]
        reserved = totals[TransferPhase.RESERVE]
        posted = totals[TransferPhase.POST]
        released = totals[TransferPhase.RELEASE]
        assert reserved == posted + released, (account_id, reserved, posted, released)
        result[account_id] = {
            "unit": summary.account.quota.unit.value,
            "currency": summary.account.quota.currency,
            "limit": str(summary.account.quota.limit),
            "posted_before": str(summary.posted_before),
            "reserved": str(reserved),
            "posted": str(posted),
            "released": str(released),
            "overdrawn": str(excess[account_id]),
        }
    return result


def _obligations(
    outcomes: Sequence[CrossingOutcome],
) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {
        "discharged": [],
        "carried_forward": [],
        "open": [],
    }
    for outcome in outcomes:
        for obligation, disposition in obligation_dispositions(outcome).items():
            grouped[disposition].append(
                {"crossing_id": outcome.crossing.crossing_id, "obligation": obligation}
            )
    return grouped


def _exposure(exceptions: Sequence[SettlementException]) -> dict[str, Any]:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    unknown_price = 0
    for item in exceptions:
        if item.money_at_risk is not None:
            sums[item.money_at_risk.currency]["money_at_risk"] += (
                item.money_at_risk.amount
            )
        if item.reason.value == "price_unknown":
            unknown_price += 1
        sums[item.review_cost.currency]["review_cost"] += item.review_cost.amount
    by_currency = {
        currency: {
            "money_at_risk": str(values["money_at_risk"]),
            "review_cost": str(values["review_cost"]),
            "total": str(values["money_at_risk"] + values["review_cost"]),
        }
        for currency, values in sorted(sums.items())
    }
    return {"by_currency": by_currency, "crossings_with_unknown_price": unknown_price}
