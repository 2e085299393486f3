"""Verification: recompute every stored record against the audit log and signature.

For each session, in order:

1. Each leaf's hash is SHA-256(0x00 || record) over the whole stored record
   (RFC 6962 section 2.1); leaves are numbered 0 to n-1 without gaps, and
   each leaf's type and id are the ones its record states.
2. The settlement's columns match its record, and its Ed25519 signature
   verifies with the trusted key.
3. The Merkle root over the leaf hashes equals the signed root and tree size.
4. Every row of every projection table equals the row recomputed from its
   audit leaf, and no table contains a row without a leaf.
5. The settlement's exceptions and account postings match the settlement
   record, and its crossing, token and money totals match the crossings.
6. The policy set the session was decided under hashes to its digest.

A full verification then checks that no table contains rows of a session that
has no audit log, and that every stored policy set hashes to its digest.
Each failure names the step and the first record that does not match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ssoar.audit._log import Leaf, record_id_of
from ssoar.audit._merkle import hash_leaf, root_from_leaf_hashes
from ssoar.audit._signing import SignatureInvalid, compute_key_id, verify_signature
from ssoar.errors import VerificationError
from ssoar.model._usage import PART_FIELDS
from ssoar.policy._policy_set import compute_policy_digest
from ssoar.store._rows import TABLES, Row, rows_from_record
from ssoar.store._sqlite import SettlementRow, Store, account_rows, exception_rows

__all__ = ["VerifyReport", "verify_session", "verify_store"]

_SESSION_TABLES = (
    *TABLES,
    "audit_leaves",
    "settlements",
    "settlement_exceptions",
    "settlement_accounts",
)
"""Every table whose rows belong to a session."""


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
    """Verify sessions, all by default, going on past a failed session.

    Verifying all sessions also finds rows of sessions that have no audit
    log, and stored policy sets that do not match their digest.
    """
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
    if session_ids is None:
        report.failures.extend(_orphan_rows(store))
        report.failures.extend(_policy_set_problems(store))
    return report


def _all_session_ids(store: Store) -> list[str]:
    """Return every session that any table mentions."""
    query = " UNION ".join(
        f"SELECT session_id FROM {table}" for table in _SESSION_TABLES
    )
    cursor = store.connection.execute(f"{query} ORDER BY session_id")
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
            session_id,
            f"audit_leaves/{session_id}",
            "step 1: the session has no audit log",
        )
    records = _verify_leaves(session_id, leaves)
    settlement = store.settlement(session_id)
    if settlement is None:
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            "step 2: the session has no settlement",
        )
    # The settlement row is checked against its signed record first, so the
    # root and size the leaves are compared with are the signed ones.
    signed = _verify_settlement(session_id, settlement, trusted_public_key)
    _verify_root(session_id, leaves, settlement)
    rows = _verify_rows(store, session_id, leaves, records)
    _verify_totals(store, session_id, signed, records)
    _verify_policies(store, session_id, signed)
    return len(leaves), rows


def _leaf_name(leaf: Leaf) -> str:
    return f"audit_leaves/{leaf.leaf_index} ({leaf.record_type} {leaf.record_id})"


def _verify_leaves(session_id: str, leaves: Sequence[Leaf]) -> list[dict[str, Any]]:
    """Step 1: every leaf hash covers its whole record, and nothing is missing."""
    records: list[dict[str, Any]] = []
    for position, leaf in enumerate(leaves):
        if leaf.leaf_index != position:
            raise VerificationError(
                session_id,
                f"audit_leaves/{position}",
                f"step 1: leaf {position} is missing (the next stored leaf is "
                f"{leaf.leaf_index})",
            )
        name = _leaf_name(leaf)
        if hash_leaf(leaf.record) != leaf.leaf_hash:
            raise VerificationError(
                session_id, name, "step 1: leaf hash does not match the record"
            )
        try:
            record = orjson.loads(leaf.record)
            expected_id = record_id_of(record)
        except (orjson.JSONDecodeError, KeyError, TypeError) as error:
            raise VerificationError(
                session_id,
                name,
                f"step 1: record is not a valid audit record ({error})",
            ) from None
        if record.get("session_id") != session_id:
            raise VerificationError(
                session_id, name, "step 1: record belongs to another session"
            )
        if record["type"] != leaf.record_type or expected_id != leaf.record_id:
            raise VerificationError(
                session_id,
                name,
                f"step 1: leaf is labelled {leaf.record_type} {leaf.record_id!r}, but "
                f"its record is {record['type']} {expected_id!r}",
            )
        records.append(record)
    return records


def _verify_root(
    session_id: str, leaves: Sequence[Leaf], settlement: SettlementRow
) -> None:
    """Step 3: the root over all leaves is the signed root."""
    if settlement.tree_size > len(leaves):
        raise VerificationError(
            session_id,
            f"audit_leaves/{len(leaves)}",
            f"step 3: the settlement covers {settlement.tree_size} leaves, but only "
            f"{len(leaves)} are stored",
        )
    if settlement.tree_size < len(leaves):
        extra = leaves[settlement.tree_size]
        raise VerificationError(
            session_id,
            _leaf_name(extra),
            f"step 3: leaf is beyond the {settlement.tree_size} leaves the "
            "settlement covers",
        )
    root = root_from_leaf_hashes([leaf.leaf_hash for leaf in leaves])
    if settlement.merkle_root != root.hex():
        raise VerificationError(
            session_id,
            f"settlements/{session_id}",
            f"step 3: settlement root {settlement.merkle_root} does not match the log "
            f"root {root.hex()}",
        )


def _verify_settlement(
    session_id: str, settlement: SettlementRow, trusted_public_key: bytes
) -> dict[str, Any]:
    """Step 2: the settlement row matches its record and the signature verifies."""
    name = f"settlements/{session_id}"
    try:
        record = orjson.loads(settlement.record)
    except orjson.JSONDecodeError:
        raise VerificationError(
            session_id, name, "step 2: settlement record is not valid JSON"
        ) from None
    if not isinstance(record, dict):
        raise VerificationError(
            session_id,
            name,
            "step 2: settlement record is the JSON value "
            f"{orjson.dumps(record).decode()[:40]}, not an object",
        )
    expected = (
        record.get("session_id"),
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
        settlement.session_id,
        settlement.tenant,
        settlement.state,
        settlement.close_reason,
        settlement.closed_at,
        settlement.settled_at,
        settlement.merkle_root,
        settlement.tree_size,
        settlement.key_id,
    )
    if expected != actual:
        raise VerificationError(
            session_id,
            name,
            "step 2: settlement columns do not match the signed record",
        )
    if settlement.public_key != trusted_public_key:
        signer = settlement.public_key
        signer_id = compute_key_id(signer) if len(signer) == 32 else "an invalid key"
        raise VerificationError(
            session_id,
            name,
            f"step 2: settlement was signed with {signer_id}, not the trusted key "
            f"{compute_key_id(trusted_public_key)}",
        )
    try:
        verify_signature(trusted_public_key, settlement.signature, settlement.record)
    except SignatureInvalid as error:
        raise VerificationError(session_id, name, f"step 2: {error}") from None
    return dict(record)


def _verify_rows(
    store: Store,
    session_id: str,
    leaves: Sequence[Leaf],
    records: Sequence[dict[str, Any]],
) -> int:
    """Step 4: every table row equals the row recomputed from its leaf."""
    expected: dict[str, list[Row]] = defaultdict(list)
    for leaf, record in zip(leaves, records, strict=True):
        try:
            derived = rows_from_record(record, leaf.leaf_index)
        except (KeyError, TypeError) as error:
            raise VerificationError(
                session_id, _leaf_name(leaf), f"step 4: record lacks field {error}"
            ) from None
        for table, rows in derived.items():
            expected[table].extend(rows)
    checked = 0
    for table, spec in TABLES.items():
        actual = store.table_rows(table, session_id)
        checked += len(actual)
        wanted = expected.get(table, [])
        extra = _difference(actual, wanted)
        if extra:
            raise VerificationError(
                session_id,
                spec.describe(extra[0]),
                "step 4: row does not match its audit record",
            )
        missing = _difference(wanted, actual)
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
    """Step 5: exception and account rows and the totals agree with the records."""
    _compare_rows(
        session_id,
        "settlement_exceptions",
        (1,),
        store.exception_rows(session_id),
        exception_rows(session_id, settlement.get("exceptions", [])),
    )
    _compare_rows(
        session_id,
        "settlement_accounts",
        (1,),
        store.settlement_account_rows(session_id),
        account_rows(session_id, settlement["totals"]["entitlement"]),
    )
    crossings = [record for record in records if record["type"] == "crossing"]
    name = f"settlements/{session_id}"
    if settlement["crossings"]["total"] != len(crossings):
        raise VerificationError(
            session_id,
            name,
            f"step 5: settlement counts {settlement['crossings']['total']} crossings, "
            f"the log holds {len(crossings)}",
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
            name,
            f"step 5: settlement totals {signed_tokens} tokens, the crossings {tokens}",
        )
    money: dict[str, Decimal] = defaultdict(Decimal)
    for record in crossings:
        charge = record["ledgers"]["billing"]["usage_charge"]
        if charge is not None:
            money[charge["currency"]] += Decimal(charge["amount"])
    for currency, values in settlement["totals"]["billing"].items():
        recorded = money.get(currency, Decimal(0))
        if Decimal(values["usage"]) != recorded:
            raise VerificationError(
                session_id,
                name,
                f"step 5: settlement bills {values['usage']} {currency}, the crossings "
                f"{recorded}",
            )


def _compare_rows(
    session_id: str,
    table: str,
    key_positions: tuple[int, ...],
    actual: Sequence[Row],
    wanted: Sequence[Row],
) -> None:
    """Compare rows derived from the settlement with the stored ones, by key."""

    def describe(row: Row) -> str:
        return f"{table}/{session_id}/" + "/".join(str(row[i]) for i in key_positions)

    extra = _difference(actual, wanted)
    if extra:
        raise VerificationError(
            session_id,
            describe(extra[0]),
            "step 5: row differs from the signed settlement",
        )
    missing = _difference(wanted, actual)
    if missing:
        raise VerificationError(
            session_id,
            describe(missing[0]),
            "step 5: row of the signed settlement is missing",
        )


def _verify_policies(store: Store, session_id: str, settlement: dict[str, Any]) -> None:
    """Step 6: the stored policy text hashes to the digest decisions cite."""
    digest = str(settlement["policy_digest"])
    problem = _policy_set_problem(store, digest)
    if problem is not None:
        raise VerificationError(
            session_id, f"policy_sets/{digest}", f"step 6: {problem}"
        )


def _policy_set_problem(store: Store, digest: str) -> str | None:
    raw = store.policy_sources_text(digest)
    if raw is None:
        return "the policy set is not stored"
    try:
        sources = orjson.loads(raw)
        computed = compute_policy_digest(
            (item["layer"], item["file"], int(item["line"]), item["text"])
            for item in sources
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        return f"stored policy sources are not readable ({error})"
    if computed != digest:
        return "stored policy sources do not match their digest"
    return None


def _orphan_rows(store: Store) -> list[VerificationError]:
    """Rows in any session table whose session has no audit log."""
    known = {
        row[0]
        for row in store.connection.execute(
            "SELECT DISTINCT session_id FROM audit_leaves"
        )
    }
    failures: list[VerificationError] = []
    for table in _SESSION_TABLES:
        for (session_id,) in store.connection.execute(
            f"SELECT DISTINCT session_id FROM {table}"
        ):
            if session_id not in known:
                failures.append(
                    VerificationError(
                        session_id,
                        f"{table}/{session_id}",
                        "rows of a session that has no audit log",
                    )
                )
    return failures


def _policy_set_problems(store: Store) -> list[VerificationError]:
    """Stored policy sets that do not hash to their digest."""
    failures: list[VerificationError] = []
    for (digest,) in store.connection.execute("SELECT digest FROM policy_sets"):
        problem = _policy_set_problem(store, digest)
        if problem is not None:
            failures.append(VerificationError("", f"policy_sets/{digest}", problem))
    return failures
