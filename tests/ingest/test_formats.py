"""Trace formats the importer reads, and bad input it rejects with a pointer.

The spans here are written by the tests. Prices are list prices in USD per
million tokens (gpt-4o-mini: input 0.15, cached input 0.075, output 0.60),
so tokens times price gives micro-dollars (µUSD).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"
# 1752219913.601 s after the epoch is 2025-07-11T07:45:13.601Z.
START_NANOS = "1752219913601000000"
END_NANOS = "1752219914842000000"

CHAT_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.request.max_tokens": 512,
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 300,
}
CHAT_CROSSING_ID = "5b8efff798038103d269b633813fc60c/eee19b7ec3c1b174"
# Input 1200 of which 1000 read from cache: 200 uncached.
CHAT_USAGE = {
    "input_uncached_tokens": 200,
    "cache_read_tokens": 1000,
    "cache_write_tokens": 0,
    "output_tokens": 300,
    "reasoning_tokens": 0,
}
CHAT_MODEL_ATTRIBUTES = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "response_model": "gpt-4o-mini-2024-07-18",
    "input_tokens": 1200,
    "output_tokens_max": 512,
    "finish_reasons": ["stop"],
}
# 200 × 0.15 + 1000 × 0.075 + 300 × 0.60 = 30 + 75 + 180 = 285 µUSD.
CHAT_CHARGE = Decimal("0.000285")


def key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """Encode attributes as OTLP JSON does, with integers as strings."""
    encoded = []
    for key, value in attributes.items():
        if isinstance(value, list):
            typed: dict[str, Any] = {
                "arrayValue": {"values": [{"stringValue": item} for item in value]}
            }
        elif isinstance(value, int):
            typed = {"intValue": str(value)}
        else:
            typed = {"stringValue": value}
        encoded.append({"key": key, "value": typed})
    return encoded


def span(
    attributes: Any,
    *,
    span_id: str = SPAN_ID,
    parent: str = "",
    name: str = "chat gpt-4o-mini",
) -> dict[str, Any]:
    """Return an OTLP JSON span of the test trace."""
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": "SPAN_KIND_CLIENT",
        "startTimeUnixNano": START_NANOS,
        "endTimeUnixNano": END_NANOS,
        "attributes": attributes,
        "status": {"code": "STATUS_CODE_OK"},
    }


def export(*spans: dict[str, Any]) -> dict[str, Any]:
    """Wrap spans in an OTLP ``resourceSpans`` export."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values({"service.name": "checkout"})},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": list(spans)}],
            }
        ]
    }


def write(directory: Path, name: str, document: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --- Accepted shapes -----------------------------------------------------


@pytest.fixture
def export_crossing(tmp_path: Path, importer: Any) -> dict[str, Any]:
    """The model invocation imported from an OTLP export with key-value attributes."""
    path = write(tmp_path, "export.json", export(span(key_values(CHAT_ATTRIBUTES))))
    _, db = importer(path, db="export.db")
    return db.crossing(CHAT_CROSSING_ID)


EXPORT_COLUMNS = [
    pytest.param("session_id", "trace:5b8efff798038103d269b633813fc60c", id="session"),
    pytest.param("kind", "model_invocation", id="kind"),
    pytest.param("actor_id", "model:openai/gpt-4o-mini-2024-07-18", id="actor"),
    pytest.param("invoker_id", None, id="invoker"),
    pytest.param("target_type", "model", id="target_type"),
    pytest.param("target_id", "openai/gpt-4o-mini-2024-07-18", id="target_id"),
    pytest.param("started_at", "2025-07-11T07:45:13.601000Z", id="started_at"),
    pytest.param("ended_at", "2025-07-11T07:45:14.842000Z", id="ended_at"),
    pytest.param("state", "completed", id="state"),
    pytest.param("usage", CHAT_USAGE, id="usage"),
    pytest.param("usage_source", "reported", id="usage_source"),
    pytest.param("attributes", CHAT_MODEL_ATTRIBUTES, id="attributes"),
]


@pytest.mark.parametrize(("column", "expected"), EXPORT_COLUMNS)
def test_otlp_export_crossing(
    export_crossing: dict[str, Any], column: str, expected: Any
) -> None:
    assert export_crossing[column] == expected


def test_otlp_export_charge(tmp_path: Path, importer: Any) -> None:
    path = write(tmp_path, "export.json", export(span(key_values(CHAT_ATTRIBUTES))))
    _, db = importer(path)
    assert Decimal(db.billing(CHAT_CROSSING_ID)["usage_amount"]) == CHAT_CHARGE


def test_flat_attributes_same_crossing(
    tmp_path: Path, importer: Any, export_crossing: dict[str, Any]
) -> None:
    """A span whose attributes are a flat map imports like the key-value form."""
    path = write(tmp_path, "flat.json", span(CHAT_ATTRIBUTES))
    _, db = importer(path, db="flat.db")
    flat = db.crossing(CHAT_CROSSING_ID)
    flat.pop("source")
    export_crossing.pop("source")
    assert flat == export_crossing


def test_integer_values_as_numbers(
    tmp_path: Path, importer: Any, export_crossing: dict[str, Any]
) -> None:
    """``intValue`` written as a JSON number reads like the string form."""
    attributes = key_values(CHAT_ATTRIBUTES)
    for entry in attributes:
        if "intValue" in entry["value"]:
            entry["value"]["intValue"] = int(entry["value"]["intValue"])
    path = write(tmp_path, "numbers.json", export(span(attributes)))
    _, db = importer(path, db="numbers.db")
    numbers = db.crossing(CHAT_CROSSING_ID)
    assert numbers["usage"] == export_crossing["usage"]


BARE_MAP_COLUMNS = [
    pytest.param("kind", "model_invocation", id="kind"),
    pytest.param("actor_id", "model:openai/gpt-4o-mini-2024-07-18", id="actor"),
    pytest.param("target_id", "openai/gpt-4o-mini-2024-07-18", id="target_id"),
    pytest.param("usage", CHAT_USAGE, id="usage"),
    pytest.param(
        "attributes", {**CHAT_MODEL_ATTRIBUTES, "time_source": "import"}, id="attrs"
    ),
]


@pytest.mark.parametrize(("column", "expected"), BARE_MAP_COLUMNS)
def test_bare_attribute_map_crossing(
    tmp_path: Path, importer: Any, column: str, expected: Any
) -> None:
    """A bare attribute map, with no span around it, is one model invocation."""
    path = write(tmp_path, "bare.json", CHAT_ATTRIBUTES)
    _, db = importer(path)
    (crossing,) = db.crossings("model_invocation")
    assert crossing[column] == expected


AGENT_SPAN_ID = "00F067AA0BA902B7"
TOOL_SPAN_ID = "53995C3F42CD8AD8"


@pytest.fixture
def span_list_db(tmp_path: Path, importer: Any) -> Any:
    """A JSON list of three spans: an agent, its model call and its tool call."""
    spans = [
        span(
            key_values(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "planner",
                }
            ),
            span_id=AGENT_SPAN_ID,
            name="invoke_agent planner",
        ),
        span(key_values(CHAT_ATTRIBUTES), parent=AGENT_SPAN_ID),
        span(
            key_values(
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.id": "call_1",
                }
            ),
            span_id=TOOL_SPAN_ID,
            parent=AGENT_SPAN_ID,
            name="execute_tool lookup_order",
        ),
    ]
    _, db = importer(write(tmp_path, "list.json", spans))
    return db


SPAN_LIST_CROSSINGS = [
    pytest.param(
        CHAT_CROSSING_ID,
        ("model_invocation", "model:openai/gpt-4o-mini-2024-07-18", "agent:planner"),
        id="model",
    ),
    pytest.param(
        "5b8efff798038103d269b633813fc60c/53995c3f42cd8ad8",
        ("tool_call", "tool:lookup_order", "agent:planner"),
        id="tool",
    ),
    pytest.param(
        "trace:5b8efff798038103d269b633813fc60c/admit/agent:planner",
        ("participant_admission", "agent:planner", None),
        id="agent-admission",
    ),
]


@pytest.mark.parametrize(("crossing_id", "expected"), SPAN_LIST_CROSSINGS)
def test_span_list_crossing(
    span_list_db: Any, crossing_id: str, expected: tuple[str, str, str | None]
) -> None:
    kind, actor, invoker = expected
    crossing = span_list_db.crossing(crossing_id)
    assert crossing["kind"] == kind
    assert crossing["actor_id"] == actor
    assert crossing["invoker_id"] == invoker


def test_span_list_no_agent_crossing(span_list_db: Any) -> None:
    """The agent span names a participant and is not a crossing of its own."""
    found = span_list_db.rows(
        "SELECT crossing_id FROM crossings WHERE crossing_id = ?",
        "5b8efff798038103d269b633813fc60c/00f067aa0ba902b7",
    )
    assert found == []


def test_model_wrapper_without_usage(tmp_path: Path, importer: Any) -> None:
    """A model span without usage over a model call with usage is a wrapper."""
    outer = {key: value for key, value in CHAT_ATTRIBUTES.items() if "usage" not in key}
    document = export(
        span(key_values(outer), span_id="00000000000000a1"),
        span(key_values(CHAT_ATTRIBUTES), parent="00000000000000a1"),
    )
    result, db = importer(write(tmp_path, "wrapper.json", document))
    (session,) = result.sessions
    assert session.status == "settled"
    assert [note.pointer for note in session.notes] == [
        "/resourceSpans/0/scopeSpans/0/spans/0"
    ]
    assert "reports no usage" in session.notes[0].note
    assert [item["crossing_id"] for item in db.crossings("model_invocation")] == [
        CHAT_CROSSING_ID
    ]


DEPRECATED_ATTRIBUTES = {
    "gen_ai.system": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.prompt_tokens": 120,
    "gen_ai.usage.completion_tokens": 30,
}
CURRENT_ATTRIBUTES = {
    "gen_ai.provider.name": "openai",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 120,
    "gen_ai.usage.output_tokens": 30,
}


def test_deprecated_names_usage(tmp_path: Path, importer: Any) -> None:
    _, db = importer(write(tmp_path, "deprecated.json", DEPRECATED_ATTRIBUTES))
    (crossing,) = db.crossings("model_invocation")
    assert crossing["usage"] == {
        "input_uncached_tokens": 120,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 30,
        "reasoning_tokens": 0,
    }


def test_deprecated_names_charge(tmp_path: Path, importer: Any) -> None:
    _, db = importer(write(tmp_path, "deprecated.json", DEPRECATED_ATTRIBUTES))
    (crossing,) = db.crossings("model_invocation")
    # 120 × 0.15 + 30 × 0.60 = 18 + 18 = 36 µUSD.
    charge = db.billing(crossing["crossing_id"])["usage_amount"]
    assert Decimal(charge) == Decimal("0.000036")


def test_deprecated_names_same_crossing(tmp_path: Path, importer: Any) -> None:
    """Deprecated and current names for one call import to one crossing."""
    deprecated = write(tmp_path, "deprecated.json", DEPRECATED_ATTRIBUTES)
    current = write(tmp_path, "current.json", CURRENT_ATTRIBUTES)
    _, db = importer(deprecated, current)
    assert len(db.crossings("model_invocation")) == 1


# --- Rejected input ------------------------------------------------------

GOOD_FILE = "otlp-openinference/chat-reasoning.json"


def _not_json(directory: Path, trace_path: Callable[[str], Path]) -> Path:
    path = directory / "broken.json"
    path.write_text('{"name": "chat",\n  oops}', encoding="utf-8")
    return path


def _non_span(directory: Path, trace_path: Callable[[str], Path]) -> Path:
    return write(directory, "mixed.json", [span(CHAT_ATTRIBUTES), {"message": "hello"}])


def _negative_count(directory: Path, trace_path: Callable[[str], Path]) -> Path:
    attributes = key_values({**CHAT_ATTRIBUTES, "gen_ai.usage.input_tokens": -5})
    return write(directory, "negative.json", span(attributes))


def _negative_count_in_export(
    directory: Path, trace_path: Callable[[str], Path]
) -> Path:
    attributes = key_values({**CHAT_ATTRIBUTES, "gen_ai.usage.input_tokens": -5})
    return write(directory, "negative-export.json", export(span(attributes)))


def _observation_without_id(directory: Path, trace_path: Callable[[str], Path]) -> Path:
    source = trace_path("langfuse/crewai-2025-07-11.trace.json")
    document = json.loads(source.read_text(encoding="utf-8"))
    del document["observations"][2]["id"]
    return write(directory, "no-id.trace.json", document)


# (writer of the bad file, the text that follows the file name in the error,
# other text the error contains)
BAD_INPUTS = [
    pytest.param((_not_json, ": not valid JSON", ["line 2 column 3"]), id="not-json"),
    pytest.param((_non_span, "#/1: not a span", []), id="non-span-object"),
    pytest.param(
        (
            _negative_count,
            ": attribute gen_ai.usage.input_tokens=-5",
            ["=-5 is negative; token counts start at 0"],
        ),
        id="negative-count",
    ),
    pytest.param(
        (
            _negative_count_in_export,
            "#/resourceSpans/0/scopeSpans/0/spans/0: attribute "
            "gen_ai.usage.input_tokens=-5",
            ["=-5 is negative; token counts start at 0"],
        ),
        id="negative-count-in-export",
    ),
    pytest.param(
        (
            _observation_without_id,
            "#/observations/2/id: ",
            ["expected the observation id"],
        ),
        id="observation-without-id",
    ),
]


@pytest.fixture(params=BAD_INPUTS)
def bad_import(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    trace_path: Callable[[str], Path],
    cli: Callable[..., Any],
) -> dict[str, Any]:
    """Run ``ssoar import --json`` on one bad file between two good ones."""
    writer, pointer, fragments = request.param
    bad = writer(tmp_path, trace_path)
    good = trace_path(GOOD_FILE)
    other = trace_path("langfuse/crewai-2025-07-11.trace.json")
    db = tmp_path / "ssoar.db"
    outcome = cli("import", good, bad, other, "--db", db, "--json")
    return {
        "outcome": outcome,
        "report": json.loads(outcome.stdout),
        "bad": str(bad),
        "pointer": pointer,
        "fragments": fragments,
    }


def test_bad_file_exit_code(bad_import: dict[str, Any]) -> None:
    assert bad_import["outcome"].exit_code == 1


def _bad_file_error(bad_import: dict[str, Any]) -> str:
    (error,) = [
        item["error"]
        for item in bad_import["report"]["files"]
        if item["file"] == bad_import["bad"]
    ]
    return str(error)


def test_bad_file_error_names_record(bad_import: dict[str, Any]) -> None:
    """The error starts with the file name and, for a bad record, its JSON pointer."""
    error = _bad_file_error(bad_import)
    assert error.startswith(bad_import["bad"] + bad_import["pointer"])


def test_bad_file_error_reason(bad_import: dict[str, Any]) -> None:
    error = _bad_file_error(bad_import)
    for fragment in bad_import["fragments"]:
        assert fragment in error


def test_bad_file_others_imported(bad_import: dict[str, Any]) -> None:
    statuses = [item["status"] for item in bad_import["report"]["sessions"]]
    assert statuses == ["settled", "settled"]


def test_bad_file_only_error(bad_import: dict[str, Any]) -> None:
    """Only the bad file reports an error."""
    failed = [item["file"] for item in bad_import["report"]["files"] if item["error"]]
    assert failed == [bad_import["bad"]]
