"""Fixtures for import tests: the real import pipeline writing a SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar._runtime import Runtime
from ssoar.cli import app
from ssoar.config._settings import Settings
from ssoar.ingest._pipeline import ImportContext, ImportResult, import_files
from ssoar.ingest._profile import ImportProfile, load_profile
from ssoar.model._time import utc_now
from ssoar.session._book import BookSettings


def run_import(
    paths: Sequence[Path], db: Path, profile: Path | None = None
) -> ImportResult:
    """Import files into ``db`` the way ``ssoar import`` does, with default settings.

    Settings are built here rather than read, so no SSOAR_* variable or
    ssoar.toml in the working directory changes the settings a test runs with.
    """
    settings = Settings(
        db=db,
        key_file=db.with_suffix(".key"),
        tenant="default",
        template="agentic-workflow",
        policy_dir=None,
    )
    loaded: ImportProfile | None = load_profile(profile) if profile else None
    runtime = Runtime.open(settings)
    try:
        context = ImportContext(
            store=runtime.store,
            booth=runtime.booth,
            quoter=runtime.catalogue,
            book_settings=BookSettings(
                tolls=settings.tolls,
                review_costs=settings.review_costs,
                allowed_jurisdictions=loaded.allowed_jurisdictions if loaded else None,
            ),
            key=runtime.key,
            tenant=settings.tenant,
            profile=loaded,
            now=utc_now(),
        )
        return import_files(list(paths), context)
    finally:
        runtime.close()


class Database:
    """Read-only queries on an imported SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, *parameters: object) -> list[sqlite3.Row]:
        """Run one query and return every row."""
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        connection.row_factory = sqlite3.Row
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()

    def one(self, sql: str, *parameters: object) -> sqlite3.Row:
        """Run a query that must return exactly one row."""
        found = self.rows(sql, *parameters)
        assert len(found) == 1, f"expected one row for {parameters}, found {found}"
        return found[0]

    def billing(self, crossing_id: str) -> sqlite3.Row:
        """Return the billing entry of a crossing."""
        return self.one(
            "SELECT * FROM billing_entries WHERE crossing_id = ?", crossing_id
        )

    def record(self, crossing_id: str) -> dict[str, Any]:
        """Return a crossing's audit record: the crossing, decision and ledgers."""
        row = self.one(
            "SELECT record FROM crossing_records WHERE crossing_id = ?", crossing_id
        )
        record: dict[str, Any] = json.loads(row["record"])
        return record

    def crossing(self, crossing_id: str) -> dict[str, Any]:
        """Return a crossing as its audit record states it, the target split in
        two, after checking that its crossings row agrees with the record."""
        row = self.one("SELECT * FROM crossings WHERE crossing_id = ?", crossing_id)
        return self._from_record(row)

    def crossings(self, kind: str) -> list[dict[str, Any]]:
        """Return every crossing of one kind, as ``crossing`` does."""
        rows = self.rows(
            "SELECT * FROM crossings WHERE kind = ? ORDER BY crossing_id", kind
        )
        return [self._from_record(row) for row in rows]

    def _from_record(self, row: sqlite3.Row) -> dict[str, Any]:
        record = self.record(row["crossing_id"])
        crossing = record["crossing"]
        target = crossing["target"] or {}
        projected = {
            "crossing_id": crossing["crossing_id"],
            "session_id": crossing["session_id"],
            "kind": crossing["kind"],
            "actor_id": crossing["actor_id"],
            "invoker_id": crossing["invoker_id"],
            "target_type": target.get("type"),
            "target_id": target.get("id"),
            "started_at": crossing["started_at"],
            "ended_at": crossing["ended_at"],
            "state": crossing["state"],
            "allowed": int(record["decision"]["allowed"]),
            "leaf_index": row["leaf_index"],
        }
        assert dict(row) == projected
        return {
            **projected,
            "attributes": crossing["attributes"],
            "usage": crossing["usage"],
            "usage_source": crossing["usage_source"],
            "error": crossing["error"],
            "source": crossing["source"],
            "decision": record["decision"],
        }

    def settlement(self, session_id: str) -> dict[str, Any]:
        """Return a session's settlement record as JSON."""
        row = self.one(
            "SELECT record FROM settlements WHERE session_id = ?", session_id
        )
        record: dict[str, Any] = json.loads(row["record"])
        return record

    def exceptions(self, session_id: str) -> list[tuple[str, str]]:
        """Return a session's exceptions as (crossing id, reason) pairs, in order."""
        return [
            (row["crossing_id"], row["reason"])
            for row in self.rows(
                "SELECT crossing_id, reason FROM settlement_exceptions "
                "WHERE session_id = ? ORDER BY position",
                session_id,
            )
        ]

    def row_counts(self) -> dict[str, int]:
        """Return the number of rows in every table and ledger view."""
        tables = [
            row["name"]
            for row in self.rows(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "ORDER BY name"
            )
        ]
        return {
            table: self.one(f'SELECT count(*) AS n FROM "{table}"')["n"]
            for table in tables
        }


Importer = Callable[..., tuple[ImportResult, Database]]


@pytest.fixture
def trace_path(real_data: Any) -> Callable[[str], Path]:
    """Resolve a path under the real ``traces/`` folder."""

    def resolve(relative: str) -> Path:
        path: Path = real_data.path(f"traces/{relative}")
        return path

    return resolve


@pytest.fixture
def importer(tmp_path: Path, trace_path: Callable[[str], Path]) -> Importer:
    """Import real trace files, or files a test wrote, into a database under tmp_path.

    Strings name files under the real ``traces/`` folder, and paths are used
    as they are.
    """

    def run(
        *files: str | Path, db: str = "ssoar.db", profile: Path | None = None
    ) -> tuple[ImportResult, Database]:
        paths = [trace_path(item) if isinstance(item, str) else item for item in files]
        path = tmp_path / db
        return run_import(paths, path, profile), Database(path)

    return run


@pytest.fixture(scope="session")
def import_cache() -> dict[tuple[str, ...], tuple[ImportResult, Database]]:
    """Imports shared by the tests of one run, keyed by the files imported."""
    return {}


@pytest.fixture
def shared_import(
    trace_path: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
    import_cache: dict[tuple[str, ...], tuple[ImportResult, Database]],
) -> Callable[[Sequence[str]], tuple[ImportResult, Database]]:
    """Import real files once per run, so tests that only read share one database."""

    def run(files: Sequence[str]) -> tuple[ImportResult, Database]:
        key = tuple(files)
        if key not in import_cache:
            paths = [trace_path(item) for item in files]
            db = tmp_path_factory.mktemp("shared") / "ssoar.db"
            import_cache[key] = (run_import(paths, db), Database(db))
        return import_cache[key]

    return run


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the ``ssoar`` command in-process from tmp_path, with no SSOAR_* set."""
    monkeypatch.chdir(tmp_path)
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
    runner = CliRunner()

    def run(*arguments: str | Path) -> Result:
        return runner.invoke(app, [str(argument) for argument in arguments])

    return run
