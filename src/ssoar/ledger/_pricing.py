"""Price token usage with the catalogue bundled in the installed genai-prices.

Prices come only from the data snapshot shipped inside the genai-prices wheel:
this module never starts ``UpdatePrices`` and never fetches prices over the
network, so the same usage, model, provider and timestamp always produce the
same price. Each quote records the rates it used and the catalogue version, so
a stored charge can be re-priced and checked later.

``PriceCatalogue.quote`` returns the same amounts as ``genai_prices.calc_price``
(equal values and equal ``Decimal`` exponents). It resolves a model's
per-token rates once per provider, model and price period, and then prices
each usage with a few ``Decimal`` multiplications instead of the full
catalogue walk. Quotes with a price context, and quotes for models whose
prices depend on the time of day, call ``calc_price`` every time.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import genai_prices.data as genai_data
from genai_prices import Usage
from genai_prices.data_snapshot import DataSnapshot
from genai_prices.data_units import unit_data
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)
from genai_prices.units import UnitDef, UnitRegistry

from ssoar.model._money import Money
from ssoar.model._time import format_time
from ssoar.model._usage import PART_FIELDS, TokenUsage, UsageError

__all__ = [
    "PROVIDER_ALIASES",
    "PriceCatalogue",
    "PriceQuote",
    "PriceUnknown",
    "resolve_provider_id",
    "to_genai_usage",
]

PROVIDER_ALIASES: Mapping[str, str] = {
    # OpenTelemetry gen_ai.provider.name
    "openai": "openai",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral_ai": "mistral",
    "perplexity": "perplexity",
    "x_ai": "x-ai",
    # Deprecated gen_ai.system spellings
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "vertex_ai": "google",
    "gemini": "google",
    "xai": "x-ai",
    # Google Agent Development Kit spans
    "gcp.vertex.agent": "google",
    # OpenInference llm.provider and llm.system
    "google": "google",
    "aws": "aws",
    "azure": "azure",
    "mistralai": "mistral",
    "vertexai": "google",
}
"""Provider names from telemetry, mapped to genai-prices provider ids."""

_USD = "USD"
# Any instant selects the prices of a model whose prices have no start dates.
_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_DIRECTIONS: Mapping[str | None, int] = {"input": 0, "output": 1}

# The TokenUsage fields that make up each genai-prices usage key. The inclusive
# keys (input_tokens, output_tokens) are sums of disjoint parts, and the others
# are one field each. Keys that are missing here are reported as 0.
_USAGE_KEY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "input_tokens": (
        "input_uncached_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
    ),
    "cache_read_tokens": ("cache_read_tokens",),
    "cache_write_tokens": ("cache_write_tokens",),
    "cache_write_1h_tokens": ("cache_write_1h_tokens",),
    "input_audio_tokens": ("input_audio_tokens",),
    "input_image_tokens": ("input_image_tokens",),
    "input_video_tokens": ("input_video_tokens",),
    "cache_audio_read_tokens": ("cache_read_audio_tokens",),
    "cache_image_read_tokens": ("cache_read_image_tokens",),
    "output_tokens": ("output_tokens", "reasoning_tokens"),
    "output_reasoning_tokens": ("reasoning_tokens",),
    "output_audio_tokens": ("output_audio_tokens",),
    "output_image_tokens": ("output_image_tokens",),
    "output_video_tokens": ("output_video_tokens",),
    "output_citation_tokens": ("output_citation_tokens",),
}


class PriceUnknown(LookupError):
    """The catalogue has no price for a model, a provider or a kind of token."""


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """The price of one model invocation, with what is needed to reproduce it.

    ``total`` is ``input + output`` plus any per-request fee the model has.
    """

    total: Money
    input: Money
    output: Money
    model_id: str
    """The genai-prices model id that matched the requested model name."""
    provider_id: str
    """The genai-prices provider id whose price list was used."""
    price_ref: str
    """The rates used, as ``price_key=rate`` pairs in USD per unit of the key,
    where ``_mtok`` keys are per million tokens. A tier is written
    ``;>start:rate``."""
    catalogue_version: str
    """The genai-prices version and a digest of its bundled price data."""
    priced_at: datetime
    """The request time whose prices were applied, in UTC."""

    def to_json(self) -> dict[str, object]:
        """Return the quote as a JSON object with decimal strings."""
        return {
            "total": self.total.to_json(),
            "input": self.input.to_json(),
            "output": self.output.to_json(),
            "model_id": self.model_id,
            "provider_id": self.provider_id,
            "price_ref": self.price_ref,
            "catalogue_version": self.catalogue_version,
            "priced_at": format_time(self.priced_at),
        }


_Count = str | tuple[tuple[str, ...], tuple[str, ...]]
"""The source of a unit's count: one TokenUsage field, or the sum of some
fields minus the sum of others."""

_Term = tuple[Decimal, Decimal, int, _Count]
"""One priced unit whose count depends on the usage: its rate, the number of
units the rate is for, its direction (0 input, 1 output, 2 neither) and the
source of its count."""


@dataclass(frozen=True, slots=True)
class _Rates:
    """The resolved prices of one model in one price period."""

    model_id: str
    provider_id: str
    price_ref: str
    tier_starts: tuple[int, ...]
    """Input token counts above which a tiered rate changes, ascending."""
    bands: tuple[tuple[_Term, ...], ...]
    """The terms for each input size band: ``bands[i]`` applies when the
    input exceeds exactly ``i`` of the tier starts."""
    fixed_input: Decimal
    fixed_output: Decimal
    fixed_other: Decimal
    """Sums of the units whose amount does not depend on the usage, such as a
    per-request fee or the zero amount of web searches, which a TokenUsage
    never reports. They are kept because a zero amount still sets the
    ``Decimal`` exponent of the sum, as it does in genai-prices."""
    unpriced_parts: tuple[str, ...]
    exact: bool
    """False when the terms cannot reproduce genai-prices, so every quote
    goes through ``calc_price``."""


@dataclass(slots=True)
class _ModelEntry:
    provider: Provider
    model: ModelInfo
    boundaries: tuple[datetime, ...]
    """UTC midnights of the dates on which one of the model's prices starts."""
    time_of_day: bool
    """Whether a price depends on the time of day (off-peak discounts)."""
    periods: list[_Rates | None]
    """Rates for each period between boundaries, resolved on first use."""


def resolve_provider_id(name: str | None) -> str | None:
    """Map a telemetry provider name to a genai-prices provider id.

    Names are matched case-insensitively after trimming spaces:

    ==========================================  =============================
    Name (attribute)                            genai-prices provider id
    ==========================================  =============================
    ``openai``                                  ``openai``
    ``anthropic``                               ``anthropic``
    ``aws.bedrock``, ``aws`` (OpenInference)    ``aws``
    ``azure.ai.openai``, ``azure.ai.inference``,
    ``az.ai.openai``, ``az.ai.inference``,
    ``azure`` (OpenInference)                   ``azure``
    ``gcp.gemini``, ``gcp.vertex_ai``,
    ``gcp.gen_ai``, ``gcp.vertex.agent``,
    ``gemini``, ``vertex_ai``, ``google``,
    ``vertexai`` (OpenInference)                ``google``
    ``cohere``                                  ``cohere``
    ``deepseek``                                ``deepseek``
    ``groq``                                    ``groq``
    ``mistral_ai``, ``mistralai``               ``mistral``
    ``perplexity``                              ``perplexity``
    ``x_ai``, ``xai``                           ``x-ai``
    any genai-prices provider id                the same id
    anything else, e.g. ``ibm.watsonx.ai``      ``None``
    ==========================================  =============================

    ``gen_ai.provider.name`` values come from the OpenTelemetry GenAI
    semantic conventions, ``gen_ai.system`` values are their deprecated
    spellings, ``gcp.vertex.agent`` is what the Google Agent Development Kit
    writes, and ``llm.provider``/``llm.system`` values are OpenInference's.

    Returns:
        The provider id, or ``None`` when the name is missing or unknown, in
        which case genai-prices infers the provider from the model name.
    """
    if name is None:
        return None
    key = name.strip().lower()
    alias = PROVIDER_ALIASES.get(key)
    if alias is not None:
        return alias
    if key in _provider_ids():
        return key
    return None


@cache
def _provider_ids() -> frozenset[str]:
    return frozenset(provider.id for provider in genai_data.providers)


@cache
def _registry() -> UnitRegistry:
    return UnitRegistry(unit_data)


@cache
def _catalogue_version() -> str:
    digest = hashlib.sha256(Path(genai_data.__file__).read_bytes()).hexdigest()
    return f"genai-prices=={package_version('genai-prices')} data:sha256:{digest[:16]}"


class PriceCatalogue:
    """Prices from the genai-prices data snapshot bundled with the package.

    One instance caches the rates of every model it has priced and is meant
    to live as long as the process. The caches are plain dicts: threads that
    price a new model at the same time may each resolve its rates, and get
    identical results.
    """

    def __init__(self) -> None:
        self._snapshot = DataSnapshot(
            providers=genai_data.providers, from_auto_update=False
        )
        self._version = _catalogue_version()
        self._entries: dict[tuple[str | None, str], _ModelEntry] = {}
        self._unpriced_by_ref: dict[str, tuple[str, ...]] = {}

    @property
    def version(self) -> str:
        """The catalogue version stored with every quote."""
        return self._version

    def quote(
        self,
        usage: TokenUsage,
        *,
        model: str,
        provider: str | None,
        at: datetime,
        price_context: Mapping[str, str] | None = None,
    ) -> PriceQuote:
        """Price one invocation at the prices in force at ``at``.

        Args:
            usage: The invocation's token counts.
            model: The model name as the request or response reported it.
            provider: A provider name in OpenTelemetry, OpenInference or
                genai-prices spelling (see ``resolve_provider_id``), or
                ``None`` to infer the provider from the model name.
            at: When the request was made; a timezone-aware datetime.
            price_context: Request details that select a price variant, such
                as ``{"service_tier": "flex"}`` or ``{"processing": "batch"}``,
                as genai-prices defines them.

        Raises:
            ValueError: If ``at`` is naive.
            PriceUnknown: If the catalogue has no price for the model at the
                provider, or none for a kind of token the usage contains.
            UsageError: If genai-prices rejects the usage as inconsistent.
        """
        if at.tzinfo is not UTC:
            at = _as_utc(at)
        entry = self._entries.get((provider, model))
        if entry is None:
            entry = self._load_entry(model, provider)
        if price_context or entry.time_of_day:
            # NOTE: these prices are not cached, so each quote costs a full
            # genai-prices calculation.
            return self._quote_uncached(usage, entry, at, price_context)
        index = bisect.bisect_right(entry.boundaries, at) if entry.boundaries else 0
        rates = entry.periods[index] or self._load_rates(entry, index)
        for part in rates.unpriced_parts:
            if getattr(usage, part):
                raise _unpriced_part(
                    part, rates.model_id, rates.provider_id, rates.price_ref
                )
        if not rates.exact:
            return self._quote_uncached(usage, entry, at, None)
        starts = rates.tier_starts
        terms = rates.bands[
            bisect.bisect_left(starts, usage.input_total_tokens) if starts else 0
        ]
        amounts = [rates.fixed_input, rates.fixed_output, rates.fixed_other]
        for rate, per, direction, count_from in terms:
            if isinstance(count_from, str):
                count = getattr(usage, count_from)
            else:
                added, subtracted = count_from
                count = 0
                for name in added:
                    count += getattr(usage, name)
                for name in subtracted:
                    count -= getattr(usage, name)
                if count < 0:
                    # genai-prices rejects this usage, and its error gives the reason.
                    return self._quote_uncached(usage, entry, at, None)
            amounts[direction] += rate * count / per
        # Exact Decimal sums do not depend on the order of their terms, so this
        # equals genai-prices' running total, exponent included.
        input_price, output_price, other_price = amounts
        return _new_quote(
            input_price + output_price + other_price,
            input_price,
            output_price,
            rates,
            self._version,
            at,
        )

    def _quote_uncached(
        self,
        usage: TokenUsage,
        entry: _ModelEntry,
        at: datetime,
        price_context: Mapping[str, str] | None,
    ) -> PriceQuote:
        try:
            calculation = entry.model.calc_price(
                to_genai_usage(usage),
                entry.provider,
                genai_request_timestamp=at,
                price_context=price_context,
            )
        except ValueError as error:
            raise UsageError(
                f"genai-prices rejected {usage!r} for model {entry.model.id!r} at "
                f"provider {entry.provider.id!r}: {error}"
            ) from error
        price_ref = _format_price_ref(calculation.model_price, price_context)
        unpriced = self._unpriced_by_ref.get(price_ref)
        if unpriced is None:
            rates = _build_rates(
                calculation.model_price, entry.model.id, entry.provider.id
            )
            unpriced = self._unpriced_by_ref[price_ref] = rates.unpriced_parts
        for part in unpriced:
            if getattr(usage, part):
                raise _unpriced_part(part, entry.model.id, entry.provider.id, price_ref)
        return PriceQuote(
            Money(calculation.total_price, _USD),
            Money(calculation.input_price, _USD),
            Money(calculation.output_price, _USD),
            entry.model.id,
            entry.provider.id,
            price_ref,
            self._version,
            at,
        )

    def _load_entry(self, model: str, provider: str | None) -> _ModelEntry:
        provider_id = resolve_provider_id(provider)
        try:
            found_provider, found_model = self._snapshot.find_provider_model(
                model, None, provider_id, None
            )
        except LookupError as error:
            raise _unknown_model(model, provider, provider_id, error) from None
        start_dates, time_of_day = _constraint_dates(found_model)
        boundaries = tuple(datetime.combine(day, time(), UTC) for day in start_dates)
        entry = _ModelEntry(
            provider=found_provider,
            model=found_model,
            boundaries=boundaries,
            time_of_day=time_of_day,
            periods=[None] * (len(boundaries) + 1),
        )
        self._entries[(provider, model)] = entry
        return entry

    def _load_rates(self, entry: _ModelEntry, index: int) -> _Rates:
        # Prices only change at the boundaries, so any instant in the period
        # selects the same prices.
        if index > 0:
            representative = entry.boundaries[index - 1]
        elif entry.boundaries:
            representative = entry.boundaries[0] - timedelta(days=1)
        else:
            representative = _ANY_TIME
        model_price = entry.model.get_prices(representative)
        rates = _build_rates(model_price, entry.model.id, entry.provider.id)
        entry.periods[index] = rates
        return rates


_new_object = object.__new__
_set_amount = Money.__dict__["amount"].__set__
_set_currency = Money.__dict__["currency"].__set__
_set_money_json = Money.__dict__["_json"].__set__
(
    _set_total,
    _set_input,
    _set_output,
    _set_model_id,
    _set_provider_id,
    _set_price_ref,
    _set_catalogue_version,
    _set_priced_at,
) = (
    PriceQuote.__dict__[name].__set__
    for name in (
        "total",
        "input",
        "output",
        "model_id",
        "provider_id",
        "price_ref",
        "catalogue_version",
        "priced_at",
    )
)


def _new_quote(
    total: Decimal,
    input_price: Decimal,
    output_price: Decimal,
    rates: _Rates,
    version: str,
    at: datetime,
) -> PriceQuote:
    """Build a quote without running the dataclass and Money constructors.

    Money's checks are skipped because every amount here is a finite Decimal
    computed from catalogue rates, and the currency is the constant "USD".
    The checked constructors would more than double the time of a cached
    quote.
    """
    total_money: Money = _new_object(Money)
    _set_amount(total_money, total)
    _set_currency(total_money, _USD)
    _set_money_json(total_money, None)
    input_money: Money = _new_object(Money)
    _set_amount(input_money, input_price)
    _set_currency(input_money, _USD)
    _set_money_json(input_money, None)
    output_money: Money = _new_object(Money)
    _set_amount(output_money, output_price)
    _set_currency(output_money, _USD)
    _set_money_json(output_money, None)
    quote: PriceQuote = _new_object(PriceQuote)
    _set_total(quote, total_money)
    _set_input(quote, input_money)
    _set_output(quote, output_money)
    _set_model_id(quote, rates.model_id)
    _set_provider_id(quote, rates.provider_id)
    _set_price_ref(quote, rates.price_ref)
    _set_catalogue_version(quote, version)
    _set_priced_at(quote, at)
    return quote


def to_genai_usage(usage: TokenUsage) -> Usage:
    """Convert a TokenUsage to the genai-prices usage object it is priced as.

    Every supported key is passed, zeros included, because genai-prices
    raises instead of inferring a missing key when a more specific one is
    reported.
    """
    values = {
        key: sum(getattr(usage, name) for name in names)
        for key, names in _USAGE_KEY_FIELDS.items()
    }
    return Usage(**values)


def _as_utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"at={at.isoformat()} has no timezone; prices depend on the UTC date, "
            "so pass an aware datetime such as datetime.now(UTC)"
        )
    return at.astimezone(UTC)


def _tier_price(price: TieredPrices, input_tokens: int) -> Decimal:
    # genai-prices' cliff model: the highest tier whose start the whole
    # input exceeds applies to every token.
    for tier in reversed(price.tiers):
        if input_tokens > tier.start:
            return tier.price
    return price.base


def _constraint_dates(model: ModelInfo) -> tuple[list[date], bool]:
    """Return the start dates of the model's conditional prices, and whether
    one depends on the time of day.

    Price variants are left out: they apply only with a price context, and
    those quotes are not cached.
    """
    constraints: list[Any] = []
    if not isinstance(model.prices, ModelPrice):
        constraints.extend(price.constraint for price in model.prices)
    dates = sorted(
        {c.start_date for c in constraints if isinstance(c, StartDateConstraint)}
    )
    time_of_day = any(isinstance(c, TimeOfDateConstraint) for c in constraints)
    return dates, time_of_day


def _build_rates(model_price: ModelPrice, model_id: str, provider_id: str) -> _Rates:
    priced = _priced_units(model_price)
    exact = len(priced) == len(_price_items(model_price))
    leaves = _leaf_fields([unit for unit, _ in priced if unit.usage_key != "requests"])
    fixed = [Decimal(0), Decimal(0), Decimal(0)]
    coverage = dict.fromkeys(PART_FIELDS, 0)
    dynamic: list[tuple[UnitDef, Decimal | TieredPrices, int]] = []
    for unit, price in priced:
        if unit.usage_key not in _USAGE_KEY_FIELDS and _overlaps_reported(unit):
            exact = False
        direction = _DIRECTIONS.get(unit.dimensions.get("direction"), 2)
        signs = leaves.get(unit.usage_key, {})
        for name, sign in signs.items():
            if name in coverage:
                coverage[name] += sign
        if signs:
            dynamic.append((unit, price, direction))
        elif isinstance(price, TieredPrices):
            exact = False
        else:
            # genai-prices counts one request per call and 0 for units that a
            # TokenUsage never reports.
            constant = 1 if unit.usage_key == "requests" else 0
            fixed[direction] += price * constant / unit.per
    starts = sorted(
        {
            tier.start
            for _, price, _ in dynamic
            if isinstance(price, TieredPrices)
            for tier in price.tiers
        }
    )
    band_inputs = [0] + [start + 1 for start in starts]
    bands = tuple(
        tuple(
            _term(unit, price, direction, leaves[unit.usage_key], input_tokens)
            for unit, price, direction in dynamic
        )
        for input_tokens in band_inputs
    )
    return _Rates(
        model_id=model_id,
        provider_id=provider_id,
        price_ref=_format_price_ref(model_price, None),
        tier_starts=tuple(starts),
        bands=bands,
        fixed_input=fixed[0],
        fixed_output=fixed[1],
        fixed_other=fixed[2],
        unpriced_parts=tuple(name for name, total in coverage.items() if total == 0),
        exact=exact and all(total in (0, 1) for total in coverage.values()),
    )


def _price_items(model_price: ModelPrice) -> list[tuple[str, Decimal | TieredPrices]]:
    return [
        (key, value)
        for key, value in model_price.__dict__.items()
        if not key.startswith("_") and value is not None
    ]


def _priced_units(
    model_price: ModelPrice,
) -> list[tuple[UnitDef, Decimal | TieredPrices]]:
    """Return the catalogue units the price has a rate for, in catalogue order.

    Like genai-prices, this skips a price key that the unit registry does not
    know. genai-prices also warns, and ``_build_rates`` sends such prices to
    ``calc_price`` so that the warning is kept.
    """
    registry = _registry()
    priced = []
    for key, value in _price_items(model_price):
        try:
            priced.append((registry.unit_for_price_key(key), value))
        except KeyError:
            continue
    return priced


def _term(
    unit: UnitDef,
    price: Decimal | TieredPrices,
    direction: int,
    signs: Mapping[str, int],
    input_tokens: int,
) -> _Term:
    rate = (
        _tier_price(price, input_tokens) if isinstance(price, TieredPrices) else price
    )
    # A field with coefficient 2 is listed twice; coefficients are almost
    # always 1 or -1.
    added = tuple(name for name, sign in signs.items() for _ in range(sign) if sign > 0)
    subtracted = tuple(
        name for name, sign in signs.items() for _ in range(-sign) if sign < 0
    )
    count_from: _Count = (
        added[0] if len(added) == 1 and not subtracted else (added, subtracted)
    )
    return (rate, Decimal(unit.per), direction, count_from)


def _leaf_fields(units: list[UnitDef]) -> dict[str, dict[str, int]]:
    """Express each priced unit's leaf count as a sum of TokenUsage fields.

    This mirrors genai-prices' decomposition. A unit's leaf count is its
    reported count minus the leaf counts of every priced unit nested in it,
    which are the units with a superset of its dimensions. So each token is
    priced once, at the most specific priced unit.
    """
    ordered = sorted(units, key=lambda unit: (-len(unit.dimensions), unit.usage_key))
    leaves: dict[str, dict[str, int]] = {}
    for unit in ordered:
        coefficients: dict[str, int] = {}
        for name in _USAGE_KEY_FIELDS.get(unit.usage_key, ()):
            coefficients[name] = coefficients.get(name, 0) + 1
        for other in ordered:
            if other is unit or not _nested_in(unit, other):
                continue
            for name, value in leaves[other.usage_key].items():
                coefficients[name] = coefficients.get(name, 0) - value
        leaves[unit.usage_key] = {k: v for k, v in sorted(coefficients.items()) if v}
    return leaves


def _nested_in(outer: UnitDef, inner: UnitDef) -> bool:
    return outer.dimensions.items() <= inner.dimensions.items()


def _overlaps_reported(unit: UnitDef) -> bool:
    """Return whether genai-prices raises for this unit if it is unreported.

    It raises when a reported key is nested in the unit, or when two reported
    keys together have exactly the unit's dimensions.
    """
    registry = _registry()
    reported = [registry.units[key] for key in _USAGE_KEY_FIELDS]
    if any(_nested_in(unit, other) for other in reported):
        return True
    for left in reported:
        for right in reported:
            if left.is_compatible_with(right) and unit.dimensions == {
                **left.dimensions,
                **right.dimensions,
            }:
                return True
    return False


def _format_price_ref(
    model_price: ModelPrice, price_context: Mapping[str, str] | None
) -> str:
    parts: list[str] = []
    for key, value in model_price.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        if isinstance(value, TieredPrices):
            tiers = "".join(f";>{tier.start}:{tier.price}" for tier in value.tiers)
            parts.append(f"{key}={value.base}{tiers}")
        else:
            parts.append(f"{key}={value}")
    text = ", ".join(parts)
    if price_context:
        context = ", ".join(f"{k}={v}" for k, v in sorted(price_context.items()))
        text = f"[{context}] {text}"
    return text


def _unknown_model(
    model: str, provider: str | None, provider_id: str | None, error: LookupError
) -> PriceUnknown:
    if provider_id is None:
        where = (
            f"provider {provider!r} (not a known provider name, so it was inferred "
            "from the model name)"
            if provider
            else "no provider (inferred from the model name)"
        )
    else:
        where = f"provider {provider!r} (genai-prices id {provider_id!r})"
    return PriceUnknown(
        f"no price for model {model!r} with {where} in {_catalogue_version()}: "
        f"{error}. Check the model and provider names, or map the model to a "
        "priced one before quoting; a missing price is never treated as zero"
    )


def _unpriced_part(
    part: str, model_id: str, provider_id: str, price_ref: str
) -> PriceUnknown:
    return PriceUnknown(
        f"model {model_id!r} at provider {provider_id!r} has no price for {part} "
        f"(rates: {price_ref}); the usage reports some, and "
        "they would otherwise be charged at zero. Check that the model name is "
        "right for this usage"
    )
