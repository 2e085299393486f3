"""The SQLite store: one embedded database file, written in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from ssoar.audit._log import Leaf
from ssoar.errors import StorageError
from ssoar.policy._policy_set import BoothPolicies
from ssoar.settlement._settle import SignedSettlement
from ssoar.store._migrations import apply_migrations
from ssoar.store._rows import TABLES, Row, rows_from_record

__all__ = ["PAGE_SIZE", "SettlementRow", "Store"]

_BUSY_TIMEOUT_MS = 10_000
PAGE_SIZE = 16_384
"""SQLite page size of new databases, in bytes."""
_QUERY_PARAMETERS_MAX = 500
"""Bound parameters per query; SQLite before 3.32 allows at most 999."""


@dataclass(frozen=True, slots=True)
class SettlementRow:
    """A stored settlement with its signature."""

    session_id: str
    tenant: str
    state: str
    close_reason: str
    closed_at: str
    settled_at: str
    merkle_root: str
    tree_size: int
    key_id: str
    public_key: bytes
    record: bytes
    signature: bytes


class Store:
    """The embedded database of sessions, ledgers, audit logs and settlements.

    Writes happen in explicit ``BEGIN IMMEDIATE`` transactions with
    ``synchronous=FULL``, so a committed session survives a crash or power
    loss and is never half written.
    """

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, path: Path, *, threads: bool = False) -> Store:
        """Open (creating when needed) and migrate the database at ``path``.

        ``threads`` lets the connection be used from several threads, one at
        a time, as the live booth's group commit does.

        Raises:
            StorageError: If the file cannot be opened as a SQLite database or
                its schema is newer than this ssoar.
        """
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(
                path,
                isolation_level=None,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                check_same_thread=not threads,
            )
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            # Takes effect only on a new, empty database: audit records are a
            # few KB each, and larger pages store them with fewer page splits.
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as error:
            raise StorageError(
                f"cannot open {path} as a SQLite database: {error}; pass another "
                "file with --db or SSOAR_DB"
            ) from None
        if str(mode).lower() != "wal":
            raise StorageError(f"{path}: WAL journal mode is not available ({mode})")
        try:
            apply_migrations(connection, str(path))
        except sqlite3.DatabaseError as error:
            raise StorageError(f"cannot migrate {path}: {error}") from None
        return cls(connection, str(path))

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one write transaction, committed durably or not at all."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    # Writing

    def save_policies(self, policies: BoothPolicies) -> None:
        """Store a policy set's sources under its digest, once."""
        sources = [
            {
                "layer": layer,
                "file": statement.file,
                "line": statement.line,
                "text": statement.text,
            }
            for layer, statement in policies.statements
        ]
        self.connection.execute(
            "INSERT OR IGNORE INTO policy_sets (digest, sources) VALUES (?, ?)",
            (policies.digest, orjson.dumps(sources).decode("utf-8")),
        )

    def write_session(
        self,
        leaves: Sequence[Leaf],
        records: Sequence[Mapping[str, Any]],
        settlement: SignedSettlement,
    ) -> None:
        """Write a settled session: its leaves, their rows and the settlement.

        Call inside ``transaction()``.
        """
        assert len(leaves) == len(records)
        rows: dict[str, list[Row]] = {}
        for leaf, record in zip(leaves, records, strict=True):
            for table, table_rows in rows_from_record(record, leaf.leaf_index).items():
                rows.setdefault(table, []).extend(table_rows)
        self.connection.executemany(
            "INSERT INTO audit_leaves (session_id, leaf_index, record_type, record_id, "
            "record, leaf_hash) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    leaf.session_id,
                    leaf.leaf_index,
                    leaf.record_type,
                    leaf.record_id,
                    leaf.record,
                    leaf.leaf_hash,
                )
                for leaf in leaves
            ],
        )
        for table, table_rows in rows.items():
            if table_rows:
                self.connection.executemany(TABLES[table].insert_sql, table_rows)
        self._write_settlement(settlement)

    def write_new_session(
        self,
        leaves: Sequence[Leaf],
        records: Sequence[Mapping[str, Any]],
        settlement: SignedSettlement,
    ) -> str | None:
        """Write a settled session unless one of its rows repeats a stored key.

        Call inside ``transaction()``. A session whose id, or one of whose
        crossing ids, is already stored (by another process, or earlier in
        the same transaction) is not written at all, and what the
        transaction wrote before it is kept.

        Returns:
            None when the session was written, else SQLite's message naming
            the table and column whose key repeats.
        """
        self.connection.execute("SAVEPOINT new_session")
        try:
            self.write_session(leaves, records, settlement)
        except sqlite3.IntegrityError as error:
            self.connection.execute("ROLLBACK TO new_session")
            self.connection.execute("RELEASE new_session")
            return str(error)
        self.connection.execute("RELEASE new_session")
        return None

    def _write_settlement(self, settlement: SignedSettlement) -> None:
        record = settlement.record
        self.connection.execute(
            "INSERT INTO settlements (session_id, tenant, state, close_reason, "
            "closed_at, "
            "settled_at, merkle_root, tree_size, key_id, public_key, record, "
            "signature) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                settlement.session_id,
                record["tenant"],
                record["state"],
                record["close_reason"],
                record["closed_at"],
                record["settled_at"],
                record["merkle_root"],
                record["tree_size"],
                settlement.key_id,
                settlement.public_key,
                settlement.data,
                settlement.signature,
            ),
        )
        self.connection.executemany(
            "INSERT INTO settlement_accounts (session_id, account_id, posted) "
            "VALUES (?, ?, ?)",
            account_rows(settlement.session_id, record["totals"]["entitlement"]),
        )
        self.connection.executemany(
            "INSERT INTO settlement_exceptions (session_id, position, crossing_id, "
            "kind, "
            "reason, message, money_at_risk, money_currency, review_cost, "
            "review_currency) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            exception_rows(settlement.session_id, record["exceptions"]),
        )

    # Reading

    def is_open_live_session(self, session_id: str) -> bool:
        """Whether a live session of this id is still open in the booth."""
        row = self.connection.execute(
            "SELECT state FROM live_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return row is not None and row[0] == "open"

    def open_live_sessions(self, session_ids: Collection[str]) -> set[str]:
        """Return which of these ids are live sessions still open in the booth."""
        rows = self._select_in(
            "SELECT session_id FROM live_sessions WHERE state = 'open' AND "
            "session_id IN ({marks})",
            list(session_ids),
        )
        return {row[0] for row in rows}

    def has_session(self, session_id: str) -> bool:
        """Whether a session with this id is stored."""
        row = self.connection.execute(
            "SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return row is not None

    def crossing_sessions(self, crossing_ids: Sequence[str]) -> dict[str, str]:
        """Return the session of each of these crossing ids that is stored."""
        rows = self._select_in(
            "SELECT crossing_id, session_id FROM crossings "
            "WHERE crossing_id IN ({marks})",
            crossing_ids,
        )
        return {row[0]: row[1] for row in rows}

    def _select_in(self, sql: str, values: Sequence[str]) -> list[Any]:
        """Run a query whose ``{marks}`` is an IN list, in chunks SQLite accepts."""
        rows: list[Any] = []
        for start in range(0, len(values), _QUERY_PARAMETERS_MAX):
            chunk = values[start : start + _QUERY_PARAMETERS_MAX]
            marks = ", ".join("?" for _ in chunk)
            rows.extend(self.connection.execute(sql.format(marks=marks), chunk))
        return rows

    def session_ids(self, tenant: str | None = None) -> list[str]:
        """Return stored session ids, oldest first."""
        if tenant is None:
            cursor = self.connection.execute(
                "SELECT session_id FROM sessions ORDER BY opened_at, session_id"
            )
        else:
            cursor = self.connection.execute(
                "SELECT session_id FROM sessions WHERE tenant = ? ORDER BY opened_at, "
                "session_id",
                (tenant,),
            )
        return [row[0] for row in cursor]

    def leaves(self, session_id: str) -> list[Leaf]:
        """Return a session's audit leaves in order."""
        cursor = self.connection.execute(
            "SELECT session_id, leaf_index, record_type, record_id, record, leaf_hash "
            "FROM audit_leaves WHERE session_id = ? ORDER BY leaf_index",
            (session_id,),
        )
        return [
            Leaf(row[0], row[1], row[2], row[3], bytes(row[4]), bytes(row[5]))
            for row in cursor
        ]

    def settlement(self, session_id: str) -> SettlementRow | None:
        """Return a session's settlement, or None while it is open."""
        row = self.connection.execute(
            "SELECT session_id, tenant, state, close_reason, closed_at, settled_at, "
            "merkle_root, tree_size, key_id, public_key, record, signature "
            "FROM settlements WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        return SettlementRow(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            bytes(row[9]),
            bytes(row[10]),
            bytes(row[11]),
        )

    def table_rows(self, table: str, session_id: str) -> list[Row]:
        """Return a session's rows of one projection table."""
        return [
            tuple(row)
            for row in self.connection.execute(TABLES[table].select_sql, (session_id,))
        ]

    def exception_rows(self, session_id: str) -> list[Row]:
        """Return a session's stored exception rows in order."""
        cursor = self.connection.execute(
            "SELECT session_id, position, crossing_id, kind, reason, message, "
            "money_at_risk, "
            "money_currency, review_cost, review_currency FROM settlement_exceptions "
            "WHERE session_id = ? ORDER BY position",
            (session_id,),
        )
        return [tuple(row) for row in cursor]

    def policy_sources_text(self, digest: str) -> str | None:
        """Return the stored JSON text of a policy set's sources."""
        row = self.connection.execute(
            "SELECT sources FROM policy_sets WHERE digest = ?", (digest,)
        ).fetchone()
        return None if row is None else str(row[0])

    def policy_sources(self, digest: str) -> list[dict[str, Any]] | None:
        """Return the stored sources of a policy set."""
        row = self.connection.execute(
            "SELECT sources FROM policy_sets WHERE digest = ?", (digest,)
        ).fetchone()
        return None if row is None else list(orjson.loads(row[0]))

    def account_posted(self, account_id: str) -> Decimal:
        """Return everything settled sessions posted to an account."""
        cursor = self.connection.execute(
            "SELECT posted FROM settlement_accounts WHERE account_id = ?", (account_id,)
        )
        return sum((Decimal(row[0]) for row in cursor), Decimal(0))

    def settlement_account_rows(self, session_id: str) -> list[Row]:
        """Return a session's stored per-account postings, by account."""
        cursor = self.connection.execute(
            "SELECT session_id, account_id, posted FROM settlement_accounts "
            "WHERE session_id = ? ORDER BY account_id",
            (session_id,),
        )
        return [tuple(row) for row in cursor]

    def crossing_records(self, session_id: str) -> dict[str, bytes]:
        """Return the canonical crossing part of each stored crossing leaf, by id."""
        found: dict[str, bytes] = {}
        for leaf in self.leaves(session_id):
            if leaf.record_type == "crossing":
                crossing = orjson.loads(leaf.record)["crossing"]
                found[crossing["crossing_id"]] = orjson.dumps(
                    crossing, option=orjson.OPT_SORT_KEYS
                )
        return found


def exception_rows(
    session_id: str, exceptions: Sequence[Mapping[str, Any]]
) -> list[Row]:
    """Return the settlement_exceptions rows of a settlement record's exceptions."""
    rows: list[Row] = []
    for position, item in enumerate(exceptions):
        money = item["money_at_risk"] or {}
        rows.append(
            (
                session_id,
                position,
                item["crossing_id"],
                item["kind"],
                item["reason"],
                item["message"],
                money.get("amount"),
                money.get("currency"),
                item["review_cost"]["amount"],
                item["review_cost"]["currency"],
            )
        )
    return rows


def account_rows(session_id: str, entitlement: Mapping[str, Any]) -> list[Row]:
    """Return the settlement_accounts rows of a settlement record, by account."""
    return [
        (session_id, account_id, totals["posted"])
        for account_id, totals in sorted(entitlement.items())
    ]
