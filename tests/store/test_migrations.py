"""Schema migrations: versions, reopening, newer databases and edited migrations."""

from __future__ import annotations

import hashlib
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from ssoar.errors import StorageError
from ssoar.store._sqlite import Store

SHIPPED_MIGRATION = "0001_initial.sql"
SHIPPED_MIGRATIONS = [(1, "0001_initial.sql"), (2, "0002_live.sql")]


def _applied(path: Path) -> list[tuple[int, str, str, str]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations "
            "ORDER BY version"
        ).fetchall()


def _create(path: Path) -> None:
    Store.open(path).close()


def _shipped_checksum() -> str:
    text = (
        resources.files("ssoar.store.migrations")
        .joinpath(SHIPPED_MIGRATION)
        .read_text(encoding="utf-8")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_new_database_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _create(path)
    applied = _applied(path)
    assert [row[:2] for row in applied] == SHIPPED_MIGRATIONS


def test_new_database_checksum(tmp_path: Path) -> None:
    """The stored checksum is the SHA-256 of the shipped migration file."""
    path = tmp_path / "new.db"
    _create(path)
    assert _applied(path)[0][2] == _shipped_checksum()


def test_new_database_tables(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _create(path)
    with sqlite3.connect(path) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table'"
            )
        }
    assert tables == {
        "schema_migrations",
        "policy_sets",
        "audit_leaves",
        "sessions",
        "participants",
        "grants",
        "grant_revocations",
        "session_accounts",
        "crossings",
        "settlements",
        "settlement_exceptions",
        "settlement_accounts",
        "tenants",
        "api_keys",
        "plan_quotas",
        "live_sessions",
        "live_events",
        "live_balances",
    }


def test_new_database_views(tmp_path: Path) -> None:
    """The ledgers are views over the crossing records, not tables."""
    path = tmp_path / "new.db"
    _create(path)
    with sqlite3.connect(path) as connection:
        views = {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'view'"
            )
        }
    assert views == {
        "crossing_records",
        "compute_entries",
        "billing_entries",
        "entitlement_entries",
        "entitlement_releases",
        "authority_entries",
        "memory_entries",
        "placement_entries",
        "settlement_entries",
    }


def test_reopen_keeps_version(tmp_path: Path) -> None:
    """Reopening applies nothing again: the row and its timestamp stay as they were."""
    path = tmp_path / "new.db"
    _create(path)
    before = _applied(path)
    _create(path)
    _create(path)
    assert _applied(path) == before


def test_reopen_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = Store.open(path)
    store.connection.execute(
        "INSERT INTO policy_sets (digest, sources) VALUES ('sha256:kept', '[]')"
    )
    store.close()
    reopened = Store.open(path)
    rows = reopened.connection.execute("SELECT digest FROM policy_sets").fetchall()
    reopened.close()
    assert rows == [("sha256:kept",)]


def test_newer_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    _create(path)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
            "VALUES (99, '0099_future.sql', 'abc', '2030-01-01T00:00:00Z')"
        )
    with pytest.raises(StorageError) as raised:
        Store.open(path)
    assert str(path) in str(raised.value)
    assert "99" in str(raised.value)


def test_newer_version_only_rejected(tmp_path: Path) -> None:
    """A database holding nothing but a version-99 row is rejected, not migrated."""
    path = tmp_path / "future-only.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT "
            "NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT"
        )
        connection.execute(
            "INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 'abc', "
            "'2030-01-01T00:00:00Z')"
        )
    with pytest.raises(StorageError) as raised:
        Store.open(path)
    assert str(path) in str(raised.value)
    with sqlite3.connect(path) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table'"
        ).fetchall()
    assert tables == [("schema_migrations",)]


def test_edited_checksum_rejected(tmp_path: Path) -> None:
    path = tmp_path / "edited.db"
    _create(path)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE schema_migrations SET checksum = ? WHERE version = 1", ("0" * 64,)
        )
    with pytest.raises(StorageError) as raised:
        Store.open(path)
    assert str(path) in str(raised.value)
    assert SHIPPED_MIGRATION in str(raised.value)


def test_not_sqlite_rejected(tmp_path: Path) -> None:
    path = tmp_path / "text.db"
    path.write_text("this is not a database\n" * 100, encoding="utf-8")
    with pytest.raises(StorageError) as raised:
        Store.open(path)
    assert str(path) in str(raised.value)
