"""Crossing ids that collide: across sessions, across imports, with built ids.

The crossings table keys rows by crossing id alone. A crossing id is
``<trace id>/<span id>`` for spans and ``<session>/admit/<participant>`` or
``<session>/closure`` for the crossings the importer adds, so different
records can produce the same id. Such a collision must be reported for the
sessions involved. It must not abort the import with a database error, which
rolls back every other session of the batch.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app


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


def _span(
    trace_id: str,
    span_id: str,
    conversation: str | None,
    *,
    start: int = 1764840000000000000,
    user: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.usage.input_tokens": {"intValue": "10"},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
    }
    if conversation is not None:
        values["gen_ai.conversation.id"] = {"stringValue": conversation}
    if user is not None:
        values["user.id"] = {"stringValue": user}
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000_000_000),
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }


def _write(path: Path, *spans: dict[str, Any]) -> Path:
    document = {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _statuses(result: Result) -> dict[str, str]:
    sessions = json.loads(result.stdout)["sessions"]
    return {item["session_id"]: item["status"] for item in sessions}


def _stored_sessions(db: Path) -> list[str]:
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT session_id FROM settlements ORDER BY 1")
        return [row[0] for row in rows]
    finally:
        connection.close()


def test_trace_reimported_under_other_session(tmp_path: Path) -> None:
    # The same span, first filed under conversation A, then under B.
    first = _write(tmp_path / "first.json", _span("ab" * 16, "00000000000000a1", "A"))
    second = _write(
        tmp_path / "second.json",
        _span("ab" * 16, "00000000000000a1", "B"),
        _span("cd" * 16, "00000000000000a1", "other"),
    )
    db = tmp_path / "ssoar.db"
    assert _invoke("import", str(first), "--db", str(db)).exit_code == 0

    result = _invoke("import", str(second), "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    statuses = _statuses(result)
    # Either word fits: conv:B is new, but its crossing is already settled.
    assert statuses["conv:B"] in ("conflict", "failed")
    assert statuses["conv:other"] == "settled"
    assert _stored_sessions(db) == ["conv:A", "conv:other"]


def test_slash_in_ids_collides(tmp_path: Path) -> None:
    # Trace "a/b" span "c" and trace "a" span "b/c" both give id "a/b/c".
    file = _write(
        tmp_path / "slash.json",
        _span("a/b", "c", None),
        _span("a", "b/c", None),
        _span("cd" * 16, "00000000000000a1", "other"),
    )
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(file), "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    assert _statuses(result)["conv:other"] == "settled"
    assert "conv:other" in _stored_sessions(db)


def test_span_named_like_closure(tmp_path: Path) -> None:
    # Session conv:x closes with crossing "conv:x/closure". A span of trace
    # "conv:x" with span id "closure" has that id too.
    file = _write(
        tmp_path / "closure.json",
        _span("conv:x", "closure", "x"),
        _span("cd" * 16, "00000000000000a1", "other"),
    )
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(file), "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    assert _statuses(result)["conv:other"] == "settled"
    assert "conv:other" in _stored_sessions(db)


def test_span_named_like_admission(tmp_path: Path) -> None:
    # The user u is admitted by crossing "conv:x/admit/human:u".
    file = _write(
        tmp_path / "admission.json",
        _span("conv:x", "00000000000000a1", "x", user="u"),
        _span("conv:x", "admit/human:u", "x", start=1764840005000000000),
        _span("cd" * 16, "00000000000000a1", "other"),
    )
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(file), "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    assert _statuses(result)["conv:other"] == "settled"
    assert "conv:other" in _stored_sessions(db)
