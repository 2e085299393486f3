"""Tests for billing a crossing's usage and assessing its toll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ssoar.ledger._billing import (
    DEFAULT_TOLLS_USD,
    BillingEntry,
    BillingStatus,
    TollSchedule,
    bill_crossing,
)
from ssoar.ledger._pricing import PriceCatalogue
from ssoar.model import (
    Crossing,
    CrossingState,
    Money,
    TokenUsage,
    UsageError,
    UsageSource,
)

AT = datetime(2025, 11, 6, 12, tzinfo=UTC)
PRICED = frozenset({"model_invocation"})
TOLLS = TollSchedule()
USAGE = TokenUsage.from_inclusive(input_tokens=1000, output_tokens=200)


@dataclass(frozen=True)
class FakeQuote:
    total: Money
    model_id: str
    provider_id: str
    price_ref: str
    catalogue_version: str


class FakeQuoter:
    """Prices every known model at a fixed amount and records each request."""

    def __init__(self, prices: dict[str, str] | None = None) -> None:
        self.prices = {"gpt-4o": "0.0125"} if prices is None else prices
        self.requests: list[dict[str, Any]] = []

    def quote(
        self, usage: TokenUsage, *, model: str, provider: str | None, at: datetime
    ) -> FakeQuote:
        self.requests.append(
            {"usage": usage, "model": model, "provider": provider, "at": at}
        )
        if model == "bad-usage":
            raise UsageError("audio tokens cannot be priced")
        if model not in self.prices:
            raise LookupError(f"no price for {model}")
        return FakeQuote(
            Money(Decimal(self.prices[model]), "USD"),
            model,
            provider or "unknown",
            f"fixed {self.prices[model]}",
            "fake-1",
        )


def make_crossing(
    kind: str = "model_invocation",
    *,
    state: CrossingState = CrossingState.COMPLETED,
    usage: TokenUsage | None = USAGE,
    usage_source: UsageSource = UsageSource.REPORTED,
    **attributes: Any,
) -> Crossing:
    if kind == "model_invocation" and "model" not in attributes:
        attributes = {"model": "gpt-4o", "provider": "openai", **attributes}
    attributes = {key: value for key, value in attributes.items() if value is not None}
    return Crossing(
        crossing_id="c-1",
        session_id="s-1",
        kind=kind,
        actor_id="model:openai/gpt-4o",
        started_at=AT,
        state=state,
        attributes=attributes,
        usage=usage,
        usage_source=usage_source if usage is not None else UsageSource.NONE,
    )


def bill(crossing: Crossing, quoter: Any = None) -> BillingEntry:
    return bill_crossing(crossing, quoter or FakeQuoter(), TOLLS, priced_kinds=PRICED)


# Usage charges


def test_bill_priced_usage() -> None:
    entry = bill(make_crossing())
    assert entry.status is BillingStatus.PRICED
    assert entry.usage_charge == Money(Decimal("0.0125"), "USD")
    assert entry.billed_usage == USAGE
    assert entry.model_id == "gpt-4o"
    assert entry.provider_id == "openai"
    assert entry.price_ref == "fixed 0.0125"
    assert entry.catalogue_version == "fake-1"
    assert entry.priced_at == AT


def test_bill_passes_usage_model_provider() -> None:
    quoter = FakeQuoter()
    bill(make_crossing(), quoter)
    assert quoter.requests == [
        {"usage": USAGE, "model": "gpt-4o", "provider": "openai", "at": AT}
    ]


def test_bill_prefers_response_model() -> None:
    quoter = FakeQuoter({"gpt-4o-2024-08-06": "0.02"})
    entry = bill(make_crossing(response_model="gpt-4o-2024-08-06"), quoter)
    assert quoter.requests[0]["model"] == "gpt-4o-2024-08-06"
    assert entry.usage_charge == Money(Decimal("0.02"), "USD")


@pytest.mark.parametrize("state", [CrossingState.FAILED, CrossingState.DENIED])
def test_bill_no_usage_not_billed(state: CrossingState) -> None:
    quoter = FakeQuoter()
    entry = bill(make_crossing(state=state, usage=None), quoter)
    assert entry.status is BillingStatus.NO_USAGE
    assert entry.usage_charge is None
    assert entry.billed_usage is None
    assert entry.toll == Money(Decimal("0.0010"), "USD")
    assert quoter.requests == []


def test_bill_failed_with_usage_billed() -> None:
    entry = bill(make_crossing(state=CrossingState.FAILED))
    assert entry.status is BillingStatus.PRICED
    assert entry.usage_charge == Money(Decimal("0.0125"), "USD")


def test_bill_completed_no_usage_missing() -> None:
    entry = bill(make_crossing(usage=None))
    assert entry.status is BillingStatus.USAGE_MISSING
    assert entry.usage_charge is None


def test_bill_usage_source_none_missing() -> None:
    """Counts marked as no usage are not priced, even when present."""
    crossing = make_crossing(usage_source=UsageSource.NONE)
    entry = bill(crossing)
    assert entry.status is BillingStatus.USAGE_MISSING
    assert entry.usage_charge is None


def test_bill_unknown_model_price_unknown() -> None:
    entry = bill(make_crossing(model="mystery-model"))
    assert entry.status is BillingStatus.PRICE_UNKNOWN
    assert entry.usage_charge is None
    assert entry.billed_usage == USAGE
    assert entry.message == "no price for mystery-model"


def test_bill_unpriceable_usage_unknown() -> None:
    entry = bill(make_crossing(model="bad-usage"))
    assert entry.status is BillingStatus.PRICE_UNKNOWN
    assert entry.usage_charge is None


def test_bill_no_model_price_unknown() -> None:
    crossing = make_crossing(model="")
    entry = bill(crossing)
    assert entry.status is BillingStatus.PRICE_UNKNOWN
    assert entry.usage_charge is None
    assert entry.message == "the crossing names no model to price"


def test_bill_real_unknown_model() -> None:
    """The real catalogue reports an unknown model as unpriced, never as zero."""
    entry = bill(make_crossing(model="no-such-model-xyz"), PriceCatalogue())
    assert entry.status is BillingStatus.PRICE_UNKNOWN
    assert entry.usage_charge is None
    assert "no-such-model-xyz" in (entry.message or "")


def test_bill_unmetered_kind_toll_only() -> None:
    entry = bill(make_crossing("tool_call", usage=None))
    assert entry.status is BillingStatus.NOT_METERED
    assert entry.usage_charge is None
    assert entry.toll == Money(Decimal("0.0010"), "USD")


# Cached tokens


def test_cached_tokens_split_once() -> None:
    usage = TokenUsage.from_inclusive(
        input_tokens=17_903, output_tokens=100, cache_read_tokens=17_817
    )
    # 17,903 - 17,817 = 86 uncached input tokens.
    assert usage.input_uncached_tokens == 86
    assert usage.cache_read_tokens == 17_817
    assert usage.input_total_tokens == 17_903
    assert usage.total_tokens == 18_003


def test_cached_tokens_billed_once() -> None:
    usage = TokenUsage.from_inclusive(
        input_tokens=17_903, output_tokens=100, cache_read_tokens=17_817
    )
    quoter = FakeQuoter()
    bill(make_crossing(usage=usage), quoter)
    billed = quoter.requests[0]["usage"]
    assert billed.input_uncached_tokens == 86
    assert billed.cache_read_tokens == 17_817


def test_cached_tokens_real_price() -> None:
    usage = TokenUsage.from_inclusive(
        input_tokens=17_903, output_tokens=100, cache_read_tokens=17_817
    )
    entry = bill(make_crossing(usage=usage), PriceCatalogue())
    # gpt-4o in genai-prices 0.2.3: $2.50, $1.25 cached and $10 per million.
    # 86 * 2.50 + 17,817 * 1.25 + 100 * 10 = 215 + 22,271.25 + 1,000
    # = 23,486.25 millionths of a dollar.
    assert entry.usage_charge == Money(Decimal("0.02348625"), "USD")


# Tolls


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        ("participant_admission", "0.0020"),
        ("accessibility_activation", "0.0020"),
        ("identity_proof", "0.0050"),
        ("model_invocation", "0.0010"),
        ("tool_call", "0.0010"),
        ("memory_write", "0.0010"),
        ("residency_shift", "0.0050"),
        ("carrier_path", "0.0005"),
        ("session_closure", "0.0100"),
        ("agent_handoff", "0.0020"),
        ("retrieval", "0.0010"),
        ("unlisted_kind", "0.0010"),
    ],
)
def test_toll_per_kind(kind: str, amount: str) -> None:
    assert TOLLS.toll(kind) == Money(Decimal(amount), "USD")


def test_default_tolls_cover_builtin_kinds() -> None:
    assert len(DEFAULT_TOLLS_USD) == 11


def test_bill_uses_schedule_toll() -> None:
    schedule = TollSchedule(
        currency="EUR", tolls={"tool_call": Decimal("0.5")}, other=Decimal("0.1")
    )
    crossing = make_crossing("tool_call", usage=None)
    entry = bill_crossing(crossing, FakeQuoter(), schedule, priced_kinds=PRICED)
    assert entry.toll == Money(Decimal("0.5"), "EUR")
    assert schedule.toll("memory_write") == Money(Decimal("0.1"), "EUR")


# Carrier routes


def test_bill_route_cost() -> None:
    crossing = make_crossing(
        "carrier_path", usage=None, route_cost="0.75", route_currency="EUR"
    )
    entry = bill(crossing)
    assert entry.status is BillingStatus.PRICED
    assert entry.usage_charge == Money(Decimal("0.75"), "EUR")
    assert entry.toll == Money(Decimal("0.0005"), "USD")


def test_bill_route_default_currency() -> None:
    entry = bill(make_crossing("carrier_path", usage=None, route_cost="0.75"))
    assert entry.usage_charge == Money(Decimal("0.75"), "USD")


def test_bill_route_without_cost() -> None:
    entry = bill(make_crossing("carrier_path", usage=None))
    assert entry.status is BillingStatus.USAGE_MISSING
    assert entry.usage_charge is None


@pytest.mark.parametrize(
    ("cost", "currency", "problem"),
    [
        (
            "twelve",
            "USD",
            "route_cost='twelve' is not a decimal number; write it like \"12.50\"",
        ),
        ("NaN", "USD", "route_cost='NaN' is not finite; expected a decimal amount"),
        (
            "0.75",
            "usd",
            "Money.currency='usd' is not an ISO 4217 code; expected three capital "
            'letters such as "USD"',
        ),
    ],
)
def test_bill_route_invalid_cost(cost: str, currency: str, problem: str) -> None:
    """A malformed route cost leaves the crossing unpriced instead of raising."""
    crossing = make_crossing(
        "carrier_path", usage=None, route_cost=cost, route_currency=currency
    )
    entry = bill(crossing)
    assert entry.status is BillingStatus.PRICE_UNKNOWN
    assert entry.usage_charge is None
    assert entry.message == f"the route's cost cannot be read: {problem}"
    assert entry.toll == Money(Decimal("0.0005"), "USD")


def test_entry_to_json() -> None:
    entry = bill(make_crossing())
    data = entry.to_json()
    assert data["status"] == "priced"
    assert data["usage_charge"] == {"amount": "0.0125", "currency": "USD"}
    assert data["toll"] == {"amount": "0.0010", "currency": "USD"}
    assert data["priced_at"] == "2025-11-06T12:00:00.000000Z"
