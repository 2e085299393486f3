"""Real model calls replayed through the live booth cost what the import billed.

Each trace under SSOAR_REAL_DATA (Langfuse exports and OTLP spans) is
imported first. Every model
call the import priced is then asked of the live booth, at the instant it
started, with its input and output as the worst case, and completed with
the usage the trace reported. The live settlement must bill each call, and
the session, exactly what the import billed: the same catalogue prices the
same usage whichever way it arrives.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ssoar.cli import app
from ssoar.live import (
    BeginCrossing,
    CompleteCrossing,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    UsageReport,
)
from ssoar.model._time import parse_time

TRACES = (
    "traces/langfuse/crewai-2025-07-11.trace.json",
    "traces/langfuse/google-adk-2025-08-28.trace.json",
    "traces/langfuse/microsoft-agent-2025-12-17.trace.json",
    "traces/langfuse/openai-agents-2025-09-30.trace.json",
    "traces/langfuse/pydantic-ai-tools-2025-12-04.trace.json",
    "traces/otlp-openinference/chat-detailed-usage.json",
    "traces/otlp-openinference/chat-reasoning.json",
    "traces/otlp-openinference/chat-streaming-detailed-usage.json",
    "traces/otlp-openinference/chat-tools.json",
    "traces/genai-attributes/otel_genai_client_span_tool_calls.json",
)
AGENT = "agent:replay"


def imported_calls(trace: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """Import one trace and return the model calls it priced, in order."""
    database = tmp_path / "imported.db"
    result = CliRunner().invoke(
        app,
        [
            "import",
            str(trace),
            "--db",
            str(database),
            "--key-file",
            str(tmp_path / "imported.key"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT record FROM audit_leaves WHERE record_type = 'crossing' "
            "ORDER BY session_id, leaf_index"
        ).fetchall()
    calls = []
    for (data,) in rows:
        record = json.loads(data)
        crossing = record["crossing"]
        billing = record["ledgers"]["billing"]
        if crossing["kind"] == "model_invocation" and billing["status"] == "priced":
            calls.append(record)
    return calls


def usage_report(usage: dict[str, int]) -> UsageReport:
    """Turn the five disjoint parts of a stored usage into provider totals."""
    return UsageReport(
        input_tokens=usage["input_uncached_tokens"]
        + usage["cache_read_tokens"]
        + usage["cache_write_tokens"],
        output_tokens=usage["output_tokens"] + usage["reasoning_tokens"],
        cache_read_tokens=usage["cache_read_tokens"],
        cache_write_tokens=usage["cache_write_tokens"],
        reasoning_tokens=usage["reasoning_tokens"],
    )


@pytest.mark.parametrize("relative", TRACES, ids=lambda path: Path(path).stem)
def test_replay_bills_like_import(
    relative: str,
    real_data: Any,
    tmp_path: Path,
    make_booth: Callable[..., LiveBooth],
    clock: Any,
) -> None:
    calls = imported_calls(real_data.path(relative), tmp_path)
    # Breakdowns such as audio tokens have no field in a usage report.
    calls = [
        call
        for call in calls
        if set(call["crossing"]["usage"])
        == {
            "input_uncached_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        }
    ]
    assert calls, relative
    booth = make_booth()
    clock.now = parse_time(calls[0]["crossing"]["started_at"], field="started_at")
    opened = booth.open_session(
        "acme",
        OpenSession(
            participants=[ParticipantSpec(AGENT)],
            grants=[GrantSpec(AGENT, ["model_invocation"])],
            quotas=[QuotaSpec("crossings", "crossings", "10000")],
            idle_timeout_seconds=31_536_000,
            max_lifetime_seconds=31_536_000,
        ),
    )
    expected_total = Decimal(0)
    for number, call in enumerate(calls):
        crossing = call["crossing"]
        billing = call["ledgers"]["billing"]
        usage = usage_report(crossing["usage"])
        clock.now = parse_time(crossing["started_at"], field="started_at")
        answer = booth.begin(
            "acme",
            opened.session_id,
            BeginCrossing(
                kind="model_invocation",
                invoker=AGENT,
                provider=billing["provider_id"],
                model=billing["model_id"],
                input_tokens=usage.input_tokens,
                max_output_tokens=usage.output_tokens,
                crossing_id=f"call-{number}",
            ),
        )
        assert answer.allowed, answer.reasons
        completed = booth.complete(
            "acme", opened.session_id, f"call-{number}", CompleteCrossing(usage=usage)
        )
        expected = Decimal(billing["usage_charge"]["amount"])
        assert completed.charge is not None
        assert Decimal(completed.charge["amount"]) == expected, crossing["crossing_id"]
        assert completed.charge["currency"] == billing["usage_charge"]["currency"]
        expected_total += expected
    record = booth.close_session("acme", opened.session_id)
    assert record["state"] == "settled"
    assert Decimal(record["totals"]["billing"]["USD"]["usage"]) == expected_total
