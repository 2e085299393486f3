"""Grouping spans into sessions and turning them into participants and crossings.

Spans are grouped by trace first, so a trace never splits. A trace belongs
to the session named by its conversation or session id (Langfuse's
``sessionId``, ``gen_ai.conversation.id`` or OpenInference ``session.id``);
a trace without one is a session of its own. A span without a trace id, such
as a bare attribute map, is its own session, and its ids are derived from
its content, so the same call written in different conventions imports to
the same crossing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from ssoar.ingest._classify import SpanFacts
from ssoar.ingest._spans import SpanRecord
from ssoar.model._crossing import (
    AttributeValue,
    Crossing,
    CrossingState,
    SourceRef,
    Target,
    UsageSource,
)
from ssoar.model._participant import Participant, ParticipantClass
from ssoar.model._usage import TokenUsage

__all__ = ["DraftNote", "SessionDraft", "draft_sessions"]

_ID_LENGTH_MAX = 256


@dataclass(frozen=True, slots=True)
class DraftNote:
    """Something the importer saw and did not turn into a crossing, and why."""

    file: str
    pointer: str
    note: str


@dataclass
class SessionDraft:
    """A session read from traces, before it passes the booth."""

    session_id: str
    trace_ids: list[str]
    participants: dict[str, Participant] = field(default_factory=dict)
    crossings: list[Crossing] = field(default_factory=list)
    notes: list[DraftNote] = field(default_factory=list)
    duplicates: list[DraftNote] = field(default_factory=list)
    spans_read: int = 0

    @property
    def opened_at(self) -> datetime:
        """When the first crossing started."""
        return min(crossing.started_at for crossing in self.crossings)

    @property
    def closed_at(self) -> datetime:
        """When the last crossing ended (or started, if it never ended)."""
        return max(
            crossing.ended_at or crossing.started_at for crossing in self.crossings
        )


@dataclass
class _Span:
    record: SpanRecord
    facts: SpanFacts
    key: str
    """The span's id inside its session: trace and span id, or a content digest."""


def draft_sessions(
    spans: Sequence[tuple[SpanRecord, SpanFacts]],
    *,
    imported_at: datetime,
    retrieval_kind: str,
) -> list[SessionDraft]:
    """Group spans into sessions and draft each session's participants and crossings.

    Args:
        spans: Spans from every file of one import, each with its facts
            (see ``read_facts``).
        imported_at: The time recorded for spans that carry no timestamps.
        retrieval_kind: The crossing kind for retriever spans: ``retrieval``
            where the template has it, else ``tool_call``.
    """
    traces: dict[str, list[_Span]] = defaultdict(list)
    for record, facts in spans:
        if record.trace_id is not None and record.span_id is not None:
            trace_key = f"trace:{record.trace_id}"
            key = f"{record.trace_id}/{record.span_id}"
        else:
            digest = _content_digest(facts)
            trace_key = f"span:{digest}"
            key = f"span:{digest}"
        traces[trace_key].append(_Span(record, facts, key))
    sessions: dict[str, SessionDraft] = {}
    members: dict[str, list[_Span]] = defaultdict(list)
    for trace_key, trace_spans in traces.items():
        session_id = _session_id(trace_key, trace_spans)
        draft = sessions.get(session_id)
        if draft is None:
            draft = sessions[session_id] = SessionDraft(session_id, [])
        draft.trace_ids.append(trace_key)
        members[session_id].extend(trace_spans)
    for session_id, draft in sessions.items():
        _Drafter(draft, members[session_id], imported_at, retrieval_kind).run()
    return [draft for draft in sessions.values() if draft.crossings]


def _content_digest(facts: SpanFacts) -> str:
    """Digest of the facts that identify a call, whatever convention wrote them."""
    identity = {
        "role": facts.role,
        "provider": facts.provider,
        "request_model": facts.request_model,
        "response_model": facts.response_model,
        "usage": facts.usage.to_json() if facts.usage else None,
        "output_tokens_max": facts.output_tokens_max,
        "streaming": facts.streaming,
        "finish_reasons": list(facts.finish_reasons),
        "tool": facts.tool_name,
        "failed": facts.failed,
        "error": facts.error,
    }
    return hashlib.sha256(
        orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()[:32]


def _session_id(trace_key: str, spans: Sequence[_Span]) -> str:
    for span in spans:
        if span.record.langfuse and span.record.langfuse.trace_session_id:
            return _bounded(f"conv:{span.record.langfuse.trace_session_id}")
    ids = sorted(
        {span.facts.conversation_id for span in spans if span.facts.conversation_id}
    )
    if len(ids) == 1:
        return _bounded(f"conv:{ids[0]}")
    return _bounded(trace_key)


def _bounded(identifier: str) -> str:
    if len(identifier) <= _ID_LENGTH_MAX:
        return identifier
    digest = hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:32]
    return f"{identifier[: _ID_LENGTH_MAX - 34]}~{digest}"


class _Drafter:
    """Turns one session's spans into participants and crossings."""

    def __init__(
        self,
        draft: SessionDraft,
        spans: list[_Span],
        imported_at: datetime,
        retrieval_kind: str,
    ) -> None:
        self.draft = draft
        self.spans = sorted(
            spans,
            key=lambda span: (
                span.record.start or imported_at,
                span.record.file,
                span.record.pointer,
            ),
        )
        self.imported_at = imported_at
        self.retrieval_kind = retrieval_kind
        self.by_key = {span.key: span for span in self.spans}
        self.tree = _SpanTree(self.by_key)
        self.first_seen: dict[str, tuple[datetime, _Span]] = {}
        self.holders: set[str] = set()
        self.trace_users: dict[str | None, str] = {}
        """The first user id each trace names, for its spans that name none."""
        for span in self.spans:
            if span.facts.user_id:
                self.trace_users.setdefault(span.record.trace_id, span.facts.user_id)

    def run(self) -> None:
        draft = self.draft
        draft.spans_read = len(self.spans)
        for span in self.spans:
            user = self._user(span)
            if user is not None:
                self._participant(span, ParticipantClass.HUMAN, user)
        crossings: dict[str, Crossing] = {}
        for span in self.spans:
            crossing = self._crossing(span)
            if crossing is None:
                continue
            existing = crossings.get(crossing.crossing_id)
            if existing is not None:
                same = _comparable(existing) == _comparable(crossing)
                draft.duplicates.append(
                    DraftNote(
                        span.record.file,
                        span.record.pointer,
                        "same crossing as "
                        f"{existing.source.file if existing.source else '?'}"
                        + (
                            ""
                            if same
                            else "; its details differ, the first one was kept"
                        ),
                    )
                )
                continue
            crossings[crossing.crossing_id] = crossing
        admissions = self._admissions()
        ordered = sorted(
            [*admissions, *crossings.values()],
            key=lambda item: (item.started_at, item.kind != "participant_admission"),
        )
        draft.crossings = ordered

    def _crossing(self, span: _Span) -> Crossing | None:
        facts = span.facts
        role = facts.role
        if role == "agent":
            self._participant(span, ParticipantClass.AGENT, self._agent_name(span))
            if facts.usage is not None:
                self._note_wrapper(span)
            return None
        if role == "structure":
            if facts.usage is not None:
                self._note_wrapper(span)
            return None
        if role == "model" and self.tree.has_usage_below[span.key]:
            self._note_wrapper(span)
            return None
        if role == "model":
            return self._model_invocation(span)
        if role in ("tool", "retrieval"):
            return self._tool_call(
                span, "tool_call" if role == "tool" else self.retrieval_kind
            )
        return self._memory_write(span)

    def _model_invocation(self, span: _Span) -> Crossing:
        facts = span.facts
        model = facts.model or "unknown"
        target_id = f"{facts.provider}/{model}" if facts.provider else model
        actor = self._participant(
            span, ParticipantClass.AI_MODEL, target_id, prefix="model"
        )
        attributes: dict[str, AttributeValue] = {
            "provider": facts.provider,
            "model": facts.request_model or facts.response_model,
            "response_model": facts.response_model,
            "input_tokens": facts.usage.input_total_tokens if facts.usage else None,
            "output_tokens_max": facts.output_tokens_max,
            "finish_reasons": facts.finish_reasons or None,
            "streaming": True if facts.streaming else None,
        }
        return self._build(
            span, "model_invocation", actor, Target("model", target_id), attributes
        )

    def _tool_call(self, span: _Span, kind: str) -> Crossing:
        facts = span.facts
        name = facts.tool_name or span.record.name
        actor = self._participant(span, ParticipantClass.TOOL, name, prefix="tool")
        attributes: dict[str, AttributeValue] = {
            "tool": name,
            "tool_call_id": facts.tool_call_id,
            "tool_type": facts.tool_type,
        }
        target = Target("data_source" if kind == "retrieval" else "tool", name)
        if kind == "retrieval":
            attributes = {"data_source": name}
        return self._build(span, kind, actor, target, attributes)

    def _memory_write(self, span: _Span) -> Crossing:
        facts = span.facts
        store = facts.memory_store or "unknown"
        actor = self._participant(
            span, ParticipantClass.MEMORY_LAYER, store, prefix="memory"
        )
        attributes: dict[str, AttributeValue] = {
            "memory_store": facts.memory_store,
            "memory_record": facts.memory_record,
            "memory_operation": facts.memory_operation,
        }
        return self._build(
            span, "memory_write", actor, Target("memory_store", store), attributes
        )

    def _build(
        self,
        span: _Span,
        kind: str,
        actor: str,
        target: Target,
        attributes: dict[str, AttributeValue],
    ) -> Crossing:
        record = span.record
        facts = span.facts
        invoker = self._invoker(span)
        self.holders.add(invoker or actor)
        if record.start is None:
            attributes["time_source"] = "import"
        if facts.failed:
            state = CrossingState.FAILED
        elif record.end is None and record.start is not None:
            state = CrossingState.OPEN
        else:
            state = CrossingState.COMPLETED
        usage_source = (
            facts.usage_source if facts.usage is not None else UsageSource.NONE
        )
        crossing_id = span.key if record.span_id is not None else f"{span.key}/{kind}"
        return Crossing(
            crossing_id=crossing_id,
            session_id=self.draft.session_id,
            kind=kind,
            actor_id=actor,
            invoker_id=invoker,
            target=target,
            started_at=record.start or self.imported_at,
            ended_at=record.end if record.start is not None else self.imported_at,
            state=state,
            attributes={
                key: value for key, value in attributes.items() if value is not None
            },
            usage=facts.usage,
            usage_source=usage_source,
            error=facts.error,
            source=SourceRef(
                record.file,
                record.pointer,
                record.format,
                facts.usage_convention,
                facts.ignored_keys,
            ),
        )

    def _participant(
        self,
        span: _Span,
        participant_class: ParticipantClass,
        name: str,
        *,
        prefix: str | None = None,
    ) -> str:
        participant_id = _bounded(f"{prefix or participant_class.value}:{name}")
        if participant_id not in self.draft.participants:
            self.draft.participants[participant_id] = Participant(
                participant_id, participant_class, name
            )
        when = span.record.start or self.imported_at
        if (
            participant_id not in self.first_seen
            or when < self.first_seen[participant_id][0]
        ):
            self.first_seen[participant_id] = (when, span)
        return participant_id

    def _agent_name(self, span: _Span) -> str:
        return span.facts.agent_name or span.record.name

    def _invoker(self, span: _Span) -> str | None:
        """Return the nearest enclosing agent, else the trace's user, else None."""
        agent = self.tree.agent_above.get(span.key)
        if agent is not None:
            return self._participant(
                agent, ParticipantClass.AGENT, self._agent_name(agent)
            )
        user = self._user(span)
        if user is not None:
            return self._participant(span, ParticipantClass.HUMAN, user)
        return None

    def _user(self, span: _Span) -> str | None:
        if span.record.langfuse and span.record.langfuse.trace_user_id:
            return span.record.langfuse.trace_user_id
        if span.facts.user_id:
            return span.facts.user_id
        return self.trace_users.get(span.record.trace_id)

    def _note_wrapper(self, span: _Span) -> None:
        below = self.tree.usage_below(span.key)
        own = span.facts.usage
        if own is None:
            # A model span without usage of its own over model calls that
            # report theirs, such as a framework's span around the client's.
            assert below is not None, "only model calls below make it a wrapper"
            note = (
                "wrapper span reports no usage; the model calls below it "
                f"({below.total_tokens} tokens) are counted instead"
            )
        elif below is None:
            note = (
                f"{span.facts.role} span carries usage of {own.total_tokens} tokens "
                "but "
                "no model call: not counted, since it is not a model invocation"
            )
        elif below == own:
            note = (
                f"wrapper span repeats the usage of the model calls below it "
                f"({own.total_tokens} tokens): not counted twice"
            )
        else:
            note = (
                f"wrapper span reports {own.total_tokens} tokens, the model calls "
                "below "
                f"it {below.total_tokens}: only the model calls are counted"
            )
        self.draft.notes.append(DraftNote(span.record.file, span.record.pointer, note))

    @staticmethod
    def _admission_attributes(
        participant: Participant, span: _Span
    ) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "participant_class": participant.participant_class.value
        }
        if span.record.start is None:
            # First seen in a record without times: the admission is dated at
            # the import, like the crossing it comes from.
            attributes["time_source"] = "import"
        return attributes

    def _admissions(self) -> list[Crossing]:
        """Draft admissions for people, agents and every other authority holder."""
        admissions: list[Crossing] = []
        for participant_id, participant in self.draft.participants.items():
            wanted = participant.participant_class in (
                ParticipantClass.HUMAN,
                ParticipantClass.AGENT,
            )
            if not wanted and participant_id not in self.holders:
                continue
            when, span = self.first_seen[participant_id]
            admissions.append(
                Crossing(
                    crossing_id=_bounded(
                        f"{self.draft.session_id}/admit/{participant_id}"
                    ),
                    session_id=self.draft.session_id,
                    kind="participant_admission",
                    actor_id=participant_id,
                    started_at=when,
                    ended_at=when,
                    state=CrossingState.COMPLETED,
                    attributes=self._admission_attributes(participant, span),
                    source=SourceRef(
                        span.record.file, span.record.pointer, span.record.format
                    ),
                )
            )
        return admissions


class _SpanTree:
    """The parent links of one session's spans, read once for every span.

    Parent links come from the file, so they can point at the span itself or
    form a cycle. The spans of a cycle are treated as having no parent: no
    span of a cycle is below another, so each of them is counted. Each figure
    is computed once per span, never by walking a chain once per span, so a
    deep chain costs time linear in its length.
    """

    def __init__(self, by_key: Mapping[str, _Span]) -> None:
        self.by_key = by_key
        self.parents = _parent_keys(by_key)
        order, self.children = _parents_first(self.parents)
        if len(order) < len(self.parents):
            # The spans of a cycle, and those below them, have no root above.
            _break_cycles(self.parents)
            order, self.children = _parents_first(self.parents)

        self.agent_above: dict[str, _Span] = {}
        """The nearest enclosing agent span of each span that has one."""
        for key in order:
            self._find_agent_above(key)

        self.has_usage_below: dict[str, bool] = dict.fromkeys(by_key, False)
        """Whether a model span with usage is below each span."""
        for key in reversed(order):
            parent = self.parents[key]
            facts = by_key[key].facts
            if parent is not None and (
                (facts.role == "model" and facts.usage is not None)
                or self.has_usage_below[key]
            ):
                self.has_usage_below[parent] = True
        self._usage_below: dict[str, TokenUsage | None] = {}

    def _find_agent_above(self, key: str) -> None:
        """Record the agent above a span; its parent's must already be known."""
        parent = self.parents[key]
        if parent is None:
            return
        if self.by_key[parent].facts.role == "agent":
            self.agent_above[key] = self.by_key[parent]
        elif parent in self.agent_above:
            self.agent_above[key] = self.agent_above[parent]

    def usage_below(self, key: str) -> TokenUsage | None:
        """Return the usage of the model calls below a span, or None if none.

        Those are the model spans with usage and no such span below them,
        since a model span with model calls below it is a wrapper. Only
        wrapper notes need the sum, so it is computed on request, and each
        span's sum once.
        """
        sums = self._usage_below
        pending = [(key, False)]
        while pending:
            node, children_done = pending.pop()
            if node in sums:
                continue
            children = self.children.get(node, ())
            if not children_done:
                pending.append((node, True))
                pending.extend((child, False) for child in children)
                continue
            total: TokenUsage | None = None
            for child in children:
                facts = self.by_key[child].facts
                below = sums[child]
                is_call = facts.role == "model" and facts.usage is not None
                if is_call and not self.has_usage_below[child]:
                    below = facts.usage
                if below is not None:
                    total = below if total is None else total + below
            sums[node] = total
        return sums[key]


def _parent_keys(by_key: Mapping[str, _Span]) -> dict[str, str | None]:
    """Return the key of each span's parent, or None when it is not in the session."""
    parents: dict[str, str | None] = {}
    for key, span in by_key.items():
        parent_id = span.record.parent_span_id
        trace_id = span.record.trace_id
        if parent_id is None or trace_id is None:
            parents[key] = None
            continue
        parent_key = f"{trace_id}/{parent_id}"
        parents[key] = parent_key if parent_key in by_key else None
    return parents


def _parents_first(
    parents: Mapping[str, str | None],
) -> tuple[list[str], dict[str, list[str]]]:
    """Order spans breadth first from the roots, so each parent precedes its
    children, and return the order and the children of each span.

    Spans with no root above them, on or below a cycle, are left out.
    """
    children: dict[str, list[str]] = defaultdict(list)
    order: list[str] = []
    for key, parent in parents.items():
        if parent is None:
            order.append(key)
        else:
            children[parent].append(key)
    position = 0
    while position < len(order):
        order.extend(children.get(order[position], ()))
        position += 1
    return order, children


def _break_cycles(parents: dict[str, str | None]) -> None:
    """Remove the parent link of every span that is on a cycle of parent links."""
    finished: set[str] = set()
    for start in parents:
        path: list[str] = []
        on_path: set[str] = set()
        key: str | None = start
        while key is not None and key not in finished and key not in on_path:
            path.append(key)
            on_path.add(key)
            key = parents[key]
        if key is not None and key in on_path:
            for member in path[path.index(key) :]:
                parents[member] = None
        finished.update(path)


def _comparable(crossing: Crossing) -> bytes:
    """Return the crossing without its source, for comparing duplicates."""
    data = crossing.to_json()
    data.pop("source")
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
