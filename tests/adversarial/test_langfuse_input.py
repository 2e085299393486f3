"""Langfuse exports with hostile metadata, attribute text and timestamps.

Langfuse keeps span attributes as JSON text inside ``metadata``, and some
attributes (``llm.invocation_parameters``, finish reasons) are JSON text
again. Text the importer must read and cannot is an error against the file;
text it reads only opportunistically and cannot is ignored. Neither may
raise out of the import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

DEEP_JSON = "[" * 100_000 + "]" * 100_000


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


def _export(**observation_fields: Any) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "id": "obs-1",
        "type": "GENERATION",
        "name": "chat",
        "model": "gpt-4o-mini",
        "startTime": "2025-07-11T07:45:13.601Z",
        "endTime": "2025-07-11T07:45:14.601Z",
        "usageDetails": {"input": 10, "output": 5},
        "metadata": json.dumps({"attributes": {"gen_ai.provider.name": "openai"}}),
    }
    observation.update(observation_fields)
    return {
        "trace": {"id": "trace-1", "sessionId": "lf"},
        "observations": [observation],
    }


def _import(tmp_path: Path, document: dict[str, Any]) -> tuple[Result, Path]:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    result = _invoke("import", str(path), "--db", str(tmp_path / "ssoar.db"), "--json")
    return result, path


def test_metadata_nested_too_deep(tmp_path: Path) -> None:
    result, path = _import(tmp_path, _export(metadata=DEEP_JSON))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    files = json.loads(result.stdout)["files"]
    assert files[0]["file"] == str(path)
    assert "#/observations/0/metadata" in files[0]["error"]


@pytest.mark.parametrize(
    "key", ["llm.invocation_parameters", "gen_ai.response.finish_reasons"]
)
def test_attribute_json_too_deep(tmp_path: Path, key: str) -> None:
    metadata = json.dumps(
        {"attributes": {"gen_ai.provider.name": "openai", key: DEEP_JSON}}
    )

    result, _ = _import(tmp_path, _export(metadata=metadata))

    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0
    statuses = [item["status"] for item in json.loads(result.stdout)["sessions"]]
    assert statuses == ["settled"]


@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]
)
def test_timestamp_beyond_datetime_range(tmp_path: Path, timestamp: str) -> None:
    # Both are valid ISO 8601, but converting them to UTC leaves the range of
    # Python's datetime.
    result, _ = _import(tmp_path, _export(startTime=timestamp))

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    files = json.loads(result.stdout)["files"]
    assert "#/observations/0/startTime" in files[0]["error"]


def test_otlp_time_beyond_datetime_range(tmp_path: Path) -> None:
    span = {
        "traceId": "ab" * 16,
        "spanId": "00000000000000a1",
        "name": "chat",
        "startTimeUnixNano": "9999-12-31T23:59:59-05:00",
        "attributes": {"gen_ai.operation.name": "chat"},
    }

    result, _ = _import(
        tmp_path, {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    )

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    files = json.loads(result.stdout)["files"]
    assert "/spans/0/startTimeUnixNano" in files[0]["error"]
