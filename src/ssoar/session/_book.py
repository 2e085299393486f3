"""The books of one session: its crossings pass the booth and post to every ledger.

A ``SessionBook`` keeps a session's state in memory while its crossings are
processed: the roster and who was admitted, the grants and quota accounts,
the Cedar entities and the audit log. Closing it settles every ledger at
once and returns the signed settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ssoar.audit._log import Leaf, SessionLog
from ssoar.audit._signing import SigningKey
from ssoar.booth._booth import Booth, BoothFacts
from ssoar.booth._entities import SessionEntities
from ssoar.errors import SessionError
from ssoar.ledger._authority import (
    AuthorityCheck,
    AuthorityLedger,
    AuthorityStatus,
    Grant,
)
from ssoar.ledger._billing import BillingEntry, Quoter, TollSchedule, bill_crossing
from ssoar.ledger._compute import meter_crossing
from ssoar.ledger._entitlement import (
    Account,
    EntitlementLedger,
    QuotaScope,
    QuotaUnit,
    Transfer,
)
from ssoar.model._crossing import (
    AttributeValue,
    Crossing,
    CrossingState,
    Decision,
)
from ssoar.model._ledgers import Ledger
from ssoar.model._participant import Participant
from ssoar.model._session import CloseReason, Session
from ssoar.model._template import CrossingKindSpec
from ssoar.model._time import format_time
from ssoar.settlement._exceptions import ReviewCosts, SettlementException
from ssoar.settlement._outcome import CrossingOutcome, EntitlementEntry
from ssoar.settlement._rules import find_exceptions
from ssoar.settlement._settle import (
    AccountSummary,
    SignedSettlement,
    build_settlement,
    sign_settlement,
)

__all__ = ["BookSettings", "SessionBook"]

PRICED_KINDS = frozenset({"model_invocation"})
"""Crossing kinds whose usage is priced per token and must be reported."""


@dataclass(frozen=True, slots=True)
class BookSettings:
    """The settings a session's books are kept under."""

    tolls: TollSchedule
    review_costs: ReviewCosts
    allowed_jurisdictions: tuple[str, ...] | None = None


class SessionBook:
    """One session's state while its crossings pass the booth."""

    def __init__(
        self,
        session: Session,
        booth: Booth,
        quoter: Quoter,
        settings: BookSettings,
        *,
        authority: AuthorityLedger | None = None,
        entitlement: EntitlementLedger | None = None,
        retrospective: bool = True,
    ) -> None:
        self.session = session
        self.retrospective = retrospective
        """True for imported history; False for a session run through the live
        booth, whose crossings were decided when they happened."""
        self.booth = booth
        self.template = booth.template
        self.quoter = quoter
        self.settings = settings
        self.authority = authority or AuthorityLedger()
        self.entitlement = entitlement or EntitlementLedger()
        self.log = SessionLog(session.session_id)
        self.entities = SessionEntities(
            session, keep_memo_on_add=not booth.policies.reads_entity_literals
        )
        self.participants: dict[str, Participant] = {}
        self.roster: set[str] = set()
        self.admitted: dict[str, str] = {}
        self.accounts: list[AccountSummary] = []
        self.grants: list[Grant] = []
        self.outcomes: list[CrossingOutcome] = []
        self.closed = False
        self.tenant_root = f"tenant:{session.tenant}"
        self.trusted_roots: set[str] = {self.tenant_root}
        """Grantors a delegation chain may start from: the tenant and every
        admitted participant."""
        self._extra_context: dict[str, AttributeValue] = {}
        if settings.allowed_jurisdictions is not None:
            self._extra_context["allowed_jurisdictions"] = (
                settings.allowed_jurisdictions
            )
        self.log.append(
            "session",
            session.session_id,
            {
                "type": "session",
                "session_id": session.session_id,
                "session": session.to_json(),
                "policy_digest": booth.policies.digest,
                "kinds": [spec.to_json() for spec in self.template.kinds.values()],
            },
        )

    def register(self, participant: Participant, *, declared: bool) -> Leaf | None:
        """Add a participant to the session; ``declared`` puts it on the roster."""
        self._check_open()
        if participant.participant_id in self.participants:
            return None
        self.participants[participant.participant_id] = participant
        if declared:
            self.roster.add(participant.participant_id)
        self.entities.add_participant(participant)
        return self.log.append(
            "participant",
            participant.participant_id,
            {
                "type": "participant",
                "session_id": self.session.session_id,
                "participant": participant.to_json(),
                "declared": declared,
            },
        )

    def issue(self, grant: Grant) -> Leaf:
        """Issue a grant in this session."""
        self._check_open()
        self.authority.issue(grant)
        self.grants.append(grant)
        return self.log.append(
            "grant",
            grant.grant_id,
            {
                "type": "grant",
                "session_id": self.session.session_id,
                "grant": grant.to_json(),
            },
        )

    def open_account(
        self, account: Account, *, posted_before: Decimal = Decimal(0)
    ) -> Leaf:
        """Open a quota account; a tenant account carries its earlier usage."""
        self._check_open()
        self.entitlement.open(account, posted=posted_before)
        self.accounts.append(AccountSummary(account, posted_before))
        return self.log.append(
            "account",
            account.account_id,
            {
                "type": "account",
                "session_id": self.session.session_id,
                "account": account.to_json(),
                "posted_before": str(posted_before),
            },
        )

    def record(self, crossing: Crossing) -> CrossingOutcome:
        """Put a crossing through the booth and post what it used.

        Imported history already happened: the decision records what the
        booth would have decided, and the ledgers record what the crossing
        really used, up to each quota's limit. A live session records only
        its closing crossing this way.
        """
        self._check_open()
        if crossing.session_id != self.session.session_id:
            raise SessionError(
                f"crossing {crossing.crossing_id} belongs to session "
                f"{crossing.session_id}, not {self.session.session_id}"
            )
        spec = self.template.spec(crossing.kind)
        if crossing.kind != "session_closure":
            self._check_registered(crossing)
        self.entities.add_target_of(crossing)
        authority = self._check_authority(crossing)
        billing = bill_crossing(
            crossing, self.quoter, self.settings.tolls, priced_kinds=PRICED_KINDS
        )
        entitlement = self._post_entitlement(crossing, billing)
        holder = crossing.authority_holder_id
        facts = BoothFacts(
            declared=crossing.actor_id in self.roster,
            actor_admitted=crossing.actor_id in self.admitted,
            invoker_admitted=holder in self.admitted,
            authority=authority,
            overdrafts=entitlement.overdrafts,
            extra_context=self._extra_context,
        )
        decision = self.booth.decide(
            crossing, facts, self.entities, retrospective=self.retrospective
        )
        return self._append(crossing, spec, decision, authority, billing, entitlement)

    def record_decided(
        self,
        crossing: Crossing,
        decision: Decision,
        authority: AuthorityCheck,
        entitlement: EntitlementEntry,
    ) -> CrossingOutcome:
        """Post a crossing the live booth already decided, with its transfers.

        The decision, the authority check and the entitlement transfers were
        made and stored when the crossing happened. This prices and meters the
        crossing as it ended, and adds its record to the audit log.
        """
        self._check_open()
        spec = self.template.spec(crossing.kind)
        self.entities.add_target_of(crossing)
        self.entitlement.restore(entitlement.transfers)
        billing = bill_crossing(
            crossing, self.quoter, self.settings.tolls, priced_kinds=PRICED_KINDS
        )
        return self._append(crossing, spec, decision, authority, billing, entitlement)

    def _append(
        self,
        crossing: Crossing,
        spec: CrossingKindSpec,
        decision: Decision,
        authority: AuthorityCheck,
        billing: BillingEntry,
        entitlement: EntitlementEntry,
    ) -> CrossingOutcome:
        """Meter a decided crossing and add its record to the audit log."""
        compute = (
            meter_crossing(crossing)
            if Ledger.COMPUTE in spec.ledgers or crossing.usage
            else None
        )
        if crossing.kind == "participant_admission" and decision.allowed:
            self.admitted.setdefault(crossing.actor_id, crossing.crossing_id)
            self.trusted_roots.add(crossing.actor_id)
        outcome = CrossingOutcome(
            crossing=crossing,
            decision=decision,
            authority=authority,
            billing=billing,
            compute=compute,
            entitlement=entitlement,
            entries=_ledger_entries(crossing, spec.ledgers),
        )
        self.log.append("crossing", crossing.crossing_id, outcome.to_record())
        self.outcomes.append(outcome)
        return outcome

    def close(
        self,
        *,
        reason: CloseReason,
        closed_at: datetime,
        settled_at: datetime,
        key: SigningKey,
        error: str | None = None,
    ) -> tuple[SignedSettlement, dict[str, list[SettlementException]]]:
        """Close the session: release reservations, revoke grants, settle and sign.

        Returns:
            The signed settlement and each crossing's exceptions.
        """
        self._check_open()
        self._release_reservations(closed_at)
        revoked = self._revoke_grants(closed_at)
        self._record_closure(closed_at)
        self.closed = True
        exceptions: dict[str, list[SettlementException]] = {}
        for outcome in self.outcomes:
            exceptions[outcome.crossing.crossing_id] = find_exceptions(
                outcome,
                self.template.spec(outcome.crossing.kind),
                usage_expected=outcome.crossing.kind in PRICED_KINDS,
                review_costs=self.settings.review_costs,
            )
        record = build_settlement(
            session=self.session,
            outcomes=self.outcomes,
            exceptions=exceptions,
            close_reason=reason,
            closed_at=closed_at,
            settled_at=settled_at,
            grants=self.grants,
            revoked=revoked,
            accounts=self.accounts,
            transfers=self._session_transfers(),
            merkle_root=self.log.root(),
            tree_size=self.log.size,
            policy_digest=self.booth.policies.digest,
            close_error=error,
        )
        return sign_settlement(record, key), exceptions

    def _session_transfers(self) -> list[Transfer]:
        """Return every transfer this book's ledger made on the session's accounts."""
        account_ids = {summary.account.account_id for summary in self.accounts}
        return [
            transfer
            for transfer in self.entitlement.transfers
            if transfer.account_id in account_ids
        ]

    def _check_registered(self, crossing: Crossing) -> None:
        for participant_id in (crossing.actor_id, crossing.invoker_id):
            if participant_id is not None and participant_id not in self.participants:
                raise SessionError(
                    f"crossing {crossing.crossing_id} names {participant_id}, who is "
                    f"not a participant of session {self.session.session_id}; "
                    "register it first"
                )

    def _check_open(self) -> None:
        if self.closed:
            raise SessionError(
                f"session {self.session.session_id} is closed; open a new session "
                "for further crossings"
            )

    def _check_authority(self, crossing: Crossing) -> AuthorityCheck:
        holder = crossing.authority_holder_id
        if crossing.kind == "participant_admission":
            if crossing.actor_id in self.roster:
                return AuthorityCheck(
                    AuthorityStatus.VALID,
                    crossing.actor_id,
                    None,
                    f"admitted by {self.tenant_root} through the session roster",
                    (crossing.actor_id, self.tenant_root),
                )
            return AuthorityCheck(
                AuthorityStatus.MISSING,
                crossing.actor_id,
                None,
                f"no one admitted {crossing.actor_id}: it is not on the session roster",
            )
        if crossing.kind == "session_closure":
            return AuthorityCheck(
                AuthorityStatus.VALID,
                crossing.actor_id,
                None,
                "closed by the booth",
                (crossing.actor_id, self.tenant_root),
            )
        target = crossing.target
        return self.authority.check(
            holder,
            crossing.kind,
            f"{target.target_type}:{target.target_id}" if target else None,
            crossing.started_at,
            self.trusted_roots,
        )

    def _post_entitlement(
        self, crossing: Crossing, billing: BillingEntry
    ) -> EntitlementEntry:
        holder = crossing.authority_holder_id
        requests: list[tuple[str, Decimal]] = []
        for summary in self.accounts:
            quota = summary.account.quota
            if not quota.applies_to(crossing.kind):
                continue
            if (
                quota.scope is QuotaScope.PARTICIPANT
                and summary.account.scope_key != holder
            ):
                continue
            amount = _quota_amount(quota.unit, quota.currency, crossing, billing)
            requests.append((summary.account.account_id, amount))
        if not requests:
            return EntitlementEntry()
        transfers, overdrafts = self.entitlement.post_within_limit(
            crossing.crossing_id, requests
        )
        return EntitlementEntry(tuple(transfers), tuple(overdrafts))

    def _release_reservations(self, at: datetime) -> list[Transfer]:
        account_ids = [summary.account.account_id for summary in self.accounts]
        releases: list[Transfer] = []
        for reservation_id in self.entitlement.pending_for(account_ids):
            transfer = self.entitlement.release(reservation_id)
            releases.append(transfer)
            self.log.append(
                "release",
                transfer.transfer_id,
                {
                    "type": "release",
                    "session_id": self.session.session_id,
                    "transfer": transfer.to_json(),
                    "released_at": format_time(at),
                },
            )
        return releases

    def _revoke_grants(self, at: datetime) -> list[str]:
        revoked: list[str] = []
        for grant in self.authority.session_grants(self.session.session_id):
            self.authority.revoke(grant.grant_id, at)
            revoked.append(grant.grant_id)
            self.log.append(
                "revocation",
                f"revocation:{grant.grant_id}",
                {
                    "type": "revocation",
                    "session_id": self.session.session_id,
                    "grant_id": grant.grant_id,
                    "revoked_at": format_time(at),
                    "reason": "session closed",
                },
            )
        return revoked

    def _record_closure(self, at: datetime) -> None:
        closure = Crossing(
            crossing_id=f"{self.session.session_id}/closure",
            session_id=self.session.session_id,
            kind="session_closure",
            actor_id=self.session.session_id,
            started_at=at,
            ended_at=at,
            state=CrossingState.COMPLETED,
        )
        self.record(closure)


def _quota_amount(
    unit: QuotaUnit, currency: str | None, crossing: Crossing, billing: BillingEntry
) -> Decimal:
    if unit is QuotaUnit.CROSSINGS:
        return Decimal(1)
    if unit is QuotaUnit.TOKENS:
        return Decimal(crossing.usage.total_tokens if crossing.usage else 0)
    charge = billing.usage_charge
    if charge is None or charge.currency != currency:
        return Decimal(0)
    return charge.amount


def _ledger_entries(
    crossing: Crossing, ledgers: frozenset[Ledger]
) -> Mapping[str, Mapping[str, object]]:
    attributes = crossing.attributes
    entries: dict[str, Mapping[str, object]] = {}
    if Ledger.MEMORY in ledgers:
        entries[Ledger.MEMORY.value] = {
            "memory_store": attributes.get("memory_store"),
            "memory_record": attributes.get("memory_record"),
            "operation": attributes.get("memory_operation"),
            "persistent": attributes.get("persistent"),
        }
    if Ledger.PLACEMENT in ledgers:
        placement = {
            key: attributes.get(key)
            for key in ("region", "jurisdiction", "from_jurisdiction", "route")
        }
        entries[Ledger.PLACEMENT.value] = placement if any(placement.values()) else {}
    if Ledger.SETTLEMENT in ledgers:
        entries[Ledger.SETTLEMENT.value] = {
            "state": crossing.state.value,
            "mutates_state": attributes.get("mutates_state"),
        }
    return entries
