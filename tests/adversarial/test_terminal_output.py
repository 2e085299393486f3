"""What ids from traces can do to the terminal, and output paths that fail.

Session, participant and crossing ids come from the imported files. Printed
as they are, an id holding ANSI escape sequences can clear the screen or
rewrite earlier lines of a report, so the human-readable output must show
control characters escaped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

ESCAPE = "\x1b"
HOSTILE_SESSION = "ok\x1b[2J\x1b[1A\x1b[2Ksettled\x07"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SSOAR_DB",
        "SSOAR_KEY_FILE",
        "SSOAR_TENANT",
        "SSOAR_TEMPLATE",
        "SSOAR_CONFIG",
        "SSOAR_POLICY_DIR",
        "SSOAR_TEMPLATE_POLICIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "200"})


def _langfuse(session_id: str, user_id: str) -> dict[str, Any]:
    return {
        "trace": {"id": "trace-1", "sessionId": session_id, "userId": user_id},
        "observations": [
            {
                "id": "obs-1",
                "type": "GENERATION",
                "name": "chat",
                "model": "gpt-4o-mini",
                "startTime": "2025-07-11T07:45:13.601Z",
                "endTime": "2025-07-11T07:45:14.601Z",
                "usageDetails": {"input": 10, "output": 5},
            }
        ],
    }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps(_langfuse(HOSTILE_SESSION, "ana\x1b]0;title\x07")), encoding="utf-8"
    )
    database = tmp_path / "ssoar.db"
    result = _invoke("import", str(path), "--db", str(database), "--json")
    assert result.exit_code == 0, result.stderr
    return database


def test_import_table_escapes_ids(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_langfuse(HOSTILE_SESSION, "ana")), encoding="utf-8")

    result = _invoke("import", str(path), "--db", str(tmp_path / "ssoar.db"))

    assert result.exit_code == 0, result.stderr
    assert ESCAPE not in result.stdout
    assert ESCAPE not in result.stderr


def test_report_escapes_ids(db: Path) -> None:
    result = _invoke("report", "--db", str(db), "--sessions")

    assert result.exit_code == 0, result.stderr
    assert ESCAPE not in result.stdout


def test_explain_escapes_ids(db: Path) -> None:
    result = _invoke("explain", f"conv:{HOSTILE_SESSION}", "--db", str(db))

    assert result.exit_code == 0, result.stderr
    assert ESCAPE not in result.stdout


def test_json_keeps_ids_exact(db: Path) -> None:
    # Escaping is for the terminal only: JSON output carries the id as stored.
    result = _invoke("report", "--db", str(db), "--json")

    assert result.exit_code == 0, result.stderr
    sessions = json.loads(result.stdout)["session_list"]
    assert [item["session_id"] for item in sessions] == [f"conv:{HOSTILE_SESSION}"]


def test_prove_output_directory_missing(db: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "proof.json"
    session = f"conv:{HOSTILE_SESSION}"

    result = _invoke(
        "prove", session, f"{session}/closure", "--db", str(db), "-o", str(target)
    )

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "missing" in result.stderr
