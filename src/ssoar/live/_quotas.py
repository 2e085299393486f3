"""Quotas of live sessions: which accounts a crossing draws on, and how much.

A declared quota becomes one account per session, per participant or per
tenant, and per window when it resets on a calendar. A crossing reserves
its worst case on each account it draws on, then posts what it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ssoar.errors import RequestError
from ssoar.ledger._entitlement import Account, Quota, QuotaScope, QuotaUnit
from ssoar.ledger._windows import (
    QuotaWindow,
    WindowError,
    WindowRule,
    rule_from_json,
    rule_to_json,
    window_key,
)
from ssoar.live._records import account_from_json
from ssoar.live._requests import check_kinds, decimal_field
from ssoar.live._wire import QuotaSpec
from ssoar.model._crossing import CrossingState
from ssoar.model._money import Money
from ssoar.model._template import Template
from ssoar.model._usage import TokenUsage

if TYPE_CHECKING:
    from ssoar.live._session import LiveSession

__all__ = [
    "QuotaBinding",
    "binding_from_json",
    "binding_to_json",
    "grant_limit_accounts",
    "quota_binding",
    "unit_amount",
    "used_amount",
    "worst_case",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class QuotaBinding:
    """A declared quota and how it turns into accounts of one session."""

    quota: Quota
    participant_pattern: str
    """For participant quotas, the participants it applies to."""
    window: WindowRule | None

    def account_for(
        self, session_id: str, tenant: str, holder: str, at: datetime
    ) -> Account | None:
        """Return the account this quota draws on for a crossing, or None.

        Args:
            holder: The participant whose authority the crossing uses.
            at: The instant of the crossing, which picks the window.
        """
        quota = self.quota
        if quota.scope is QuotaScope.SESSION:
            account_id, scope_key = f"{session_id}/quota/{quota.quota_id}", session_id
        elif quota.scope is QuotaScope.TENANT:
            account_id, scope_key = f"tenant:{tenant}/quota/{quota.quota_id}", tenant
        else:
            if not fnmatchcase(holder, self.participant_pattern):
                return None
            account_id = f"{session_id}/quota/{quota.quota_id}/{holder}"
            scope_key = holder
        if self.window is not None:
            key = window_key(self.window, at)
            if key is not None:
                account_id = f"{account_id}@{key}"
        return Account(account_id, quota, scope_key)


def unit_amount(
    unit: str, limit: str, currency: str | None, field: str
) -> tuple[QuotaUnit, Decimal, str | None]:
    quota_unit = QuotaUnit(unit)
    amount = decimal_field(limit, f"{field}.limit")
    if quota_unit is QuotaUnit.MONEY and currency is None:
        raise RequestError(
            f"{field}.currency", "a money limit needs a currency, such as USD"
        )
    if quota_unit is not QuotaUnit.MONEY and currency is not None:
        raise RequestError(
            f"{field}.currency", f"only money limits have a currency, not {unit}"
        )
    if quota_unit is not QuotaUnit.MONEY and amount != amount.to_integral_value():
        raise RequestError(f"{field}.limit", f"{unit} are counted in whole numbers")
    return quota_unit, amount, currency


def quota_binding(spec: QuotaSpec, field: str, template: Template) -> QuotaBinding:
    unit, amount, currency = unit_amount(spec.unit, spec.limit, spec.currency, field)
    check_kinds(spec.kinds, template, f"{field}.kinds")
    window = None
    if spec.window != "none":
        try:
            if spec.anchor_day is None:
                window = WindowRule(QuotaWindow(spec.window), spec.time_zone)
            else:
                window = WindowRule(
                    QuotaWindow(spec.window), spec.time_zone, spec.anchor_day
                )
        except WindowError as error:
            raise RequestError(f"{field}.window", str(error)) from None
    elif spec.anchor_day is not None or spec.time_zone != "UTC":
        raise RequestError(
            f"{field}.window",
            "time_zone and anchor_day apply to a window; set window to daily, "
            "weekly or monthly",
        )
    if spec.scope != "participant" and spec.participant != "*":
        raise RequestError(
            f"{field}.participant", "only participant quotas name participants"
        )
    quota = Quota(
        quota_id=spec.id,
        scope=QuotaScope(spec.scope),
        unit=unit,
        limit=amount,
        currency=currency,
        kinds=frozenset(spec.kinds),
    )
    return QuotaBinding(quota, spec.participant, window)


def binding_to_json(binding: QuotaBinding) -> dict[str, Any]:
    quota = binding.quota
    return {
        "account": Account("", quota, "").to_json(),
        "participant": binding.participant_pattern,
        "window": rule_to_json(binding.window) if binding.window else None,
    }


def binding_from_json(data: Mapping[str, Any], template: Template) -> QuotaBinding:
    account = account_from_json(data["account"])
    window = data.get("window")
    return QuotaBinding(
        account.quota,
        data["participant"],
        rule_from_json(window) if window else None,
    )


def worst_case(
    quota: Quota,
    estimate: TokenUsage | None,
    price: Money | None,
    price_problem: str | None,
) -> tuple[Decimal, str | None]:
    """The worst case a crossing may use of one quota, or why it is unknown."""
    if quota.unit is QuotaUnit.CROSSINGS:
        return _ONE, None
    if quota.unit is QuotaUnit.TOKENS:
        return Decimal(estimate.total_tokens if estimate else 0), None
    if price is None:
        if price_problem is not None:
            return _ZERO, price_problem
        return _ZERO, None
    if price.currency != quota.currency:
        return _ZERO, (
            f"the crossing is priced in {price.currency} and quota "
            f"{quota.quota_id!r} counts {quota.currency}"
        )
    return price.amount, None


def used_amount(
    quota: Quota,
    usage: TokenUsage | None,
    charge: Money | None,
    cost: Decimal | None,
    reserved: Decimal,
    state: CrossingState,
) -> Decimal:
    """What a finished crossing used of one reservation's quota."""
    if quota.unit is QuotaUnit.CROSSINGS:
        return reserved
    if quota.unit is QuotaUnit.TOKENS:
        return Decimal(usage.total_tokens) if usage is not None else _ZERO
    if charge is not None and charge.currency == quota.currency:
        return charge.amount
    if cost is not None:
        return cost
    if usage is None and state is CrossingState.FAILED:
        return _ZERO
    # Priced usage is unknown: the reservation stands as the estimate.
    return reserved


def grant_limit_accounts(live: LiveSession, grant_id: str) -> list[Account]:
    """The limit accounts of a grant and of every grant it was delegated from."""
    limits = []
    seen: set[str] = set()
    current: str | None = grant_id
    while current is not None and current not in seen:
        seen.add(current)
        account = live.grant_limits.get(current)
        if account is not None:
            limits.append(account)
        grant = live.authority.grants.get(current)
        current = grant.parent_grant_id if grant else None
    return limits
