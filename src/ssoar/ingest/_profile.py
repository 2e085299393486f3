"""Import profiles: what a team intended, declared beside the traces.

Traces show what happened. A profile says what should have been true: which
participants count as admitted, which grants they held and which quotas
applied. The importer puts each session through the booth with that intent,
so what was missing in practice stands out. Without a profile nobody is
admitted and nobody holds a grant, and the settlement reports exactly that.

A profile is a TOML file::

    tenant = "acme"
    template = "agentic-workflow"
    allowed_jurisdictions = ["EU"]          # optional
    session_policies = "session.cedar"      # optional, beside the profile

    [[participant]]
    match = "agent:*"                       # pattern over participant ids
    kinds = ["model_invocation", "tool_call"]
    targets = ["model:openai/*", "tool:*"]  # optional, default every target
    valid_from = "2025-01-01T00:00:00Z"     # optional, default session start
    valid_until = "2026-01-01T00:00:00Z"    # optional, default session end

    [[quota]]
    id = "session-tokens"
    scope = "session"                       # session, participant or tenant
    unit = "tokens"                         # tokens, crossings or money
    limit = "50000"
    kinds = ["model_invocation"]            # optional; default: all but closure
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ssoar.errors import ProfileError
from ssoar.ledger._authority import Grant, GrantScope
from ssoar.ledger._entitlement import Account, Quota, QuotaScope, QuotaUnit
from ssoar.model._money import is_currency_code, parse_decimal
from ssoar.model._time import format_time, parse_time

__all__ = ["ImportProfile", "ParticipantIntent", "load_profile"]

_PROFILE_SIZE_MAX = 1_000_000
_KEYS = frozenset(
    {
        "tenant",
        "template",
        "allowed_jurisdictions",
        "session_policies",
        "participant",
        "quota",
    }
)
_PARTICIPANT_KEYS = frozenset(
    {"match", "kinds", "targets", "valid_from", "valid_until"}
)
_QUOTA_KEYS = frozenset({"id", "scope", "unit", "limit", "currency", "kinds", "match"})


@dataclass(frozen=True, slots=True)
class ParticipantIntent:
    """Participants a profile declares admitted, and the grant they hold."""

    match: str
    kinds: frozenset[str]
    targets: tuple[str, ...]
    valid_from: datetime | None
    valid_until: datetime | None

    def matches(self, participant_id: str) -> bool:
        """Whether the intent covers a participant."""
        return fnmatchcase(participant_id, self.match)


@dataclass(frozen=True, slots=True)
class ImportProfile:
    """What a team intended for the sessions in a set of traces."""

    source: str
    tenant: str | None = None
    template: str | None = None
    allowed_jurisdictions: tuple[str, ...] | None = None
    session_policies: Path | None = None
    """A .cedar file or directory evaluated as each session's own policy layer."""
    participants: tuple[ParticipantIntent, ...] = ()
    quotas: tuple[tuple[Quota, str], ...] = ()
    """Each quota with the participant pattern it applies to (``*`` for all)."""

    def check_kinds(self, kinds: Collection[str], template: str) -> None:
        """Check that every crossing kind the profile names is in the template.

        Raises:
            ProfileError: Naming the entry and the unknown kind.
        """
        named = [
            (f"participant[{index}]", intent.kinds)
            for index, intent in enumerate(self.participants)
        ] + [
            (f"quota[{index}]", quota.kinds)
            for index, (quota, _) in enumerate(self.quotas)
        ]
        for where, entry_kinds in named:
            unknown = sorted(set(entry_kinds) - set(kinds))
            if unknown:
                raise ProfileError(
                    f"{self.source}: {where} names crossing kind {unknown[0]!r}, which "
                    f"template {template!r} does not have; its kinds are "
                    f"{', '.join(kinds)}"
                )

    def declares(self, participant_id: str) -> bool:
        """Whether the profile counts a participant as admitted."""
        return any(intent.matches(participant_id) for intent in self.participants)

    def grants_for(
        self,
        session_id: str,
        tenant: str,
        participant_ids: Sequence[str],
        opened_at: datetime,
        closed_at: datetime,
    ) -> list[Grant]:
        """Return the session-scoped grants the profile gives these participants."""
        grants: list[Grant] = []
        for participant_id in participant_ids:
            intent = next(
                (item for item in self.participants if item.matches(participant_id)),
                None,
            )
            if intent is None or not intent.kinds:
                continue
            not_before = intent.valid_from or opened_at
            # The default window ends just after the session's last crossing,
            # so a crossing at the very end is still inside it.
            expires_at = intent.valid_until or closed_at + timedelta(seconds=1)
            if expires_at <= not_before:
                # A window set on one side only can end before it starts here:
                # valid_from after the session's last crossing, or valid_until
                # before its first. No grant can cover such a session, so its
                # crossings are recorded without one.
                continue
            grants.append(
                Grant(
                    grant_id=f"{session_id}/grant/{participant_id}",
                    grantor=f"tenant:{tenant}",
                    grantee=participant_id,
                    scope=GrantScope(intent.kinds, intent.targets),
                    not_before=not_before,
                    expires_at=expires_at,
                    session_id=session_id,
                )
            )
        return grants

    def accounts_for(
        self, session_id: str, tenant: str, participant_ids: Sequence[str]
    ) -> list[Account]:
        """Return the quota accounts that apply to a session."""
        accounts: list[Account] = []
        for quota, pattern in self.quotas:
            if quota.scope is QuotaScope.SESSION:
                accounts.append(
                    Account(f"{session_id}/quota/{quota.quota_id}", quota, session_id)
                )
            elif quota.scope is QuotaScope.TENANT:
                accounts.append(
                    Account(f"tenant:{tenant}/quota/{quota.quota_id}", quota, tenant)
                )
            else:
                for participant_id in participant_ids:
                    if fnmatchcase(participant_id, pattern):
                        accounts.append(
                            Account(
                                f"{session_id}/quota/{quota.quota_id}/{participant_id}",
                                quota,
                                participant_id,
                            )
                        )
        return accounts


def load_profile(path: Path) -> ImportProfile:
    """Read and check an import profile.

    Raises:
        ProfileError: Naming the file, the entry and the fix, for any invalid value.
    """
    if not path.is_file():
        raise ProfileError(f"profile {path} does not exist")
    if path.stat().st_size > _PROFILE_SIZE_MAX:
        raise ProfileError(f"profile {path} is larger than {_PROFILE_SIZE_MAX} bytes")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: invalid TOML: {error}") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ProfileError(
            f"{path}: unknown key {unknown[0]!r}; a profile has "
            f"{', '.join(sorted(_KEYS))}"
        )
    where = str(path)
    quota_ids = [entry.get("id") for entry in _tables(data, "quota", where)]
    for index, quota_id in enumerate(quota_ids):
        if quota_id in quota_ids[:index]:
            raise ProfileError(
                f"{where}: quota[{index}] repeats id {quota_id!r}; give each quota "
                "its own id"
            )
    session_policies = _optional_string(data, "session_policies", where)
    jurisdictions = data.get("allowed_jurisdictions")
    if jurisdictions is not None and not _string_list(jurisdictions):
        raise ProfileError(f"{where}: allowed_jurisdictions must be a list of strings")
    return ImportProfile(
        source=where,
        tenant=_optional_string(data, "tenant", where),
        template=_optional_string(data, "template", where),
        allowed_jurisdictions=tuple(jurisdictions)
        if jurisdictions is not None
        else None,
        # A relative path is found beside the profile that names it.
        session_policies=path.parent / session_policies if session_policies else None,
        participants=tuple(
            _participant(entry, f"{where}: participant[{index}]")
            for index, entry in enumerate(_tables(data, "participant", where))
        ),
        quotas=tuple(
            _quota(entry, f"{where}: quota[{index}]")
            for index, entry in enumerate(_tables(data, "quota", where))
        ),
    )


def _check_keys(entry: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(sorted(known))}"
        )


def _participant(entry: dict[str, Any], where: str) -> ParticipantIntent:
    _check_keys(entry, _PARTICIPANT_KEYS, where)
    match = entry.get("match")
    if not isinstance(match, str) or not match:
        raise ProfileError(
            f"{where}: 'match' must be a participant id or pattern such as \"agent:*\""
        )
    kinds = entry.get("kinds", [])
    targets = entry.get("targets", ["*"])
    if not _string_list(kinds):
        raise ProfileError(f"{where}: 'kinds' must be a list of crossing kinds")
    if not _string_list(targets):
        raise ProfileError(
            f"{where}: 'targets' must be a list of patterns such as \"model:*\""
        )
    valid_from = _optional_time(entry, "valid_from", where)
    valid_until = _optional_time(entry, "valid_until", where)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise ProfileError(
            f"{where}: valid_until {format_time(valid_until)} is not after "
            f"valid_from {format_time(valid_from)}; the grant would never be valid"
        )
    return ParticipantIntent(
        match=match,
        kinds=frozenset(kinds),
        targets=tuple(targets),
        valid_from=valid_from,
        valid_until=valid_until,
    )


def _quota(entry: dict[str, Any], where: str) -> tuple[Quota, str]:
    _check_keys(entry, _QUOTA_KEYS, where)
    quota_id = entry.get("id")
    if not isinstance(quota_id, str) or not quota_id:
        raise ProfileError(f"{where}: 'id' must be a non-empty string")
    try:
        scope = QuotaScope(entry.get("scope", "session"))
        unit = QuotaUnit(str(entry.get("unit")))
    except ValueError:
        raise ProfileError(
            f"{where}: scope must be session, participant or tenant, and unit must be "
            "tokens, crossings or money (found "
            f"scope={entry.get('scope', 'session')!r}, "
            f"unit={entry.get('unit')!r})"
        ) from None
    try:
        limit = parse_decimal(entry.get("limit"), field=f"{where}: limit")
    except ValueError as error:
        raise ProfileError(str(error)) from None
    currency = entry.get("currency")
    if unit is QuotaUnit.MONEY and currency is None:
        currency = "USD"
    # Charges are posted to a money quota only in its own currency, so a
    # currency no charge can have would leave the quota unenforced.
    if unit is QuotaUnit.MONEY and not is_currency_code(currency):
        raise ProfileError(
            f"{where}: currency={currency!r} is not an ISO 4217 code; write three "
            'ASCII capital letters such as "USD"'
        )
    kinds = entry.get("kinds", [])
    if not _string_list(kinds):
        raise ProfileError(f"{where}: 'kinds' must be a list of crossing kinds")
    if limit < Decimal(0):
        raise ProfileError(f"{where}: limit {limit} is negative; limits start at 0")
    try:
        quota = Quota(
            quota_id,
            scope,
            unit,
            limit,
            currency if unit is QuotaUnit.MONEY else None,
            frozenset(kinds),
        )
    except ValueError as error:
        raise ProfileError(f"{where}: {error}") from None
    match = entry.get("match", "*")
    if not isinstance(match, str):
        raise ProfileError(f"{where}: 'match' must be a participant pattern")
    return quota, match


def _tables(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProfileError(f"{where}: '{key}' must be written as [[{key}]] tables")
    return value


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _optional_string(data: dict[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ProfileError(f"{where}: '{key}' must be a non-empty string")
    return value


def _optional_time(entry: dict[str, Any], key: str, where: str) -> datetime | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.isoformat()
    try:
        return parse_time(value, field=f"{where}: {key}")
    except ValueError as error:
        raise ProfileError(str(error)) from None
