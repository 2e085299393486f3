"""Tests for PriceCatalogue, the genai-prices based price lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.ledger._pricing import (
    PriceCatalogue,
    PriceQuote,
    PriceUnknown,
    resolve_provider_id,
)
from ssoar.model._money import Money
from ssoar.model._usage import TokenUsage, UsageError

# gpt-4o is $2.50 per million input tokens, $1.25 per million cached input
# tokens and $10 per million output tokens at this date in genai-prices 0.2.3.
_AT = datetime(2025, 11, 6, 12, tzinfo=UTC)

COMMON_MODELS = [
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("gpt-4.1", "openai"),
    ("gpt-5-nano", "openai"),
    ("gpt-5-mini", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-3-5-sonnet", "anthropic"),
    ("gemini-2.0-flash", "gcp.gemini"),
    ("gemini-2.5-pro", "gcp.gemini"),
]


@pytest.fixture(scope="module")
def catalogue() -> PriceCatalogue:
    return PriceCatalogue()


def genai_usage(usage: TokenUsage) -> Usage:
    """Build the genai-prices usage by hand, independently of the module."""
    return Usage(
        input_tokens=usage.input_total_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        input_audio_tokens=usage.input_audio_tokens,
        input_image_tokens=usage.input_image_tokens,
        input_video_tokens=usage.input_video_tokens,
        cache_audio_read_tokens=usage.cache_read_audio_tokens,
        cache_image_read_tokens=usage.cache_read_image_tokens,
        output_tokens=usage.output_total_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
        output_audio_tokens=usage.output_audio_tokens,
        output_image_tokens=usage.output_image_tokens,
        output_video_tokens=usage.output_video_tokens,
        output_citation_tokens=usage.output_citation_tokens,
    )


def assert_same_as_calc_price(
    quote: PriceQuote,
    usage: TokenUsage,
    model: str,
    provider: str | None,
    at: datetime,
    price_context: dict[str, str] | None = None,
) -> None:
    expected = calc_price(
        genai_usage(usage),
        model,
        provider_id=resolve_provider_id(provider),
        genai_request_timestamp=at,
        price_context=price_context,
    )
    # str() compares the Decimal exponent too, so stored text is identical.
    assert str(quote.input.amount) == str(expected.input_price)
    assert str(quote.output.amount) == str(expected.output_price)
    assert str(quote.total.amount) == str(expected.total_price)
    assert quote.model_id == expected.model.id
    assert quote.provider_id == expected.provider.id


# --- The cached-prompt example --------------------------------------------------


def test_cached_prompt_priced_as_cache_reads(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage.from_inclusive(
        input_tokens=17_903, cache_read_tokens=17_817, output_tokens=500
    )
    quote = catalogue.quote(usage, model="gpt-4o", provider="openai", at=_AT)
    # 86 x $2.50/M + 17,817 x $1.25/M, not 17,903 x $2.50/M = $0.0447575.
    assert quote.input == Money(Decimal("0.02248625"), "USD")
    assert quote.output == Money(Decimal("0.005"), "USD")
    assert quote.total == Money(Decimal("0.02748625"), "USD")
    assert quote.model_id == "gpt-4o"
    assert quote.provider_id == "openai"


def test_quote_records_rates_and_version(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1_000, output_tokens=100)
    quote = catalogue.quote(usage, model="gpt-4o", provider="openai", at=_AT)
    assert "input_mtok=2.5" in quote.price_ref
    assert "cache_read_mtok=1.25" in quote.price_ref
    assert "output_mtok=10" in quote.price_ref
    assert quote.catalogue_version.startswith("genai-prices==0.2.3 data:sha256:")
    assert quote.catalogue_version == catalogue.version
    assert quote.priced_at == _AT


def test_quote_to_json(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1_000, output_tokens=100)
    data = catalogue.quote(usage, model="gpt-4o", provider="openai", at=_AT).to_json()
    assert data["total"] == {"amount": "0.0035", "currency": "USD"}
    assert data["priced_at"] == "2025-11-06T12:00:00.000000Z"
    assert data["model_id"] == "gpt-4o"


def test_quotes_are_money(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1, output_tokens=1)
    quote = catalogue.quote(usage, model="gpt-4o-mini", provider="openai", at=_AT)
    for money in (quote.total, quote.input, quote.output):
        assert isinstance(money, Money)
        assert isinstance(money.amount, Decimal)
        assert money.currency == "USD"
    assert quote.total == quote.input + quote.output


# --- Equality with calc_price -----------------------------------------------------

_counts = st.integers(min_value=0, max_value=400_000)
_instants = st.sampled_from(
    [
        datetime(2025, 1, 1, tzinfo=UTC),
        _AT,
        datetime(2026, 8, 21, tzinfo=UTC),
        datetime(2026, 10, 20, 18, tzinfo=UTC),
        datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
    ]
)


@st.composite
def token_usages(draw: st.DrawFn) -> TokenUsage:
    """Usages with every part and consistent breakdowns; inputs reach past the
    200,000-token tiers of claude-sonnet-4-5 and gemini-2.5-pro."""
    uncached, read, written = draw(_counts), draw(_counts), draw(_counts)
    output, reasoning = draw(_counts), draw(_counts)
    read_audio = draw(st.integers(0, read))
    input_audio = read_audio + draw(st.integers(0, uncached + written))
    return TokenUsage(
        input_uncached_tokens=uncached,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=reasoning,
        cache_write_1h_tokens=draw(st.integers(0, written)),
        input_audio_tokens=input_audio,
        cache_read_audio_tokens=read_audio,
    )


@settings(max_examples=200, deadline=None)
@given(
    usage=token_usages(),
    model=st.sampled_from(COMMON_MODELS),
    at=_instants,
    name_provider=st.booleans(),
)
def test_cached_quote_equals_calc_price(
    catalogue: PriceCatalogue,
    usage: TokenUsage,
    model: tuple[str, str],
    at: datetime,
    name_provider: bool,
) -> None:
    model_name, provider = model
    chosen = provider if name_provider else None
    quote = catalogue.quote(usage, model=model_name, provider=chosen, at=at)
    assert_same_as_calc_price(quote, usage, model_name, chosen, at)


@pytest.mark.parametrize("input_tokens", [199_999, 200_000, 200_001, 1_000_000])
@pytest.mark.parametrize(
    ("model", "provider"),
    [("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-pro", "google")],
)
def test_tier_cliff(
    catalogue: PriceCatalogue, model: str, provider: str, input_tokens: int
) -> None:
    usage = TokenUsage.from_inclusive(
        input_tokens=input_tokens, cache_read_tokens=1_000, output_tokens=1_000
    )
    quote = catalogue.quote(usage, model=model, provider=provider, at=_AT)
    assert_same_as_calc_price(quote, usage, model, provider, _AT)


def test_tier_applies_to_every_token(catalogue: PriceCatalogue) -> None:
    below = TokenUsage(input_uncached_tokens=200_000)
    above = TokenUsage(input_uncached_tokens=200_001)
    quote_below = catalogue.quote(
        below, model="claude-sonnet-4-5", provider="anthropic", at=_AT
    )
    quote_above = catalogue.quote(
        above, model="claude-sonnet-4-5", provider="anthropic", at=_AT
    )
    assert quote_below.input.amount == Decimal("0.6")
    assert quote_above.input.amount == Decimal("1.200006")


def test_price_period_boundary(catalogue: PriceCatalogue) -> None:
    """gpt-5.6-sol input drops from $5 to $4 per million on 2026-08-21 (UTC)."""
    usage = TokenUsage(input_uncached_tokens=100_000)
    start = datetime(2026, 8, 21, tzinfo=UTC)
    after = catalogue.quote(usage, model="gpt-5.6-sol", provider="openai", at=start)
    before = catalogue.quote(
        usage,
        model="gpt-5.6-sol",
        provider="openai",
        at=start - timedelta(microseconds=1),
    )
    assert after.input.amount == Decimal("0.4")
    assert before.input.amount == Decimal("0.5")
    assert "input_mtok=5" in before.price_ref
    assert "input_mtok=4" in after.price_ref


def test_non_utc_time_uses_utc_date(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=100_000)
    # 01:00 at UTC+2 on the 21st is 23:00 UTC on the 20th: the old price.
    local = datetime(2026, 8, 21, 1, tzinfo=timezone(timedelta(hours=2)))
    quote = catalogue.quote(usage, model="gpt-5.6-sol", provider="openai", at=local)
    assert quote.input.amount == Decimal("0.5")
    assert quote.priced_at == datetime(2026, 8, 20, 23, tzinfo=UTC)
    assert quote.priced_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("hour", "input_rate"),
    [(0, "0.135"), (1, "0.27"), (16, "0.27"), (17, "0.135")],
)
def test_time_of_day_prices(
    catalogue: PriceCatalogue, hour: int, input_rate: str
) -> None:
    """deepseek-chat has off-peak prices outside 00:30-16:30 UTC."""
    usage = TokenUsage(input_uncached_tokens=1_000_000, output_tokens=10)
    at = datetime(2026, 3, 1, hour, tzinfo=UTC)
    quote = catalogue.quote(usage, model="deepseek-chat", provider="deepseek", at=at)
    assert quote.input.amount == Decimal(input_rate)
    assert_same_as_calc_price(quote, usage, "deepseek-chat", "deepseek", at)


def test_price_context_variant(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1_000_000, output_tokens=1_000)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    context = {"service_tier": "flex"}
    quote = catalogue.quote(
        usage, model="gpt-5-mini", provider="openai", at=at, price_context=context
    )
    assert quote.input.amount == Decimal("0.125")
    assert quote.price_ref.startswith("[service_tier=flex] ")
    assert_same_as_calc_price(quote, usage, "gpt-5-mini", "openai", at, context)


def test_request_fee_in_total(catalogue: PriceCatalogue) -> None:
    """Perplexity sonar charges $12 per thousand requests on top of tokens."""
    usage = TokenUsage(input_uncached_tokens=1_000, output_tokens=1_000)
    quote = catalogue.quote(usage, model="sonar", provider="perplexity", at=_AT)
    assert quote.total.amount == quote.input.amount + quote.output.amount + Decimal(
        "0.012"
    )
    assert_same_as_calc_price(quote, usage, "sonar", "perplexity", _AT)


def test_audio_priced_separately(catalogue: PriceCatalogue) -> None:
    """gemini-2.0-flash bills audio input at $0.70 instead of $0.10 per million."""
    usage = TokenUsage(input_uncached_tokens=2_000_000, input_audio_tokens=1_000_000)
    quote = catalogue.quote(usage, model="gemini-2.0-flash", provider="google", at=_AT)
    assert quote.input.amount == Decimal("0.8")


def test_one_hour_cache_writes(catalogue: PriceCatalogue) -> None:
    """claude-3-5-sonnet cache writes cost $3.75 (5 minutes) or $6 (1 hour)."""
    usage = TokenUsage(cache_write_tokens=2_000_000, cache_write_1h_tokens=1_000_000)
    quote = catalogue.quote(
        usage, model="claude-3-5-sonnet", provider="anthropic", at=_AT
    )
    assert quote.input.amount == Decimal("9.75")


# --- Errors ----------------------------------------------------------------------


def test_naive_datetime_rejected(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1)
    with pytest.raises(ValueError, match="has no timezone"):
        catalogue.quote(
            usage, model="gpt-4o", provider="openai", at=datetime(2025, 11, 6)
        )


def test_unknown_model(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1)
    with pytest.raises(PriceUnknown) as raised:
        catalogue.quote(usage, model="no-such-model-x1", provider="openai", at=_AT)
    message = str(raised.value)
    assert "'no-such-model-x1'" in message
    assert "provider 'openai'" in message
    assert "Check the model and provider names" in message
    assert isinstance(raised.value, LookupError)


def test_unknown_model_without_provider(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1)
    with pytest.raises(PriceUnknown, match="inferred from the model name"):
        catalogue.quote(usage, model="no-such-model-x1", provider=None, at=_AT)


def test_unknown_provider_name_inferred(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1_000_000)
    quote = catalogue.quote(usage, model="gpt-4o", provider="ibm.watsonx.ai", at=_AT)
    assert quote.provider_id == "openai"


def test_model_without_prices(catalogue: PriceCatalogue) -> None:
    """qwen-3-coder-480b at Cerebras has no rates: never a zero price."""
    usage = TokenUsage(input_uncached_tokens=10, output_tokens=10)
    with pytest.raises(PriceUnknown, match="no price for input_uncached_tokens"):
        catalogue.quote(usage, model="qwen-3-coder-480b", provider="cerebras", at=_AT)


def test_model_without_output_price(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=10, output_tokens=10)
    with pytest.raises(PriceUnknown, match="no price for output_tokens"):
        catalogue.quote(
            usage, model="text-embedding-3-small", provider="openai", at=_AT
        )


def test_inconsistent_breakdown_rejected(catalogue: PriceCatalogue) -> None:
    """Audio input that was all read from cache, without saying so in
    cache_read_audio_tokens, leaves genai-prices a negative count of plain
    input tokens for gemini-2.0-flash, which prices cached audio apart."""
    usage = TokenUsage(cache_read_tokens=10, input_audio_tokens=10)
    with pytest.raises(UsageError, match="genai-prices rejected"):
        catalogue.quote(usage, model="gemini-2.0-flash", provider="google", at=_AT)


# --- Provider names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider_id"),
    [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("aws.bedrock", "aws"),
        ("aws", "aws"),
        ("azure.ai.openai", "azure"),
        ("azure.ai.inference", "azure"),
        ("az.ai.openai", "azure"),
        ("azure", "azure"),
        ("gcp.gemini", "google"),
        ("gcp.vertex_ai", "google"),
        ("gcp.gen_ai", "google"),
        ("gcp.vertex.agent", "google"),
        ("gemini", "google"),
        ("vertex_ai", "google"),
        ("google", "google"),
        ("cohere", "cohere"),
        ("deepseek", "deepseek"),
        ("groq", "groq"),
        ("mistral_ai", "mistral"),
        ("mistralai", "mistral"),
        ("x_ai", "x-ai"),
        ("xai", "x-ai"),
        ("perplexity", "perplexity"),
        ("openrouter", "openrouter"),
        ("huggingface_groq", "huggingface_groq"),
        (" OpenAI ", "openai"),
        ("ibm.watsonx.ai", None),
        ("microsoft.agent_framework", None),
        (None, None),
    ],
)
def test_resolve_provider_id(name: str | None, provider_id: str | None) -> None:
    assert resolve_provider_id(name) == provider_id


def test_telemetry_names_price_alike(catalogue: PriceCatalogue) -> None:
    usage = TokenUsage(input_uncached_tokens=1_000, output_tokens=1_000)
    by_otel = catalogue.quote(
        usage, model="gemini-2.0-flash", provider="gcp.gemini", at=_AT
    )
    by_id = catalogue.quote(usage, model="gemini-2.0-flash", provider="google", at=_AT)
    assert by_otel == by_id
