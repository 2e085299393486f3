"""The live booth: sessions opened, crossings decided and reserved, sessions settled.

``LiveBooth`` is the booth in the path of running code. The SDK calls it in
process and the HTTP service calls it for remote clients, and both get the
same results. Each change is an operation run under group commit (see
``ssoar.live._commit``): a caller gets the booth's decision only once the
decision, and any reservation it made, is durable.

Several booth processes may share one SQLite file. Each keeps open sessions
and balances in memory and, at the start of every write transaction, asks
SQLite whether another process has committed since (``PRAGMA
data_version``). If one has, the cached state is brought up to date from the
event log and the balance table before anything is decided, so two
processes can never both take an account's last unit.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import orjson

from ssoar.audit._signing import SigningKey
from ssoar.booth._booth import Booth, BoothFacts
from ssoar.booth._entities import SessionEntities
from ssoar.config._settings import Settings
from ssoar.errors import (
    Conflict,
    CrossingIdTaken,
    NotFound,
    RequestError,
    SessionClosed,
    SsoarError,
    TemplateError,
)
from ssoar.ledger._authority import (
    AuthorityCheck,
    AuthorityStatus,
    DelegationError,
    Grant,
    GrantScope,
)
from ssoar.ledger._entitlement import (
    Account,
    Overdraft,
    Quota,
    QuotaScope,
    QuotaUnit,
    Transfer,
    TransferPhase,
)
from ssoar.ledger._pricing import PriceCatalogue
from ssoar.live._commit import GroupCommit
from ssoar.live._notify import SessionNotice, Subscribers, WebhookSender
from ssoar.live._quotas import (
    QuotaBinding,
    binding_from_json,
    binding_to_json,
    grant_limit_accounts,
    quota_binding,
    unit_amount,
    used_amount,
    worst_case,
)
from ssoar.live._records import session_from_json, time_from_json
from ssoar.live._requests import (
    BOOTH_ATTRIBUTES,
    CompletionReport,
    aware_instant,
    begin_request,
    check_kinds,
    check_webhook,
    crossing_attributes,
    decimal_field,
    digest,
    parse_target,
    participant_class_of,
    request_fingerprint,
)
from ssoar.live._routing import Candidate, cost_order, record_routes
from ssoar.live._session import CrossingView, LiveCrossing, LiveSession
from ssoar.live._tenants import ApiKey, create_key
from ssoar.live._wire import (
    PATTERN_MEANINGS,
    SESSION_ID_PATTERN,
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    RouteSpec,
    SessionAnswer,
)
from ssoar.model._crossing import (
    AttributeValue,
    Crossing,
    CrossingState,
    DenialReason,
    Target,
    UsageSource,
)
from ssoar.model._money import Money
from ssoar.model._participant import Participant, ParticipantClass
from ssoar.model._session import CloseReason, Session, SessionState
from ssoar.model._template import load_template
from ssoar.model._time import format_time, utc_now
from ssoar.model._usage import TokenUsage, UsageError
from ssoar.session._book import BookSettings, SessionBook
from ssoar.settlement._exceptions import ReasonCode
from ssoar.store._sqlite import Store

if TYPE_CHECKING:
    from ssoar.live._async import AsyncBooth

__all__ = ["LiveBooth"]

T = TypeVar("T")
_ZERO = Decimal(0)
_ONE = Decimal(1)
_ACTIVITY_RESOLUTION = timedelta(seconds=1)
_SWEEP_BATCH = 64
"""Most sessions one sweep operation closes; a sweep repeats until none is due."""
_CHECKPOINT_PAGES = 400
_SESSION_ID = re.compile(SESSION_ID_PATTERN)
_LOG = logging.getLogger("ssoar.live")


@dataclass(slots=True)
class _Balance:
    limit: Decimal
    reserved: Decimal
    posted: Decimal
    generation: int
    account: Account

    @property
    def available(self) -> Decimal:
        return self.limit - self.reserved - self.posted


class LiveBooth:
    """The booth for sessions that run now, backed by one SQLite file."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        catalogue: PriceCatalogue | None = None,
        deliver_webhooks: bool = True,
    ) -> None:
        from ssoar._runtime import compile_policies

        self.settings = settings
        self.clock = clock
        self.store = Store.open(settings.db, threads=True)
        # Checkpoint at 400 pages (6.4 MiB) instead of SQLite's 1,000: each
        # checkpoint stays short, and the log stays small, because a log that
        # keeps growing makes every commit's sync slower. Measured with
        # bench/live_booth.py: 100 pages cost throughput, 1,000 the p99.
        self.store.connection.execute(
            f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}"
        )
        self.key = SigningKey.load_or_create(settings.key_file)
        self.catalogue = catalogue or PriceCatalogue()
        self._compile = compile_policies
        self._booths: dict[str, Booth] = {}
        self._sessions: dict[str, LiveSession] = {}
        self._balances: dict[str, _Balance] = {}
        self._plans: dict[str, tuple[int, tuple[QuotaBinding, ...]]] = {}
        self._generation = 0
        self._data_version: int | None = None
        # Writes buffered by the batch in progress, flushed at its commit.
        self._events: list[tuple[str, int, str, bytes]] = []
        self._new_balances: dict[str, _Balance] = {}
        self._dirty_balances: dict[str, _Balance] = {}
        self._activity: dict[str, tuple[str, str]] = {}
        self._notices: list[SessionNotice] = []
        self._lock = threading.Lock()
        self.subscribers = Subscribers()
        self.webhooks = WebhookSender(self.key) if deliver_webhooks else None
        self.commit = GroupCommit(self)

    def close(self) -> None:
        """Stop the writer and webhook threads and close the database."""
        self.commit.stop()
        if self.webhooks is not None:
            self.webhooks.stop()
        self.store.close()

    # Group commit hooks

    def begin_batch(self) -> None:
        """Open the batch's write transaction and notice other processes' commits."""
        connection = self.store.connection
        connection.execute("BEGIN IMMEDIATE")
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            if self._data_version is not None:
                self._generation += 1
            self._data_version = version

    def commit_batch(self) -> None:
        """Write the buffered events, balances and activity, then commit."""
        connection = self.store.connection
        if self._events:
            connection.executemany(
                "INSERT INTO live_events (session_id, seq, type, body) "
                "VALUES (?, ?, ?, ?)",
                self._events,
            )
        if self._new_balances:
            connection.executemany(
                "INSERT INTO live_balances (account_id, account, limit_amount, "
                "reserved, posted) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        account_id,
                        orjson.dumps(balance.account.to_json()).decode(),
                        str(balance.limit),
                        str(balance.reserved),
                        str(balance.posted),
                    )
                    for account_id, balance in self._new_balances.items()
                ],
            )
        dirty = [
            (str(balance.limit), str(balance.reserved), str(balance.posted), account)
            for account, balance in self._dirty_balances.items()
            if account not in self._new_balances
        ]
        if dirty:
            connection.executemany(
                "UPDATE live_balances SET limit_amount = ?, reserved = ?, posted = ? "
                "WHERE account_id = ?",
                dirty,
            )
        if self._activity:
            connection.executemany(
                "UPDATE live_sessions SET last_activity_at = ?, idle_deadline = ? "
                "WHERE session_id = ? AND state = 'open'",
                [
                    (at, deadline, session_id)
                    for session_id, (at, deadline) in self._activity.items()
                ],
            )
        connection.execute("COMMIT")
        self._clear_buffers()

    def rollback_batch(self) -> None:
        """Roll back, and drop every cached state the batch may have changed."""
        connection = self.store.connection
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        self._clear_buffers()
        self._notices.clear()
        self._sessions.clear()
        self._balances.clear()
        self._plans.clear()
        self._generation += 1

    def after_commit(self) -> None:
        """Tell subscribers and webhooks about the sessions the batch closed."""
        notices, self._notices = self._notices, []
        for notice in notices:
            self.subscribers.notify(notice)
            if self.webhooks is not None and notice.webhook_url:
                self.webhooks.send(notice)

    def _clear_buffers(self) -> None:
        self._events.clear()
        self._new_balances.clear()
        self._dirty_balances.clear()
        self._activity.clear()

    def run(self, operation: Callable[[], T]) -> T:
        """Run an operation under group commit; return its result once it is durable."""
        return self.commit.call(operation)

    @property
    def asynchronous(self) -> AsyncBooth:
        """The same operations as coroutines, for an asyncio server."""
        from ssoar.live._async import AsyncBooth

        return AsyncBooth(self)

    def create_key(
        self, tenant: str, scopes: tuple[str, ...], label: str = ""
    ) -> ApiKey:
        """Create an API key, and its tenant when new; the key is shown only here."""
        connection = self.store.connection
        return self.run(lambda: create_key(connection, tenant, scopes, label))

    # Public operations

    def open_session(self, tenant: str, request: OpenSession) -> SessionAnswer:
        """Open a session, admit its first participants and issue its grants."""
        return self.run(lambda: self._open_session(tenant, request))

    def admit(
        self, tenant: str, session_id: str, request: ParticipantSpec
    ) -> CrossingAnswer:
        """Admit a participant to an open session."""
        return self.run(lambda: self._admit_op(tenant, session_id, request)).answer()

    def issue_grant(
        self, tenant: str, session_id: str, request: GrantSpec
    ) -> dict[str, object]:
        """Issue a grant in an open session."""
        return self.run(lambda: self._grant_op(tenant, session_id, request))

    def begin(
        self, tenant: str, session_id: str, request: BeginCrossing
    ) -> CrossingAnswer:
        """Decide a crossing before it runs; an admitted one keeps its reservation."""
        request, key, fingerprint = begin_request(session_id, request)
        return self.run(
            lambda: self._begin_op(tenant, session_id, request, key, fingerprint)
        ).answer()

    def attempt(
        self, tenant: str, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer:
        """Record a failed attempt of an open crossing."""
        return self.run(
            lambda: self._attempt_op(tenant, session_id, key, request)
        ).answer()

    def complete(
        self, tenant: str, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer:
        """Report how a crossing ended: post what it used, release the rest."""
        report = CompletionReport.read(request)
        return self.run(
            lambda: self._complete_op(tenant, session_id, key, request, report)
        ).answer()

    def close_session(
        self,
        tenant: str,
        session_id: str,
        *,
        reason: CloseReason = CloseReason.CLOSED,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Close a session and return its signed settlement record."""
        return self.run(lambda: self._close_op(tenant, session_id, reason, error))

    def sweep(self) -> list[dict[str, Any]]:
        """Close every session past its idle timeout or lifetime, as unclean."""
        closed: list[dict[str, Any]] = []
        while True:
            batch = self.run(self._sweep_op)
            closed.extend(batch)
            if len(batch) < _SWEEP_BATCH:
                return closed

    def session(self, tenant: str, session_id: str) -> SessionAnswer:
        """Return the state of an open or closed session."""
        return self.run(lambda: self._session_op(tenant, session_id))

    def crossing(self, tenant: str, session_id: str, key: str) -> CrossingAnswer:
        """Return the state of a crossing of an open session."""
        return self.run(lambda: self._crossing_op(tenant, session_id, key)).answer()

    def set_plan(self, tenant: str, quotas: Sequence[QuotaSpec]) -> list[QuotaSpec]:
        """Replace the tenant plan's quotas."""
        return self.run(lambda: self._set_plan_op(tenant, quotas))

    def plan(self, tenant: str) -> list[QuotaSpec]:
        """Return the tenant plan's quotas."""
        return self.run(lambda: self._plan_specs(tenant))

    # Sessions

    def _open_session(self, tenant: str, request: OpenSession) -> SessionAnswer:
        now = self.clock()
        fingerprint = request_fingerprint(request)
        session_id = request.session_id or f"ses-{uuid.uuid4().hex}"
        if _SESSION_ID.fullmatch(session_id) is None:
            # The HTTP service checks this when it decodes the request, but the
            # SDK's in-process booth calls this method directly.
            raise RequestError(
                "session_id",
                f"{session_id!r} is not {PATTERN_MEANINGS[SESSION_ID_PATTERN]}; "
                "'/' is left out because it separates a session id from a "
                "crossing key",
            )
        existing = self._existing_session(session_id)
        if existing is not None:
            owner, stored_fingerprint = existing
            if owner == tenant and stored_fingerprint == fingerprint:
                return self._session_op(tenant, session_id, replayed=True)
            raise Conflict(
                f"session id {session_id!r} is already in use; choose another id, "
                "or leave session_id out to get a new one"
            )
        # A crossing id is "{session_id}/{key}", and an imported crossing's is
        # "{trace id}/{span id}". A live session named like an imported trace
        # could make a crossing id that is already stored, and then it could
        # not be settled.
        stored_crossing = self.store.connection.execute(
            "SELECT crossing_id FROM crossings WHERE crossing_id >= ? "
            "AND crossing_id < ? LIMIT 1",
            (f"{session_id}/", f"{session_id}0"),
        ).fetchone()
        if stored_crossing is not None:
            raise Conflict(
                f"session id {session_id!r} begins stored crossing ids such as "
                f"{stored_crossing[0]!r}, from an imported trace; choose another "
                "id, or leave session_id out to get a new one"
            )

        template_name = request.template or self.settings.template
        booth = self._booth(template_name)
        template = booth.template
        bindings = tuple(
            quota_binding(spec, f"quotas[{index}]", template)
            for index, spec in enumerate(request.quotas)
        )
        for index, binding in enumerate(bindings):
            if binding.quota.scope is QuotaScope.TENANT:
                raise RequestError(
                    f"quotas[{index}].scope",
                    "tenant quotas belong to the plan, which every session shares; "
                    "set them with set_plan (PUT /v1/plan) instead",
                )
        plan = self._plan(tenant)
        for index, spec in enumerate(request.participants):
            participant_class_of(spec.id, f"participants[{index}].id")
            check_kinds(spec.scope, template, f"participants[{index}].scope")

        idle = request.idle_timeout_seconds or template.idle_timeout_seconds
        lifetime = request.max_lifetime_seconds or template.max_lifetime_seconds
        if request.webhook_url is not None:
            check_webhook(request.webhook_url)

        session = Session(
            session_id=session_id,
            tenant=tenant,
            template=template.name,
            opened_at=now,
            origin="live",
            labels=tuple(sorted(request.labels.items())),
        )
        live = LiveSession(
            session=session,
            booth=booth,
            idle_timeout_seconds=idle,
            lifetime_deadline=now + timedelta(seconds=lifetime),
            last_activity=now,
            webhook_url=request.webhook_url,
            allowed_jurisdictions=(
                tuple(request.allowed_jurisdictions)
                if request.allowed_jurisdictions is not None
                else None
            ),
            quotas=bindings + plan,
            entities=SessionEntities(
                session,
                keep_memo_on_add=not booth.policies.reads_entity_literals,
            ),
            generation=self._generation,
        )

        # Grants are checked before anything shared changes: a request with a
        # bad grant opens nothing.
        grants = [
            self._grant_from_spec(live, spec, f"grants[{index}]", now)
            for index, spec in enumerate(request.grants)
        ]
        scratch = type(live.authority)()
        for grant, _ in grants:
            try:
                scratch.issue(grant)
            except DelegationError as error:
                raise RequestError("grants", str(error)) from None

        self._sessions[session_id] = live
        self._event(
            live,
            "opened",
            {
                "session": session.to_json(),
                "idle_timeout_seconds": idle,
                "lifetime_deadline": format_time(live.lifetime_deadline),
                "webhook_url": request.webhook_url,
                "allowed_jurisdictions": request.allowed_jurisdictions,
                "quotas": [binding_to_json(binding) for binding in live.quotas],
                "fingerprint": fingerprint,
            },
        )
        self.store.connection.execute(
            "INSERT INTO live_sessions (session_id, tenant, template, state, "
            "opened_at, last_activity_at, idle_timeout_seconds, idle_deadline, "
            "lifetime_deadline, webhook_url) "
            "VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                tenant,
                template.name,
                format_time(now),
                format_time(now),
                idle,
                format_time(now + timedelta(seconds=idle)),
                format_time(live.lifetime_deadline),
                request.webhook_url,
            ),
        )

        for spec in request.participants:
            self._admit(live, spec, now)
        for grant, limit in grants:
            self._add_grant(live, grant, limit)
        return self._session_answer(live, SessionState.OPEN.value, None)

    def _existing_session(self, session_id: str) -> tuple[str, str | None] | None:
        """Return the owner of a session id in use, with its open request's digest."""
        connection = self.store.connection
        row = connection.execute(
            "SELECT tenant FROM live_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is not None:
            opened = connection.execute(
                "SELECT body FROM live_events WHERE session_id = ? AND seq = 1",
                (session_id,),
            ).fetchone()
            fingerprint = orjson.loads(opened[0])["fingerprint"] if opened else None
            return str(row[0]), fingerprint
        settled = connection.execute(
            "SELECT tenant FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if settled is not None:
            return str(settled[0]), None
        return None

    def _session_op(
        self, tenant: str, session_id: str, *, replayed: bool = False
    ) -> SessionAnswer:
        live = self._sessions.get(session_id)
        if live is not None and live.generation == self._generation:
            if live.tenant != tenant:
                raise _not_found(session_id)
            answer = self._session_answer(live, SessionState.OPEN.value, None)
            return msgspec.structs.replace(answer, replayed=replayed)
        row = self.store.connection.execute(
            "SELECT tenant, state, close_reason FROM live_sessions "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None or row[0] != tenant:
            raise _not_found(session_id)
        if row[1] == SessionState.OPEN.value:
            live = self._live(tenant, session_id)
            answer = self._session_answer(live, SessionState.OPEN.value, None)
        else:
            answer = self._closed_answer(session_id, row[1], row[2])
        return msgspec.structs.replace(answer, replayed=replayed)

    def _closed_answer(
        self, session_id: str, state: str, close_reason: str | None
    ) -> SessionAnswer:
        row = self.store.connection.execute(
            "SELECT tenant, template, opened_at, last_activity_at, idle_deadline, "
            "lifetime_deadline, error FROM live_sessions WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        count = self.store.connection.execute(
            "SELECT count(*) FROM crossings WHERE session_id = ?", (session_id,)
        ).fetchone()[0]
        return SessionAnswer(
            session_id=session_id,
            tenant=row[0],
            template=row[1],
            state=state,
            opened_at=row[2],
            idle_deadline=row[4],
            lifetime_deadline=row[5],
            close_reason=close_reason,
            close_error=row[6],
            crossings=count,
            participants=[],
        )

    def _session_answer(
        self, live: LiveSession, state: str, close_reason: str | None
    ) -> SessionAnswer:
        return SessionAnswer(
            session_id=live.session_id,
            tenant=live.tenant,
            template=live.session.template,
            state=state,
            opened_at=format_time(live.session.opened_at),
            idle_deadline=format_time(
                live.last_activity + timedelta(seconds=live.idle_timeout_seconds)
            ),
            lifetime_deadline=format_time(live.lifetime_deadline),
            close_reason=close_reason,
            close_error=None,
            crossings=len(live.crossings),
            participants=[
                item.view().answer()
                for item in live.crossings.values()
                if item.crossing.kind == "participant_admission"
            ],
        )

    def _live(self, tenant: str, session_id: str) -> LiveSession:
        """Return an open session of the tenant, up to date with every process."""
        live = self._sessions.get(session_id)
        if live is None:
            live = self._load_session(session_id, tenant)
        elif live.generation != self._generation:
            self._catch_up(live)
        if live.tenant != tenant:
            raise _not_found(session_id)
        return live

    def _live_for_new_work(self, tenant: str, session_id: str) -> LiveSession:
        """Return an open session that may take new crossings.

        A session past its idle timeout or lifetime is closed here, as the
        sweeper would close it, so it takes no more work while it waits for
        the next sweep. The request is then refused.
        """
        live = self._live(tenant, session_id)
        now = self.clock()
        why = _expiry(live, now)
        if why is None:
            return live
        record = self._settle(live, CloseReason.SWEPT, why, now)
        raise SessionClosed(session_id, str(record["state"]), CloseReason.SWEPT.value)

    def _load_session(self, session_id: str, tenant: str) -> LiveSession:
        connection = self.store.connection
        row = connection.execute(
            "SELECT tenant, state, close_reason FROM live_sessions "
            "WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            settled = connection.execute(
                "SELECT tenant, state, close_reason FROM settlements "
                "WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            if settled is not None and settled[0] == tenant:
                raise SessionClosed(session_id, settled[1], settled[2])
            raise _not_found(session_id)
        if row[0] != tenant:
            raise _not_found(session_id)
        if row[1] != SessionState.OPEN.value:
            raise SessionClosed(session_id, row[1], row[2])
        events = connection.execute(
            "SELECT seq, type, body FROM live_events WHERE session_id = ? ORDER BY seq",
            (session_id,),
        ).fetchall()
        opened = orjson.loads(events[0][2])
        session = session_from_json(opened["session"])
        booth = self._booth(session.template)
        bindings = tuple(
            binding_from_json(item, booth.template) for item in opened["quotas"]
        )
        activity = connection.execute(
            "SELECT last_activity_at FROM live_sessions WHERE session_id = ?",
            (session_id,),
        ).fetchone()[0]
        live = LiveSession(
            session=session,
            booth=booth,
            idle_timeout_seconds=opened["idle_timeout_seconds"],
            lifetime_deadline=time_from_json(opened["lifetime_deadline"]),
            last_activity=time_from_json(activity),
            webhook_url=opened["webhook_url"],
            allowed_jurisdictions=(
                tuple(opened["allowed_jurisdictions"])
                if opened["allowed_jurisdictions"] is not None
                else None
            ),
            quotas=bindings,
            entities=SessionEntities(
                session, keep_memo_on_add=not booth.policies.reads_entity_literals
            ),
            generation=self._generation,
        )
        live.seq = 1
        for seq, event_type, body in events[1:]:
            live.apply(event_type, orjson.loads(body))
            live.seq = seq
        self._sessions[session_id] = live
        return live

    def _catch_up(self, live: LiveSession) -> None:
        """Apply the events other processes added since this process last looked."""
        connection = self.store.connection
        row = connection.execute(
            "SELECT state, close_reason, last_activity_at FROM live_sessions "
            "WHERE session_id = ?",
            (live.session_id,),
        ).fetchone()
        if row[0] != SessionState.OPEN.value:
            del self._sessions[live.session_id]
            raise SessionClosed(live.session_id, row[0], row[1])
        live.last_activity = max(live.last_activity, time_from_json(row[2]))
        for seq, event_type, body in connection.execute(
            "SELECT seq, type, body FROM live_events WHERE session_id = ? AND seq > ? "
            "ORDER BY seq",
            (live.session_id, live.seq),
        ):
            live.apply(event_type, orjson.loads(body))
            live.seq = seq
        live.generation = self._generation

    def _event(self, live: LiveSession, event_type: str, body: dict[str, Any]) -> int:
        live.seq += 1
        self._events.append((live.session_id, live.seq, event_type, orjson.dumps(body)))
        return live.seq

    def _touch(self, live: LiveSession, now: datetime) -> None:
        """Record activity; the stored idle deadline moves at most once a second.

        Writing it on every crossing would add a statement to every batch.
        A process sweeps by its own record of a session's last activity, which
        for crossings made by another process is the stored one, so a session
        can then be swept up to a second early, never late.
        """
        if now <= live.last_activity:
            return
        live.last_activity = now
        if now - live.activity_written < _ACTIVITY_RESOLUTION:
            return
        live.activity_written = now
        self._activity[live.session_id] = (
            format_time(now),
            format_time(now + timedelta(seconds=live.idle_timeout_seconds)),
        )

    # Plans and booths

    def _booth(self, template_name: str) -> Booth:
        booth = self._booths.get(template_name)
        if booth is not None:
            return booth
        try:
            template = load_template(template_name)
        except TemplateError as error:
            raise RequestError("template", str(error)) from None
        policies = self._compile(
            template,
            self.settings.policy_dir,
            template_policies=self.settings.template_policies,
        )
        self.store.save_policies(policies)
        booth = Booth(policies)
        self._booths[template_name] = booth
        self._booths[template.name] = booth
        return booth

    def _plan(self, tenant: str) -> tuple[QuotaBinding, ...]:
        cached = self._plans.get(tenant)
        if cached is not None and cached[0] == self._generation:
            return cached[1]
        template = self._booth(self.settings.template).template
        bindings = tuple(
            quota_binding(spec, f"plan.quotas[{index}]", template)
            for index, spec in enumerate(self._plan_specs(tenant))
        )
        self._plans[tenant] = (self._generation, bindings)
        return bindings

    def _plan_specs(self, tenant: str) -> list[QuotaSpec]:
        rows = self.store.connection.execute(
            "SELECT spec FROM plan_quotas WHERE tenant = ? ORDER BY quota_id", (tenant,)
        ).fetchall()
        return [msgspec.json.decode(row[0], type=QuotaSpec) for row in rows]

    def _set_plan_op(self, tenant: str, quotas: Sequence[QuotaSpec]) -> list[QuotaSpec]:
        template = self._booth(self.settings.template).template
        seen: set[str] = set()
        for index, spec in enumerate(quotas):
            if spec.scope != "tenant":
                raise RequestError(
                    f"quotas[{index}].scope",
                    f"plan quotas have scope 'tenant', not {spec.scope!r}; session "
                    "and participant quotas are given when a session opens",
                )
            if spec.id in seen:
                raise RequestError(
                    f"quotas[{index}].id", f"quota id {spec.id!r} is given twice"
                )
            seen.add(spec.id)
            quota_binding(spec, f"quotas[{index}]", template)
        connection = self.store.connection
        connection.execute("DELETE FROM plan_quotas WHERE tenant = ?", (tenant,))
        connection.executemany(
            "INSERT INTO plan_quotas (tenant, quota_id, spec) VALUES (?, ?, ?)",
            [(tenant, spec.id, msgspec.json.encode(spec).decode()) for spec in quotas],
        )
        self._plans.pop(tenant, None)
        # Open sessions keep the plan they opened under; new sessions get this one.
        return list(quotas)

    # Participants and grants

    def _admit_op(
        self, tenant: str, session_id: str, request: ParticipantSpec
    ) -> CrossingView:
        live = self._live_for_new_work(tenant, session_id)
        participant_class_of(request.id, "id")
        check_kinds(request.scope, live.booth.template, "scope")
        key = f"admit/{request.id}"
        existing = live.crossings.get(key)
        if existing is not None:
            return existing.view(replayed=True)
        now = self.clock()
        return self._admit(live, request, now).view()

    def _admit(
        self, live: LiveSession, spec: ParticipantSpec, now: datetime
    ) -> LiveCrossing:
        """Admit a participant: register it as declared, decide, post at once."""
        key = f"admit/{spec.id}"
        existing = live.crossings.get(key)
        if existing is not None:
            return existing
        participant = Participant(
            spec.id,
            participant_class_of(spec.id, "id"),
            spec.name or spec.id.partition(":")[2],
            tuple(spec.scope),
        )
        self._register(live, participant, declared=True)
        crossing = Crossing(
            crossing_id=f"{live.session_id}/{key}",
            session_id=live.session_id,
            kind="participant_admission",
            actor_id=spec.id,
            started_at=now,
            state=CrossingState.OPEN,
        )
        candidate = self._prepare(live, crossing, None, None, None, now)
        self._decide(live, candidate)
        begun = self._apply_begin(live, candidate, digest(spec.id.encode()), now)
        if begun.decision.allowed:
            self._apply_complete(
                live,
                begun,
                state=CrossingState.COMPLETED,
                usage=None,
                usage_source=UsageSource.NONE,
                charge=None,
                cost=None,
                error=None,
                attributes={},
                fingerprint="admitted",
                now=now,
            )
        return begun

    def _register(
        self, live: LiveSession, participant: Participant, *, declared: bool
    ) -> None:
        if participant.participant_id in live.participants:
            if declared and participant.participant_id not in live.roster:
                # Known as an actor before, declared only now.
                live.roster.add(participant.participant_id)
                self._event(
                    live,
                    "participant",
                    {"participant": participant.to_json(), "declared": True},
                )
            return
        live.add_participant(participant, declared=declared)
        self._event(
            live,
            "participant",
            {"participant": participant.to_json(), "declared": declared},
        )

    def _grant_op(
        self, tenant: str, session_id: str, request: GrantSpec
    ) -> dict[str, object]:
        live = self._live_for_new_work(tenant, session_id)
        now = self.clock()
        grant, limit = self._grant_from_spec(live, request, "grant", now)
        existing = live.authority.grants.get(grant.grant_id)
        if existing is not None:
            if existing == grant:
                return grant.to_json()
            raise Conflict(
                f"grant id {grant.grant_id!r} is already used by a different grant; "
                "grants are never edited, so issue a new id"
            )
        try:
            type(live.authority)(
                grants=dict(live.authority.grants),
                by_grantee={k: list(v) for k, v in live.authority.by_grantee.items()},
            ).issue(grant)
        except DelegationError as error:
            raise RequestError("grant", str(error)) from None
        self._add_grant(live, grant, limit)
        self._touch(live, now)
        return grant.to_json()

    def _grant_from_spec(
        self, live: LiveSession, spec: GrantSpec, field: str, now: datetime
    ) -> tuple[Grant, Account | None]:
        template = live.booth.template
        check_kinds(spec.kinds, template, f"{field}.kinds")
        participant_class_of(spec.grantee, f"{field}.grantee")
        grant_id = f"{live.session_id}/grant/{spec.id or spec.grantee}"
        not_before = aware_instant(spec.not_before, f"{field}.not_before") or now
        expires = (
            aware_instant(spec.expires_at, f"{field}.expires_at")
            or live.lifetime_deadline
        )
        parent = None
        if spec.parent is not None:
            parent = (
                spec.parent
                if spec.parent.startswith(f"{live.session_id}/grant/")
                else f"{live.session_id}/grant/{spec.parent}"
            )
        grant = Grant(
            grant_id=grant_id,
            grantor=spec.grantor or f"tenant:{live.tenant}",
            grantee=spec.grantee,
            scope=GrantScope(frozenset(spec.kinds), tuple(spec.targets)),
            not_before=not_before,
            expires_at=expires,
            parent_grant_id=parent,
            session_id=live.session_id,
        )
        limit = None
        if spec.limit is not None:
            unit, amount, currency = unit_amount(
                spec.limit.unit, spec.limit.limit, spec.limit.currency, f"{field}.limit"
            )
            quota = Quota(
                quota_id=f"grant/{spec.id or spec.grantee}",
                scope=QuotaScope.GRANT,
                unit=unit,
                limit=amount,
                currency=currency,
            )
            limit = Account(f"{grant_id}/limit", quota, grant_id)
        return grant, limit

    def _add_grant(
        self, live: LiveSession, grant: Grant, limit: Account | None
    ) -> None:
        live.add_grant(grant, limit)
        self._event(
            live,
            "grant",
            {
                "grant": grant.to_json(),
                "limit_account": limit.to_json() if limit else None,
            },
        )

    # Crossings

    def _begin_op(
        self,
        tenant: str,
        session_id: str,
        request: BeginCrossing,
        key: str,
        fingerprint: str,
    ) -> CrossingView:
        """Decide and reserve. ``begin_request`` has already read the key."""
        live = self._live_for_new_work(tenant, session_id)
        now = self.clock()
        existing = live.crossings.get(key)
        if existing is not None:
            if existing.fingerprint == fingerprint:
                return existing.view(replayed=True)
            raise Conflict(
                f"crossing id {key!r} was already used in session {session_id} for a "
                "different request; use a new id for a new crossing"
            )
        template = live.booth.template
        try:
            template.spec(request.kind)
        except TemplateError as error:
            raise RequestError("kind", str(error)) from None
        if request.kind in ("participant_admission", "session_closure"):
            raise RequestError(
                "kind",
                f"{request.kind} crossings are made by the booth: admit participants "
                "with admit (POST .../participants) and close with close",
            )
        candidates = self._candidates(live, request, key, now)
        for candidate in candidates:
            self._decide(live, candidate)
        chosen = next(
            (item for item in candidates if item.decision and item.decision.allowed),
            None,
        )
        if chosen is None:
            # Nothing is allowed. Return the cheapest route that only a quota
            # or a price stopped, so the caller learns what to change.
            chosen = next(
                (
                    item
                    for item in candidates
                    if item.decision
                    and not {reason.code for reason in item.decision.reasons}
                    & {"policy_denied", "policy_error"}
                ),
                candidates[0],
            )
        if len(candidates) > 1:
            chosen = record_routes(chosen, candidates)
        return self._apply_begin(live, chosen, fingerprint, now).view()

    def _candidates(
        self, live: LiveSession, request: BeginCrossing, key: str, now: datetime
    ) -> list[Candidate]:
        """Prepare each way the crossing could run, cheapest first."""
        attributes = crossing_attributes(request.attributes, "attributes")
        invoker = request.invoker
        if invoker is not None:
            participant_class_of(invoker, "invoker")
        crossing_id = f"{live.session_id}/{key}"
        if request.kind == "model_invocation":
            routes = request.routes or (
                [RouteSpec(provider=request.provider, model=request.model)]
                if request.provider and request.model
                else []
            )
            if not routes:
                raise RequestError(
                    "model",
                    "a model invocation names its provider and model, or offers "
                    "routes to choose from",
                )
            if request.input_tokens is None or request.max_output_tokens is None:
                field = (
                    "input_tokens"
                    if request.input_tokens is None
                    else ("max_output_tokens")
                )
                raise RequestError(
                    field,
                    "a model invocation states its input tokens and its output cap, "
                    "so the booth can reserve the most it can cost",
                )
            estimate = TokenUsage(
                input_uncached_tokens=request.input_tokens,
                output_tokens=request.max_output_tokens,
            )
            self._register_invoker(live, invoker)
            candidates = []
            for route in routes:
                actor = f"model:{route.provider}/{route.model}"
                route_attributes = dict(attributes)
                route_attributes["provider"] = route.provider
                route_attributes["model"] = route.model
                if route.region is not None:
                    route_attributes["region"] = route.region
                if route.jurisdiction is not None:
                    route_attributes["jurisdiction"] = route.jurisdiction
                route_name = None
                if request.routes:
                    route_name = "/".join(
                        (route.provider, route.region or "-", route.model)
                    )
                    route_attributes["route"] = route_name
                if actor not in live.participants:
                    self._register(
                        live,
                        Participant(actor, ParticipantClass.AI_MODEL, route.model),
                        declared=False,
                    )
                crossing = Crossing(
                    crossing_id=crossing_id,
                    session_id=live.session_id,
                    kind=request.kind,
                    actor_id=actor,
                    started_at=now,
                    state=CrossingState.OPEN,
                    invoker_id=invoker,
                    target=Target("model", f"{route.provider}/{route.model}"),
                    attributes=route_attributes,
                )
                price, problem = self._price(estimate, route.provider, route.model, now)
                candidates.append(
                    self._prepare(
                        live, crossing, estimate, price, problem, now, route_name
                    )
                )
            candidates.sort(key=cost_order)
            return candidates
        if request.actor is None:
            raise RequestError(
                "actor", f"a {request.kind} crossing names the participant at it"
            )
        actor_class = participant_class_of(request.actor, "actor")
        target = parse_target(request.target, "target")
        if request.kind == "tool_call":
            # The tool is both the actor and the target of a tool call; grants
            # and policies are written against the target.
            tool = Target("tool", request.actor.partition(":")[2])
            if target is None:
                target = tool
            elif target != tool:
                raise RequestError(
                    "target",
                    f"a tool call's target is the tool at it, {tool.target_type}:"
                    f"{tool.target_id}, not {request.target}; leave target out or "
                    "give that",
                )
        price = None
        problem = None
        if request.cost is not None:
            currency = request.currency or self.settings.tolls.currency
            price = Money(decimal_field(request.cost, "cost"), currency)
            if request.kind == "carrier_path":
                attributes.setdefault("route_cost", request.cost)
                attributes.setdefault("route_currency", currency)
        self._register_invoker(live, invoker)
        if request.actor not in live.participants:
            self._register(
                live,
                Participant(
                    request.actor, actor_class, request.actor.partition(":")[2]
                ),
                declared=False,
            )
        if live.allowed_jurisdictions is not None:
            attributes.setdefault("allowed_jurisdictions", live.allowed_jurisdictions)
        crossing = Crossing(
            crossing_id=crossing_id,
            session_id=live.session_id,
            kind=request.kind,
            actor_id=request.actor,
            started_at=now,
            state=CrossingState.OPEN,
            invoker_id=invoker,
            target=target,
            attributes=attributes,
        )
        return [self._prepare(live, crossing, None, price, problem, now)]

    def _register_invoker(self, live: LiveSession, invoker: str | None) -> None:
        if invoker is not None and invoker not in live.participants:
            self._register(
                live,
                Participant(
                    invoker,
                    participant_class_of(invoker, "invoker"),
                    invoker.partition(":")[2],
                ),
                declared=False,
            )

    def _price(
        self, usage: TokenUsage, provider: str, model: str, at: datetime
    ) -> tuple[Money | None, str | None]:
        try:
            quote = self.catalogue.quote(usage, model=model, provider=provider, at=at)
        except (LookupError, UsageError) as error:
            return None, str(error)
        return quote.total, None

    def _prepare(
        self,
        live: LiveSession,
        crossing: Crossing,
        estimate: TokenUsage | None,
        price: Money | None,
        price_problem: str | None,
        now: datetime,
        route: str | None = None,
    ) -> Candidate:
        """Check authority and entitlement for one way to run a crossing."""
        live.entities.add_target_of(crossing)
        authority = self._authority(live, crossing)
        holder = crossing.authority_holder_id
        requests: list[tuple[Account, Decimal]] = []
        for account in live.accounts_for(crossing.kind, holder, now):
            amount, problem = worst_case(account.quota, estimate, price, price_problem)
            if problem is not None:
                price_problem = problem
                amount = _ZERO
            requests.append((account, amount))
        if authority.valid and authority.grant_id is not None:
            for limit in grant_limit_accounts(live, authority.grant_id):
                amount, problem = worst_case(
                    limit.quota, estimate, price, price_problem
                )
                if problem is not None:
                    price_problem = problem
                    amount = _ZERO
                requests.append((limit, amount))
        overdrafts = []
        for account, amount in requests:
            balance = self._balance(account)
            if amount > balance.available:
                overdrafts.append(
                    Overdraft(
                        account.account_id,
                        crossing.crossing_id,
                        amount,
                        max(balance.available, _ZERO),
                    )
                )
        return Candidate(
            crossing=crossing,
            authority=authority,
            requests=requests,
            overdrafts=overdrafts,
            estimate=estimate,
            price=price,
            price_problem=price_problem,
            route=route,
        )

    def _authority(self, live: LiveSession, crossing: Crossing) -> AuthorityCheck:
        if crossing.kind == "participant_admission":
            if crossing.actor_id in live.roster:
                return AuthorityCheck(
                    AuthorityStatus.VALID,
                    crossing.actor_id,
                    None,
                    f"admitted by tenant:{live.tenant} through the session's owner",
                    (crossing.actor_id, f"tenant:{live.tenant}"),
                )
            return AuthorityCheck(
                AuthorityStatus.MISSING,
                crossing.actor_id,
                None,
                f"no one admitted {crossing.actor_id}",
            )
        target = crossing.target
        return live.authority.check(
            crossing.authority_holder_id,
            crossing.kind,
            f"{target.target_type}:{target.target_id}" if target else None,
            crossing.started_at,
            live.trusted_roots,
        )

    def _decide(self, live: LiveSession, candidate: Candidate) -> None:
        crossing = candidate.crossing
        holder = crossing.authority_holder_id
        extra: dict[str, AttributeValue] = {}
        if live.allowed_jurisdictions is not None:
            extra["allowed_jurisdictions"] = live.allowed_jurisdictions
        facts = BoothFacts(
            declared=crossing.actor_id in live.roster,
            actor_admitted=crossing.actor_id in live.admitted,
            invoker_admitted=holder in live.admitted,
            authority=candidate.authority,
            overdrafts=candidate.overdrafts,
            extra_context=extra,
        )
        decision = live.booth.decide(
            crossing, facts, live.entities, retrospective=False
        )
        if candidate.price_problem is not None and any(
            account.quota.unit is QuotaUnit.MONEY for account, _ in candidate.requests
        ):
            decision = replace(
                decision,
                allowed=False,
                reasons=(
                    *decision.reasons,
                    DenialReason(
                        ReasonCode.PRICE_UNKNOWN.value,
                        "a money quota applies and the crossing cannot be priced: "
                        + candidate.price_problem,
                    ),
                ),
                obligations=(),
            )
        candidate.decision = decision

    def _apply_begin(
        self, live: LiveSession, candidate: Candidate, fingerprint: str, now: datetime
    ) -> LiveCrossing:
        decision = candidate.decision
        assert decision is not None
        crossing = candidate.crossing
        transfers: list[Transfer] = []
        if decision.allowed:
            for account, amount in candidate.requests:
                balance = self._open_account(live, account)
                reservation_id = f"{crossing.crossing_id}/{account.account_id}/reserve"
                transfers.append(
                    Transfer(
                        reservation_id,
                        account.account_id,
                        crossing.crossing_id,
                        TransferPhase.RESERVE,
                        amount,
                        reservation_id,
                    )
                )
                balance.reserved += amount
                self._dirty_balances[account.account_id] = balance
        else:
            crossing = replace(crossing, state=CrossingState.DENIED, ended_at=now)
        live_crossing = LiveCrossing(
            crossing=crossing,
            decision=decision,
            authority=candidate.authority,
            fingerprint=fingerprint,
            transfers=transfers,
            estimate=candidate.estimate if decision.allowed else None,
            route=candidate.route,
        )
        live.add_crossing(live_crossing)
        live_crossing.seq = self._event(
            live,
            "begun",
            {
                "key": live_crossing.key,
                "crossing": crossing.to_json(),
                "decision": decision.to_json(),
                "authority": candidate.authority.to_json(),
                "transfers": [transfer.to_json() for transfer in transfers],
                "overdrafts": [],
                "estimate": (
                    live_crossing.estimate.to_json() if live_crossing.estimate else None
                ),
                "route": candidate.route,
                "fingerprint": fingerprint,
            },
        )
        self._touch(live, now)
        return live_crossing

    def _open_account(self, live: LiveSession, account: Account) -> _Balance:
        balance = self._balance(account)
        if account.account_id not in live.accounts:
            live.add_account(account, balance.posted)
            self._event(
                live,
                "account",
                {"account": account.to_json(), "posted_before": str(balance.posted)},
            )
        return balance

    def _balance(self, account: Account) -> _Balance:
        """Return an account's balance, as every process has left it."""
        balance = self._balances.get(account.account_id)
        if balance is not None and balance.generation == self._generation:
            if balance.limit != account.quota.limit:
                balance.limit = account.quota.limit
                self._dirty_balances[account.account_id] = balance
            return balance
        row = self.store.connection.execute(
            "SELECT limit_amount, reserved, posted FROM live_balances "
            "WHERE account_id = ?",
            (account.account_id,),
        ).fetchone()
        if row is None:
            balance = _Balance(
                account.quota.limit, _ZERO, _ZERO, self._generation, account
            )
            self._new_balances[account.account_id] = balance
        else:
            balance = _Balance(
                account.quota.limit,
                Decimal(row[1]),
                Decimal(row[2]),
                self._generation,
                account,
            )
            if Decimal(row[0]) != account.quota.limit:
                self._dirty_balances[account.account_id] = balance
        self._balances[account.account_id] = balance
        return balance

    def _attempt_op(
        self, tenant: str, session_id: str, key: str, request: AttemptReport
    ) -> CrossingView:
        live = self._live(tenant, session_id)
        live_crossing = _find(live, key)
        attempt_id = request.attempt_id or str(len(live_crossing.attempts) + 1)
        for attempt in live_crossing.attempts:
            if attempt["attempt_id"] == attempt_id:
                return live_crossing.view(replayed=True)
        if live_crossing.crossing.state is not CrossingState.OPEN:
            raise Conflict(
                f"crossing {key!r} is {live_crossing.crossing.state.value}; attempts "
                "are recorded only while it is open"
            )
        now = self.clock()
        attempt = {
            "attempt_id": attempt_id,
            "error": request.error,
            "route": request.route,
            "at": format_time(now),
        }
        live_crossing.attempts.append(attempt)
        self._event(live, "attempt", {"key": live_crossing.key, "attempt": attempt})
        self._touch(live, now)
        return live_crossing.view()

    def _complete_op(
        self,
        tenant: str,
        session_id: str,
        key: str,
        request: CompleteCrossing,
        report: CompletionReport,
    ) -> CrossingView:
        """Post and release. ``CompletionReport.read`` has checked the request."""
        live = self._live(tenant, session_id)
        live_crossing = _find(live, key)
        fingerprint = report.fingerprint
        crossing = live_crossing.crossing
        if crossing.state is CrossingState.DENIED:
            raise Conflict(
                f"crossing {key!r} was denied, so it never ran and has nothing to "
                "complete"
            )
        if live_crossing.completion is not None:
            if live_crossing.completion == fingerprint:
                return live_crossing.view(replayed=True)
            raise Conflict(
                f"crossing {key!r} was already completed with a different report; "
                "a crossing is completed once"
            )
        now = self.clock()
        # A copy: an operation may run twice when its batch is rolled back.
        attributes = dict(report.attributes)
        for name, value in attributes.items():
            if name in BOOTH_ATTRIBUTES and crossing.attributes.get(name) != value:
                raise RequestError(
                    f"attributes.{name}",
                    "the booth set this attribute when the crossing began; it "
                    "cannot change at completion",
                )
        state = (
            CrossingState.COMPLETED
            if request.outcome == "completed"
            else CrossingState.FAILED
        )
        usage = report.usage
        usage_source = UsageSource.NONE
        charge: Money | None = None
        if usage is not None:
            usage_source = UsageSource.REPORTED
        elif live_crossing.estimate is not None and state is CrossingState.COMPLETED:
            usage = live_crossing.estimate
            usage_source = UsageSource.ESTIMATED
        if usage is not None and crossing.kind == "model_invocation":
            provider = crossing.attributes.get("provider")
            model = crossing.attributes.get("model")
            if isinstance(provider, str) and isinstance(model, str):
                charge, _ = self._price(usage, provider, model, crossing.started_at)
        cost = report.cost
        if cost is not None and crossing.kind == "carrier_path":
            # The billing ledger prices a route from route_cost, so it must
            # bill the actual cost that the entitlement ledger posts.
            attributes["route_cost"] = request.cost
        self._apply_complete(
            live,
            live_crossing,
            state=state,
            usage=usage,
            usage_source=usage_source,
            charge=charge,
            cost=cost,
            error=request.error,
            attributes=attributes,
            fingerprint=fingerprint,
            now=now,
        )
        return live_crossing.view()

    def _apply_complete(
        self,
        live: LiveSession,
        live_crossing: LiveCrossing,
        *,
        state: CrossingState,
        usage: TokenUsage | None,
        usage_source: UsageSource,
        charge: Money | None,
        cost: Decimal | None,
        error: str | None,
        attributes: Mapping[str, AttributeValue],
        fingerprint: str,
        now: datetime,
    ) -> None:
        """Post each reservation at what the crossing used, release the rest."""
        crossing = live_crossing.crossing
        new_transfers: list[Transfer] = []
        overdrafts: list[Overdraft] = []
        reserved = {
            transfer.reservation_id: transfer
            for transfer in live_crossing.transfers
            if transfer.phase is TransferPhase.RESERVE
        }
        for reservation_id, amount in live_crossing.pending().items():
            reserve = reserved[reservation_id]
            account = self._account_of(live, reserve.account_id)
            used = used_amount(account.quota, usage, charge, cost, amount, state)
            posted = min(used, amount)
            if used > amount:
                overdrafts.append(
                    Overdraft(reserve.account_id, crossing.crossing_id, used, amount)
                )
            base = reservation_id.removesuffix("/reserve")
            new_transfers.append(
                Transfer(
                    f"{base}/post",
                    reserve.account_id,
                    crossing.crossing_id,
                    TransferPhase.POST,
                    posted,
                    reservation_id,
                )
            )
            if posted < amount:
                new_transfers.append(
                    Transfer(
                        f"{base}/release",
                        reserve.account_id,
                        crossing.crossing_id,
                        TransferPhase.RELEASE,
                        amount - posted,
                        reservation_id,
                    )
                )
            balance = self._balance(account)
            balance.reserved -= amount
            # Usage past the reservation was spent too: count it, so later
            # crossings see what is really left. The overdraft records it.
            balance.posted += used
            self._dirty_balances[account.account_id] = balance
        merged = dict(crossing.attributes)
        merged.update(attributes)
        finished = replace(
            crossing,
            state=state,
            ended_at=now if state.is_final else None,
            usage=usage,
            usage_source=usage_source,
            error=error,
            attributes=merged,
        )
        live_crossing.crossing = finished
        live_crossing.transfers.extend(new_transfers)
        live_crossing.overdrafts.extend(overdrafts)
        live_crossing.completion = fingerprint
        live_crossing.charge = charge if usage is not None else None
        self._event(
            live,
            "completed",
            {
                "key": live_crossing.key,
                # Only what completion changed; the rest is in the begun event.
                "end": {
                    "state": state.value,
                    "ended_at": format_time(now) if state.is_final else None,
                    "usage": usage.to_json() if usage is not None else None,
                    "usage_source": usage_source.value,
                    "error": error,
                    "attributes": {
                        name: list(value) if isinstance(value, tuple) else value
                        for name, value in attributes.items()
                    },
                },
                "transfers": [transfer.to_json() for transfer in new_transfers],
                "overdrafts": [overdraft.to_json() for overdraft in overdrafts],
                "fingerprint": fingerprint,
                "charge": live_crossing.charge.to_json()
                if live_crossing.charge is not None
                else None,
            },
        )
        self._touch(live, now)

    def _account_of(self, live: LiveSession, account_id: str) -> Account:
        return live.accounts[account_id][0]

    def _crossing_op(self, tenant: str, session_id: str, key: str) -> CrossingView:
        live = self._live(tenant, session_id)
        return _find(live, key).view()

    # Closing

    def _close_op(
        self, tenant: str, session_id: str, reason: CloseReason, error: str | None
    ) -> dict[str, Any]:
        try:
            live = self._live(tenant, session_id)
        except SessionClosed:
            row = self.store.settlement(session_id)
            if row is None:
                raise
            return dict(orjson.loads(row.record))
        return self._settle(live, reason, error, self.clock())

    def _sweep_op(self) -> list[dict[str, Any]]:
        now = format_time(self.clock())
        rows = self.store.connection.execute(
            "SELECT session_id, tenant, idle_deadline, lifetime_deadline "
            "FROM live_sessions WHERE state = 'open' AND "
            "(idle_deadline <= ? OR lifetime_deadline <= ?) "
            "ORDER BY idle_deadline LIMIT ?",
            (now, now, _SWEEP_BATCH),
        ).fetchall()
        closed = []
        for session_id, tenant, _, _ in rows:
            try:
                live = self._live(tenant, session_id)
            except SessionClosed:
                continue
            except SsoarError as error:
                # Such as a template that no longer loads. Loading changed
                # nothing, and the other sessions are still swept.
                _LOG.warning("cannot sweep session %s: %s", session_id, error)
                continue
            instant = self.clock()
            why = _expiry(live, instant)
            if why is None:
                continue
            try:
                closed.append(self._settle(live, CloseReason.SWEPT, why, instant))
            except CrossingIdTaken as error:
                # Nothing was changed, and the other sessions are still swept.
                _LOG.warning("cannot sweep session %s: %s", session_id, error)
        return closed

    def _settle(
        self,
        live: LiveSession,
        reason: CloseReason,
        error: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Close a session: settle open crossings at their reservation, sign, store.

        Raises:
            CrossingIdTaken: If a crossing id of the session is already stored
                for another session. Nothing is changed then.
        """
        crossing_ids = [item.crossing.crossing_id for item in live.crossings.values()]
        crossing_ids.append(f"{live.session_id}/closure")
        stored = self.store.crossing_sessions(crossing_ids)
        if stored:
            crossing_id, other = next(iter(stored.items()))
            raise CrossingIdTaken(
                f"crossing {crossing_id} of session {live.session_id} is already "
                f"stored for session {other}, which an import settled while this "
                "session was open; both cannot be stored, so this session stays "
                "open and the sweeper passes it by"
            )
        for live_crossing in live.crossings.values():
            self._settle_open_crossing(live, live_crossing)
        book = SessionBook(
            live.session,
            live.booth,
            self.catalogue,
            BookSettings(
                tolls=self.settings.tolls,
                review_costs=self.settings.review_costs,
                allowed_jurisdictions=live.allowed_jurisdictions,
            ),
            retrospective=False,
        )
        for participant in live.participants.values():
            book.register(
                participant, declared=participant.participant_id in live.roster
            )
        for grant in live.grants:
            book.issue(grant)
        for account, posted_before in live.accounts.values():
            book.open_account(account, posted_before=posted_before)
        from ssoar.settlement._outcome import EntitlementEntry

        for live_crossing in live.crossings.values():
            crossing = live_crossing.crossing
            if live_crossing.attempts:
                crossing = replace(
                    crossing,
                    attributes={
                        **crossing.attributes,
                        "attempts": tuple(
                            f"{item['attempt_id']}: {item['error']}"
                            for item in live_crossing.attempts
                        ),
                    },
                )
            book.record_decided(
                crossing,
                live_crossing.decision,
                live_crossing.authority,
                EntitlementEntry(
                    tuple(live_crossing.transfers), tuple(live_crossing.overdrafts)
                ),
            )
        settlement, _ = book.close(
            reason=reason, closed_at=now, settled_at=now, key=self.key, error=error
        )
        # The closing crossing counts against quotas that count every kind.
        closure = book.outcomes[-1]
        for transfer in closure.entitlement.transfers:
            if transfer.phase is TransferPhase.POST:
                account = live.accounts[transfer.account_id][0]
                balance = self._balance(account)
                balance.posted += transfer.amount
                self._dirty_balances[account.account_id] = balance
        self.store.write_session(book.log.leaves, book.log.records, settlement)
        state = str(settlement.record["state"])
        self.store.connection.execute(
            "UPDATE live_sessions SET state = ?, close_reason = ?, closed_at = ?, "
            "error = ? WHERE session_id = ?",
            (state, reason.value, format_time(now), error, live.session_id),
        )
        self._activity.pop(live.session_id, None)
        del self._sessions[live.session_id]
        record = dict(settlement.record)
        self._notices.append(
            SessionNotice(
                session_id=live.session_id,
                tenant=live.tenant,
                state=state,
                close_reason=reason.value,
                error=error,
                closed_at=format_time(now),
                merkle_root=str(record["merkle_root"]),
                signature=settlement.signature.hex(),
                key_id=settlement.key_id,
                webhook_url=live.webhook_url,
            )
        )
        return record

    def _settle_open_crossing(
        self, live: LiveSession, live_crossing: LiveCrossing
    ) -> None:
        """Post an unfinished crossing at its reservation, marked estimated.

        Its usage never arrived, so the worst case it reserved is what it is
        charged: never zero when its price is not.
        """
        crossing = live_crossing.crossing
        if crossing.state is not CrossingState.OPEN:
            return
        for reservation_id, amount in live_crossing.pending().items():
            account_id = reservation_id.removeprefix(
                crossing.crossing_id + "/"
            ).removesuffix("/reserve")
            account = live.accounts[account_id][0]
            live_crossing.transfers.append(
                Transfer(
                    reservation_id.removesuffix("/reserve") + "/post",
                    account_id,
                    crossing.crossing_id,
                    TransferPhase.POST,
                    amount,
                    reservation_id,
                )
            )
            balance = self._balance(account)
            balance.reserved -= amount
            balance.posted += amount
            self._dirty_balances[account_id] = balance
        if live_crossing.estimate is not None:
            live_crossing.crossing = replace(
                crossing,
                usage=live_crossing.estimate,
                usage_source=UsageSource.ESTIMATED,
            )


# Helpers


def _expiry(live: LiveSession, now: datetime) -> str | None:
    """Return why a session is past its idle timeout or lifetime, or None."""
    if now >= live.lifetime_deadline:
        return (
            "past its maximum lifetime, which ended at "
            f"{format_time(live.lifetime_deadline)}"
        )
    idle_deadline = live.last_activity + timedelta(seconds=live.idle_timeout_seconds)
    if now >= idle_deadline:
        return (
            f"idle past its timeout of {live.idle_timeout_seconds} seconds, "
            f"which ended at {format_time(idle_deadline)}"
        )
    return None


def _not_found(session_id: str) -> NotFound:
    return NotFound(
        f"no session {session_id!r} for this tenant; list sessions with "
        "GET /v1/sessions or check the id"
    )


def _find(live: LiveSession, key: str) -> LiveCrossing:
    key = key.removeprefix(f"{live.session_id}/")
    found = live.crossings.get(key)
    if found is None:
        raise NotFound(
            f"no crossing {key!r} in session {live.session_id}; begin it first"
        )
    return found
