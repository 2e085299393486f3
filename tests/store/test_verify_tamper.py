"""Tamper detection: any changed, deleted or added stored value fails verification.

The database contains the five Langfuse traces (imported with a profile, so the
grant, quota and entitlement tables fill up) and the OTLP OpenInference spans
(imported without one). Every change runs on a fresh in-memory copy of that
database and is checked with ``verify_store``, the function behind
``ssoar verify``, on the sessions a full verification would look at for it.

Only real tables are changed. The ledgers (``compute_entries``,
``billing_entries`` and the rest) are views over the crossing records in
``audit_leaves``, so changing a leaf covers them, and SQLite rejects writes
to a view.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ssoar._runtime import Runtime
from ssoar.audit._signing import SigningKey
from ssoar.cli import app
from ssoar.config._settings import load_settings
from ssoar.ledger._entitlement import Account, Quota, QuotaScope, QuotaUnit
from ssoar.model._session import CloseReason, Session
from ssoar.report._verify import VerifyReport, verify_store
from ssoar.session._book import BookSettings, SessionBook
from ssoar.store._sqlite import Store

PROFILE = """\
tenant = "acme"

[[participant]]
match = "*"
kinds = ["model_invocation", "tool_call"]

[[quota]]
id = "session-tokens"
scope = "session"
unit = "tokens"
limit = "2000"
kinds = ["model_invocation"]

[[quota]]
id = "tenant-crossings"
scope = "tenant"
unit = "crossings"
limit = "20"

[[quota]]
id = "agent-money"
scope = "participant"
unit = "money"
limit = "0.001"
"""

# The columns that name a row in a verification failure, as ``table/key``.
NAMING_KEYS: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id",),
    "participants": ("participant_id",),
    "grants": ("grant_id",),
    "grant_revocations": ("grant_id",),
    "session_accounts": ("account_id",),
    "crossings": ("crossing_id",),
    "settlement_exceptions": ("session_id", "position"),
    "settlement_accounts": ("session_id", "account_id"),
    "policy_sets": ("digest",),
    "audit_leaves": ("leaf_index",),
    "settlements": ("session_id",),
}
TABLES = tuple(NAMING_KEYS)
# The store checks schema_migrations when it opens a database, and verify does
# not read it.
UNVERIFIED_TABLES = frozenset(
    {
        "schema_migrations",
        # The live booth's working tables: an open session's events and the
        # shared balances. A settled session is verified from its audit log.
        "tenants",
        "api_keys",
        "plan_quotas",
        "live_sessions",
        "live_events",
        "live_balances",
    }
)
LEDGER_VIEWS = (
    "crossing_records",
    "compute_entries",
    "billing_entries",
    "entitlement_entries",
    "entitlement_releases",
    "authority_entries",
    "memory_entries",
    "placement_entries",
    "settlement_entries",
)
# Tables whose values verify parses or hashes rather than compares whole, so
# a change at the first or last position can behave unlike one in the middle.
PARSED_TABLES = frozenset({"audit_leaves", "settlements", "policy_sets"})
GHOST_SESSION = "ghost:session"


@dataclass(frozen=True)
class Database:
    """A verified database built from real traces."""

    path: Path
    public_key: bytes


@dataclass(frozen=True)
class Outcome:
    """The verification failures for one tampered copy."""

    table: str
    column: str
    case: str
    expected_names: frozenset[str]
    failures: tuple[str, ...]
    error: str | None

    @property
    def detected(self) -> bool:
        return self.error is None and bool(self.failures)

    @property
    def named(self) -> bool:
        return any(
            record == name or record.startswith(name + " ")
            for record in self.failures
            for name in self.expected_names
        )


_CACHE: dict[str, Any] = {}


def _invoke_import(arguments: list[str]) -> None:
    result = CliRunner().invoke(app, ["import", "--json", *arguments])
    assert result.exit_code == 0, result.stderr


def _build(langfuse: Path, otlp: Path, folder: Path) -> Database:
    db = folder / "traces.db"
    key_file = folder / "traces.key"
    profile = folder / "profile.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    storage = ["--db", str(db), "--key-file", str(key_file)]
    langfuse_files = sorted(str(path) for path in langfuse.glob("*.json"))
    otlp_files = sorted(str(path) for path in otlp.glob("*.json"))
    assert len(langfuse_files) == 5
    _invoke_import([*langfuse_files, "--profile", str(profile), *storage])
    _invoke_import([*otlp_files, *storage])
    return Database(db, SigningKey.load(key_file).public_key)


@pytest.fixture
def database(
    real_data: Any,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Database:
    """Build the database once per test run and hand every test the same file."""
    for name in (
        "SSOAR_DB",
        "SSOAR_KEY_FILE",
        "SSOAR_TENANT",
        "SSOAR_TEMPLATE",
        "SSOAR_POLICY_DIR",
        "SSOAR_TEMPLATE_POLICIES",
        "SSOAR_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    if "database" not in _CACHE:
        folder = tmp_path_factory.mktemp("tamper")
        monkeypatch.chdir(folder)
        _CACHE["database"] = _build(
            real_data.path("traces/langfuse"),
            real_data.path("traces/otlp-openinference"),
            folder,
        )
    return _CACHE["database"]


# Copies and changes


def _copy(path: Path) -> sqlite3.Connection:
    """Return a fresh in-memory copy of the database."""
    source = sqlite3.connect(path)
    copy = sqlite3.connect(":memory:", isolation_level=None)
    source.backup(copy)
    source.close()
    return copy


def _columns(connection: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """Return each column's name and declared type."""
    return [
        (row[1], row[2]) for row in connection.execute(f"PRAGMA table_info({table})")
    ]


def _primary_key(connection: sqlite3.Connection, table: str) -> list[str]:
    """Return the columns that identify a row: the primary key, or for a rowid
    table without one (audit_leaves), its first unique constraint."""
    rows = connection.execute(f"PRAGMA table_info({table})").fetchall()
    key = [row[1] for row in sorted(rows, key=lambda row: row[5]) if row[5] > 0]
    if key:
        return key
    for _, index, unique, _, _ in connection.execute(f"PRAGMA index_list({table})"):
        if unique:
            info = connection.execute(f"PRAGMA index_info({index})").fetchall()
            return [row[2] for row in info]
    raise AssertionError(f"table {table} has no key")


def _rows(connection: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    names = [name for name, _ in _columns(connection, table)]
    order = ", ".join(_primary_key(connection, table))
    cursor = connection.execute(f"SELECT * FROM {table} ORDER BY {order}")
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _row_name(table: str, row: dict[str, Any]) -> str:
    return table + "/" + "/".join(str(row[column]) for column in NAMING_KEYS[table])


def _other_character(character: str) -> str:
    """Return a different character of the same class, so formats mostly survive."""
    for alphabet in ("0123456789", "abcdef", "ghijklmnopqrstuvwxyz"):
        if character in alphabet:
            return alphabet[(alphabet.index(character) + 1) % len(alphabet)]
    if character.isupper():
        return "A" if character == "Z" else chr(ord(character) + 1)
    return "x"


def _positions(length: int, *, ends: bool) -> list[int]:
    return sorted({0, length // 2, length - 1}) if ends else [length // 2]


def _changed_values(
    value: Any, declared_type: str, *, ends: bool = True
) -> Iterator[tuple[str, Any]]:
    """Yield each single change of a stored value, with a label.

    A text or blob value changes in its middle character or byte, and with
    ``ends`` also in its first and last one.
    """
    if value is None:
        yield "NULL set", {"INTEGER": 1, "TEXT": "x", "BLOB": b"x"}[declared_type]
    elif isinstance(value, int):
        yield "+1", value + 1
        yield "-1", value - 1
    elif isinstance(value, str):
        if not value:
            yield "empty set", "x"
        for position in _positions(len(value), ends=ends):
            changed = _other_character(value[position])
            yield (
                f"char {position}",
                value[:position] + changed + value[position + 1 :],
            )
    else:
        data = bytes(value)
        for position in _positions(len(data), ends=ends):
            flipped = bytearray(data)
            flipped[position] ^= 0x01
            yield f"byte {position}", bytes(flipped)


def _where(key: list[str], row: dict[str, Any]) -> tuple[str, list[Any]]:
    return " AND ".join(f"{column} = ?" for column in key), [row[c] for c in key]


def _update(
    connection: sqlite3.Connection,
    table: str,
    key: list[str],
    row: dict[str, Any],
    column: str,
    value: Any,
) -> Any:
    """Set one value. An integer key that would collide moves past every other key.

    Returns:
        The value actually stored.
    """
    where, parameters = _where(key, row)
    sql = f"UPDATE {table} SET {column} = ? WHERE {where}"
    try:
        cursor = connection.execute(sql, [value, *parameters])
    except sqlite3.IntegrityError:
        assert isinstance(value, int), (table, column, value)
        value += 1_000_000
        cursor = connection.execute(sql, [value, *parameters])
    assert cursor.rowcount == 1, (table, row)
    return value


def _stored_session_ids(connection: sqlite3.Connection) -> set[str]:
    """Sessions a full ``ssoar verify`` checks: every session any table names."""
    query = " UNION ".join(
        f"SELECT session_id FROM {table}"
        for table in TABLES
        if "session_id" in dict(_columns(connection, table))
    )
    return {row[0] for row in connection.execute(query)}


def _logged_session_ids(connection: sqlite3.Connection) -> set[str]:
    """Sessions that have an audit log."""
    cursor = connection.execute("SELECT DISTINCT session_id FROM audit_leaves")
    return {row[0] for row in cursor}


def _run_verify(
    connection: sqlite3.Connection, public_key: bytes, session_ids: list[str] | None
) -> tuple[tuple[str, ...], str | None]:
    store = Store(connection, ":memory:")
    try:
        report: VerifyReport = verify_store(store, public_key, session_ids)
    except Exception as error:
        return (), f"verify raised {type(error).__name__}: {error}"
    finally:
        connection.close()
    return tuple(failure.record for failure in report.failures), None


def _sessions_to_check(
    connection: sqlite3.Connection, touched: set[str | None]
) -> list[str] | None:
    """Return the touched sessions a full verification covers, or None for all.

    A change outside any session (a policy set), or one that leaves rows of a
    session without an audit log, needs the full verification: only it
    checks every policy set and looks for such rows.
    """
    if None in touched:
        return None
    sessions = _stored_session_ids(connection) & touched
    if not sessions <= _logged_session_ids(connection):
        return None
    return sorted(sessions)


def _cell_outcomes(database: Database) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with sqlite3.connect(database.path) as reader:
        layout = {
            table: (
                _columns(reader, table),
                _primary_key(reader, table),
                _rows(reader, table),
            )
            for table in TABLES
        }
    for table, (columns, key, rows) in layout.items():
        for row in rows:
            for column, declared_type in columns:
                changes = _changed_values(
                    row[column], declared_type, ends=table in PARSED_TABLES
                )
                for label, value in changes:
                    connection = _copy(database.path)
                    stored = _update(connection, table, key, row, column, value)
                    if stored != value:
                        label += f" collided, stored {stored}"
                    changed_row = {**row, column: stored}
                    touched = {row.get("session_id"), changed_row.get("session_id")}
                    sessions = _sessions_to_check(connection, touched)
                    failures, error = _run_verify(
                        connection, database.public_key, sessions
                    )
                    outcomes.append(
                        Outcome(
                            table,
                            column,
                            f"{_row_name(table, row)} {column} {label}",
                            frozenset(
                                {_row_name(table, row), _row_name(table, changed_row)}
                            ),
                            failures,
                            error,
                        )
                    )
    return outcomes


def _deletion_outcomes(database: Database) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with sqlite3.connect(database.path) as reader:
        layout = {
            table: (_primary_key(reader, table), _rows(reader, table))
            for table in TABLES
        }
    for table, (key, rows) in layout.items():
        for row in rows:
            connection = _copy(database.path)
            where, parameters = _where(key, row)
            connection.execute(f"DELETE FROM {table} WHERE {where}", parameters)
            sessions = _sessions_to_check(connection, {row.get("session_id")})
            failures, error = _run_verify(connection, database.public_key, sessions)
            name = _row_name(table, row)
            outcomes.append(
                Outcome(
                    table, "row", f"delete {name}", frozenset({name}), failures, error
                )
            )
    return outcomes


def _cached(name: str, database: Database, build: Any) -> list[Outcome]:
    if name not in _CACHE:
        _CACHE[name] = build(database)
    return _CACHE[name]


def _summary(outcomes: list[Outcome]) -> str:
    """List every outcome, with a count per table and column first."""
    groups = Counter(f"{item.table}.{item.column}" for item in outcomes)
    lines = [f"{len(outcomes)} cases"]
    lines += [f"  {count:4} x {group}" for group, count in sorted(groups.items())]
    lines += [
        f"{item.case}: {item.error or list(item.failures) or 'verify passed'}"
        for item in outcomes
    ]
    return "\n".join(lines)


def _extra_row(
    connection: sqlite3.Connection, table: str, session_id: str
) -> dict[str, Any]:
    """Return the last stored row of ``session_id`` in ``table``, or a made-up row
    when there is none."""
    columns = _columns(connection, table)
    names = [name for name, _ in columns]
    if "session_id" in names:
        rows = connection.execute(
            f"SELECT * FROM {table} WHERE session_id = ?", (session_id,)
        ).fetchall()
    else:
        rows = connection.execute(f"SELECT * FROM {table}").fetchall()
    if rows:
        return dict(zip(names, rows[-1], strict=True))
    made_up = {"INTEGER": 0, "TEXT": "made-up", "BLOB": b"made-up"}
    row = {name: made_up[declared] for name, declared in columns}
    if "session_id" in row:
        row["session_id"] = session_id
    return row


def _insert(connection: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    connection.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", list(row.values())
    )


def _richest_session(connection: sqlite3.Connection) -> str:
    """Return the session with the most audit records."""
    row = connection.execute(
        "SELECT session_id FROM audit_leaves GROUP BY session_id "
        "ORDER BY count(*) DESC, session_id LIMIT 1"
    ).fetchone()
    return str(row[0])


def _with_new_key(
    connection: sqlite3.Connection, table: str, row: dict[str, Any]
) -> dict[str, Any]:
    """Return the row with its naming key changed to one no row has."""
    changed = dict(row)
    for column in NAMING_KEYS[table]:
        if column == "session_id":
            continue
        if isinstance(row[column], int):
            where = "WHERE session_id = ?" if "session_id" in row else ""
            parameters = [row["session_id"]] if "session_id" in row else []
            (largest,) = connection.execute(
                f"SELECT max({column}) FROM {table} {where}", parameters
            ).fetchone()
            changed[column] = (largest or 0) + 1
        else:
            changed[column] = f"{row[column]}-extra"
    return changed


# Tests


def test_untouched_database_verifies(database: Database) -> None:
    connection = _copy(database.path)
    failures, error = _run_verify(connection, database.public_key, None)
    assert error is None
    assert failures == ()


def test_sweep_covers_every_table(database: Database) -> None:
    """The sweeps below change every real table that verify reads."""
    with sqlite3.connect(database.path) as reader:
        tables = {
            row[0]
            for row in reader.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
    assert tables == set(TABLES) | UNVERIFIED_TABLES


def test_database_fills_tables(database: Database) -> None:
    """Every table has rows, so the sweeps below change something in each."""
    with sqlite3.connect(database.path) as reader:
        empty = sorted(
            table
            for table in TABLES
            if reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
        )
    assert empty == []


def test_database_fills_views(database: Database) -> None:
    """Each ledger view reads entries from the stored leaves.

    NOTE: imports post every quota amount at once, so no reservation is open
    at close and no release leaf exists. The open-reservation test below is
    the only one that fills entitlement_releases.
    """
    with sqlite3.connect(database.path) as reader:
        counts = {
            view: reader.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            for view in LEDGER_VIEWS
        }
        (crossings,) = reader.execute("SELECT count(*) FROM crossings").fetchone()
    assert counts == {
        "crossing_records": crossings,
        "compute_entries": 26,
        "billing_entries": crossings,
        "entitlement_entries": 25,
        "entitlement_releases": 0,
        "authority_entries": crossings,
        "memory_entries": 10,
        "placement_entries": 10,
        "settlement_entries": 16,
    }


@pytest.mark.parametrize("view", LEDGER_VIEWS)
def test_ledger_view_rejects_writes(database: Database, view: str) -> None:
    """A ledger cannot be edited apart from the leaf it is read from."""
    connection = _copy(database.path)
    with pytest.raises(sqlite3.OperationalError, match="it is a view"):
        connection.execute(f"DELETE FROM {view}")
    connection.close()


@pytest.mark.slow
def test_cell_change_fails_verify(database: Database) -> None:
    """Changing one character, byte or integer of any stored value fails verify."""
    outcomes = _cached("cells", database, _cell_outcomes)
    with sqlite3.connect(database.path) as reader:
        columns = {
            (table, column) for table in TABLES for column, _ in _columns(reader, table)
        }
    assert {(item.table, item.column) for item in outcomes} == columns
    assert len(outcomes) > 4000
    misses = [item for item in outcomes if not item.detected]
    assert misses == [], _summary(misses)


@pytest.mark.slow
def test_cell_change_names_row(database: Database) -> None:
    """The failure for a changed value names the table and row it sits in."""
    outcomes = _cached("cells", database, _cell_outcomes)
    misses = [item for item in outcomes if item.detected and not item.named]
    assert misses == [], _summary(misses)


def test_row_deletion_fails_verify(database: Database) -> None:
    outcomes = _cached("deletions", database, _deletion_outcomes)
    with sqlite3.connect(database.path) as reader:
        stored = sum(
            reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in TABLES
        )
    assert len(outcomes) == stored
    misses = [item for item in outcomes if not item.detected]
    assert misses == [], _summary(misses)


def test_row_deletion_names_row(database: Database) -> None:
    outcomes = _cached("deletions", database, _deletion_outcomes)
    misses = [item for item in outcomes if item.detected and not item.named]
    assert misses == [], _summary(misses)


@pytest.mark.parametrize(
    "table", [table for table in TABLES if table not in ("sessions", "settlements")]
)
def test_extra_row_in_session(database: Database, table: str) -> None:
    """An added row with a new key in a stored session fails verify, named."""
    connection = _copy(database.path)
    session_id = _richest_session(connection)
    extra = _with_new_key(connection, table, _extra_row(connection, table, session_id))
    _insert(connection, table, extra)
    sessions = None if table == "policy_sets" else [session_id]
    failures, error = _run_verify(connection, database.public_key, sessions)
    assert error is None
    assert len(failures) == 1, failures
    outcome = Outcome(
        table, "row", "extra", frozenset({_row_name(table, extra)}), failures, error
    )
    assert outcome.named, failures


@pytest.mark.parametrize("table", TABLES)
def test_extra_row_of_unknown_session(database: Database, table: str) -> None:
    """A full verify names a row of a session with no leaves, and that session."""
    connection = _copy(database.path)
    row = _extra_row(connection, table, _richest_session(connection))
    if "session_id" in row:
        row["session_id"] = GHOST_SESSION
    for column in _primary_key(connection, table):
        if column != "session_id" and isinstance(row[column], str):
            row[column] = f"{row[column]}-ghost"
    _insert(connection, table, row)
    failures, error = _run_verify(connection, database.public_key, None)
    assert error is None
    if table == "policy_sets":
        # The digest no longer matches the sources.
        expected = (_row_name(table, row),)
    elif table == "audit_leaves":
        # The ghost session now has a log, whose only leaf is not leaf 0.
        assert row["leaf_index"] > 0
        expected = ("audit_leaves/0",)
    else:
        expected = (f"audit_leaves/{GHOST_SESSION}", f"{table}/{GHOST_SESSION}")
    assert failures == expected


def test_leaf_record_id_change_fails_verify(database: Database) -> None:
    """Renaming a leaf's record_id (the id ``ssoar prove`` looks up) fails verify."""
    connection = _copy(database.path)
    session_id = _richest_session(connection)
    (first_id,) = connection.execute(
        "SELECT record_id FROM audit_leaves WHERE session_id = ? AND leaf_index = 0",
        (session_id,),
    ).fetchone()
    (second_type,) = connection.execute(
        "SELECT record_type FROM audit_leaves WHERE session_id = ? AND leaf_index = 1",
        (session_id,),
    ).fetchone()
    connection.execute(
        "UPDATE audit_leaves SET record_id = ? WHERE session_id = ? AND leaf_index = 1",
        (first_id, session_id),
    )
    failures, error = _run_verify(connection, database.public_key, [session_id])
    assert error is None
    assert failures == (f"audit_leaves/1 ({second_type} {first_id})",)


def _policy_set_failures(connection: sqlite3.Connection) -> tuple[str, ...]:
    """Return what a full verify reports for a broken policy set: one failure
    per session decided under it, and one for the set itself."""
    (digest,) = connection.execute("SELECT digest FROM policy_sets").fetchone()
    (sessions,) = connection.execute(
        "SELECT count(*) FROM sessions WHERE policy_digest = ?", (digest,)
    ).fetchone()
    return (f"policy_sets/{digest}",) * (sessions + 1)


@pytest.mark.parametrize(
    ("field", "value"), [("file", "elsewhere.cedar"), ("line", 999)]
)
def test_policy_source_location_change_fails_verify(
    database: Database, field: str, value: Any
) -> None:
    """Editing where a stored policy came from (file or line) fails verify."""
    connection = _copy(database.path)
    connection.execute(
        f"UPDATE policy_sets SET sources = json_set(sources, '$[0].{field}', ?)",
        (value,),
    )
    expected = _policy_set_failures(connection)
    failures, error = _run_verify(connection, database.public_key, None)
    assert error is None
    assert failures == expected


def test_policy_sources_not_json_fails_verify(database: Database) -> None:
    """Stored policy sources that are no longer JSON are reported, not raised."""
    connection = _copy(database.path)
    connection.execute("UPDATE policy_sets SET sources = 'x' || substr(sources, 2)")
    expected = _policy_set_failures(connection)
    failures, error = _run_verify(connection, database.public_key, None)
    assert error is None
    assert failures == expected


def test_open_reservation_released_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reservation still open at close is released, counted and verified.

    Only such a release writes a release leaf, which the entitlement_releases
    view reads, so the test also changes each value of that leaf and expects
    verify to fail and name it.
    """
    for name in ("SSOAR_DB", "SSOAR_KEY_FILE", "SSOAR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        {"db": tmp_path / "open.db", "key_file": tmp_path / "open.key"}, environ={}
    )
    runtime = Runtime.open(settings)
    opened = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    session = Session("live:open", "default", runtime.template.name, opened, "live")
    book = SessionBook(
        session,
        runtime.booth,
        runtime.catalogue,
        BookSettings(tolls=settings.tolls, review_costs=settings.review_costs),
    )
    quota = Quota("tokens", QuotaScope.SESSION, QuotaUnit.TOKENS, Decimal(100))
    account = Account("live:open/quota/tokens", quota, "live:open")
    book.open_account(account)
    book.entitlement.reserve_all(
        "live:open/call-1", [(account.account_id, Decimal(40))]
    )
    settlement, _ = book.close(
        reason=CloseReason.IMPORTED,
        closed_at=opened + timedelta(seconds=5),
        settled_at=opened + timedelta(seconds=6),
        key=runtime.key,
    )
    with runtime.store.transaction():
        runtime.store.save_policies(runtime.booth.policies)
        runtime.store.write_session(book.log.leaves, book.log.records, settlement)
    runtime.close()
    opened_db = Database(settings.db, runtime.key.public_key)
    assert _run_verify(_copy(opened_db.path), opened_db.public_key, None) == ((), None)
    with sqlite3.connect(opened_db.path) as reader:
        leaves = _rows(reader, "audit_leaves")
        columns = _columns(reader, "audit_leaves")
        key = _primary_key(reader, "audit_leaves")
        released = reader.execute("SELECT * FROM entitlement_releases").fetchall()
        (signed,) = reader.execute("SELECT record FROM settlements").fetchone()
    release_leaves = [row for row in leaves if row["record_type"] == "release"]
    assert len(release_leaves) == 1
    leaf = release_leaves[0]
    assert released == [
        (
            "live:open",
            "live:open/call-1/live:open/quota/tokens/release",
            "live:open/quota/tokens",
            "live:open/call-1",
            "40",
            "2025-03-01T12:00:05.000000Z",
            leaf["leaf_index"],
        )
    ]
    totals = json.loads(signed)["totals"]["entitlement"]["live:open/quota/tokens"]
    assert totals == {
        "unit": "tokens",
        "currency": None,
        "limit": "100",
        "posted_before": "0",
        "reserved": "40",
        "posted": "0",
        "released": "40",
        "overdrawn": "0",
    }
    misses: list[str] = []
    for column, declared_type in columns:
        for label, value in _changed_values(leaf[column], declared_type):
            connection = _copy(opened_db.path)
            _update(connection, "audit_leaves", key, leaf, column, value)
            failures, error = _run_verify(connection, opened_db.public_key, None)
            outcome = Outcome(
                "audit_leaves",
                column,
                label,
                frozenset({_row_name("audit_leaves", leaf)}),
                failures,
                error,
            )
            if not outcome.detected or not outcome.named:
                misses.append(f"{column} {label}: {error or failures}")
    assert misses == []
