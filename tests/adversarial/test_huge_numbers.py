"""Numbers too large for a record: token counts, output caps, limits and tolls.

Audit records are RFC 8785 JSON, whose integers are exact only up to
2**53 - 1, and money is decimal with a bounded exponent. A count or amount
beyond that range must fail its file, its session or its setting with a
message, never the whole command with a traceback, and never take minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

JSON_INTEGER_MAX = 2**53 - 1


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
    conversation: str,
    input_tokens: str = "10",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": conversation},
        "gen_ai.usage.input_tokens": {"intValue": input_tokens},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
        **(extra or {}),
    }
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }


def _export(*spans: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _good_file(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "good.json", _export(_span("ab" * 16, "00000000000000a1", "good"))
    )


def _assert_only_good_settled(result: Result) -> None:
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    sessions = json.loads(result.stdout)["sessions"]
    settled = [item["session_id"] for item in sessions if item["status"] == "settled"]
    assert settled == ["conv:good"]


@pytest.mark.parametrize(
    "input_tokens",
    [str(JSON_INTEGER_MAX + 1), str(2**63), "9" * 30],
    ids=["2^53", "2^63", "30 digits"],
)
def test_token_count_too_large(tmp_path: Path, input_tokens: str) -> None:
    bad = _write(
        tmp_path / "bad.json",
        _export(_span("cd" * 16, "00000000000000a1", "bad", input_tokens)),
    )
    good = _good_file(tmp_path)

    result = _invoke("import", str(bad), str(good), "--db", "ssoar.db", "--json")

    _assert_only_good_settled(result)


def test_session_token_total_too_large(tmp_path: Path) -> None:
    # Each count is exact in JSON, but their sum, the session total, is not.
    half = str(2**52)
    bad = _write(
        tmp_path / "bad.json",
        _export(
            _span("cd" * 16, "00000000000000a1", "bad", half),
            _span("cd" * 16, "00000000000000a2", "bad", half),
        ),
    )
    good = _good_file(tmp_path)

    result = _invoke("import", str(bad), str(good), "--db", "ssoar.db", "--json")

    _assert_only_good_settled(result)


@pytest.mark.parametrize(
    "cap",
    [{"intValue": "9" * 20}, {"doubleValue": 1e300}],
    ids=["int", "double"],
)
def test_output_cap_too_large(tmp_path: Path, cap: dict[str, Any]) -> None:
    span = _span(
        "cd" * 16, "00000000000000a1", "bad", extra={"gen_ai.request.max_tokens": cap}
    )
    bad = _write(tmp_path / "bad.json", _export(span))
    good = _good_file(tmp_path)

    result = _invoke("import", str(bad), str(good), "--db", "ssoar.db", "--json")

    assert isinstance(result.exception, SystemExit | type(None)), repr(result.exception)
    sessions = json.loads(result.stdout)["sessions"]
    statuses = {item["session_id"]: item["status"] for item in sessions}
    assert statuses["conv:good"] == "settled"


def test_exponent_token_count_is_fast(tmp_path: Path) -> None:
    # Decimal("1e100000000") is a valid whole number whose int() takes
    # minutes. A 300-byte file must not hold the import that long.
    trace = {
        "trace": {"id": "t1", "sessionId": "huge"},
        "observations": [
            {
                "id": "o1",
                "type": "GENERATION",
                "model": "gpt-4o-mini",
                "startTime": "2025-07-11T07:45:13.601Z",
                "endTime": "2025-07-11T07:45:14.601Z",
                "usageDetails": {"input": "1e100000000", "output": 5},
            }
        ],
    }
    bad = _write(tmp_path / "bad.json", trace)
    command = [
        sys.executable,
        "-c",
        "from ssoar.cli import main; main()",
        "import",
        str(bad),
        "--db",
        str(tmp_path / "ssoar.db"),
        "--json",
    ]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }

    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=10,
        cwd=tmp_path,
        env=environment,
        check=False,
    )

    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    files = json.loads(completed.stdout)["files"]
    assert "usageDetails input" in files[0]["error"]


def test_profile_limit_overflow(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(
        '[[quota]]\nid = "tokens"\nunit = "tokens"\nlimit = "1e999999999"\n',
        encoding="utf-8",
    )
    good = _good_file(tmp_path)

    result = _invoke("import", str(good), "--profile", str(profile), "--db", "ssoar.db")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "limit" in result.stderr


def test_toll_overflow(tmp_path: Path) -> None:
    (tmp_path / "ssoar.toml").write_text(
        '[tolls]\nmodel_invocation = "1e999999999"\n', encoding="utf-8"
    )
    good = _good_file(tmp_path)

    result = _invoke("import", str(good), "--db", "ssoar.db")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "model_invocation" in result.stderr


def test_toll_currency_not_ascii(tmp_path: Path) -> None:
    # "ÄÖÜ".isupper() is true, but ISO 4217 codes are three ASCII letters.
    (tmp_path / "ssoar.toml").write_text(
        '[tolls]\ncurrency = "ÄÖÜ"\n', encoding="utf-8"
    )
    good = _good_file(tmp_path)

    result = _invoke("import", str(good), "--db", "ssoar.db")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "currency" in result.stderr
