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
                "allowed",
                "leaf_index",
            ),
            ("crossing_id",),
        ),
    )
}


def _json(value: Any) -> str:
    """Return a compact, key-sorted JSON text for a column."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def rows_from_record(
    record: Mapping[str, Any], leaf_index: int
) -> dict[str, list[Row]]:
    """Return the rows that an audit record projects to, by table name."""
    record_type = record["type"]
    if record_type in _WITHOUT_ROWS:
        return {}
    builder = _BUILDERS[record_type]
    return builder(record, record["session_id"], leaf_index)


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


def _crossing_rows(
    record: Mapping[str, Any], session_id: str, leaf: int
) -> dict[str, list[Row]]:
    crossing = record["crossing"]
    target = crossing["target"] or {}
    return {
        "crossings": [
            (
                crossing["crossing_id"],
                session_id,
                crossing["kind"],
                crossing["actor_id"],
                crossing["invoker_id"],
                target.get("type"),
                target.get("id"),
                crossing["started_at"],
                crossing["ended_at"],
                crossing["state"],
                int(record["decision"]["allowed"]),
                leaf,
            )
        ]
    }


_WITHOUT_ROWS = frozenset({"release"})
"""Record types that only the ledger views read."""

_BUILDERS = {
    "session": _session_rows,
    "participant": _participant_rows,
    "grant": _grant_rows,
    "revocation": _revocation_rows,
    "account": _account_rows,
    "crossing": _crossing_rows,
}
