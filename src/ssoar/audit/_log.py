"""The per-session audit log: canonical records appended to a Merkle tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ssoar.audit._canonical import canonical_record_json
from ssoar.audit._merkle import MerkleFrontier, hash_leaf

__all__ = ["Leaf", "SessionLog", "record_id_of"]


@dataclass(slots=True)
class Leaf:
    """One record of a session's audit log.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    session_id: str
    leaf_index: int
    record_type: str
    record_id: str
    record: bytes
    """The record's RFC 8785 canonical JSON; the leaf hash covers all of it."""
    leaf_hash: bytes


@dataclass
class SessionLog:
    """Appends records to one session's RFC 6962 Merkle tree."""

    session_id: str
    leaves: list[Leaf] = field(default_factory=list)
    records: list[Mapping[str, Any]] = field(default_factory=list)
    """The records as appended, parallel to ``leaves``."""
    frontier: MerkleFrontier = field(default_factory=MerkleFrontier)

    def append(
        self, record_type: str, record_id: str, record: Mapping[str, Any]
    ) -> Leaf:
        """Canonicalise a record and append it as the next leaf.

        The record must carry its own ``type`` and ``session_id``, so a leaf
        read on its own still states what it is and where it belongs.
        """
        assert record.get("type") == record_type, (record.get("type"), record_type)
        assert record.get("session_id") == self.session_id, record.get("session_id")
        data = canonical_record_json(record)
        leaf = Leaf(
            self.session_id,
            len(self.leaves),
            record_type,
            record_id,
            data,
            hash_leaf(data),
        )
        self.leaves.append(leaf)
        self.records.append(record)
        self.frontier.append(leaf.leaf_hash)
        assert self.frontier.size == len(self.leaves)
        return leaf

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self.leaves)

    def root(self) -> bytes:
        """Return the Merkle root over every leaf so far."""
        return self.frontier.root()


def record_id_of(record: dict[str, Any]) -> str:
    """Return the id a leaf of this record must carry.

    Raises:
        KeyError: If the record lacks the field its id comes from.
    """
    record_type = record["type"]
    if record_type == "session":
        return str(record["session_id"])
    if record_type == "participant":
        return str(record["participant"]["participant_id"])
    if record_type == "grant":
        return str(record["grant"]["grant_id"])
    if record_type == "account":
        return str(record["account"]["account_id"])
    if record_type == "crossing":
        return str(record["crossing"]["crossing_id"])
    if record_type == "revocation":
        return f"revocation:{record['grant_id']}"
    if record_type == "release":
        return str(record["transfer"]["transfer_id"])
    raise KeyError(f"record type {record_type!r}")
