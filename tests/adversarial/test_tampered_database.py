"""Commands on a database whose rows were edited after signing.

``ssoar verify`` must name every record that no longer matches and exit 1,
going on to the other sessions. ``report``, ``explain`` and ``prove`` must
stop with an error naming the session, not a traceback.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

SESSION = "conv:first"
OTHER = "conv:second"


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


def _span(trace_id: str, conversation: str) -> dict[str, Any]:
    values = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": conversation},
        "gen_ai.usage.input_tokens": {"intValue": "10"},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
    }
    return {
        "traceId": trace_id,
        "spanId": "00000000000000a1",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }


@pytest.fixture
def db(tmp_path: Path) -> Path:
    trace = tmp_path / "trace.json"
    spans = [_span("ab" * 16, "first"), _span("cd" * 16, "second")]
    trace.write_text(
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}),
        encoding="utf-8",
    )
    path = tmp_path / "ssoar.db"
    result = _invoke("import", str(trace), "--db", str(path))
    assert result.exit_code == 0, result.stderr
    return path


def _execute(db: Path, statement: str, *parameters: Any) -> None:
    connection = sqlite3.connect(db)
    try:
        connection.execute(statement, parameters)
        connection.commit()
    finally:
        connection.close()


def _set_settlement_record(db: Path, record: bytes) -> None:
    _execute(
        db, "UPDATE settlements SET record = ? WHERE session_id = ?", record, SESSION
    )


@pytest.mark.parametrize("record", [b"[]", b'"settled"', b"1", b"null"])
def test_verify_settlement_not_object(db: Path, record: bytes) -> None:
    _set_settlement_record(db, record)

    result = _invoke("verify", "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["sessions_checked"] == 2
    assert [item["session_id"] for item in report["failures"]] == [SESSION]
    assert report["failures"][0]["record"] == f"settlements/{SESSION}"


@pytest.mark.parametrize("record", [b"[]", b"\xff"])
def test_report_unreadable_settlement(db: Path, record: bytes) -> None:
    _set_settlement_record(db, record)

    result = _invoke("report", "--db", str(db))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)
    assert SESSION in result.stderr


def test_explain_without_session_leaf(db: Path) -> None:
    _execute(
        db,
        "DELETE FROM audit_leaves WHERE session_id = ? AND leaf_index = 0",
        SESSION,
    )

    result = _invoke("explain", SESSION, "--db", str(db))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)
    assert SESSION in result.stderr


def test_explain_unreadable_leaf(db: Path) -> None:
    _execute(
        db,
        "UPDATE audit_leaves SET record = ? WHERE session_id = ? AND leaf_index = 1",
        b"\xff",
        SESSION,
    )

    result = _invoke("explain", SESSION, "--db", str(db))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)
    assert SESSION in result.stderr


def test_prove_with_leaf_removed(db: Path) -> None:
    _execute(
        db,
        "DELETE FROM audit_leaves WHERE session_id = ? AND leaf_index = 0",
        SESSION,
    )

    result = _invoke("prove", SESSION, f"{SESSION}/closure", "--db", str(db))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2)
    assert SESSION in result.stderr
