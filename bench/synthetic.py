"""Synthetic OTLP traces for benchmarks: agent sessions with model and tool calls."""

from __future__ import annotations

import json
import random
from pathlib import Path

__all__ = ["PROFILE", "write_traces"]

_MODELS = (
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1-2025-04-14"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("gcp.gemini", "gemini-2.0-flash"),
)
_TOOLS = ("search", "get_weather", "lookup_customer", "send_email")
_START_NANOS = 1_760_000_000_000_000_000

PROFILE = """\
tenant = "bench"
template = "agentic-workflow"

[[participant]]
match = "human:*"
kinds = ["model_invocation", "tool_call"]

[[participant]]
match = "agent:*"
kinds = ["model_invocation", "tool_call"]
targets = ["model:*", "tool:*"]

[[quota]]
id = "session-tokens"
scope = "session"
unit = "tokens"
limit = "400000"
kinds = ["model_invocation"]

[[quota]]
id = "plan-usd"
scope = "tenant"
unit = "money"
currency = "USD"
limit = "100000"
"""


def _attribute(key: str, value: object) -> dict[str, object]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _session_spans(
    index: int, spans_per_session: int, rng: random.Random
) -> list[dict[str, object]]:
    trace_id = f"{index:032x}"
    start = _START_NANOS + index * 10_000_000_000
    agent_span = f"{index:08x}00000000"
    spans: list[dict[str, object]] = [
        {
            "traceId": trace_id,
            "spanId": agent_span,
            "name": "invoke_agent planner",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 9_000_000_000),
            "attributes": [
                _attribute("gen_ai.operation.name", "invoke_agent"),
                _attribute("gen_ai.agent.name", "planner"),
                _attribute("gen_ai.conversation.id", f"bench-{index:05d}"),
                _attribute("user.id", f"user-{index % 50:03d}"),
            ],
            "status": {"code": "STATUS_CODE_OK"},
        }
    ]
    for step in range(1, spans_per_session + 1):
        begin = start + step * 50_000_000
        span: dict[str, object] = {
            "traceId": trace_id,
            "spanId": f"{index:08x}{step:08x}",
            "parentSpanId": agent_span,
            "startTimeUnixNano": str(begin),
            "endTimeUnixNano": str(begin + 40_000_000),
            "status": {"code": "STATUS_CODE_OK"},
        }
        if step % 4 == 0:
            tool = _TOOLS[step % len(_TOOLS)]
            span["name"] = f"execute_tool {tool}"
            span["attributes"] = [
                _attribute("gen_ai.operation.name", "execute_tool"),
                _attribute("gen_ai.tool.name", tool),
                _attribute("gen_ai.tool.call.id", f"call_{index}_{step}"),
            ]
        else:
            provider, model = _MODELS[rng.randrange(len(_MODELS))]
            prompt = rng.randrange(200, 4000)
            cached = rng.randrange(0, prompt // 2)
            output = rng.randrange(20, 800)
            span["name"] = f"chat {model}"
            span["attributes"] = [
                _attribute("gen_ai.operation.name", "chat"),
                _attribute("gen_ai.provider.name", provider),
                _attribute("gen_ai.request.model", model),
                _attribute("gen_ai.response.model", model),
                _attribute("gen_ai.usage.input_tokens", prompt),
                _attribute("gen_ai.usage.cache_read.input_tokens", cached),
                _attribute("gen_ai.usage.output_tokens", output),
                _attribute("gen_ai.request.max_tokens", 1024),
            ]
        spans.append(span)
    return spans


def write_traces(
    folder: Path,
    *,
    sessions: int,
    spans_per_session: int,
    files: int = 10,
    seed: int = 7,
) -> list[Path]:
    """Write ``sessions`` agent sessions as OTLP JSON, spread over ``files`` files."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    per_file = (sessions + files - 1) // files
    for file_index in range(files):
        spans: list[dict[str, object]] = []
        for index in range(
            file_index * per_file, min(sessions, (file_index + 1) * per_file)
        ):
            spans.extend(_session_spans(index, spans_per_session, rng))
        document = {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [_attribute("service.name", "bench-agents")]
                    },
                    "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
                }
            ]
        }
        path = folder / f"traces-{file_index:02d}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    (folder / "profile.toml").write_text(PROFILE, encoding="utf-8")
    return paths
