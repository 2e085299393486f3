"""The import job: read trace files, pass every crossing through the booth, settle.

Each file is read on its own, so a file that cannot be read is reported and
the others still import. Sessions are written one batch of whole sessions per
transaction: a session is stored settled, or not at all. Importing the same
records again changes nothing, because session and crossing ids come from
the records themselves.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from ssoar.audit._canonical import CanonicalJSONError
from ssoar.audit._signing import SigningKey
from ssoar.booth._booth import Booth
from ssoar.errors import InputError, SsoarError
from ssoar.ingest._classify import SpanFacts, read_facts
from ssoar.ingest._langfuse import is_langfuse_export, read_langfuse
from ssoar.ingest._otlp import read_otlp
from ssoar.ingest._profile import ImportProfile
from ssoar.ingest._sessions import DraftNote, SessionDraft, draft_sessions
from ssoar.ingest._spans import SpanRecord
from ssoar.ledger._billing import Quoter
from ssoar.ledger._entitlement import QuotaScope
from ssoar.model._crossing import Crossing
from ssoar.model._session import CloseReason, Session
from ssoar.session._book import BookSettings, SessionBook
from ssoar.settlement._settle import SignedSettlement
from ssoar.store._sqlite import Store

__all__ = [
    "IMPORT_FILE_SIZE_MAX",
    "FileResult",
    "ImportResult",
    "SessionResult",
    "import_files",
    "read_spans",
]

IMPORT_FILE_SIZE_MAX = 512 * 1024 * 1024
"""Largest file one import reads, in bytes."""
_BATCH_CROSSINGS_MAX = 5_000
"""Crossings written per transaction; whole sessions only."""
_BATCHES_PER_COLLECTION = 20
"""Batches written between garbage collections during an import."""


@dataclass
class FileResult:
    """What the import made of one file."""

    file: str
    spans: int = 0
    error: str | None = None


@dataclass
class SessionResult:
    """What the import did with one session."""

    session_id: str
    status: str
    """One of ``settled``, ``unchanged``, ``conflict`` or ``failed``.

    ``unchanged``: already stored with the same records. ``conflict``: already
    stored with other records, or a crossing id that another session or record
    has. ``failed``: the booth or the audit record format rejected it."""
    state: str | None = None
    crossings: int = 0
    exceptions: int = 0
    message: str | None = None
    notes: list[DraftNote] = field(default_factory=list)
    duplicates: list[DraftNote] = field(default_factory=list)


@dataclass
class ImportResult:
    """Everything one import did."""

    files: list[FileResult] = field(default_factory=list)
    sessions: list[SessionResult] = field(default_factory=list)

    @property
    def failed_files(self) -> list[FileResult]:
        """Files that could not be read."""
        return [item for item in self.files if item.error is not None]

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON object."""
        return {
            "files": [asdict(item) for item in self.files],
            "sessions": [
                {
                    **{
                        key: value
                        for key, value in asdict(item).items()
                        if key not in ("notes", "duplicates")
                    },
                    "notes": [asdict(note) for note in item.notes],
                    "duplicates": [asdict(note) for note in item.duplicates],
                }
                for item in self.sessions
            ],
        }


def read_spans(path: Path) -> list[SpanRecord]:
    """Read the spans of one trace file, whatever its format.

    Raises:
        InputError: If the file is missing, too large, not JSON, or holds a
            record that is not a span.
    """
    file = str(path)
    if not path.is_file():
        raise InputError(file, "", "no such file")
    size = path.stat().st_size
    if size > IMPORT_FILE_SIZE_MAX:
        raise InputError(
            file, "", f"file has {size} bytes; the limit is {IMPORT_FILE_SIZE_MAX}"
        )
    try:
        document = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise InputError(file, "", f"not valid JSON: {error}") from None
    if is_langfuse_export(document):
        return read_langfuse(file, document)
    return read_otlp(file, document)


def _read_file(path: Path) -> list[tuple[SpanRecord, SpanFacts]]:
    """Read the spans of one file with their facts.

    Raises:
        InputError: If the file cannot be read, including when a value nests
            too deeply to convert to text: orjson reads 1024 levels, Python's
            repr and str stop at about 1000.
    """
    try:
        return [(record, read_facts(record)) for record in read_spans(path)]
    except RecursionError:
        raise InputError(
            str(path),
            "",
            "a value nests too deeply to read (more than about 1000 levels); "
            "flatten it",
        ) from None


ProgressCallback = Callable[[int, int], None]
"""Called with (sessions done, sessions in total) as the import goes."""


@dataclass(frozen=True, slots=True)
class ImportContext:
    """What every session of one import is processed with."""

    store: Store
    booth: Booth
    quoter: Quoter
    book_settings: BookSettings
    key: SigningKey
    tenant: str
    profile: ImportProfile | None
    now: datetime


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the garbage collector rarely during a bulk import.

    An import allocates millions of short-lived, acyclic objects while it
    keeps every span and a batch of sessions alive. Reference counting frees
    nearly all of them, so the collector mostly walks the live ones, again
    and again. That cost about a sixth of the import time, even with a young
    generation of 100,000 objects. Automatic collection is therefore off
    during an import: the import collects the young objects itself every
    ``_BATCHES_PER_COLLECTION`` batches, and the collector is turned back
    on after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_files(
    paths: Sequence[Path],
    context: ImportContext,
    *,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import trace files: draft sessions, pass them through the booth, settle."""
    with _fewer_collections():
        return _import_files(paths, context, progress)


def _import_files(
    paths: Sequence[Path],
    context: ImportContext,
    progress: ProgressCallback | None,
) -> ImportResult:
    result = ImportResult()
    template = context.booth.template
    if context.profile is not None:
        context.profile.check_kinds(list(template.kinds), template.name)
    spans: list[tuple[SpanRecord, SpanFacts]] = []
    found: list[tuple[SpanRecord, SpanFacts]] = []
    for path in paths:
        file_result = FileResult(str(path))
        try:
            found = _read_file(path)
        except InputError as error:
            file_result.error = str(error)
        else:
            file_result.spans = len(found)
            spans.extend(found)
        result.files.append(file_result)
    retrieval_kind = "retrieval" if "retrieval" in template.kinds else "tool_call"
    drafts = draft_sessions(
        spans, imported_at=context.now, retrieval_kind=retrieval_kind
    )
    # The drafts contain what settling needs, so the spans are released now
    # and each draft once it is settled, which frees memory as the import goes.
    del spans, found
    context.store.save_policies(context.booth.policies)
    _settle_drafts(drafts, context, result, progress)
    return result


@dataclass(slots=True)
class _Settled:
    """A session settled in memory and waiting for its batch to be written."""

    draft: SessionDraft
    book: SessionBook
    settlement: SignedSettlement
    result: SessionResult


def _settle_drafts(
    drafts: list[SessionDraft],
    context: ImportContext,
    result: ImportResult,
    progress: ProgressCallback | None,
) -> None:
    """Settle and write every draft, emptying the list as it goes."""
    batch: list[_Settled] = []
    batch_crossings = 0
    written = 0
    tenant_posted: dict[str, Decimal] = {}
    # The session of every crossing id settled so far in this import.
    claimed: dict[str, str] = {}
    total = len(drafts)
    drafts.reverse()
    done = 0
    while drafts:
        draft = drafts.pop()
        done += 1
        if context.store.has_session(draft.session_id):
            result.sessions.append(
                _compare_stored(draft, context.store, context.booth.policies.digest)
            )
        else:
            settled = _settle_checked(draft, context, tenant_posted, claimed)
            if isinstance(settled, SessionResult):
                result.sessions.append(settled)
            else:
                batch.append(settled)
                batch_crossings += len(settled.book.outcomes)
                result.sessions.append(settled.result)
        if batch_crossings >= _BATCH_CROSSINGS_MAX:
            _write(context, batch)
            batch, batch_crossings = [], 0
            written += 1
            if written % _BATCHES_PER_COLLECTION == 0:
                gc.collect(1)
        if progress is not None:
            progress(done, total)
    if batch:
        _write(context, batch)


def _settle_checked(
    draft: SessionDraft,
    context: ImportContext,
    tenant_posted: dict[str, Decimal],
    claimed: dict[str, str],
) -> _Settled | SessionResult:
    """Settle a new session and check that its crossing ids are its own.

    Returns the settled session, or the result that reports why it cannot
    be stored. Tenant quota usage is counted only for a session that can.
    """
    posted = dict(tenant_posted)
    try:
        book, settlement = _settle(draft, context, posted)
    except SsoarError as error:
        return SessionResult(draft.session_id, "failed", message=str(error))
    except CanonicalJSONError as error:
        # A count or total that an audit record cannot represent exactly, such
        # as a session total beyond 2**53 - 1 tokens.
        return SessionResult(
            draft.session_id,
            "failed",
            message=f"the session's records cannot be written: {error}",
        )
    crossing_ids = [outcome.crossing.crossing_id for outcome in book.outcomes]
    collision = _id_collision(crossing_ids, claimed) or _live_collision(
        crossing_ids, context.store
    )
    if collision is None:
        stored = context.store.crossing_sessions(crossing_ids)
        if draft.session_id in stored.values():
            # Another process stored this session after it was looked up.
            return _compare_stored(draft, context.store, context.booth.policies.digest)
        collision = next(
            (
                _stored_elsewhere(crossing_id, stored[crossing_id])
                for crossing_id in crossing_ids
                if crossing_id in stored
            ),
            None,
        )
    if collision is not None:
        return SessionResult(draft.session_id, "conflict", message=collision)
    tenant_posted.update(posted)
    for crossing_id in crossing_ids:
        claimed[crossing_id] = draft.session_id
    return _Settled(
        draft,
        book,
        settlement,
        SessionResult(
            draft.session_id,
            "settled",
            state=str(settlement.record["state"]),
            crossings=len(book.outcomes),
            exceptions=len(settlement.record["exceptions"]),
            notes=draft.notes,
            duplicates=draft.duplicates,
        ),
    )


def _id_collision(crossing_ids: Sequence[str], claimed: dict[str, str]) -> str | None:
    """Describe the first crossing id repeated in the session or the import, or None.

    Crossing ids come from the records (``<trace id>/<span id>``) or are built
    from the session id (``<session>/admit/<participant>``,
    ``<session>/closure``), so two records can name the same id, and every
    crossing id is stored once across all sessions.
    """
    seen: set[str] = set()
    for crossing_id in crossing_ids:
        if crossing_id in seen:
            return (
                f"two crossings of this session have id {crossing_id}; a span whose "
                "trace and span ids join to an id that ssoar builds for an "
                "admission or the closing crossing cannot be imported"
            )
        seen.add(crossing_id)
    for crossing_id in crossing_ids:
        other = claimed.get(crossing_id)
        if other is not None:
            return (
                f"crossing {crossing_id} is also a crossing of session {other} in "
                "this import; crossing ids join trace and span ids with '/', so "
                "ids that contain '/' can collide"
            )
    return None


def _live_collision(crossing_ids: Sequence[str], store: Store) -> str | None:
    """Describe the first crossing id an open live session could also make, or None.

    A live session's crossing ids are ``{session id}/{key}``. An imported
    crossing id whose part before the first '/' names an open live session
    could be one of them, and whichever were stored second could not be.
    """
    heads = {crossing_id.partition("/")[0]: crossing_id for crossing_id in crossing_ids}
    open_ids = store.open_live_sessions(heads)
    if not open_ids:
        return None
    session_id = min(open_ids)
    return (
        f"crossing {heads[session_id]} has the form of a crossing of live session "
        f"{session_id}, which is open; import this trace after that session closes"
    )


def _stored_elsewhere(crossing_id: str, other: str) -> str:
    return (
        f"crossing {crossing_id} is already settled in session {other}; settled "
        "sessions never change, so a trace imported again must keep its "
        "conversation or session id"
    )


def _write(context: ImportContext, batch: Sequence[_Settled]) -> None:
    """Write a batch of settled sessions in one transaction.

    Another process importing into the same database may have stored some of
    these sessions or crossing ids since they were checked. Such a session
    is left out of the batch and reported as ``unchanged`` or ``conflict``.
    """
    store = context.store
    with store.transaction():
        for item in batch:
            book = item.book
            repeated = store.write_new_session(
                book.log.leaves, book.log.records, item.settlement
            )
            if repeated is not None:
                _report_repeated(item, context, repeated)


def _report_repeated(item: _Settled, context: ImportContext, repeated: str) -> None:
    """Replace a settled session's result with why it was not written."""
    store = context.store
    session_id = item.draft.session_id
    if store.has_session(session_id):
        found = _compare_stored(item.draft, store, context.booth.policies.digest)
    else:
        crossing_ids = [outcome.crossing.crossing_id for outcome in item.book.outcomes]
        stored = store.crossing_sessions(crossing_ids)
        first = next(
            (crossing_id for crossing_id in crossing_ids if crossing_id in stored), None
        )
        message = (
            _stored_elsewhere(first, stored[first])
            if first is not None
            else f"a record of this session repeats a stored key ({repeated})"
        )
        found = SessionResult(session_id, "conflict", message=message)
    result = item.result
    result.status = found.status
    result.state = found.state
    result.crossings = found.crossings
    result.exceptions = found.exceptions
    result.message = found.message
    result.notes = found.notes
    result.duplicates = found.duplicates


def _settle(
    draft: SessionDraft, context: ImportContext, tenant_posted: dict[str, Decimal]
) -> tuple[SessionBook, SignedSettlement]:
    profile = context.profile
    session = Session(
        session_id=draft.session_id,
        tenant=context.tenant,
        template=context.booth.template.name,
        opened_at=draft.opened_at,
        origin="import",
    )
    book = SessionBook(session, context.booth, context.quoter, context.book_settings)
    participant_ids = list(draft.participants)
    for participant in draft.participants.values():
        declared = profile is not None and profile.declares(participant.participant_id)
        book.register(participant, declared=declared)
    if profile is not None:
        for grant in profile.grants_for(
            session.session_id,
            context.tenant,
            participant_ids,
            draft.opened_at,
            draft.closed_at,
        ):
            book.issue(grant)
        for account in profile.accounts_for(
            session.session_id, context.tenant, participant_ids
        ):
            posted = Decimal(0)
            if account.quota.scope is QuotaScope.TENANT:
                if account.account_id not in tenant_posted:
                    tenant_posted[account.account_id] = context.store.account_posted(
                        account.account_id
                    )
                posted = tenant_posted[account.account_id]
            book.open_account(account, posted_before=posted)
    for crossing in draft.crossings:
        book.record(crossing)
    settlement, _ = book.close(
        reason=CloseReason.IMPORTED,
        closed_at=draft.closed_at,
        settled_at=context.now,
        key=context.key,
    )
    for summary in book.accounts:
        if summary.account.quota.scope is QuotaScope.TENANT:
            balance = book.entitlement.balances[summary.account.account_id]
            tenant_posted[summary.account.account_id] = balance.posted
    return book, settlement


def _compare_stored(
    draft: SessionDraft, store: Store, policy_digest: str
) -> SessionResult:
    stored = store.crossing_records(draft.session_id)
    drafted = {crossing.crossing_id: crossing for crossing in draft.crossings}
    missing = sorted(set(drafted) - set(stored))
    if missing:
        return SessionResult(
            draft.session_id,
            "conflict",
            message=(
                f"session is already settled without {len(missing)} crossing(s) in "
                "these "
                f"files, first {missing[0]}; settled sessions never change, so import "
                "every file of a session together"
            ),
        )
    for crossing_id, crossing in drafted.items():
        if _fingerprint(crossing) != _stored_fingerprint(stored[crossing_id]):
            return SessionResult(
                draft.session_id,
                "conflict",
                message=(
                    f"crossing {crossing_id} differs from the settled record; the "
                    "settled record was kept"
                ),
            )
    settled = store.settlement(draft.session_id)
    state = exceptions = digest = None
    if settled is not None:
        record = orjson.loads(settled.record)
        state = str(record["state"])
        exceptions = len(record["exceptions"])
        digest = str(record["policy_digest"])
    message = None
    if digest is not None and digest != policy_digest:
        message = (
            f"settled earlier under policy set {digest}; a settled session never "
            "changes, so this import's policies and profile were not applied to it "
            "(import into a new database to settle it again)"
        )
    return SessionResult(
        draft.session_id,
        "unchanged",
        state=state,
        crossings=len(stored),
        exceptions=exceptions or 0,
        message=message,
    )


def _fingerprint(crossing: Crossing) -> bytes:
    return _strip_import_fields(crossing.to_json())


def _stored_fingerprint(data: bytes) -> bytes:
    return _strip_import_fields(orjson.loads(data))


def _strip_import_fields(crossing: dict[str, Any]) -> bytes:
    """Drop where a record was read and, for records without times, when."""
    crossing = dict(crossing)
    crossing.pop("source", None)
    if crossing.get("attributes", {}).get("time_source") == "import":
        crossing.pop("started_at", None)
        crossing.pop("ended_at", None)
    return orjson.dumps(crossing, option=orjson.OPT_SORT_KEYS)
