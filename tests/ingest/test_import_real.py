"""Real traces imported end to end: token totals, billing, conventions, re-import.

Expected values are worked out by hand from the raw files. Prices are the
providers' list prices in USD per million tokens, so tokens times price gives
micro-dollars (µUSD):

- gpt-4o-mini: input 0.15, cached input 0.075, output 0.60
- gpt-4.1: input 2.00, output 8.00
- gpt-5-mini: input 0.25, output 2.00
- gpt-5-nano: input 0.05, output 0.40
- gpt-4-0613: input 30.00, output 60.00
- gemini-2.0-flash: input 0.10, output 0.40

Reasoning tokens are output tokens and cost the output price.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

LANGFUSE = {
    "crewai": "langfuse/crewai-2025-07-11.trace.json",
    "google-adk": "langfuse/google-adk-2025-08-28.trace.json",
    "microsoft": "langfuse/microsoft-agent-2025-12-17.trace.json",
    "openai-agents": "langfuse/openai-agents-2025-09-30.trace.json",
    "pydantic-ai": "langfuse/pydantic-ai-tools-2025-12-04.trace.json",
}
ALL_LANGFUSE = tuple(LANGFUSE.values())
OPENINFERENCE = (
    "otlp-openinference/chat-bad-request.json",
    "otlp-openinference/chat-detailed-usage.json",
    "otlp-openinference/chat-reasoning.json",
    "otlp-openinference/chat-streaming-detailed-usage.json",
    "otlp-openinference/chat-tools.json",
)
CONVENTIONS = (
    "genai-attributes/openinference_client_span_tool_calls.json",
    "genai-attributes/otel_genai_client_span_tool_calls.json",
    "genai-attributes/otel_genai_deprecated_client_span_tool_calls.json",
)

SharedImport = Callable[[tuple[str, ...]], tuple[Any, Any]]


def _tokens(
    uncached: int, output: int, *, cache_read: int = 0, reasoning: int = 0
) -> dict[str, int]:
    return {
        "input_uncached_tokens": uncached,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": 0,
        "output_tokens": output,
        "reasoning_tokens": reasoning,
        "total_tokens": uncached + cache_read + output + reasoning,
    }


# --- Token totals per session ------------------------------------------------

# Each case names one generation's crossing, which locates its session, and
# the session's tokens summed over its GENERATION observations only.
SESSION_TOKENS = [
    pytest.param(
        "a287bb31e317433610d8827617471140/231c43964b7e7e63",
        # One generation: input 190, output 164.
        _tokens(190, 164),
        id="crewai",
    ),
    pytest.param(
        "b82a0bdc1994fc5d1c8576ca032543f7/bded677884f031ce",
        # Input 39 + 28 = 67, output 6 + 3 = 9.
        _tokens(67, 9),
        id="google-adk",
    ),
    pytest.param(
        "8e419d3288419b5d944270505640e183/2406e8343fd49c0e",
        # Input 77 + 216 = 293, output 86 + 20 = 106. The AGENT observation's
        # Langfuse-inferred 44/180 is left out.
        _tokens(293, 106),
        id="microsoft",
    ),
    pytest.param(
        "fee618f96dc31e0ca38b2f7b26eb8b29/90d94774e8e3724d",
        # Input 85 + 55 = 140, output 29 + 15 = 44.
        _tokens(140, 44),
        id="openai-agents",
    ),
    pytest.param(
        "7a38edd8123db47ad8dcb8aa4c5e3926/00d2804abb764b1b",
        # Input 417 + 131 + 502 + 265 = 1315, output 53 + 69 + 14 + 73 = 209.
        # The three "agent run" spans (682/126, 502/14, 131/69) are left out.
        _tokens(1315, 209),
        id="pydantic-ai",
    ),
]


@pytest.mark.parametrize(("generation", "expected"), SESSION_TOKENS)
def test_session_tokens_exclude_wrappers(
    shared_import: SharedImport, generation: str, expected: dict[str, int]
) -> None:
    _, db = shared_import(ALL_LANGFUSE)
    session_id = db.crossing(generation)["session_id"]
    tokens = db.settlement(session_id)["totals"]["compute"]["tokens"]
    assert tokens == expected


# Spans that carry usage but are not model calls: (framework, trace id,
# observation id, JSON pointer, the span's own tokens).
WRAPPERS = [
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "49ae06cbfa06611f",
        "/observations/1",
        # joke_agent run: 502 + 14, equal to its one generation.
        516,
        id="pydantic-joke-agent-second-run",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "5b5c52d029f28206",
        "/observations/4",
        # joke_agent run: 682 + 126 = (417 + 265) + (53 + 73), its two generations.
        808,
        id="pydantic-joke-agent-first-run",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "227eb5c856efa3d3",
        "/observations/6",
        # evaluator_agent run: 131 + 69.
        200,
        id="pydantic-evaluator-run",
    ),
    pytest.param(
        "microsoft",
        "8e419d3288419b5d944270505640e183",
        "4cd6caa32861956a",
        "/observations/0",
        # AGENT observation: Langfuse usageDetails 44 + 180.
        224,
        id="microsoft-agent",
    ),
]


@pytest.mark.parametrize(
    ("framework", "trace_id", "observation_id", "pointer", "tokens"), WRAPPERS
)
def test_wrapper_listed_in_notes(
    shared_import: SharedImport,
    trace_path: Callable[[str], Path],
    framework: str,
    trace_id: str,
    observation_id: str,
    pointer: str,
    tokens: int,
) -> None:
    result, _ = shared_import(ALL_LANGFUSE)
    file = str(trace_path(LANGFUSE[framework]))
    notes = [
        note.note
        for session in result.sessions
        for note in session.notes
        if note.file == file and note.pointer == pointer
    ]
    assert len(notes) == 1
    assert f"{tokens} tokens" in notes[0]


@pytest.mark.parametrize(
    ("framework", "trace_id", "observation_id", "pointer", "tokens"), WRAPPERS
)
def test_wrapper_not_a_crossing(
    shared_import: SharedImport,
    framework: str,
    trace_id: str,
    observation_id: str,
    pointer: str,
    tokens: int,
) -> None:
    _, db = shared_import(ALL_LANGFUSE)
    found = db.rows(
        "SELECT crossing_id FROM crossings WHERE crossing_id = ?",
        f"{trace_id}/{observation_id}",
    )
    assert found == []


def test_wrapper_notes_only_wrappers(shared_import: SharedImport) -> None:
    """No span other than the four wrappers is reported as one."""
    result, _ = shared_import(ALL_LANGFUSE)
    notes = [note for session in result.sessions for note in session.notes]
    assert len(notes) == len(WRAPPERS)


# --- Billing against Langfuse's costDetails ---------------------------------

# Every GENERATION observation: (framework, trace id, observation id, usage
# charge worked out by hand in USD).
GENERATIONS = [
    pytest.param(
        "crewai",
        "a287bb31e317433610d8827617471140",
        "231c43964b7e7e63",
        # gpt-4o-mini: 190 × 0.15 + 164 × 0.60 = 28.5 + 98.4 = 126.9 µUSD.
        "0.0001269",
        id="crewai-231c43964b7e7e63",
    ),
    pytest.param(
        "google-adk",
        "b82a0bdc1994fc5d1c8576ca032543f7",
        "bded677884f031ce",
        # gemini-2.0-flash: 39 × 0.10 + 6 × 0.40 = 3.9 + 2.4 = 6.3 µUSD.
        "0.0000063",
        id="google-adk-bded677884f031ce",
    ),
    pytest.param(
        "google-adk",
        "b82a0bdc1994fc5d1c8576ca032543f7",
        "f6e4c65297e40c96",
        # gemini-2.0-flash: 28 × 0.10 + 3 × 0.40 = 2.8 + 1.2 = 4.0 µUSD.
        "0.000004",
        id="google-adk-f6e4c65297e40c96",
    ),
    pytest.param(
        "microsoft",
        "8e419d3288419b5d944270505640e183",
        "2406e8343fd49c0e",
        # gpt-5-mini: 77 × 0.25 + 86 × 2.00 = 19.25 + 172 = 191.25 µUSD.
        "0.00019125",
        id="microsoft-2406e8343fd49c0e",
    ),
    pytest.param(
        "microsoft",
        "8e419d3288419b5d944270505640e183",
        "b0913e7cd82d72b8",
        # gpt-5-mini: 216 × 0.25 + 20 × 2.00 = 54 + 40 = 94 µUSD.
        "0.000094",
        id="microsoft-b0913e7cd82d72b8",
    ),
    pytest.param(
        "openai-agents",
        "fee618f96dc31e0ca38b2f7b26eb8b29",
        "90d94774e8e3724d",
        # gpt-4.1: 85 × 2 + 29 × 8 = 170 + 232 = 402 µUSD.
        "0.000402",
        id="openai-agents-90d94774e8e3724d",
    ),
    pytest.param(
        "openai-agents",
        "fee618f96dc31e0ca38b2f7b26eb8b29",
        "98870087af69bf06",
        # gpt-4.1: 55 × 2 + 15 × 8 = 110 + 120 = 230 µUSD.
        "0.00023",
        id="openai-agents-98870087af69bf06",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "00d2804abb764b1b",
        # gpt-4o-mini: 417 × 0.15 + 53 × 0.60 = 62.55 + 31.8 = 94.35 µUSD.
        "0.00009435",
        id="pydantic-ai-00d2804abb764b1b",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "eb0cc14cf7943ad5",
        # gpt-4o-mini: 131 × 0.15 + 69 × 0.60 = 19.65 + 41.4 = 61.05 µUSD.
        "0.00006105",
        id="pydantic-ai-eb0cc14cf7943ad5",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "8976b072313c51f2",
        # gpt-4o-mini: 502 × 0.15 + 14 × 0.60 = 75.3 + 8.4 = 83.7 µUSD.
        "0.0000837",
        id="pydantic-ai-8976b072313c51f2",
    ),
    pytest.param(
        "pydantic-ai",
        "7a38edd8123db47ad8dcb8aa4c5e3926",
        "be64c23f44dd98be",
        # gpt-4o-mini: 265 × 0.15 + 73 × 0.60 = 39.75 + 43.8 = 83.55 µUSD.
        "0.00008355",
        id="pydantic-ai-be64c23f44dd98be",
    ),
]

# Generations whose Langfuse costDetails.total differs from the exact charge,
# with the value Langfuse exported.
LANGFUSE_COST_DIFFERENCES = {
    # Langfuse adds the input and output costs as binary floats:
    # 1.965e-05 + 4.14e-05 = 6.104999999999999e-05, just under the exact
    # 0.00006105, and exports the sum as 6.1049999e-05.
    "eb0cc14cf7943ad5": Decimal("6.1049999e-05"),
}


def _observations(path: Path) -> list[dict[str, Any]]:
    """Read a Langfuse export's observations, with every number as a Decimal."""
    document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    observations: list[dict[str, Any]] = document["observations"]
    return observations


@pytest.mark.parametrize(
    ("framework", "trace_id", "observation_id", "charge"), GENERATIONS
)
def test_generation_charge_by_hand(
    shared_import: SharedImport,
    framework: str,
    trace_id: str,
    observation_id: str,
    charge: str,
) -> None:
    _, db = shared_import(ALL_LANGFUSE)
    billing = db.billing(f"{trace_id}/{observation_id}")
    assert Decimal(billing["usage_amount"]) == Decimal(charge)


@pytest.mark.parametrize(
    ("framework", "trace_id", "observation_id", "charge"), GENERATIONS
)
def test_generation_charge_matches_langfuse(
    shared_import: SharedImport,
    trace_path: Callable[[str], Path],
    framework: str,
    trace_id: str,
    observation_id: str,
    charge: str,
) -> None:
    """The billed charge equals Langfuse's costDetails.total, or a listed difference."""
    _, db = shared_import(ALL_LANGFUSE)
    billed = Decimal(db.billing(f"{trace_id}/{observation_id}")["usage_amount"])
    observation = next(
        item
        for item in _observations(trace_path(LANGFUSE[framework]))
        if item["id"] == observation_id
    )
    langfuse_total = observation["costDetails"]["total"]
    expected = LANGFUSE_COST_DIFFERENCES.get(observation_id, billed)
    assert langfuse_total == expected


@pytest.mark.parametrize("framework", list(LANGFUSE))
def test_generation_table_complete(
    trace_path: Callable[[str], Path], framework: str
) -> None:
    """GENERATIONS lists every GENERATION observation of each Langfuse file."""
    in_file = {
        item["id"]
        for item in _observations(trace_path(LANGFUSE[framework]))
        if item["type"] == "GENERATION"
    }
    in_table = {case.values[2] for case in GENERATIONS if case.values[0] == framework}
    assert in_table == in_file


@pytest.mark.parametrize(
    ("framework", "trace_id", "observation_id", "charge"), GENERATIONS
)
def test_generation_billed_in_usd(
    shared_import: SharedImport,
    framework: str,
    trace_id: str,
    observation_id: str,
    charge: str,
) -> None:
    _, db = shared_import(ALL_LANGFUSE)
    billing = db.billing(f"{trace_id}/{observation_id}")
    assert billing["status"] == "priced"
    assert billing["usage_currency"] == "USD"


# --- One call in three conventions -------------------------------------------

_SAME = object()
"""Marks a column whose value cannot be worked out by hand, only compared."""

CONVENTION_COLUMNS = [
    pytest.param("crossing_id", _SAME, id="crossing_id"),
    pytest.param("session_id", _SAME, id="session_id"),
    pytest.param("kind", "model_invocation", id="kind"),
    pytest.param("actor_id", "model:openai/gpt-4-0613", id="actor"),
    pytest.param("invoker_id", None, id="invoker"),
    pytest.param("target_type", "model", id="target_type"),
    pytest.param("target_id", "openai/gpt-4-0613", id="target_id"),
    pytest.param("state", "completed", id="state"),
    pytest.param(
        "usage",
        {
            "input_uncached_tokens": 97,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "output_tokens": 52,
            "reasoning_tokens": 0,
        },
        id="usage",
    ),
    pytest.param("usage_source", "reported", id="usage_source"),
    pytest.param(
        "attributes",
        {
            "provider": "openai",
            "model": "gpt-4",
            "response_model": "gpt-4-0613",
            "input_tokens": 97,
            "output_tokens_max": 200,
            "finish_reasons": ["stop"],
            "time_source": "import",
        },
        id="attributes",
    ),
    pytest.param("error", None, id="error"),
]


def _convention_crossings(shared_import: SharedImport) -> list[tuple[Any, Any]]:
    """Import each convention's file alone and return its model invocation and db."""
    found = []
    for file in CONVENTIONS:
        _, db = shared_import((file,))
        (crossing,) = db.crossings("model_invocation")
        found.append((crossing, db))
    return found


@pytest.mark.parametrize(("column", "expected"), CONVENTION_COLUMNS)
def test_conventions_same_crossing(
    shared_import: SharedImport, column: str, expected: Any
) -> None:
    """Each file imported alone gives the same value in every crossing column."""
    values = [row[column] for row, _ in _convention_crossings(shared_import)]
    wanted = values[0] if expected is _SAME else expected
    assert values == [wanted, wanted, wanted]


def test_conventions_same_billed_amount(shared_import: SharedImport) -> None:
    # gpt-4-0613: 97 × 30 + 52 × 60 = 2910 + 3120 = 6030 µUSD.
    amounts = [
        Decimal(db.billing(row["crossing_id"])["usage_amount"])
        for row, db in _convention_crossings(shared_import)
    ]
    assert amounts == [Decimal("0.00603")] * 3


def test_conventions_together_one_crossing(shared_import: SharedImport) -> None:
    _, db = shared_import(CONVENTIONS)
    assert len(db.crossings("model_invocation")) == 1


def test_conventions_together_two_duplicates(shared_import: SharedImport) -> None:
    result, _ = shared_import(CONVENTIONS)
    duplicates = [note for session in result.sessions for note in session.duplicates]
    assert len(duplicates) == 2


# --- OpenInference single spans -------------------------------------------


def _crossing_from(db: Any, file: str) -> Any:
    """Return the model invocation read from one file of the import."""
    row = db.one(
        "SELECT crossing_id FROM crossing_records "
        "WHERE json_extract(record, '$.crossing.kind') = 'model_invocation' "
        "AND json_extract(record, '$.crossing.source.file') LIKE ?",
        f"%/{file}",
    )
    return db.crossing(row["crossing_id"])


def test_bad_request_state_failed(shared_import: SharedImport) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-bad-request.json")
    assert crossing["state"] == "failed"


def test_bad_request_status_no_usage(shared_import: SharedImport) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-bad-request.json")
    assert db.billing(crossing["crossing_id"])["status"] == "no_usage"


def test_bad_request_no_usage_charge(shared_import: SharedImport) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-bad-request.json")
    assert db.billing(crossing["crossing_id"])["usage_amount"] is None


def test_bad_request_toll_assessed(shared_import: SharedImport) -> None:
    """The default model_invocation toll, 0.0010 USD, is charged on a failed call."""
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-bad-request.json")
    assert Decimal(db.billing(crossing["crossing_id"])["toll_amount"]) == Decimal(
        "0.0010"
    )


def test_bad_request_settlement_bills_nothing(shared_import: SharedImport) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-bad-request.json")
    billing = db.settlement(crossing["session_id"])["totals"]["billing"]
    assert Decimal(billing["USD"]["usage"]) == 0


OPENINFERENCE_USAGE = [
    pytest.param(
        "chat-reasoning.json",
        # Prompt 27, completion 267 of which 192 reasoning, so 75 other output.
        _tokens(27, 75, reasoning=192),
        # 27 × 0.05 + 267 × 0.40 = 1.35 + 106.8 = 108.15 µUSD.
        "0.00010815",
        id="reasoning",
    ),
    pytest.param(
        "chat-detailed-usage.json",
        # Prompt 12, completion 100, all of it reasoning.
        _tokens(12, 0, reasoning=100),
        # 12 × 0.05 + 100 × 0.40 = 0.6 + 40 = 40.6 µUSD.
        "0.0000406",
        id="detailed-usage",
    ),
    pytest.param(
        "chat-streaming-detailed-usage.json",
        # The streamed call: the same counts, reported in the last chunk.
        _tokens(12, 0, reasoning=100),
        "0.0000406",
        id="streaming",
    ),
    pytest.param(
        "chat-tools.json",
        # Prompt 162, completion 287 of which 256 reasoning, so 31 other output.
        _tokens(162, 31, reasoning=256),
        # 162 × 0.05 + 287 × 0.40 = 8.1 + 114.8 = 122.9 µUSD.
        "0.0001229",
        id="tools",
    ),
]


@pytest.mark.parametrize(("file", "tokens", "charge"), OPENINFERENCE_USAGE)
def test_openinference_usage_split(
    shared_import: SharedImport, file: str, tokens: dict[str, int], charge: str
) -> None:
    _, db = shared_import(OPENINFERENCE)
    usage = _crossing_from(db, file)["usage"]
    expected = {key: value for key, value in tokens.items() if key != "total_tokens"}
    assert usage == expected


@pytest.mark.parametrize(("file", "tokens", "charge"), OPENINFERENCE_USAGE)
def test_openinference_charge(
    shared_import: SharedImport, file: str, tokens: dict[str, int], charge: str
) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing_id = _crossing_from(db, file)["crossing_id"]
    assert Decimal(db.billing(crossing_id)["usage_amount"]) == Decimal(charge)


def test_streamed_call_distinct_crossing(shared_import: SharedImport) -> None:
    """The streamed and unstreamed calls with equal usage stay two crossings."""
    _, db = shared_import(OPENINFERENCE)
    plain = _crossing_from(db, "chat-detailed-usage.json")["crossing_id"]
    streamed = _crossing_from(db, "chat-streaming-detailed-usage.json")["crossing_id"]
    assert plain != streamed


def test_streamed_call_marked_streaming(shared_import: SharedImport) -> None:
    _, db = shared_import(OPENINFERENCE)
    crossing = _crossing_from(db, "chat-streaming-detailed-usage.json")
    assert crossing["attributes"].get("streaming") is True


def test_openinference_no_duplicates(shared_import: SharedImport) -> None:
    result, _ = shared_import(OPENINFERENCE)
    duplicates = [note for session in result.sessions for note in session.duplicates]
    assert duplicates == []


# --- Importing the same files twice -----------------------------------------

GROUPS = {
    "langfuse": ALL_LANGFUSE,
    "otlp-openinference": OPENINFERENCE,
    "genai-attributes": CONVENTIONS,
}


@pytest.fixture(params=list(GROUPS))
def reimported(request: pytest.FixtureRequest, importer: Any) -> dict[str, Any]:
    """Import one group of files twice into the same database."""
    files = GROUPS[request.param]
    first, db = importer(*files)
    counts = db.row_counts()
    second, _ = importer(*files)
    return {"first": first, "second": second, "counts": counts, "db": db}


def test_reimport_row_counts_unchanged(reimported: dict[str, Any]) -> None:
    assert reimported["db"].row_counts() == reimported["counts"]


def test_reimport_sessions_unchanged(reimported: dict[str, Any]) -> None:
    statuses = {item.session_id: item.status for item in reimported["second"].sessions}
    expected = {item.session_id: "unchanged" for item in reimported["first"].sessions}
    assert statuses == expected


def test_reimport_verify_passes(
    reimported: dict[str, Any], cli: Callable[..., Any]
) -> None:
    db = reimported["db"].path
    outcome = cli("verify", "--db", db, "--key-file", db.with_suffix(".key"))
    assert outcome.exit_code == 0, outcome.output
