"""OTLP values of unexpected types: each is reported against its file, never raised.

A file holding a value the importer cannot read fails on its own, with the
JSON pointer of the record at fault and exit status 1; other files of the
same import still settle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

SPAN_POINTER = "/resourceSpans/0/scopeSpans/0/spans/0"


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


def _model_attributes(conversation: str, input_tokens: Any = "10") -> list[Any]:
    values = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": conversation},
        "gen_ai.usage.input_tokens": {"intValue": input_tokens},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
    }
    return [{"key": key, "value": value} for key, value in values.items()]


def _span(trace_id: str, conversation: str, **fields: Any) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": "00000000000000a1",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": _model_attributes(conversation),
    }
    span.update(fields)
    return span


def _export(span: dict[str, Any], resource: Any = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": []} if resource is None else resource,
                "scopeSpans": [{"spans": [span]}],
            }
        ]
    }


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _good_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "good.json", _export(_span("ab" * 16, "good")))


def _with_attribute(key: str, value: Any) -> dict[str, Any]:
    span = _span("cd" * 16, "bad")
    span["attributes"].append({"key": key, "value": value})
    return _export(span)


def _with_input_tokens(value: Any) -> dict[str, Any]:
    span = _span("cd" * 16, "bad")
    span["attributes"] = _model_attributes("bad", input_tokens=value)
    return _export(span)


STATUS_POINTER = f"{SPAN_POINTER}/status/code"
RESOURCE_POINTER = "/resourceSpans/0/resource"
EXTRA_VALUE_POINTER = f"{SPAN_POINTER}/attributes/6/value"

# Each case: the document, and the JSON pointer its error must name (or start
# with).
BAD_DOCUMENTS = {
    "status code list": (
        _export(_span("cd" * 16, "bad", status={"code": [2]})),
        STATUS_POINTER,
    ),
    "status code object": (
        _export(_span("cd" * 16, "bad", status={"code": {}})),
        STATUS_POINTER,
    ),
    "resource string": (
        _export(_span("cd" * 16, "bad"), resource="service"),
        RESOURCE_POINTER,
    ),
    "resource list": (
        _export(_span("cd" * 16, "bad"), resource=["service"]),
        RESOURCE_POINTER,
    ),
    "double object": (
        _with_attribute("app.ratio", {"doubleValue": {}}),
        EXTRA_VALUE_POINTER,
    ),
    "double text": (
        _with_attribute("app.ratio", {"doubleValue": "abc"}),
        EXTRA_VALUE_POINTER,
    ),
    "double list": (
        _with_attribute("app.ratio", {"doubleValue": [1.5]}),
        EXTRA_VALUE_POINTER,
    ),
    "int superscript": (_with_input_tokens("\u00b2"), SPAN_POINTER),
    "int 5000 digits": (_with_input_tokens("9" * 5000), SPAN_POINTER),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_bad_value_fails_its_file(tmp_path: Path, case: str) -> None:
    document, pointer = BAD_DOCUMENTS[case]
    bad = _write(tmp_path / "bad.json", document)
    good = _good_file(tmp_path)
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(bad), str(good), "--db", str(db), "--json")

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    output = json.loads(result.stdout)
    errors = {item["file"]: item["error"] for item in output["files"]}
    assert errors[str(good)] is None
    assert errors[str(bad)] is not None
    assert f"#{pointer}" in errors[str(bad)]
    statuses = {item["session_id"]: item["status"] for item in output["sessions"]}
    assert statuses == {"conv:good": "settled"}


def test_infinite_output_cap_ignored(tmp_path: Path) -> None:
    # An output cap that is not a whole number ("abc", NaN) is left out of
    # the crossing, and infinity is not a whole number either.
    document = _with_attribute("gen_ai.request.max_tokens", {"doubleValue": "inf"})
    bad = _write(tmp_path / "cap.json", document)
    db = tmp_path / "ssoar.db"

    result = _invoke("import", str(bad), "--db", str(db), "--json")

    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0
    statuses = [item["status"] for item in json.loads(result.stdout)["sessions"]]
    assert statuses == ["settled"]
