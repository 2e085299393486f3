"""ssoar: a policy booth at every crossing of a session, four reconciled ledgers,
and one signed settlement per session.

The packages, from the core outwards:

- ``ssoar.model``: sessions, participants, crossings, decisions and templates.
- ``ssoar.policy``: Cedar policy sets, their schema and evaluation.
- ``ssoar.booth``: the decision at each crossing.
- ``ssoar.ledger``: compute, billing, entitlement and authority ledgers, prices.
- ``ssoar.audit``: canonical records, Merkle log, proofs and signatures.
- ``ssoar.settlement``: reconciliation rules, exceptions, exposure, settlement.
- ``ssoar.session``: one session's books, from first crossing to settlement.
- ``ssoar.ingest``: importing traces of systems that had no booth.
- ``ssoar.store``: the SQLite database.
- ``ssoar.report``: the reconciliation ledger, explanations, proofs, verification.
- ``ssoar.live``: the live booth: sessions, reservations, group commit, sweeper.
- ``ssoar.sdk``: the Python SDK (``ssoar.connect``), in process or over HTTP.
- ``ssoar.server``: the HTTP service (``ssoar serve``).
- ``ssoar.cli``: the ``ssoar`` command.

The SDK's names are importable from ``ssoar`` itself: ``ssoar.connect``,
the request structs (``QuotaSpec``, ``GrantSpec``, ``RouteSpec``,
``UsageReport``) and ``CrossingDenied``.
"""

from importlib.metadata import PackageNotFoundError, version

from ssoar.errors import (
    BoothUnavailable,
    ConfigError,
    Conflict,
    CrossingDenied,
    InputError,
    NotFound,
    PolicyError,
    ProfileError,
    RequestError,
    SessionClosed,
    SessionError,
    SsoarError,
    StorageError,
    TemplateError,
    VerificationError,
)
from ssoar.live._wire import (
    GrantLimit,
    GrantSpec,
    ParticipantSpec,
    QuotaSpec,
    RouteSpec,
    UsageReport,
)

_SDK_NAMES = frozenset({"Client", "Crossing", "Session", "connect", "wrap_openai"})


def __getattr__(name: str) -> object:
    # The SDK loads the policy engine and the price catalogue, which take a
    # moment; commands that never open a live session do not pay for it.
    if name in _SDK_NAMES:
        import ssoar.sdk

        return getattr(ssoar.sdk, name)
    raise AttributeError(f"module 'ssoar' has no attribute {name!r}")


try:
    __version__ = version("ssoar")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BoothUnavailable",
    "Client",
    "ConfigError",
    "Conflict",
    "Crossing",
    "CrossingDenied",
    "GrantLimit",
    "GrantSpec",
    "InputError",
    "NotFound",
    "ParticipantSpec",
    "PolicyError",
    "ProfileError",
    "QuotaSpec",
    "RequestError",
    "RouteSpec",
    "Session",
    "SessionClosed",
    "SessionError",
    "SsoarError",
    "StorageError",
    "TemplateError",
    "UsageReport",
    "VerificationError",
    "__version__",
    "connect",
    "wrap_openai",
]
