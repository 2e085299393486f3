"""The authority ledger: grants, delegation chains and revocation.

A grant says that a grantor lets a grantee perform some crossing kinds on
some targets between two instants. A grant may have a parent: the grantor
then delegates part of what the parent grant allows, and a delegated grant
can only narrow its parent's scope and window. The chain of grantees, from
the acting participant back to the first grantor, is recorded with each
crossing in the shape of an OAuth 2.0 token exchange ``act`` claim
(RFC 8693, section 4.1). Decisions use only the acting grantee and the
grant's own scope; the nested chain is the audit trail.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase

from ssoar.model._time import format_time

__all__ = [
    "DELEGATION_DEPTH_MAX",
    "AuthorityCheck",
    "AuthorityLedger",
    "AuthorityStatus",
    "DelegationError",
    "Grant",
    "GrantScope",
]

DELEGATION_DEPTH_MAX = 16
"""Longest delegation chain the ledger follows."""


class DelegationError(ValueError):
    """A grant that would widen its parent's scope, or that names an unknown parent."""


class AuthorityStatus(StrEnum):
    """The result of checking a crossing's authority."""

    VALID = "valid"
    MISSING = "missing"
    """No grant names the acting participant."""
    OUT_OF_SCOPE = "out_of_scope"
    """A grant names the participant, but not this crossing kind or target."""
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNTRACEABLE = "untraceable"
    """The chain does not lead back to an admitted participant or the tenant."""


@dataclass(frozen=True, slots=True)
class GrantScope:
    """What a grant allows: crossing kinds and target patterns.

    Targets are written ``type:id`` and matched as shell-style patterns, so
    ``model:openai/*`` covers every OpenAI model. An empty target list covers
    crossings that have no target only.
    """

    kinds: frozenset[str]
    targets: tuple[str, ...] = ("*",)

    def covers(self, kind: str, target: str | None) -> bool:
        """Whether the scope allows ``kind`` on ``target``."""
        if kind not in self.kinds:
            return False
        if target is None:
            # A grant limited to named targets does not cover a crossing that
            # names none, or leaving the target out would escape the limit.
            return not self.targets or "*" in self.targets
        return any(
            pattern == "*" or fnmatchcase(target, pattern) for pattern in self.targets
        )

    def contains(self, other: GrantScope) -> bool:
        """Whether every crossing ``other`` allows is also allowed here.

        A target pattern of ``other`` is contained when it equals a pattern
        here or, read as a literal, matches one. That is conservative: a
        narrower pattern written differently may be rejected, never a wider
        one accepted.
        """
        if not other.kinds <= self.kinds:
            return False
        return all(
            any(_pattern_within(pattern, own) for own in self.targets)
            for pattern in other.targets
        )

    def to_json(self) -> dict[str, object]:
        """Return the scope as a JSON object."""
        return {"kinds": sorted(self.kinds), "targets": list(self.targets)}


def _pattern_within(pattern: str, own: str) -> bool:
    """Whether every target ``pattern`` matches is also matched by ``own``."""
    if own == "*" or pattern == own:
        return True
    if any(char in pattern for char in "*?["):
        return False
    return fnmatchcase(pattern, own)


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant of authority, never edited: revocation is a separate record."""

    grant_id: str
    grantor: str
    """A participant id, or ``tenant:<name>`` for authority from the tenant itself."""
    grantee: str
    scope: GrantScope
    not_before: datetime
    expires_at: datetime
    parent_grant_id: str | None = None
    session_id: str | None = None
    """The session the grant is scoped to; it is revoked when that session closes."""

    def to_json(self) -> dict[str, object]:
        """Return the grant as a JSON object."""
        return {
            "grant_id": self.grant_id,
            "grantor": self.grantor,
            "grantee": self.grantee,
            "scope": self.scope.to_json(),
            "not_before": format_time(self.not_before),
            "expires_at": format_time(self.expires_at),
            "parent_grant_id": self.parent_grant_id,
            "session_id": self.session_id,
        }


@dataclass(frozen=True, slots=True)
class AuthorityCheck:
    """Whether a crossing was covered by a grant, and the chain behind it."""

    status: AuthorityStatus
    holder: str
    grant_id: str | None
    message: str
    chain: tuple[str, ...] = ()
    """Participants from the holder back to the first grantor."""
    _json: dict[str, object] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def valid(self) -> bool:
        """Whether a valid grant covered the crossing."""
        return self.status is AuthorityStatus.VALID

    def act_claim(self) -> dict[str, object] | None:
        """Return the chain as an RFC 8693 ``act`` claim.

        The holder, who acts now, is the outermost ``sub``; each nested
        ``act`` is the party before it, down to the first grantor.
        """
        if not self.chain:
            return None
        claim: dict[str, object] = {"sub": self.chain[-1]}
        for subject in reversed(self.chain[:-1]):
            claim = {"sub": subject, "act": claim}
        return claim

    def to_json(self) -> dict[str, object]:
        """Return the check as a JSON object, built once and shared."""
        if self._json is not None:
            return self._json
        result: dict[str, object] = {
            "status": self.status.value,
            "holder": self.holder,
            "grant_id": self.grant_id,
            "message": self.message,
            "chain": list(self.chain),
            "act": self.act_claim(),
        }
        object.__setattr__(self, "_json", result)
        return result


@dataclass
class AuthorityLedger:
    """The grants and revocations one booth knows about."""

    grants: dict[str, Grant] = field(default_factory=dict)
    revoked_at: dict[str, datetime] = field(default_factory=dict)
    by_grantee: dict[str, list[Grant]] = field(default_factory=dict)
    _valid: dict[
        tuple[str, str, str | None, int],
        tuple[AuthorityCheck, datetime, datetime, Collection[str]],
    ] = field(default_factory=dict)
    """Valid checks by (holder, kind, target, roots), with the chain's window.

    A valid chain stays valid for every instant inside its window. It was
    traced to one collection of trusted roots, which only grows while a
    session is open, so the cache entry holds only for that same collection.
    Issuing or revoking a grant empties the cache."""

    def issue(self, grant: Grant) -> Grant:
        """Record a grant, checking that delegation only narrows.

        Raises:
            DelegationError: If the parent is unknown, or the grant widens
                the parent's scope or window, or it ends before it starts.
        """
        if grant.expires_at <= grant.not_before:
            raise DelegationError(
                f"grant {grant.grant_id!r} expires at {format_time(grant.expires_at)}, "
                f"not after it starts at {format_time(grant.not_before)}"
            )
        if grant.parent_grant_id is not None:
            parent = self.grants.get(grant.parent_grant_id)
            if parent is None:
                raise DelegationError(
                    f"grant {grant.grant_id!r} names parent {grant.parent_grant_id!r}, "
                    "which is not in the ledger; issue the parent first"
                )
            _check_narrows(grant, parent)
        existing = self.grants.get(grant.grant_id)
        if existing is not None and existing != grant:
            raise DelegationError(
                f"grant id {grant.grant_id!r} is already used by a different grant; "
                "grants are never edited, so issue a new id"
            )
        if existing is None:
            self.grants[grant.grant_id] = grant
            self.by_grantee.setdefault(grant.grantee, []).append(grant)
            self._valid.clear()
        return grant

    def revoke(self, grant_id: str, at: datetime) -> None:
        """Record that a grant stops at ``at``; a later revocation changes nothing."""
        assert grant_id in self.grants, grant_id
        self.revoked_at.setdefault(grant_id, at)
        self._valid.clear()

    def session_grants(self, session_id: str) -> list[Grant]:
        """Return the grants scoped to a session, in issue order."""
        return [
            grant for grant in self.grants.values() if grant.session_id == session_id
        ]

    def check(
        self,
        holder: str,
        kind: str,
        target: str | None,
        at: datetime,
        trusted_roots: Collection[str],
    ) -> AuthorityCheck:
        """Check that ``holder`` held a grant for ``kind`` on ``target`` at ``at``.

        Args:
            holder: The participant whose authority is checked.
            kind: The crossing kind.
            target: The target as ``type:id``, or None.
            at: The instant the crossing acted.
            trusted_roots: Grantors a chain may start from: admitted
                participants and ``tenant:<name>``.
        """
        key = (holder, kind, target, id(trusted_roots))
        cached = self._valid.get(key)
        if (
            cached is not None
            and cached[3] is trusted_roots
            and cached[1] <= at < cached[2]
        ):
            return cached[0]
        candidates = self.by_grantee.get(holder, [])
        if not candidates:
            return AuthorityCheck(
                AuthorityStatus.MISSING, holder, None, f"no grant names {holder}"
            )
        in_scope = [grant for grant in candidates if grant.scope.covers(kind, target)]
        if not in_scope:
            return AuthorityCheck(
                AuthorityStatus.OUT_OF_SCOPE,
                holder,
                candidates[0].grant_id,
                f"grants of {holder} do not cover {kind} on {target or 'the session'}",
            )
        outcomes = [
            self._check_chain(grant, holder, at, trusted_roots) for grant in in_scope
        ]
        for outcome in outcomes:
            if outcome.valid:
                start, end = self._chain_window(outcome.grant_id)
                self._valid[key] = (outcome, start, end, trusted_roots)
                return outcome
        return outcomes[0]

    def _chain_window(self, grant_id: str | None) -> tuple[datetime, datetime]:
        """Return the instants between which every grant of a chain is in force."""
        assert grant_id is not None
        first = self.grants[grant_id]
        start, end = first.not_before, first.expires_at
        grant: Grant | None = first
        for _ in range(DELEGATION_DEPTH_MAX):
            if grant is None:
                break
            start = max(start, grant.not_before)
            end = min(end, grant.expires_at, self.revoked_at.get(grant.grant_id, end))
            grant = (
                self.grants.get(grant.parent_grant_id)
                if grant.parent_grant_id
                else None
            )
        return start, end

    def _check_chain(
        self, grant: Grant, holder: str, at: datetime, roots: Collection[str]
    ) -> AuthorityCheck:
        chain = [holder]
        current: Grant | None = grant
        for _ in range(DELEGATION_DEPTH_MAX):
            assert current is not None
            problem = self._window_problem(current, at)
            if problem is not None:
                status, message = problem
                return AuthorityCheck(
                    status, holder, grant.grant_id, message, tuple(chain)
                )
            chain.append(current.grantor)
            if current.parent_grant_id is None:
                break
            current = self.grants[current.parent_grant_id]
        else:
            return AuthorityCheck(
                AuthorityStatus.UNTRACEABLE,
                holder,
                grant.grant_id,
                f"delegation chain is longer than {DELEGATION_DEPTH_MAX} grants",
                tuple(chain),
            )
        if chain[-1] not in roots:
            return AuthorityCheck(
                AuthorityStatus.UNTRACEABLE,
                holder,
                grant.grant_id,
                f"chain starts at {chain[-1]}, which was not admitted to the session",
                tuple(chain),
            )
        return AuthorityCheck(
            AuthorityStatus.VALID,
            holder,
            grant.grant_id,
            f"grant {grant.grant_id} from {grant.grantor}",
            tuple(chain),
        )

    def _window_problem(
        self, grant: Grant, at: datetime
    ) -> tuple[AuthorityStatus, str] | None:
        revoked = self.revoked_at.get(grant.grant_id)
        if revoked is not None and revoked <= at:
            return (
                AuthorityStatus.REVOKED,
                f"grant {grant.grant_id} was revoked at {format_time(revoked)}",
            )
        if at < grant.not_before:
            return (
                AuthorityStatus.NOT_YET_VALID,
                f"grant {grant.grant_id} starts at {format_time(grant.not_before)}",
            )
        if at >= grant.expires_at:
            return (
                AuthorityStatus.EXPIRED,
                f"grant {grant.grant_id} expired at {format_time(grant.expires_at)}",
            )
        return None


def _check_narrows(grant: Grant, parent: Grant) -> None:
    if grant.grantor != parent.grantee:
        raise DelegationError(
            f"grant {grant.grant_id!r} is issued by {grant.grantor}, but its parent "
            f"{parent.grant_id!r} was granted to {parent.grantee}; only the holder "
            "of a grant can delegate it"
        )
    if not parent.scope.contains(grant.scope):
        raise DelegationError(
            f"grant {grant.grant_id!r} scope {grant.scope.to_json()} is wider than "
            f"its parent {parent.grant_id!r} scope {parent.scope.to_json()}; "
            "delegation can only narrow scope"
        )
    if grant.not_before < parent.not_before or grant.expires_at > parent.expires_at:
        raise DelegationError(
            f"grant {grant.grant_id!r} is valid outside its parent's window "
            f"{format_time(parent.not_before)} to {format_time(parent.expires_at)}; "
            "delegation can only narrow the window"
        )
