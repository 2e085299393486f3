"""Table rows derived from audit records.

Every domain row is a projection of one audit leaf. Writing and verifying use
the same projection: a write stores the rows computed from each new record,
and ``ssoar verify`` recomputes them from the stored leaves and compares them
with what the tables hold, so any edited, added or removed row is found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["TABLES", "TableSpec", "rows_from_record"]

Row = tuple[Any, ...]


class TableSpec:
    """A table that holds projections of audit records."""

    def __init__(
        self, name: str, columns: tuple[str, ...], key: tuple[str, ...]
    ) -> None:
        self.name = name
        self.columns = columns
        self.key = key
        placeholders = ", ".join("?" for _ in columns)
        self.insert_sql = (
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({placeholders})"
        )
        self.select_sql = (
            f"SELECT {', '.join(columns)} FROM {name} WHERE session_id = ?"
        )
        self.key_positions = tuple(columns.index(column) for column in key)

    def describe(self, row: Row) -> str:
        """Name a row as ``table/key``."""
        return f"{self.name}/" + "/".join(
            str(row[index]) for index in self.key_positions
        )


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "sessions",
            (
                "session_id",
                "tenant",
                "template",
                "origin",
                "opened_at",
                "labels",
                "policy_digest",
                "leaf_index",
            ),
            ("session_id",),
        ),
        TableSpec(
            "participants",
            (
                "session_id",
                "participant_id",
                "class",
                "name",
                "scope",
                "declared",
                "leaf_index",
            ),
            ("participant_id",),
        ),
        TableSpec(
            "grants",
            (
                "grant_id",
                "session_id",
                "grantor",
                "grantee",
                "scope",
                "not_before",
                "expires_at",
                "parent_grant_id",
                "grant_session_id",
                "leaf_index",
            ),
            ("grant_id",),
        ),
        TableSpec(
            "grant_revocations",
            ("grant_id", "session_id", "revoked_at", "reason", "leaf_index"),
            ("grant_id",),
        ),
        TableSpec(
            "session_accounts",
            (
                "session_id",
                "account_id",
                "quota_id",
                "scope",
                "scope_key",
                "unit",
                "currency",
                "limit_amount",
                "kinds",
                "posted_before",
                "leaf_index",
            ),
            ("account_id",),
        ),
        TableSpec(
            "crossings",
            (
                "crossing_id",
                "session_id",
                "kind",
                "actor_id",
                "invoker_id",
                "target_type",
                "target_id",
                "started_at",
                "ended_at",
                "state",
                "attributes",
                "usage",
                "usage_source",
                "error",
                "source",
                "allowed",
                "decision",
                "leaf_index",
            ),
            ("crossing_id",),
        ),
        TableSpec(
            "compute_entries",
            (
                "session_id",
                "crossing_id",
                "model",
                "provider",
                "input_uncached_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
                "usage_source",
                "flops",
                "flops_basis",
                "leaf_index",
            ),
            ("crossing_id",),
        ),
        TableSpec(
            "billing_entries",
            (
                "session_id",
                "crossing_id",
                "status",
                "usage_amount",
                "usage_currency",
                "toll_amount",
                "toll_currency",
                "billed_usage",
                "model_id",
                "provider_id",
                "price_ref",
                "catalogue_version",
                "priced_at",
                "message",
                "leaf_index",
            ),
            ("crossing_id",),
        ),
        TableSpec(
            "entitlement_entries",
            (
                "session_id",
                "crossing_id",
                "accounts",
                "postings",
                "overdrafts",
                "leaf_index",
            ),
            ("crossing_id",),
        ),
        TableSpec(
            "entitlement_releases",
            (
                "session_id",
                "transfer_id",
                "account_id",
                "crossing_id",
                "amount",
                "released_at",
                "leaf_index",
            ),
            ("transfer_id",),
        ),
        TableSpec(
            "ledger_entries",
            ("session_id", "crossing_id", "ledger", "body", "leaf_index"),
            ("crossing_id", "ledger"),
        ),
    )
}


def _json(value: Any) -> str:
    """Return a compact, key-sorted JSON text for a column."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _optional_json(value: Any) -> str | None:
    return None if value is None else _json(value)


def rows_from_record(
    record: Mapping[str, Any], leaf_index: int
) -> dict[str, list[Row]]:
    """Return the rows that an audit record projects to, by table name."""
    record_type = record["type"]
    session_id = record["session_id"]
    builder = _BUILDERS[record_type]
    return builder(record, session_id, leaf_index)


def _session_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    session = record["session"]
    return {
        "sessions": [
            (
                session_id,
                session["tenant"],
                session["template"],
                session["origin"],
                session["opened_at"],
                _json(session["labels"]),
                record["policy_digest"],
                leaf,
            )
        ]
    }


def _participant_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    participant = record["participant"]
    return {
        "participants": [
            (
                session_id,
                participant["participant_id"],
                participant["class"],
                participant["name"],
                _json(participant["scope"]),
                int(record["declared"]),
                leaf,
            )
        ]
    }


def _grant_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    grant = record["grant"]
    return {
        "grants": [
            (
                grant["grant_id"],
                session_id,
                grant["grantor"],
                grant["grantee"],
                _json(grant["scope"]),
                grant["not_before"],
                grant["expires_at"],
                grant["parent_grant_id"],
                grant["session_id"],
                leaf,
            )
        ]
    }


def _revocation_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    return {
        "grant_revocations": [
            (
                record["grant_id"],
                session_id,
                record["revoked_at"],
                record["reason"],
                leaf,
            )
        ]
    }


def _account_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    account = record["account"]
    return {
        "session_accounts": [
            (
                session_id,
                account["account_id"],
                account["quota_id"],
                account["scope"],
                account["scope_key"],
                account["unit"],
                account["currency"],
                account["limit"],
                _json(account["kinds"]),
                record["posted_before"],
                leaf,
            )
        ]
    }


def _release_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    transfer = record["transfer"]
    return {
        "entitlement_releases": [
            (
                session_id,
                transfer["transfer_id"],
                transfer["account_id"],
                transfer["crossing_id"],
                transfer["amount"],
                record["released_at"],
                leaf,
            )
        ]
    }


def _crossing_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    crossing = record["crossing"]
    ledgers = record["ledgers"]
    target = crossing["target"] or {}
    crossing_id = crossing["crossing_id"]
    entitlement = ledgers["entitlement"]
    rows: dict[str, list[Row]] = {
        "crossings": [
            (
                crossing_id,
                session_id,
                crossing["kind"],
                crossing["actor_id"],
                crossing["invoker_id"],
                target.get("type"),
                target.get("id"),
                crossing["started_at"],
                crossing["ended_at"],
                crossing["state"],
                _json(crossing["attributes"]),
                _optional_json(crossing["usage"]),
                crossing["usage_source"],
                crossing["error"],
                _optional_json(crossing["source"]),
                int(record["decision"]["allowed"]),
                _json(record["decision"]),
                leaf,
            )
        ],
        "billing_entries": [
            _billing_row(ledgers["billing"], session_id, crossing_id, leaf)
        ],
        "ledger_entries": [
            (session_id, crossing_id, ledger, _json(body), leaf)
            for ledger, body in sorted(ledgers.items())
            if ledger not in ("billing", "compute", "entitlement")
        ],
    }
    if entitlement["postings"] or entitlement["overdrafts"]:
        accounts = sorted(
            {item["account_id"] for item in entitlement["postings"]}
            | {item["account_id"] for item in entitlement["overdrafts"]}
        )
        rows["entitlement_entries"] = [
            (
                session_id,
                crossing_id,
                _json(accounts),
                _json(entitlement["postings"]),
                _json(entitlement["overdrafts"]),
                leaf,
            )
        ]
    compute = ledgers["compute"]
    if compute is not None:
        usage = compute["usage"]
        rows["compute_entries"] = [
            (
                session_id,
                crossing_id,
                compute["model"],
                compute["provider"],
                usage["input_uncached_tokens"],
                usage["cache_read_tokens"],
                usage["cache_write_tokens"],
                usage["output_tokens"],
                usage["reasoning_tokens"],
                compute["usage_source"],
                compute["flops"],
                compute["flops_basis"],
                leaf,
            )
        ]
    return rows


def _billing_row(
    billing: Mapping[str, Any], session_id: str, crossing_id: str, leaf: int
) -> Row:
    charge = billing["usage_charge"] or {}
    return (
        session_id,
        crossing_id,
        billing["status"],
        charge.get("amount"),
        charge.get("currency"),
        billing["toll"]["amount"],
        billing["toll"]["currency"],
        _optional_json(billing["billed_usage"]),
        billing["model_id"],
        billing["provider_id"],
        billing["price_ref"],
        billing["catalogue_version"],
        billing["priced_at"],
        billing["message"],
        leaf,
    )


_BUILDERS = {
    "session": _session_rows,
    "participant": _participant_rows,
    "grant": _grant_rows,
    "revocation": _revocation_rows,
    "account": _account_rows,
    "release": _release_rows,
    "crossing": _crossing_rows,
}
