"""Rebuild booth objects from the JSON records the live event log holds.

The event log stores each object in the form its ``to_json`` gives. A booth
process that did not write an event, or that restarts, reads it back through
these functions, so every process sees the same session.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from ssoar.ledger._authority import AuthorityCheck, AuthorityStatus, Grant, GrantScope
from ssoar.ledger._entitlement import (
    Account,
    Overdraft,
    Quota,
    QuotaScope,
    QuotaUnit,
    Transfer,
    TransferPhase,
)
from ssoar.model._crossing import (
    Crossing,
    CrossingState,
    Decision,
    DenialReason,
    Target,
    UsageSource,
)
from ssoar.model._participant import Participant, ParticipantClass
from ssoar.model._session import Session
from ssoar.model._time import parse_time
from ssoar.model._usage import TokenUsage

__all__ = [
    "account_from_json",
    "authority_from_json",
    "crossing_from_json",
    "decision_from_json",
    "grant_from_json",
    "overdraft_from_json",
    "participant_from_json",
    "session_from_json",
    "time_from_json",
    "transfer_from_json",
]


def time_from_json(value: object, field: str = "time") -> datetime:
    """Read a canonical timestamp."""
    return parse_time(value, field=field)


def session_from_json(data: Mapping[str, Any]) -> Session:
    """Rebuild a session."""
    return Session(
        session_id=data["session_id"],
        tenant=data["tenant"],
        template=data["template"],
        opened_at=time_from_json(data["opened_at"]),
        origin=data["origin"],
        labels=tuple(sorted(data.get("labels", {}).items())),
    )


def participant_from_json(data: Mapping[str, Any]) -> Participant:
    """Rebuild a participant."""
    return Participant(
        participant_id=data["participant_id"],
        participant_class=ParticipantClass(data["class"]),
        name=data["name"],
        scope=tuple(data.get("scope", ())),
    )


def grant_from_json(data: Mapping[str, Any]) -> Grant:
    """Rebuild a grant."""
    scope = data["scope"]
    return Grant(
        grant_id=data["grant_id"],
        grantor=data["grantor"],
        grantee=data["grantee"],
        scope=GrantScope(frozenset(scope["kinds"]), tuple(scope["targets"])),
        not_before=time_from_json(data["not_before"]),
        expires_at=time_from_json(data["expires_at"]),
        parent_grant_id=data.get("parent_grant_id"),
        session_id=data.get("session_id"),
    )


def account_from_json(data: Mapping[str, Any]) -> Account:
    """Rebuild an entitlement account."""
    quota = Quota(
        quota_id=data["quota_id"],
        scope=QuotaScope(data["scope"]),
        unit=QuotaUnit(data["unit"]),
        limit=Decimal(data["limit"]),
        currency=data.get("currency"),
        kinds=frozenset(data.get("kinds", ())),
    )
    return Account(data["account_id"], quota, data["scope_key"])


def transfer_from_json(data: Mapping[str, Any]) -> Transfer:
    """Rebuild an entitlement transfer."""
    return Transfer(
        transfer_id=data["transfer_id"],
        account_id=data["account_id"],
        crossing_id=data["crossing_id"],
        phase=TransferPhase(data["phase"]),
        amount=Decimal(data["amount"]),
        reservation_id=data["reservation_id"],
    )


def overdraft_from_json(data: Mapping[str, Any]) -> Overdraft:
    """Rebuild an overdraft."""
    return Overdraft(
        account_id=data["account_id"],
        crossing_id=data["crossing_id"],
        requested=Decimal(data["requested"]),
        available=Decimal(data["available"]),
    )


def decision_from_json(data: Mapping[str, Any]) -> Decision:
    """Rebuild a booth decision."""
    return Decision(
        allowed=data["allowed"],
        retrospective=data["retrospective"],
        reasons=tuple(
            DenialReason(reason["code"], reason["message"])
            for reason in data["reasons"]
        ),
        policy_ids=tuple(data["policy_ids"]),
        obligations=tuple(data["obligations"]),
        errors=tuple(data["errors"]),
        policy_digest=data["policy_digest"],
    )


def authority_from_json(data: Mapping[str, Any]) -> AuthorityCheck:
    """Rebuild an authority check."""
    return AuthorityCheck(
        status=AuthorityStatus(data["status"]),
        holder=data["holder"],
        grant_id=data["grant_id"],
        message=data["message"],
        chain=tuple(data["chain"]),
    )


def crossing_from_json(data: Mapping[str, Any]) -> Crossing:
    """Rebuild a crossing."""
    target = data.get("target")
    usage = data.get("usage")
    ended = data.get("ended_at")
    return Crossing(
        crossing_id=data["crossing_id"],
        session_id=data["session_id"],
        kind=data["kind"],
        actor_id=data["actor_id"],
        started_at=time_from_json(data["started_at"]),
        state=CrossingState(data["state"]),
        invoker_id=data.get("invoker_id"),
        target=Target(target["type"], target["id"]) if target else None,
        ended_at=time_from_json(ended) if ended else None,
        attributes={
            key: tuple(value) if isinstance(value, list) else value
            for key, value in data.get("attributes", {}).items()
        },
        usage=TokenUsage.from_json(usage) if usage else None,
        usage_source=UsageSource(data.get("usage_source", "none")),
        error=data.get("error"),
    )
