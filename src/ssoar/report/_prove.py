"""Inclusion proofs for single records of a session's audit log."""

from __future__ import annotations

import base64

import orjson

from ssoar.audit._merkle import hash_leaf, inclusion_proof, root_from_leaf_hashes
from ssoar.audit._proof import InclusionProofDocument
from ssoar.errors import SessionError, VerificationError
from ssoar.store._sqlite import SettlementRow, Store

__all__ = ["prove_record"]


def prove_record(
    store: Store, session_id: str, record_id: str
) -> InclusionProofDocument:
    """Build the inclusion proof of one record (a crossing, grant or other leaf).

    The proof is built from the stored records, and only when their Merkle
    root is the root the settlement signed: a proof against any other root
    would not verify.

    Raises:
        SessionError: If the session or the record is not stored, or the
            session has not settled yet.
        VerificationError: If the stored audit log has a gap, or its root is
            not the signed root.
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
    leaf = next((item for item in leaves if item.record_id == record_id), None)
    if leaf is None:
        raise SessionError(
            f"session {session_id!r} has no record {record_id!r}; list its crossings "
            f"with 'ssoar explain {session_id}'"
        )
    settlement = store.settlement(session_id)
    if settlement is None:
        raise SessionError(
            f"session {session_id!r} has not settled, so there is no signed root to "
            "prove against"
        )
    for position, item in enumerate(leaves):
        if item.leaf_index != position:
            raise VerificationError(
                session_id,
                f"audit_leaves/{position}",
                f"leaf {position} of the audit log is missing, so no proof can be "
                "built; run 'ssoar verify' to check the database",
            )
    # Hashed from the records, so the proof covers the bytes it carries.
    hashes = [hash_leaf(item.record) for item in leaves]
    root = root_from_leaf_hashes(hashes)
    signed_root, signed_size = _signed_root(session_id, settlement)
    if root.hex() != signed_root or len(leaves) != signed_size:
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            f"the stored audit log ({len(leaves)} records, root {root.hex()}) does "
            f"not match the signed root ({signed_size!r} records, root "
            f"{signed_root!r}), so no proof against the signed root exists; run "
            "'ssoar verify' to find the record that changed",
        )
    return InclusionProofDocument(
        session_id=session_id,
        record_id=record_id,
        leaf_index=leaf.leaf_index,
        tree_size=len(leaves),
        record=leaf.record,
        leaf_hash=hashes[leaf.leaf_index],
        proof=inclusion_proof(leaf.leaf_index, hashes),
        root=root,
        settlement={
            "record": base64.b64encode(settlement.record).decode("ascii"),
            "signature": base64.b64encode(settlement.signature).decode("ascii"),
            "public_key": settlement.public_key.hex(),
            "key_id": settlement.key_id,
        },
    )


def _signed_root(session_id: str, settlement: SettlementRow) -> tuple[object, object]:
    """Return the Merkle root and tree size that the settlement record states."""
    try:
        record = orjson.loads(settlement.record)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            "the settlement record is not a JSON object, so it states no root to "
            "prove against; run 'ssoar verify' to check the database",
        )
    return record.get("merkle_root"), record.get("tree_size")
