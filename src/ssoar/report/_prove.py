"""Inclusion proofs for single records of a session's audit log."""

from __future__ import annotations

import base64

from ssoar.audit._merkle import inclusion_proof, root_from_leaf_hashes
from ssoar.audit._proof import InclusionProofDocument
from ssoar.errors import SessionError
from ssoar.store._sqlite import Store

__all__ = ["prove_record"]


def prove_record(
    store: Store, session_id: str, record_id: str
) -> InclusionProofDocument:
    """Build the inclusion proof of one record (a crossing, grant or other leaf).

    Raises:
        SessionError: If the session or the record is not stored, or the
            session has not settled yet.
    """
    leaves = store.leaves(session_id)
    if not leaves:
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
    hashes = [item.leaf_hash for item in leaves]
    root = root_from_leaf_hashes(hashes)
    return InclusionProofDocument(
        session_id=session_id,
        record_id=record_id,
        leaf_index=leaf.leaf_index,
        tree_size=len(leaves),
        record=leaf.record,
        leaf_hash=leaf.leaf_hash,
        proof=inclusion_proof(leaf.leaf_index, hashes),
        root=root,
        settlement={
            "record": base64.b64encode(settlement.record).decode("ascii"),
            "signature": base64.b64encode(settlement.signature).decode("ascii"),
            "public_key": settlement.public_key.hex(),
            "key_id": settlement.key_id,
        },
    )
