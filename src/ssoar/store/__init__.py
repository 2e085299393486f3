"""The SQLite store: audit leaves, their table projections and settlements."""

from ssoar.store._migrations import MIGRATIONS, Migration, apply_migrations
from ssoar.store._rows import TABLES, TableSpec, rows_from_record
from ssoar.store._sqlite import SettlementRow, Store

__all__ = [
    "MIGRATIONS",
    "TABLES",
    "Migration",
    "SettlementRow",
    "Store",
    "TableSpec",
    "apply_migrations",
    "rows_from_record",
]
