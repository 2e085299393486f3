"""Tenants and their API keys.

A key is shown once, when it is created, as ``ssoar_<key id>_<secret>``.
The database keeps only the key id, the tenant, the scopes and the SHA-256
of the secret, so a copy of the database does not hold usable keys. The
service keeps a key it has checked for one second: a key revoked through
DELETE /v1/api-keys stops working at once, and one revoked by another
process (``ssoar api-key revoke``) within a second.

Scopes: ``booth`` opens sessions and asks the booth at crossings; ``read``
reads sessions, settlements, explanations, proofs and the report; ``admin``
manages the tenant's plan and keys. A key acts only for its own tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from ssoar.errors import RequestError
from ssoar.model._time import format_time, utc_now

__all__ = ["SCOPES", "ApiKey", "Caller", "authenticate", "create_key", "revoke_key"]

SCOPES = ("booth", "read", "admin")
_KEY_PATTERN = re.compile(r"^ssoar_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from: a tenant, through one key with some scopes."""

    tenant: str
    key_id: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A newly created key; ``secret`` is the only copy of the full key."""

    key_id: str
    tenant: str
    scopes: tuple[str, ...]
    label: str
    secret: str


def check_tenant(tenant: str) -> str:
    """Return a tenant name, checked.

    Raises:
        RequestError: If it is not 1 to 63 lowercase letters, digits, ``_ . -``.
    """
    if not _TENANT_PATTERN.match(tenant):
        raise RequestError(
            "tenant",
            f"{tenant!r} is not a tenant name: use 1 to 63 lowercase letters, "
            "digits, '_', '.' or '-', starting with a letter or digit",
        )
    return tenant


def create_key(
    connection: sqlite3.Connection,
    tenant: str,
    scopes: tuple[str, ...],
    label: str = "",
) -> ApiKey:
    """Create a tenant (when new) and a key for it; call inside a transaction."""
    check_tenant(tenant)
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise RequestError(
            "scopes",
            f"scopes {list(scopes)} must be a non-empty subset of {list(SCOPES)}",
        )
    now = format_time(utc_now())
    connection.execute(
        "INSERT OR IGNORE INTO tenants (tenant, created_at) VALUES (?, ?)",
        (tenant, now),
    )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    connection.execute(
        "INSERT INTO api_keys (key_id, tenant, scopes, secret_sha256, label, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (key_id, tenant, " ".join(sorted(set(scopes))), _hash(secret), label, now),
    )
    return ApiKey(
        key_id, tenant, tuple(sorted(set(scopes))), label, f"ssoar_{key_id}_{secret}"
    )


def revoke_key(connection: sqlite3.Connection, tenant: str, key_id: str) -> bool:
    """Revoke a tenant's key; False when the tenant has no such live key."""
    cursor = connection.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND tenant = ? "
        "AND revoked_at IS NULL",
        (format_time(utc_now()), key_id, tenant),
    )
    return cursor.rowcount == 1


def authenticate(connection: sqlite3.Connection, presented: str) -> Caller | None:
    """Return the caller a presented key belongs to, or None for any bad key."""
    match = _KEY_PATTERN.match(presented)
    if match is None:
        return None
    key_id, secret = match.groups()
    row = connection.execute(
        "SELECT tenant, scopes, secret_sha256 FROM api_keys "
        "WHERE key_id = ? AND revoked_at IS NULL",
        (key_id,),
    ).fetchone()
    if row is None or not hmac.compare_digest(row[2], _hash(secret)):
        return None
    return Caller(row[0], key_id, frozenset(row[1].split()))


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()
