"""Golden test: normalise and price real usage blocks from many providers.

The input is genai-prices' own dataset of response bodies recorded from
pydantic-ai's test cassettes (every other record). For each body it lists,
per genai-prices provider and API flavour, the usage that genai-prices
extracted and, where that provider prices the model, the input and output
price it calculated.

The entries carry no request time. They are priced at 2025-11-06T12:00Z, the
fixed ``genai_request_timestamp`` that the dataset generator in
pydantic/genai-prices (``tests/dataset/extract_usages.py``) passes to
``calc_price``. The bundled catalogue gives the same prices for these entries
at any instant from 2025-01-01 to 2026-03-15, so the choice within that range
does not matter. Later instants pick up price changes dated 2026-03-16 and
after.

Only extractor results with an expected price are compared. The others come
from genai-prices trying every provider's extractor on every body (such as
the xAI extractor on an OpenAI body): they describe no real invocation and
have no price to compare.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ssoar.ledger._pricing import PriceCatalogue, PriceUnknown
from ssoar.ledger._provider_usage import normalise_usage
from ssoar.model._usage import TokenUsage

_PRICED_AT = datetime(2025, 11, 6, 12, tzinfo=UTC)
_MIN_EQUAL_RATIO = 0.95

_Key = tuple[str, str, str]
"""(file, provider_id, api_flavor); a file can hold several responses."""

# genai-prices usage keys that are subsets of a TokenUsage part, by field.
_BREAKDOWN_KEYS = {
    "cache_write_1h_tokens": "cache_write_1h_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "input_image_tokens": "input_image_tokens",
    "input_video_tokens": "input_video_tokens",
    "cache_audio_read_tokens": "cache_read_audio_tokens",
    "cache_image_read_tokens": "cache_read_image_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "output_image_tokens": "output_image_tokens",
    "output_video_tokens": "output_video_tokens",
    "output_citation_tokens": "output_citation_tokens",
}
# Keys TokenUsage has no field for. The text, tool, cached video and
# five-minute counts are subsets that no bundled price uses; web searches are
# not tokens.
_DROPPED_KEYS = {
    "input_text_tokens",
    "output_text_tokens",
    "cache_text_read_tokens",
    "cache_video_read_tokens",
    "input_tool_tokens",
    "input_text_tool_tokens",
    "cache_write_5m_tokens",
    "web_searches",
}

_CACHE_WRITES_AZURE = (
    "the block reports {count:,} cache-write tokens "
    "({details}.cache_write_tokens); the expected Azure usage and "
    "price count them as plain input at $5/MTok, but genai-prices 0.2.3's "
    "azure extractor reads them too and gpt-5.6-sol bills cache writes at "
    "$6.25/MTok"
)

PRICE_EXCEPTIONS: dict[_Key, str] = {
    (
        "models/cassettes/test_anthropic/test_pause_turn_web_search_vcr.yaml",
        "google",
        "anthropic",
    ): (
        "tiered price: the bundled catalogue gives Vertex AI's "
        "claude-sonnet-4-5 a long-context tier (input above 200,000 tokens: "
        "$6 input, $22.5 output per MTok), and this call has 401,468 input "
        "tokens; the expected price bills them at the $3/$15 base rate"
    ),
    (
        "models/cassettes/test_openai_prompt_cache/"
        "test_openai_responses_prompt_cache_e2e.yaml",
        "azure",
        "responses",
    ): _CACHE_WRITES_AZURE.format(count=4_012, details="input_tokens_details"),
    (
        "models/cassettes/test_openai_prompt_cache/"
        "test_openai_chat_prompt_cache_e2e.yaml",
        "azure",
        "chat",
    ): _CACHE_WRITES_AZURE.format(count=4_012, details="prompt_tokens_details"),
    (
        "models/cassettes/test_openai_responses/"
        "test_openai_responses_model_web_search_tool_without_external_access.yaml",
        "azure",
        "responses",
    ): _CACHE_WRITES_AZURE.format(count=4_418, details="input_tokens_details"),
    (
        "models/cassettes/test_openai/test_openai_model_cerebras_provider_qwen_3_coder.yaml",
        "cerebras",
        "chat",
    ): (
        "the bundled catalogue lists qwen-3-coder-480b at Cerebras with no "
        "rates at all (deprecated, kept for historical usage), so calc_price "
        "returns $0 and PriceCatalogue raises PriceUnknown instead"
    ),
}

_THINKING = (
    "genai-prices' anthropic extractor for {provider} does not read "
    "output_tokens_details.thinking_tokens; the normaliser moves those "
    "tokens from output_tokens to reasoning_tokens, so the output total and "
    "the price are the same"
)
_THINKING_FILES = [
    "models/cassettes/test_anthropic/test_anthropic_advisor_tool.yaml",
    "models/cassettes/test_anthropic/test_anthropic_advisor_tool_redacted.yaml",
    "cassettes/test_cache_prefix_stability/"
    "test_anthropic_thinking_agui_0_1_10_drops_prefix.yaml",
    "cassettes/test_cache_prefix_stability/"
    "test_anthropic_thinking_roundtrip_wire_stable[vercel].yaml",
    "cassettes/test_cache_prefix_stability/"
    "test_anthropic_thinking_roundtrip_wire_stable[ag_ui-0_1_13].yaml",
    "cassettes/test_code_execution_files_vcr/"
    "test_anthropic_code_execution_files_cache_prefix_stable[automatic-sonnet-5].yaml",
    "cassettes/test_code_execution_files_vcr/"
    "test_anthropic_code_execution_files_cache_prefix_stable[messages-sonnet-5].yaml",
]

USAGE_EXCEPTIONS: dict[_Key, str] = {
    **{
        (file, provider, "anthropic"): _THINKING.format(provider=provider)
        for file in _THINKING_FILES
        for provider in ("aws", "azure", "google")
    },
    **{key: reason for key, reason in PRICE_EXCEPTIONS.items() if key[1] == "azure"},
}


@dataclass(frozen=True)
class Case:
    """One extractor result that has an expected price."""

    key: _Key
    body: dict[str, Any]
    model: str
    expected_usage: dict[str, int]
    input_price: Decimal
    output_price: Decimal


def iter_cases(entries: list[dict[str, Any]]) -> Iterator[Case]:
    for entry in entries:
        body = entry["body"]
        for extracted in entry["extracted"]:
            for extractor in extracted["extractors"]:
                if "input_price" not in extractor:
                    continue
                yield Case(
                    key=(
                        body["file"],
                        extractor["provider_id"],
                        extractor["api_flavor"],
                    ),
                    body=body,
                    model=entry["model"],
                    expected_usage=extracted["usage"],
                    input_price=Decimal(extractor["input_price"]),
                    output_price=Decimal(extractor["output_price"]),
                )


def to_token_usage(usage: dict[str, int]) -> TokenUsage:
    """Translate genai-prices' inclusive usage keys into disjoint parts."""
    unknown = set(usage) - {
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "output_reasoning_tokens",
        *_BREAKDOWN_KEYS,
        *_DROPPED_KEYS,
    }
    assert not unknown, f"usage keys without a translation: {sorted(unknown)}"
    read = usage.get("cache_read_tokens", 0)
    written = usage.get("cache_write_tokens", 0)
    reasoning = usage.get("output_reasoning_tokens", 0)
    return TokenUsage(
        input_uncached_tokens=usage.get("input_tokens", 0) - read - written,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=usage.get("output_tokens", 0) - reasoning,
        reasoning_tokens=reasoning,
        **{field: usage.get(key, 0) for key, field in _BREAKDOWN_KEYS.items()},
    )


@pytest.fixture
def entries(real_data: Any) -> list[dict[str, Any]]:
    path = real_data.path("prices/genai_prices_usages_even.json")
    loaded: list[dict[str, Any]] = json.loads(path.read_text())
    assert len(loaded) > 700, f"{path} has only {len(loaded)} entries"
    return loaded


@pytest.fixture
def cases(entries: list[dict[str, Any]]) -> list[Case]:
    found = list(iter_cases(entries))
    assert len(found) > 1_500, f"only {len(found)} results with a price"
    return found


def check_exceptions(
    differing: dict[_Key, str], exceptions: dict[_Key, str], what: str
) -> None:
    unlisted = {key: differing[key] for key in differing.keys() - exceptions.keys()}
    stale = sorted(exceptions.keys() - differing.keys())
    assert not unlisted, f"{what} differ but are not listed: {unlisted}"
    assert not stale, f"{what} listed as differing now match: {stale}"


def test_golden_prices(cases: list[Case]) -> None:
    catalogue = PriceCatalogue()
    differing: dict[_Key, str] = {}
    equal = 0
    for case in cases:
        provider = case.key[1]
        usage = normalise_usage(case.body, provider=provider, api_flavor=case.key[2])
        try:
            quote = catalogue.quote(
                usage, model=case.model, provider=provider, at=_PRICED_AT
            )
        except PriceUnknown as error:
            differing[case.key] = f"PriceUnknown: {error}"
            continue
        if (quote.input.amount, quote.output.amount) == (
            case.input_price,
            case.output_price,
        ):
            equal += 1
        else:
            differing[case.key] = (
                f"expected input {case.input_price}, output {case.output_price}; "
                f"got {quote.input.amount}, {quote.output.amount}"
            )
    ratio = equal / len(cases)
    assert ratio >= _MIN_EQUAL_RATIO, f"only {equal} of {len(cases)} prices equal"
    check_exceptions(differing, PRICE_EXCEPTIONS, "prices")


def test_golden_usages(cases: list[Case]) -> None:
    differing: dict[_Key, str] = {}
    for case in cases:
        usage = normalise_usage(case.body, provider=case.key[1], api_flavor=case.key[2])
        expected = to_token_usage(case.expected_usage)
        if usage != expected:
            differing[case.key] = f"expected {expected}, got {usage}"
    check_exceptions(differing, USAGE_EXCEPTIONS, "usages")


def test_every_block_normalises_without_hints(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        usage = normalise_usage(entry["body"])
        assert usage.total_tokens >= 0
