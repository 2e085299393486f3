"""The billing ledger: what each crossing costs, and the booth's toll on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from ssoar.model._crossing import Crossing, CrossingState, UsageSource
from ssoar.model._money import Money
from ssoar.model._time import format_time
from ssoar.model._usage import TokenUsage, UsageError

__all__ = [
    "DEFAULT_TOLLS_USD",
    "BillingEntry",
    "BillingStatus",
    "Quoter",
    "TollSchedule",
    "bill_crossing",
]

DEFAULT_TOLLS_USD: Mapping[str, Decimal] = {
    "participant_admission": Decimal("0.0020"),
    "accessibility_activation": Decimal("0.0020"),
    "identity_proof": Decimal("0.0050"),
    "model_invocation": Decimal("0.0010"),
    "tool_call": Decimal("0.0010"),
    "memory_write": Decimal("0.0010"),
    "residency_shift": Decimal("0.0050"),
    "carrier_path": Decimal("0.0005"),
    "session_closure": Decimal("0.0100"),
    "agent_handoff": Decimal("0.0020"),
    "retrieval": Decimal("0.0010"),
}
"""The default toll per crossing kind, in US dollars: the booth's rent for
recognising, governing, recording and settling one crossing. Starting
points to replace with a deployment's own schedule."""

_DEFAULT_TOLL_OTHER_USD = Decimal("0.0010")


@dataclass(frozen=True, slots=True)
class TollSchedule:
    """The toll charged per crossing kind, in one currency."""

    currency: str = "USD"
    tolls: Mapping[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_TOLLS_USD)
    )
    other: Decimal = _DEFAULT_TOLL_OTHER_USD
    """The toll of a kind the schedule does not list."""

    _amounts: dict[str, Money] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def toll(self, kind: str) -> Money:
        """Return the toll for one crossing of ``kind``."""
        toll = self._amounts.get(kind)
        if toll is None:
            toll = Money(self.tolls.get(kind, self.other), self.currency)
            self._amounts[kind] = toll
        return toll


class BillingStatus(StrEnum):
    """The outcome of billing a crossing's usage."""

    PRICED = "priced"
    PRICE_UNKNOWN = "price_unknown"
    """The catalogue has no price for the model: an exception, never a zero charge."""
    NO_USAGE = "no_usage"
    """The crossing consumed nothing billable, such as a failed call with no usage."""
    USAGE_MISSING = "usage_missing"
    """The crossing completed but reported no usage to price."""
    NOT_METERED = "not_metered"
    """The crossing kind has no usage price; only the toll applies."""


class Quote(Protocol):
    """A price quote from the catalogue."""

    @property
    def total(self) -> Money: ...
    @property
    def model_id(self) -> str: ...
    @property
    def provider_id(self) -> str: ...
    @property
    def price_ref(self) -> str: ...
    @property
    def catalogue_version(self) -> str: ...


class Quoter(Protocol):
    """Anything that prices token usage, such as ``PriceCatalogue``."""

    def quote(
        self, usage: TokenUsage, *, model: str, provider: str | None, at: datetime
    ) -> Quote: ...


@dataclass(slots=True)
class BillingEntry:
    """The charges of one crossing: its usage, priced, and the toll.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    crossing_id: str
    status: BillingStatus
    usage_charge: Money | None
    toll: Money
    billed_usage: TokenUsage | None
    """The token counts that were priced, kept to check against the compute ledger."""
    model_id: str | None = None
    provider_id: str | None = None
    price_ref: str | None = None
    catalogue_version: str | None = None
    priced_at: datetime | None = None
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        """Return the entry as a JSON object with decimal strings."""
        return {
            "status": self.status.value,
            "usage_charge": self.usage_charge.to_json() if self.usage_charge else None,
            "toll": self.toll.to_json(),
            "billed_usage": self.billed_usage.to_json() if self.billed_usage else None,
            "model_id": self.model_id,
            "provider_id": self.provider_id,
            "price_ref": self.price_ref,
            "catalogue_version": self.catalogue_version,
            "priced_at": format_time(self.priced_at) if self.priced_at else None,
            "message": self.message,
        }


def bill_crossing(
    crossing: Crossing,
    quoter: Quoter,
    tolls: TollSchedule,
    *,
    priced_kinds: frozenset[str],
) -> BillingEntry:
    """Price a crossing's usage and assess its toll.

    Args:
        crossing: The crossing to bill.
        quoter: The price catalogue.
        tolls: The toll schedule.
        priced_kinds: Crossing kinds whose usage is priced per token.
    """
    toll = tolls.toll(crossing.kind)
    if crossing.kind == "carrier_path":
        return _bill_route(crossing, toll)
    if crossing.kind not in priced_kinds:
        return BillingEntry(
            crossing.crossing_id, BillingStatus.NOT_METERED, None, toll, None
        )
    if crossing.usage is None or crossing.usage_source is UsageSource.NONE:
        if crossing.state in (CrossingState.FAILED, CrossingState.DENIED):
            return BillingEntry(
                crossing.crossing_id,
                BillingStatus.NO_USAGE,
                None,
                toll,
                None,
                message=f"{crossing.state.value} with no usage: not billed",
            )
        return BillingEntry(
            crossing.crossing_id,
            BillingStatus.USAGE_MISSING,
            None,
            toll,
            None,
            message="no usage was reported, so nothing could be priced",
        )
    model = _model_name(crossing)
    if model is None:
        return BillingEntry(
            crossing.crossing_id,
            BillingStatus.PRICE_UNKNOWN,
            None,
            toll,
            crossing.usage,
            message="the crossing names no model to price",
        )
    provider = crossing.attributes.get("provider")
    try:
        quote = quoter.quote(
            crossing.usage,
            model=model,
            provider=provider if isinstance(provider, str) else None,
            at=crossing.started_at,
        )
    except (LookupError, UsageError) as error:
        # A usage breakdown the catalogue cannot price is as unpriced as an
        # unknown model: an exception at settlement, never a zero charge.
        return BillingEntry(
            crossing.crossing_id,
            BillingStatus.PRICE_UNKNOWN,
            None,
            toll,
            crossing.usage,
            message=str(error),
        )
    return BillingEntry(
        crossing_id=crossing.crossing_id,
        status=BillingStatus.PRICED,
        usage_charge=quote.total,
        toll=toll,
        billed_usage=crossing.usage,
        model_id=quote.model_id,
        provider_id=quote.provider_id,
        price_ref=quote.price_ref,
        catalogue_version=quote.catalogue_version,
        priced_at=crossing.started_at,
    )


def _model_name(crossing: Crossing) -> str | None:
    for key in ("response_model", "model"):
        value = crossing.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _bill_route(crossing: Crossing, toll: Money) -> BillingEntry:
    cost = crossing.attributes.get("route_cost")
    currency = crossing.attributes.get("route_currency") or toll.currency
    if not isinstance(cost, str) or not isinstance(currency, str):
        return BillingEntry(
            crossing.crossing_id,
            BillingStatus.USAGE_MISSING,
            None,
            toll,
            None,
            message="the route reported no cost",
        )
    try:
        charge = Money.parse(cost, currency, field="route_cost")
    except ValueError as error:
        return BillingEntry(
            crossing.crossing_id,
            BillingStatus.PRICE_UNKNOWN,
            None,
            toll,
            None,
            message=f"the route's cost cannot be read: {error}",
        )
    return BillingEntry(
        crossing.crossing_id,
        BillingStatus.PRICED,
        charge,
        toll,
        None,
        price_ref=f"route cost {cost} {currency}",
        priced_at=crossing.started_at,
    )
