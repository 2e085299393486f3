"""Parent links that loop or nest deeply.

A model span that has model calls with usage below it is a wrapper and is
not counted. Parent links come from the file, so they can point at the span
itself or form a cycle. Then no span is below another, and every model call
must still be counted. A deep chain of parent links must import in time that
grows with the number of spans, not with its square.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

START = 1764840000000000000


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


def _model(input_tokens: int = 10) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.conversation.id": "graph",
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": 5,
    }


def _tool() -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.conversation.id": "graph",
    }


def _span(index: int, attributes: dict[str, Any], parent: int | None) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": "ab" * 16,
        "spanId": f"{index:016x}",
        "name": "span",
        "startTimeUnixNano": str(START + index * 1000),
        "endTimeUnixNano": str(START + index * 1000 + 500),
        "attributes": attributes,
    }
    if parent is not None:
        span["parentSpanId"] = f"{parent:016x}"
    return span


def _write(path: Path, spans: list[dict[str, Any]]) -> Path:
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _token_total(db: Path) -> int:
    result = _invoke("report", "--db", str(db), "--json")
    assert result.exit_code == 0, result.stderr
    return int(
        json.loads(result.stdout)["token_meter"]["all_crossings"]["total_tokens"]
    )


def _model_crossings(db: Path) -> int:
    result = _invoke("report", "--db", str(db), "--json")
    assert result.exit_code == 0, result.stderr
    by_kind = json.loads(result.stdout)["crossings_by_kind"]
    return int(by_kind.get("model_invocation", {}).get("total", 0))


def test_span_parent_of_itself(tmp_path: Path) -> None:
    trace = _write(tmp_path / "self.json", [_span(1, _model(), parent=1)])
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(trace), "--db", str(db), "--json")

    assert result.exit_code == 0, result.stderr
    statuses = [item["status"] for item in json.loads(result.stdout)["sessions"]]
    assert statuses == ["settled"]
    assert _model_crossings(db) == 1
    assert _token_total(db) == 15


def test_two_spans_parent_cycle(tmp_path: Path) -> None:
    spans = [_span(1, _model(10), parent=2), _span(2, _model(20), parent=1)]
    trace = _write(tmp_path / "cycle.json", spans)
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(trace), "--db", str(db), "--json")

    assert result.exit_code == 0, result.stderr
    statuses = [item["status"] for item in json.loads(result.stdout)["sessions"]]
    assert statuses == ["settled"]
    assert _model_crossings(db) >= 1
    assert _token_total(db) > 0


def _timed_import(tmp_path: Path, trace: Path, timeout: float) -> float:
    """Import ``trace`` into a new database in a subprocess and return the seconds."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }
    db = tmp_path / f"{trace.stem}.db"
    started = time.monotonic()
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ssoar.cli import main; main()",
            "import",
            str(trace),
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=environment,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr[-500:]
    return elapsed


@pytest.mark.parametrize(
    ("kind", "count"), [("model", 5000), ("tool", 10000)], ids=["models", "tools"]
)
def test_deep_chain_linear(tmp_path: Path, kind: str, count: int) -> None:
    # The same spans without parent links are the baseline. The chain may
    # cost up to 2.5 times as much, never the square of its length.
    attributes = _model() if kind == "model" else _tool()
    flat = _write(
        tmp_path / "flat.json",
        [_span(index, attributes, parent=None) for index in range(count)],
    )
    chain = _write(
        tmp_path / "chain.json",
        [
            _span(index, attributes, parent=index - 1 if index else None)
            for index in range(count)
        ],
    )
    baseline = _timed_import(tmp_path, flat, timeout=120)

    _timed_import(tmp_path, chain, timeout=2.5 * baseline + 1)
