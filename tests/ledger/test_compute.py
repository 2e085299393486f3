"""Tests for metering tokens and FLOPs per crossing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ssoar.ledger._compute import meter_crossing
from ssoar.ledger._flops import estimate_flops, find_model_size
from ssoar.model import Crossing, CrossingState, TokenUsage, UsageSource

AT = datetime(2025, 6, 1, tzinfo=UTC)
# 1,200 input tokens (200 read from cache, 100 written to it) and 300 output
# tokens (50 of them reasoning).
USAGE = TokenUsage.from_inclusive(
    input_tokens=1_200,
    output_tokens=300,
    cache_read_tokens=200,
    cache_write_tokens=100,
    reasoning_tokens=50,
)
# Every token except the 200 cache reads: 900 uncached input, 100 cache
# writes, 250 output and 50 reasoning tokens, so 1,300.
COUNTED_TOKENS = 1_300


def make_crossing(usage: TokenUsage | None = USAGE, **attributes: Any) -> Crossing:
    return Crossing(
        crossing_id="c-1",
        session_id="s-1",
        kind="model_invocation",
        actor_id="model:m",
        started_at=AT,
        state=CrossingState.COMPLETED,
        attributes=attributes,
        usage=usage,
        usage_source=UsageSource.REPORTED if usage else UsageSource.NONE,
    )


def test_meter_llama_8b_flops() -> None:
    entry = meter_crossing(make_crossing(model="meta-llama/llama-3.1-8b-instruct"))
    # 2 FLOPs x 8e9 parameters x 1,300 tokens = 2.08e13.
    assert entry.flops == 20_800_000_000_000
    assert entry.flops == 2 * 8_000_000_000 * COUNTED_TOKENS


def test_meter_flops_basis() -> None:
    entry = meter_crossing(make_crossing(model="llama-3.1-8b"))
    assert entry.flops_basis is not None
    assert entry.flops_basis.startswith(
        "2 x 8000000000 active parameters x 1300 tokens (cache reads excluded)"
    )


def test_meter_cache_reads_excluded() -> None:
    cached = TokenUsage(input_uncached_tokens=10, cache_read_tokens=1_000_000)
    entry = meter_crossing(make_crossing(cached, model="llama-3.1-8b"))
    # Only the 10 uncached tokens count: 2 x 8e9 x 10.
    assert entry.flops == 160_000_000_000


@pytest.mark.parametrize(
    ("model", "active_parameters"),
    [
        ("llama-3.1-405b-instruct", 405_000_000_000),
        ("Meta-Llama-3.1-70B-Instruct", 70_000_000_000),
        ("llama3-8b-8192", 8_000_000_000),
        ("mixtral-8x22b-instruct", 39_000_000_000),
        ("mixtral-8x7b-32768", 12_900_000_000),
        ("mistral-7b-instruct-v0.3", 7_300_000_000),
        ("deepseek-chat", 37_000_000_000),
        ("deepseek-v3-0324", 37_000_000_000),
        ("openai/gpt-oss-120b", 5_100_000_000),
        ("gpt-oss-20b", 3_600_000_000),
    ],
)
def test_meter_published_sizes(model: str, active_parameters: int) -> None:
    entry = meter_crossing(make_crossing(model=model))
    assert entry.flops == 2 * active_parameters * COUNTED_TOKENS


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "claude-sonnet-4-5",
        "gemini-2.5-pro",
        "llama-3.2-1b",
        # Distilled models are dense models of their own, far smaller than
        # DeepSeek-R1, and the table lists no size for them.
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        "deepseek-r1-distill-llama-8b",
    ],
)
def test_meter_unknown_size_none(model: str) -> None:
    entry = meter_crossing(make_crossing(model=model))
    assert entry.flops is None
    assert entry.flops_basis is None


def test_meter_no_model_none() -> None:
    entry = meter_crossing(make_crossing())
    assert entry.model is None
    assert entry.flops is None


def test_meter_no_usage() -> None:
    entry = meter_crossing(make_crossing(None, model="llama-3.1-8b"))
    assert entry.usage == TokenUsage()
    assert entry.usage_source is UsageSource.NONE
    assert entry.flops is None


def test_meter_prefers_response_model() -> None:
    crossing = make_crossing(model="gpt-4o", response_model="llama-3.1-70b")
    entry = meter_crossing(crossing)
    assert entry.model == "llama-3.1-70b"
    assert entry.flops == 2 * 70_000_000_000 * COUNTED_TOKENS


def test_meter_records_provider_and_usage() -> None:
    entry = meter_crossing(make_crossing(model="gpt-4o", provider="openai"))
    assert entry.provider == "openai"
    assert entry.usage == USAGE
    assert entry.usage_source is UsageSource.REPORTED


def test_meter_to_json_flops_text() -> None:
    data = meter_crossing(make_crossing(model="llama-3.1-8b")).to_json()
    assert data["flops"] == "20800000000000"
    assert data["usage"] == USAGE.to_json()


def test_estimate_flops_none_model() -> None:
    assert estimate_flops(None, USAGE) is None


def test_find_model_size_case_insensitive() -> None:
    size = find_model_size("LLAMA-3.1-8B")
    assert size is not None
    assert size.active_parameters == 8_000_000_000
