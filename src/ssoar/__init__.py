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
- ``ssoar.cli``: the ``ssoar`` command.
"""

from importlib.metadata import PackageNotFoundError, version

from ssoar.errors import (
    ConfigError,
    InputError,
    PolicyError,
    ProfileError,
    SessionError,
    SsoarError,
    StorageError,
    TemplateError,
    VerificationError,
)

try:
    __version__ = version("ssoar")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ConfigError",
    "InputError",
    "PolicyError",
    "ProfileError",
    "SessionError",
    "SsoarError",
    "StorageError",
    "TemplateError",
    "VerificationError",
    "__version__",
]
