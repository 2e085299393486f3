"""Verification: recompute every stored record against the audit log and signature.

For each session, in order:

1. Each leaf's hash is SHA-256(0x00 || record) over the whole stored record
   (RFC 6962 section 2.1), and leaves are numbered 0 to n-1 without gaps.
2. The Merkle root over the leaf hashes equals the root and tree size in the
   settlement.
3. The settlement's columns match its record, and its Ed25519 signature
   verifies with the trusted key.
4. Every row of every ledger and model table equals the row recomputed from
   its audit leaf, and no table holds a row without a leaf.
5. The settlement's exceptions table matches the settlement record, and the
   crossing, token and money totals match the crossing records.
6. The policy set the session was decided under hashes to its digest.

Each failure names the step and the first record that does not match.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ssoar.audit._merkle import hash_leaf, root_from_leaf_hashes
from ssoar.audit._signing import SignatureInvalid, compute_key_id, verify_signature
from ssoar.errors import VerificationError
from ssoar.model._usage import PART_FIELDS
from ssoar.store._rows import TABLES, Row, rows_from_record
from ssoar.store._sqlite import Store, account_rows, exception_rows

__all__ = ["VerifyReport", "verify_session", "verify_store"]


@dataclass
class VerifyReport:
    """The outcome of verifying sessions."""

    sessions_checked: int = 0
    leaves_checked: int = 0
    rows_checked: int = 0
    failures: list[VerificationError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every session verified."""
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON object."""
        return {
            "ok": self.ok,
            "sessions_checked": self.sessions_checked,
            "leaves_checked": self.leaves_checked,
            "rows_checked": self.rows_checked,
            "failures": [
                {
                    "session_id": item.session_id,
                    "record": item.record,
                    "detail": item.detail,
                }
                for item in self.failures
            ],
        }


def verify_store(
    store: Store, trusted_public_key: bytes, session_ids: Sequence[str] | None = None
) -> VerifyReport:
    """Verify sessions, all by default, going on past a failed session."""
    report = VerifyReport()
    ids = list(session_ids) if session_ids is not None else _all_session_ids(store)
    for session_id in ids:
        try:
            leaves, rows = verify_session(store, session_id, trusted_public_key)
        except VerificationError as error:
            report.failures.append(error)
        else:
            report.leaves_checked += leaves
            report.rows_checked += rows
        report.sessions_checked += 1
    return report


def _all_session_ids(store: Store) -> list[str]:
    """Sessions with any stored trace: a session row, a leaf or a settlement."""
    cursor = store.connection.execute(
        "SELECT session_id FROM sessions UNION SELECT session_id FROM audit_leaves "
        "UNION SELECT session_id FROM settlements ORDER BY session_id"
    )
    return [row[0] for row in cursor]


def verify_session(
    store: Store, session_id: str, trusted_public_key: bytes
) -> tuple[int, int]:
    """Verify one session.

    Returns:
        The number of leaves and rows checked.

    Raises:
        VerificationError: Naming the step and the first record that fails it.
    """
    leaves = store.leaves(session_id)
    if not leaves:
        raise VerificationError(
            session_id, "audit_leaves", "step 1: the session has no audit log"
        )
    records: list[dict[str, Any]] = []
    # Step 1: every leaf hash covers its whole record, and nothing is missing.
    for position, leaf in enumerate(leaves):
        name = f"audit_leaves/{leaf.leaf_index} ({leaf.record_type} {leaf.record_id})"
        if leaf.leaf_index != position:
            raise VerificationError(
                session_id, name, f"step 1: leaf {position} is missing"
            )
        if hash_leaf(leaf.record) != leaf.leaf_hash:
            raise VerificationError(
                session_id, name, "step 1: leaf hash does not match the record"
            )
        try:
            record = orjson.loads(leaf.record)
        except orjson.JSONDecodeError:
            raise VerificationError(
                session_id, name, "step 1: record is not valid JSON"
            ) from None
        if (
            record.get("type") != leaf.record_type
            or record.get("session_id") != session_id
        ):
            raise VerificationError(
                session_id,
                name,
                "step 1: record type or session does not match the leaf",
            )
        records.append(record)
    # Step 2: the root over all leaves is the signed root.
    settlement = store.settlement(session_id)
    if settlement is None:
        raise VerificationError(
            session_id, "settlements", "step 2: the session has no settlement"
        )
    root = root_from_leaf_hashes([leaf.leaf_hash for leaf in leaves])
    if settlement.tree_size != len(leaves) or settlement.merkle_root != root.hex():
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            f"step 2: settlement root {settlement.merkle_root} at size "
            f"{settlement.tree_size} "
            f"does not match the log root {root.hex()} at size {len(leaves)}",
        )
    signed = _verify_settlement(session_id, settlement, trusted_public_key)
    rows = _verify_rows(store, session_id, leaves, records)
    _verify_totals(store, session_id, signed, records)
    _verify_policies(store, session_id, signed)
    return len(leaves), rows


def _verify_settlement(
    session_id: str, settlement: Any, trusted_public_key: bytes
) -> dict[str, Any]:
    """Step 3: the settlement row matches its record and the signature verifies."""
    name = f"settlements/{session_id}"
    try:
        record = orjson.loads(settlement.record)
    except orjson.JSONDecodeError:
        raise VerificationError(
            session_id, name, "step 3: settlement record is not valid JSON"
        ) from None
    expected = (
        record.get("tenant"),
        record.get("state"),
        record.get("close_reason"),
        record.get("closed_at"),
        record.get("settled_at"),
        record.get("merkle_root"),
        record.get("tree_size"),
        record.get("key_id"),
    )
    actual = (
        settlement.tenant,
        settlement.state,
        settlement.close_reason,
        settlement.closed_at,
        settlement.settled_at,
        settlement.merkle_root,
        settlement.tree_size,
        settlement.key_id,
    )
    if expected != actual or record.get("session_id") != session_id:
        raise VerificationError(
            session_id,
            name,
            "step 3: settlement columns do not match the signed record",
        )
    if settlement.public_key != trusted_public_key:
        signer = settlement.public_key
        signer_id = compute_key_id(signer) if len(signer) == 32 else "an invalid key"
        raise VerificationError(
            session_id,
            name,
            f"step 3: settlement was signed with {signer_id}, not the trusted key "
            f"{compute_key_id(trusted_public_key)}",
        )
    try:
        verify_signature(trusted_public_key, settlement.signature, settlement.record)
    except SignatureInvalid as error:
        raise VerificationError(session_id, name, f"step 3: {error}") from None
    return dict(record)


def _verify_rows(
    store: Store,
    session_id: str,
    leaves: Sequence[Any],
    records: Sequence[dict[str, Any]],
) -> int:
    """Step 4: every table row equals the row recomputed from its leaf."""
    expected: dict[str, list[Row]] = defaultdict(list)
    for leaf, record in zip(leaves, records, strict=True):
        try:
            derived = rows_from_record(record, leaf.leaf_index)
        except (KeyError, TypeError) as error:
            raise VerificationError(
                session_id,
                f"audit_leaves/{leaf.leaf_index}",
                f"step 4: record lacks field {error}",
            ) from None
        for table, rows in derived.items():
            expected[table].extend(rows)
    checked = 0
    for table, spec in TABLES.items():
        actual = store.table_rows(table, session_id)
        checked += len(actual)
        wanted = expected.get(table, [])
        missing = _difference(wanted, actual)
        extra = _difference(actual, wanted)
        if extra:
            raise VerificationError(
                session_id,
                spec.describe(extra[0]),
                "step 4: row does not match its audit record",
            )
        if missing:
            raise VerificationError(
                session_id,
                spec.describe(missing[0]),
                "step 4: row recorded in the audit log is missing",
            )
    return checked


def _difference(left: Sequence[Row], right: Sequence[Row]) -> list[Row]:
    counts: dict[Row, int] = defaultdict(int)
    for row in right:
        counts[row] += 1
    result: list[Row] = []
    for row in left:
        if counts[row]:
            counts[row] -= 1
        else:
            result.append(row)
    return result


def _verify_totals(
    store: Store,
    session_id: str,
    settlement: dict[str, Any],
    records: Sequence[dict[str, Any]],
) -> None:
    """Step 5: exceptions rows and totals agree with the records."""
    name = f"settlement_exceptions/{session_id}"
    if store.exception_rows(session_id) != exception_rows(
        session_id, settlement.get("exceptions", [])
    ):
        raise VerificationError(
            session_id, name, "step 5: exceptions differ from the signed settlement"
        )
    expected_accounts = account_rows(session_id, settlement["totals"]["entitlement"])
    if store.settlement_account_rows(session_id) != expected_accounts:
        raise VerificationError(
            session_id,
            f"settlement_accounts/{session_id}",
            "step 5: account postings differ from the signed settlement",
        )
    crossings = [record for record in records if record["type"] == "crossing"]
    totals = settlement["crossings"]
    if totals["total"] != len(crossings):
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            f"step 5: settlement counts {totals['total']} crossings, the log holds "
            f"{len(crossings)}",
        )
    tokens = sum(
        sum(record["ledgers"]["compute"]["usage"][part] for part in PART_FIELDS)
        for record in crossings
        if record["ledgers"]["compute"] is not None
    )
    signed_tokens = settlement["totals"]["compute"]["tokens"]["total_tokens"]
    if tokens != signed_tokens:
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            f"step 5: settlement totals {signed_tokens} tokens, the crossings {tokens}",
        )
    money: dict[str, Decimal] = defaultdict(Decimal)
    for record in crossings:
        charge = record["ledgers"]["billing"]["usage_charge"]
        if charge is not None:
            money[charge["currency"]] += Decimal(charge["amount"])
    for currency, values in settlement["totals"]["billing"].items():
        if Decimal(values["usage"]) != money.get(currency, Decimal(0)):
            raise VerificationError(
                session_id,
                f"settlements/{session_id}",
                f"step 5: settlement bills {values['usage']} {currency}, the crossings "
                f"{money.get(currency, Decimal(0))}",
            )


def _verify_policies(store: Store, session_id: str, settlement: dict[str, Any]) -> None:
    """Step 6: the stored policy text hashes to the digest decisions cite."""
    digest = settlement["policy_digest"]
    sources = store.policy_sources(digest)
    name = f"policy_sets/{digest}"
    if sources is None:
        raise VerificationError(
            session_id, name, "step 6: the policy set is not stored"
        )
    hasher = hashlib.sha256()
    for source in sources:
        for part in (source["layer"], source["text"]):
            encoded = str(part).encode("utf-8")
            hasher.update(len(encoded).to_bytes(8, "big"))
            hasher.update(encoded)
    if "sha256:" + hasher.hexdigest() != digest:
        raise VerificationError(
            session_id, name, "step 6: stored policy text does not match its digest"
        )


def iter_leaf_records(store: Store, session_id: str) -> Iterator[dict[str, Any]]:
    """Yield a session's audit records in order."""
    for leaf in store.leaves(session_id):
        yield orjson.loads(leaf.record)
