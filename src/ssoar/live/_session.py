"""An open live session, as a booth process keeps it in memory.

A ``LiveSession`` is rebuilt from the session's event log and kept up to
date as events are added, by this process or, after a catch-up read, by
another one. The live path and the catch-up path change it through the same
methods, so both give the same session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ssoar.booth._booth import Booth
from ssoar.booth._entities import SessionEntities
from ssoar.ledger._authority import AuthorityCheck, AuthorityLedger, Grant
from ssoar.ledger._entitlement import (
    Account,
    Overdraft,
    Transfer,
    TransferPhase,
)
from ssoar.ledger._windows import window_bounds
from ssoar.live._quotas import QuotaBinding
from ssoar.live._records import (
    account_from_json,
    authority_from_json,
    crossing_from_json,
    decision_from_json,
    grant_from_json,
    overdraft_from_json,
    participant_from_json,
    time_from_json,
    transfer_from_json,
)
from ssoar.live._wire import CrossingAnswer, ReasonAnswer
from ssoar.model._crossing import Crossing, CrossingState, Decision, UsageSource
from ssoar.model._money import Money
from ssoar.model._participant import Participant
from ssoar.model._session import Session
from ssoar.model._usage import TokenUsage

__all__ = ["CrossingView", "LiveCrossing", "LiveSession"]

_ZERO = Decimal(0)
_NEVER = datetime.min.replace(tzinfo=UTC)
_ALWAYS = datetime.max.replace(tzinfo=UTC)


@dataclass(slots=True)
class LiveCrossing:
    """One crossing of a live session: its decision, reservations and end."""

    crossing: Crossing
    """The crossing in its current state: open, then completed or failed; or denied."""
    decision: Decision
    authority: AuthorityCheck
    fingerprint: str
    """A digest of the request that began it, to recognise a retry."""
    transfers: list[Transfer] = field(default_factory=list)
    overdrafts: list[Overdraft] = field(default_factory=list)
    estimate: TokenUsage | None = None
    """The worst-case usage reserved for a model invocation."""
    route: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    completion: str | None = None
    """A digest of the request that completed it."""
    charge: Money | None = None
    """The usage charge, once completed and priced."""
    seq: int = 0

    @property
    def key(self) -> str:
        """The crossing id inside its session: the idempotency key."""
        return self.crossing.crossing_id.removeprefix(self.crossing.session_id + "/")

    def pending(self) -> dict[str, Decimal]:
        """Return each reservation not yet posted or released, with its amount."""
        resolved = {
            transfer.reservation_id
            for transfer in self.transfers
            if transfer.phase is not TransferPhase.RESERVE
        }
        return {
            transfer.reservation_id: transfer.amount
            for transfer in self.transfers
            if transfer.phase is TransferPhase.RESERVE
            and transfer.reservation_id not in resolved
        }

    def view(self, *, replayed: bool = False) -> CrossingView:
        """Return a copy of what a response about the crossing needs, as it is now."""
        return CrossingView(
            self.crossing,
            self.decision,
            self.route,
            tuple(self.transfers),
            self.charge,
            len(self.attempts),
            replayed,
        )


@dataclass(slots=True)
class CrossingView:
    """A copy of a crossing as one operation left it, for the response to its caller.

    Operations run inside the group commit's shared transaction, one at a
    time. They return this copy, and the caller builds the response from it
    after the commit, while the next batch runs: the transfers are copied,
    and the crossing and decision are never changed in place.
    """

    crossing: Crossing
    decision: Decision
    route: str | None
    transfers: tuple[Transfer, ...]
    charge: Money | None
    attempts: int
    replayed: bool

    def answer(self) -> CrossingAnswer:
        """Build the response the booth sends about the crossing."""
        decision = self.decision
        crossing = self.crossing
        reserved: dict[str, Decimal] = {}
        posted: dict[str, Decimal] = {}
        for transfer in self.transfers:
            phase = transfer.phase
            if phase is TransferPhase.RESERVE:
                sums = reserved
            elif phase is TransferPhase.POST:
                sums = posted
            else:
                continue
            sums[transfer.account_id] = (
                sums.get(transfer.account_id, _ZERO) + transfer.amount
            )
        return CrossingAnswer(
            crossing_id=crossing.crossing_id,
            session_id=crossing.session_id,
            kind=crossing.kind,
            allowed=decision.allowed,
            state=crossing.state.value,
            reasons=[
                ReasonAnswer(reason.code, reason.message) for reason in decision.reasons
            ],
            policy_ids=list(decision.policy_ids),
            obligations=list(decision.obligations),
            errors=list(decision.errors),
            actor=crossing.actor_id,
            route=self.route,
            reserved={account: str(amount) for account, amount in reserved.items()},
            posted={account: str(amount) for account, amount in posted.items()},
            charge=self.charge.to_json() if self.charge is not None else None,
            usage_source=crossing.usage_source.value,
            attempts=self.attempts,
            replayed=self.replayed,
        )


@dataclass
class LiveSession:
    """An open session's state: roster, grants, accounts and crossings."""

    session: Session
    booth: Booth
    idle_timeout_seconds: int
    lifetime_deadline: datetime
    last_activity: datetime
    webhook_url: str | None
    allowed_jurisdictions: tuple[str, ...] | None
    quotas: tuple[QuotaBinding, ...]
    entities: SessionEntities
    participants: dict[str, Participant] = field(default_factory=dict)
    roster: set[str] = field(default_factory=set)
    admitted: dict[str, str] = field(default_factory=dict)
    authority: AuthorityLedger = field(default_factory=AuthorityLedger)
    grants: list[Grant] = field(default_factory=list)
    grant_limits: dict[str, Account] = field(default_factory=dict)
    """The limit account of each grant that has one."""
    accounts: dict[str, tuple[Account, Decimal]] = field(default_factory=dict)
    """Accounts the session drew on, with what each had posted before."""
    crossings: dict[str, LiveCrossing] = field(default_factory=dict)
    seq: int = 0
    activity_written: datetime = _NEVER
    """When this process last stored the session's activity."""
    generation: int = 0
    """The booth's cache generation this state was last brought up to date in."""
    trusted_roots: set[str] = field(default_factory=set)
    _accounts_by_holder: dict[
        tuple[str, str], tuple[list[Account], datetime, datetime]
    ] = field(default_factory=dict)
    """The accounts a (kind, holder) draws on, and the instants they hold between."""

    def __post_init__(self) -> None:
        self.trusted_roots.add(f"tenant:{self.session.tenant}")

    def accounts_for(self, kind: str, holder: str, at: datetime) -> list[Account]:
        """Return the quota accounts a crossing of ``kind`` by ``holder`` draws on.

        The list is valid until the earliest window among them ends, so it is
        built once per kind, holder and window, not once per crossing.
        """
        key = (kind, holder)
        cached = self._accounts_by_holder.get(key)
        if cached is not None and cached[1] <= at < cached[2]:
            return cached[0]
        accounts: list[Account] = []
        start, end = _NEVER, _ALWAYS
        for binding in self.quotas:
            if not binding.quota.applies_to(kind):
                continue
            account = binding.account_for(self.session_id, self.tenant, holder, at)
            if account is None:
                continue
            accounts.append(account)
            if binding.window is not None:
                bounds = window_bounds(binding.window, at)
                if bounds is not None:
                    start, end = max(start, bounds[0]), min(end, bounds[1])
        self._accounts_by_holder[key] = (accounts, start, end)
        return accounts

    @property
    def session_id(self) -> str:
        """The session's id."""
        return self.session.session_id

    @property
    def tenant(self) -> str:
        """The tenant the session belongs to."""
        return self.session.tenant

    # Changes, shared by the live path and the catch-up path.

    def add_participant(self, participant: Participant, *, declared: bool) -> None:
        """Register a participant; ``declared`` puts it on the roster."""
        if participant.participant_id in self.participants:
            if declared:
                self.roster.add(participant.participant_id)
            return
        self.participants[participant.participant_id] = participant
        if declared:
            self.roster.add(participant.participant_id)
        self.entities.add_participant(participant)

    def add_grant(self, grant: Grant, limit: Account | None) -> None:
        """Issue a grant in the session's authority ledger."""
        self.authority.issue(grant)
        self.grants.append(grant)
        if limit is not None:
            self.grant_limits[grant.grant_id] = limit

    def add_account(self, account: Account, posted_before: Decimal) -> None:
        """Record that the session draws on an account."""
        self.accounts.setdefault(account.account_id, (account, posted_before))

    def add_crossing(self, live: LiveCrossing) -> None:
        """Add a begun crossing."""
        self.crossings[live.key] = live
        crossing = live.crossing
        if (
            crossing.kind == "participant_admission"
            and live.decision.allowed
            and crossing.state is not CrossingState.DENIED
        ):
            self.admitted.setdefault(crossing.actor_id, crossing.crossing_id)
            self.trusted_roots.add(crossing.actor_id)

    def apply(self, event_type: str, body: Mapping[str, Any]) -> None:
        """Apply one stored event, read back from the log."""
        if event_type == "participant":
            self.add_participant(
                participant_from_json(body["participant"]), declared=body["declared"]
            )
        elif event_type == "grant":
            limit = body.get("limit_account")
            self.add_grant(
                grant_from_json(body["grant"]),
                account_from_json(limit) if limit else None,
            )
        elif event_type == "account":
            self.add_account(
                account_from_json(body["account"]), Decimal(body["posted_before"])
            )
        elif event_type == "begun":
            self.add_crossing(_crossing_from_event(body))
        elif event_type == "attempt":
            self.crossings[body["key"]].attempts.append(body["attempt"])
        elif event_type == "completed":
            live = self.crossings[body["key"]]
            live.crossing = _ended(live.crossing, body["end"])
            live.transfers.extend(
                transfer_from_json(item) for item in body["transfers"]
            )
            live.overdrafts.extend(
                overdraft_from_json(item) for item in body["overdrafts"]
            )
            live.completion = body["fingerprint"]
            charge = body.get("charge")
            live.charge = (
                Money.parse(charge["amount"], charge["currency"]) if charge else None
            )
        elif event_type == "activity":
            pass
        else:
            raise ValueError(f"unknown live event type {event_type!r}")


def _crossing_from_event(body: Mapping[str, Any]) -> LiveCrossing:
    estimate = body.get("estimate")
    return LiveCrossing(
        crossing=crossing_from_json(body["crossing"]),
        decision=decision_from_json(body["decision"]),
        authority=authority_from_json(body["authority"]),
        fingerprint=body["fingerprint"],
        transfers=[transfer_from_json(item) for item in body["transfers"]],
        overdrafts=[overdraft_from_json(item) for item in body["overdrafts"]],
        estimate=TokenUsage.from_json(estimate) if estimate else None,
        route=body.get("route"),
    )


def _ended(crossing: Crossing, end: Mapping[str, Any]) -> Crossing:
    """Apply a completion event's changes to the crossing as it began."""
    usage = end["usage"]
    ended_at = end["ended_at"]
    attributes = dict(crossing.attributes)
    for name, value in end["attributes"].items():
        attributes[name] = tuple(value) if isinstance(value, list) else value
    return replace(
        crossing,
        state=CrossingState(end["state"]),
        ended_at=time_from_json(ended_at) if ended_at else None,
        usage=TokenUsage.from_json(usage) if usage else None,
        usage_source=UsageSource(end["usage_source"]),
        error=end["error"],
        attributes=attributes,
    )
