"""Two ``ssoar import`` processes on one database file at the same time.

The store runs in WAL mode with a busy timeout, so a second writer waits for
the first. Both imports must then finish cleanly: every session stored once,
the second process reporting what the first already settled, and the
database verifying.

Each test holds SQLite's write lock while both processes start, so both reach
their first write before either can commit, then releases it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SESSIONS = 200
STARTUP_SECONDS = 2.5
"""How long the write lock is held while both processes start."""
IMPORT_TIMEOUT_SECONDS = 60


def _span(index: int) -> dict[str, Any]:
    values = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": f"c{index}"},
        "gen_ai.usage.input_tokens": {"intValue": "10"},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
    }
    return {
        "traceId": f"{index:032x}",
        "spanId": "00000000000000a1",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }


def _write_sessions(path: Path, indices: range) -> Path:
    spans = [_span(index) for index in indices]
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _environment() -> dict[str, str]:
    return {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }


def _command(*arguments: str) -> list[str]:
    return [sys.executable, "-c", "from ssoar.cli import main; main()", *arguments]


def _run_pair_under_lock(
    tmp_path: Path, db: Path, traces: tuple[Path, Path]
) -> list[subprocess.CompletedProcess[str]]:
    """Start one import per trace file while holding the write lock, then release."""
    key_file = tmp_path / "ssoar.key"
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        processes = [
            subprocess.Popen(
                _command(
                    "import",
                    str(trace),
                    "--db",
                    str(db),
                    "--key-file",
                    str(key_file),
                    "--json",
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
                env=_environment(),
            )
            for trace in traces
        ]
        time.sleep(STARTUP_SECONDS)
        lock.execute("COMMIT")
    finally:
        lock.close()
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=IMPORT_TIMEOUT_SECONDS)
        results.append(
            subprocess.CompletedProcess(
                process.args, process.returncode, stdout, stderr
            )
        )
    return results


def _settled_sessions(db: Path) -> int:
    connection = sqlite3.connect(db)
    try:
        (count,) = connection.execute("SELECT count(*) FROM settlements").fetchone()
        return int(count)
    finally:
        connection.close()


def _verify(tmp_path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command("verify", "--db", str(db), "--key-file", str(tmp_path / "ssoar.key")),
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
        cwd=tmp_path,
        env=_environment(),
        check=False,
    )


def test_two_imports_same_file(tmp_path: Path) -> None:
    db = tmp_path / "ssoar.db"
    key_file = tmp_path / "ssoar.key"
    # A first import creates the schema and the key, so only the sessions race.
    first = _write_sessions(tmp_path / "first.json", range(SESSIONS, SESSIONS + 1))
    created = subprocess.run(
        _command("import", str(first), "--db", str(db), "--key-file", str(key_file)),
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
        cwd=tmp_path,
        env=_environment(),
        check=False,
    )
    assert created.returncode == 0, created.stderr
    trace = _write_sessions(tmp_path / "many.json", range(SESSIONS))

    results = _run_pair_under_lock(tmp_path, db, (trace, trace))

    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
    statuses = [
        sorted({item["status"] for item in json.loads(result.stdout)["sessions"]})
        for result in results
    ]
    assert sorted(statuses) == [["settled"], ["unchanged"]]
    assert _settled_sessions(db) == SESSIONS + 1
    verified = _verify(tmp_path, db)
    assert verified.returncode == 0, verified.stderr


def test_two_imports_new_database(tmp_path: Path) -> None:
    # The state a new database is in while its first process creates the
    # schema: WAL mode and the empty migrations table, nothing else yet.
    db = tmp_path / "ssoar.db"
    setup = sqlite3.connect(db, isolation_level=None)
    try:
        setup.execute("PRAGMA journal_mode = WAL")
        setup.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
            "applied_at TEXT NOT NULL) STRICT"
        )
    finally:
        setup.close()
    # Different sessions in each file, so only the schema is shared.
    traces = (
        _write_sessions(tmp_path / "one.json", range(1)),
        _write_sessions(tmp_path / "two.json", range(1, 2)),
    )

    results = _run_pair_under_lock(tmp_path, db, traces)

    for result in results:
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0, result.stderr
    assert _settled_sessions(db) == 2
