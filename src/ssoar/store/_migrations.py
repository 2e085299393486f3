"""Versioned schema migrations for the SQLite store."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from importlib import resources

from ssoar.errors import StorageError
from ssoar.model._time import format_time, utc_now

__all__ = ["MIGRATIONS", "Migration", "apply_migrations"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change, applied once and in order."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """The SHA-256 of the migration's SQL, to detect edited migrations."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def _load() -> tuple[Migration, ...]:
    folder = resources.files("ssoar.store.migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        version = int(name.split("_", 1)[0])
        found.append(Migration(version, name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    assert versions == list(range(1, len(found) + 1)), versions
    return tuple(found)


MIGRATIONS = _load()


def apply_migrations(connection: sqlite3.Connection, path: str) -> int:
    """Bring the database schema up to date; return the resulting version.

    Raises:
        StorageError: If the database was written by a newer ssoar, or an
            applied migration no longer matches the one shipped.
    """
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
        "applied_at TEXT NOT NULL) STRICT"
    )
    applied = {
        row[0]: (row[1], row[2])
        for row in connection.execute(
            "SELECT version, name, checksum FROM schema_migrations"
        )
    }
    newest = max(applied, default=0)
    if newest > len(MIGRATIONS):
        raise StorageError(
            f"database {path} has schema version {newest}, newer than this ssoar "
            f"(version {len(MIGRATIONS)}); upgrade ssoar to read it"
        )
    for migration in MIGRATIONS:
        known = applied.get(migration.version)
        if known is not None:
            if known[1] != migration.checksum:
                raise StorageError(
                    f"database {path}: migration {migration.name} was applied with "
                    "different SQL than this ssoar ships; the schema cannot be trusted"
                )
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it since the versions were read.
            done = connection.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?",
                (migration.version,),
            ).fetchone()
            if done is not None:
                connection.execute("COMMIT")
                continue
            for statement in _statements(migration.sql):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                "VALUES (?, ?, ?, ?)",
                (
                    migration.version,
                    migration.name,
                    migration.checksum,
                    format_time(utc_now()),
                ),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    return len(MIGRATIONS)


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; migrations contain no ';' inside literals."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [
        statement.strip()
        for statement in "\n".join(lines).split(";")
        if statement.strip()
    ]
