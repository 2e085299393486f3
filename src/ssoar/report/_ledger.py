"""The reconciliation ledger: what settled clean, what did not, and what it is worth.

Every figure comes from signed settlement records, so the report shows what
the booth signed and nothing computed afterwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from ssoar.errors import VerificationError
from ssoar.store._sqlite import Store

__all__ = ["LedgerReport", "build_report"]

_TOKEN_FIELDS = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def _money_table() -> defaultdict[str, defaultdict[str, Decimal]]:
    return defaultdict(lambda: defaultdict(Decimal))


@dataclass
class LedgerReport:
    """Totals across the settled sessions a report covers."""

    sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    crossings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_kind: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: {"total": 0, "reconciled": 0})
    )
    by_reason: dict[str, dict[str, Any]] = field(default_factory=dict)
    exposure: defaultdict[str, defaultdict[str, Decimal]] = field(
        default_factory=_money_table
    )
    billing: defaultdict[str, defaultdict[str, Decimal]] = field(
        default_factory=_money_table
    )
    tokens: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(_TOKEN_FIELDS, 0)
    )
    tokens_reconciled: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(_TOKEN_FIELDS, 0)
    )
    crossings_with_unknown_price: int = 0
    crossings_without_money_at_risk: int = 0
    """Unreconciled crossings whose charge is not known, so no money is at risk
    in the figures: unknown prices, missing usage, calls still open."""
    flops_known: int = 0
    crossings_with_unknown_flops: int = 0
    session_rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON object with decimal strings."""
        return {
            "sessions": dict(self.sessions),
            "crossings": dict(self.crossings),
            "crossings_by_kind": dict(sorted(self.by_kind.items())),
            "exceptions_by_reason": {
                reason: reason_json(entry)
                for reason, entry in sorted(self.by_reason.items())
            },
            "exposure": _money_json(self.exposure),
            "crossings_with_unknown_price": self.crossings_with_unknown_price,
            "crossings_without_money_at_risk": self.crossings_without_money_at_risk,
            "flops_known": str(self.flops_known),
            "crossings_with_unknown_flops": self.crossings_with_unknown_flops,
            "billing": _money_json(self.billing),
            "token_meter": {
                "all_crossings": self.tokens,
                "reconciled_crossings": self.tokens_reconciled,
            },
            "session_list": self.session_rows,
        }


def _money_json(
    table: Mapping[str, Mapping[str, Decimal]],
) -> dict[str, dict[str, str]]:
    return {
        currency: {key: str(value) for key, value in sorted(values.items())}
        for currency, values in sorted(table.items())
    }


def build_report(
    store: Store, *, tenant: str | None = None, session_ids: Sequence[str] | None = None
) -> LedgerReport:
    """Add up the signed settlements of a tenant, of given sessions, or of all.

    The records are read as stored; ``ssoar verify`` checks their signatures.

    Raises:
        VerificationError: If a stored settlement record is not JSON or lacks
            a field the report adds up.
    """
    query = "SELECT session_id, record FROM settlements"
    parameters: list[str] = []
    if tenant is not None:
        query += " WHERE tenant = ?"
        parameters.append(tenant)
    query += " ORDER BY closed_at, session_id"
    wanted = set(session_ids) if session_ids is not None else None
    report = LedgerReport()
    for session_id, data in store.connection.execute(query, parameters):
        if wanted is not None and session_id not in wanted:
            continue
        try:
            _add(report, orjson.loads(data))
        except (
            ValueError,
            ArithmeticError,
            LookupError,
            TypeError,
            AttributeError,
        ) as error:
            # Not JSON (orjson.JSONDecodeError is a ValueError), a missing field
            # (LookupError), a field of another type (TypeError, AttributeError)
            # or an amount that is not a decimal (decimal.InvalidOperation is an
            # ArithmeticError).
            raise VerificationError(
                session_id,
                f"settlements/{session_id}",
                f"settlement record is not readable ({type(error).__name__}: "
                f"{error}); run 'ssoar verify' to check the database",
            ) from None
    return report


def _add(report: LedgerReport, record: dict[str, Any]) -> None:
    report.sessions["total"] += 1
    report.sessions[record["state"]] += 1
    crossings = record["crossings"]
    for key in ("total", "reconciled", "unreconciled"):
        report.crossings[key] += crossings[key]
    for kind, counts in crossings["by_kind"].items():
        report.by_kind[kind]["total"] += counts["total"]
        report.by_kind[kind]["reconciled"] += counts["reconciled"]
    for item in record["exceptions"]:
        entry = report.by_reason.setdefault(
            item["reason"],
            {
                "exceptions": 0,
                "money_at_risk": defaultdict(Decimal),
                "review_cost": defaultdict(Decimal),
            },
        )
        entry["exceptions"] += 1
        if item["money_at_risk"] is not None:
            money = item["money_at_risk"]
            entry["money_at_risk"][money["currency"]] += Decimal(money["amount"])
        cost = item["review_cost"]
        entry["review_cost"][cost["currency"]] += Decimal(cost["amount"])
    for currency, values in record["exposure"]["by_currency"].items():
        for key, value in values.items():
            report.exposure[currency][key] += Decimal(value)
    report.crossings_with_unknown_price += record["exposure"][
        "crossings_with_unknown_price"
    ]
    with_money = {
        item["crossing_id"] for item in record["exceptions"] if item["money_at_risk"]
    }
    report.crossings_without_money_at_risk += len(
        {item["crossing_id"] for item in record["exceptions"]} - with_money
    )
    for currency, values in record["totals"]["billing"].items():
        for key, value in values.items():
            report.billing[currency][key] += Decimal(value)
    compute = record["totals"]["compute"]
    report.flops_known += int(compute["flops_known"])
    report.crossings_with_unknown_flops += compute["crossings_with_unknown_flops"]
    for key in _TOKEN_FIELDS:
        report.tokens[key] += compute["tokens"][key]
        report.tokens_reconciled[key] += compute["tokens_reconciled"][key]
    report.session_rows.append(
        {
            "session_id": record["session_id"],
            "state": record["state"],
            "close_reason": record["close_reason"],
            "close_error": record.get("close_error"),
            "closed_at": record["closed_at"],
            "crossings": crossings["total"],
            "reconciled": crossings["reconciled"],
            "exceptions": len(record["exceptions"]),
            "exposure": {
                currency: values["total"]
                for currency, values in record["exposure"]["by_currency"].items()
            },
        }
    )


def reason_json(entry: dict[str, Any]) -> dict[str, Any]:
    """Return a by-reason entry with decimal strings."""
    return {
        "exceptions": entry["exceptions"],
        "money_at_risk": {
            key: str(value) for key, value in entry["money_at_risk"].items()
        },
        "review_cost": {key: str(value) for key, value in entry["review_cost"].items()},
    }
