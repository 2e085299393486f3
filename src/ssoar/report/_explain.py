"""The eight due-diligence questions, answered from one session's records.

What crossed? Who admitted it? Under what authority? Against what
entitlement? Where was it routed? Which ledger changed? Which record proves
it? What settled when it closed? Every answer is read from the session's
audit records and its signed settlement, never from elsewhere.
"""

from __future__ import annotations

import shlex
from typing import Any

import orjson

from ssoar.audit._log import Leaf
from ssoar.errors import SessionError, VerificationError
from ssoar.model._usage import PART_FIELDS
from ssoar.store._sqlite import SettlementRow, Store

__all__ = ["QUESTIONS", "explain_session"]

QUESTIONS = (
    ("what_crossed", "What crossed?"),
    ("who_admitted_it", "Who admitted it?"),
    ("under_what_authority", "Under what authority?"),
    ("against_what_entitlement", "Against what entitlement?"),
    ("where_routed", "Where was it routed?"),
    ("which_ledger_changed", "Which ledger changed?"),
    ("which_record_proves_it", "Which record proves it?"),
    ("what_settled", "What settled when it closed?"),
)


def explain_session(store: Store, session_id: str) -> dict[str, Any]:
    """Answer the eight questions for one session.

    The records are read as stored; ``ssoar verify`` checks them.

    Raises:
        SessionError: If the session is not stored.
        VerificationError: If a stored record is not readable or lacks a field
            that the explanation reads, or the session record is missing.
    """
    leaves = store.leaves(session_id)
    if not leaves:
        if store.is_open_live_session(session_id):
            raise SessionError(
                f"session {session_id!r} is still open in the live booth; it can "
                "be explained and proved once it closes"
            )
        raise SessionError(
            f"session {session_id!r} is not stored; list sessions with 'ssoar report'"
        )
    records = [(leaf, _read_record(session_id, leaf)) for leaf in leaves]
    session = next(
        (record for _, record in records if record["type"] == "session"), None
    )
    if session is None:
        raise VerificationError(
            session_id,
            f"audit_leaves/{session_id}",
            "the session record (leaf 0) is missing; run 'ssoar verify' to check "
            "the database",
        )
    settlement_row = store.settlement(session_id)
    try:
        settlement = orjson.loads(settlement_row.record) if settlement_row else None
        return _answer(session_id, records, session, settlement, settlement_row)
    except (ValueError, LookupError, TypeError, AttributeError) as error:
        # Not JSON (orjson.JSONDecodeError is a ValueError), a missing field
        # (LookupError) or a field of another type (TypeError, AttributeError).
        raise VerificationError(
            session_id,
            f"audit_leaves/{session_id}",
            f"a stored record is not readable ({type(error).__name__}: {error}); "
            "run 'ssoar verify' to find it",
        ) from None


def _read_record(session_id: str, leaf: Leaf) -> dict[str, Any]:
    """Parse one leaf's record, which must be a JSON object with a type."""
    try:
        record = orjson.loads(leaf.record)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise VerificationError(
            session_id,
            f"audit_leaves/{leaf.leaf_index}",
            "record is not an audit record; run 'ssoar verify' to check the database",
        )
    return record


def _answer(
    session_id: str,
    records: list[tuple[Leaf, dict[str, Any]]],
    session: dict[str, Any],
    settlement: Any,
    settlement_row: SettlementRow | None,
) -> dict[str, Any]:
    leaves = [leaf for leaf, _ in records]
    crossings = [
        (leaf, record) for leaf, record in records if record["type"] == "crossing"
    ]
    admissions = {
        record["crossing"]["actor_id"]: record["crossing"]["crossing_id"]
        for _, record in crossings
        if record["crossing"]["kind"] == "participant_admission"
        and record["decision"]["allowed"]
    }
    answers: dict[str, Any] = {
        "what_crossed": [_what(record) for _, record in crossings],
        "who_admitted_it": [_who(record, admissions) for _, record in crossings],
        "under_what_authority": {
            "grants": [
                record["grant"] for _, record in records if record["type"] == "grant"
            ],
            "revocations": [
                {"grant_id": record["grant_id"], "revoked_at": record["revoked_at"]}
                for _, record in records
                if record["type"] == "revocation"
            ],
            "crossings": [_authority(record) for _, record in crossings],
        },
        "against_what_entitlement": {
            "accounts": [
                {**record["account"], "posted_before": record["posted_before"]}
                for _, record in records
                if record["type"] == "account"
            ],
            "crossings": [_entitlement(record) for _, record in crossings],
        },
        "where_routed": [_route(record) for _, record in crossings],
        "which_ledger_changed": [_ledgers(record) for _, record in crossings],
        "which_record_proves_it": {
            "merkle_root": settlement["merkle_root"] if settlement else None,
            "tree_size": len(leaves),
            "records": [
                {
                    "leaf_index": leaf.leaf_index,
                    "type": leaf.record_type,
                    "record_id": leaf.record_id,
                    "leaf_hash": leaf.leaf_hash.hex(),
                }
                for leaf, _ in records
            ],
            "prove_with": f"ssoar prove {shlex.quote(session_id)} CROSSING_ID",
        },
        "what_settled": _settled(settlement, settlement_row),
    }
    return {
        "session": session["session"],
        "policy_digest": session["policy_digest"],
        "kinds": session["kinds"],
        "questions": {
            key: {"question": text, "answer": answers[key]} for key, text in QUESTIONS
        },
    }


def _what(record: dict[str, Any]) -> dict[str, Any]:
    crossing = record["crossing"]
    return {
        "crossing_id": crossing["crossing_id"],
        "kind": crossing["kind"],
        "actor": crossing["actor_id"],
        "on_behalf_of": crossing["invoker_id"],
        "target": crossing["target"],
        "state": crossing["state"],
        "started_at": crossing["started_at"],
        "ended_at": crossing["ended_at"],
        "source": crossing["source"],
    }


def _who(record: dict[str, Any], admissions: dict[str, str]) -> dict[str, Any]:
    crossing = record["crossing"]
    decision = record["decision"]
    holder = crossing["invoker_id"] or crossing["actor_id"]
    codes = {reason["code"] for reason in decision["reasons"]}
    if "policy_error" in codes:
        policies = "error"
    elif "policy_denied" in codes:
        policies = "deny"
    else:
        policies = "permit"
    return {
        "crossing_id": crossing["crossing_id"],
        "booth": "allowed" if decision["allowed"] else "denied",
        "retrospective": decision["retrospective"],
        "policies": policies,
        "policy_ids": decision["policy_ids"],
        "policy_errors": decision["errors"],
        "reasons": decision["reasons"],
        "participant": holder,
        "admitted_by": (
            "the booth (closing the session)"
            if crossing["kind"] == "session_closure"
            else admissions.get(holder)
        ),
    }


def _authority(record: dict[str, Any]) -> dict[str, Any]:
    authority = record["ledgers"]["authority"]
    return {"crossing_id": record["crossing"]["crossing_id"], **authority}


def _entitlement(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "crossing_id": record["crossing"]["crossing_id"],
        **record["ledgers"]["entitlement"],
    }


def _route(record: dict[str, Any]) -> dict[str, Any]:
    crossing = record["crossing"]
    attributes = crossing["attributes"]
    placement = record["ledgers"].get("placement") or {}
    return {
        "crossing_id": crossing["crossing_id"],
        "target": crossing["target"],
        "provider": attributes.get("provider"),
        "model": attributes.get("response_model") or attributes.get("model"),
        "region": placement.get("region") or attributes.get("region"),
        "jurisdiction": placement.get("jurisdiction") or attributes.get("jurisdiction"),
        "route": placement.get("route") or attributes.get("route"),
        "route_candidates": list(attributes.get("route_candidates") or []),
    }


def _ledgers(record: dict[str, Any]) -> dict[str, Any]:
    ledgers = record["ledgers"]
    changed: dict[str, Any] = {}
    compute = ledgers["compute"]
    if compute is not None:
        changed["compute"] = {
            "tokens": sum(compute["usage"][part] for part in PART_FIELDS),
            "usage": compute["usage"],
            "usage_source": compute["usage_source"],
            "flops": compute["flops"],
        }
    billing = ledgers["billing"]
    changed["billing"] = {
        "status": billing["status"],
        "usage_charge": billing["usage_charge"],
        "toll": billing["toll"],
        "price_ref": billing["price_ref"],
        "catalogue_version": billing["catalogue_version"],
    }
    if ledgers["entitlement"]["postings"] or ledgers["entitlement"]["overdrafts"]:
        changed["entitlement"] = ledgers["entitlement"]
    changed["authority"] = {
        "status": ledgers["authority"]["status"],
        "grant_id": ledgers["authority"]["grant_id"],
    }
    for name in ("memory", "placement", "settlement"):
        if name in ledgers:
            changed[name] = ledgers[name]
    return {"crossing_id": record["crossing"]["crossing_id"], "ledgers": changed}


def _settled(settlement: dict[str, Any] | None, row: Any) -> dict[str, Any]:
    if settlement is None:
        return {
            "state": "open",
            "note": "the session has not closed, so nothing has settled yet",
        }
    return {
        "state": settlement["state"],
        "close_reason": settlement["close_reason"],
        "close_error": settlement.get("close_error"),
        "closed_at": settlement["closed_at"],
        "settled_at": settlement["settled_at"],
        "crossings": settlement["crossings"],
        "totals": settlement["totals"],
        "obligations": settlement["obligations"],
        "exceptions": settlement["exceptions"],
        "exposure": settlement["exposure"],
        "signed_by": settlement["key_id"],
        "signature": row.signature.hex() if row is not None else None,
    }
