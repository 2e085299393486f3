"""A live session as a context manager, with one typed method per crossing kind.

Leaving the ``with`` block closes and settles the session; leaving it on an
exception settles it as unclean, with the error recorded. Each crossing is
two steps: the method asks the booth and returns a ``Crossing`` handle, or
raises ``CrossingDenied`` before the crossing runs; ``complete`` then
reports what it used. A handle is itself a context manager that completes
the crossing on a normal exit and fails it on an exception.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from ssoar.errors import CrossingDenied, SessionClosed
from ssoar.live._notify import SessionNotice
from ssoar.live._wire import (
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    ParticipantSpec,
    RouteSpec,
    SessionAnswer,
    UsageReport,
)
from ssoar.model._session import CloseReason
from ssoar.sdk._transport import Transport

__all__ = ["Crossing", "Session"]

Attributes = Mapping[str, str | int | bool | list[str]]


class Crossing:
    """A crossing the booth admitted; report how it ended with ``complete``."""

    def __init__(self, session: Session, answer: CrossingAnswer) -> None:
        self.session = session
        self.answer = answer
        self.key = answer.crossing_id.removeprefix(answer.session_id + "/")

    @property
    def crossing_id(self) -> str:
        """The crossing's id, unique across sessions."""
        return self.answer.crossing_id

    @property
    def route(self) -> str | None:
        """The route the booth chose, when routes were offered."""
        return self.answer.route

    @property
    def done(self) -> bool:
        """Whether the crossing has been completed or failed."""
        return self.answer.state in ("completed", "failed")

    def complete(
        self,
        *,
        usage: UsageReport | None = None,
        attributes: Attributes | None = None,
        cost: str | None = None,
    ) -> CrossingAnswer:
        """Report that the crossing finished, with the usage the provider reported.

        A model invocation completed without usage settles at its
        reservation, marked estimated.
        """
        self.answer = self.session.transport.complete(
            self.session.session_id,
            self.key,
            CompleteCrossing(
                outcome="completed",
                usage=usage,
                attributes=dict(attributes or {}),
                cost=cost,
            ),
        )
        return self.answer

    def fail(
        self, error: BaseException | str, *, usage: UsageReport | None = None
    ) -> CrossingAnswer:
        """Report that the crossing failed; a failure with no usage is not billed."""
        self.answer = self.session.transport.complete(
            self.session.session_id,
            self.key,
            CompleteCrossing(outcome="failed", usage=usage, error=_text(error)),
        )
        return self.answer

    def attempt_failed(
        self,
        error: BaseException | str,
        *,
        attempt_id: str | None = None,
        route: str | None = None,
    ) -> CrossingAnswer:
        """Record a failed attempt that will be retried under the same crossing.

        Attempts are listed with the crossing and never charged: one logical
        call is one crossing and one charge, however many tries it took.
        """
        self.answer = self.session.transport.attempt(
            self.session.session_id,
            self.key,
            AttemptReport(error=_text(error), attempt_id=attempt_id, route=route),
        )
        return self.answer

    def __enter__(self) -> Crossing:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.done:
            return
        if error is None:
            self.complete()
        else:
            self.fail(error)


class Session:
    """A live session; use it as a context manager."""

    def __init__(self, transport: Transport, answer: SessionAnswer) -> None:
        self.transport = transport
        self.answer = answer
        self.session_id = answer.session_id
        self.settlement: dict[str, Any] | None = None
        """The signed settlement record, once the session has closed."""
        self.closed = threading.Event()
        """Set when the session closes, by this code, an error or the sweeper."""
        self.notice: SessionNotice | None = None
        self._callbacks: list[Callable[[SessionNotice | None], None]] = []
        self._lock = threading.Lock()
        transport.on_close(self.session_id, self._on_notice)

    # Closing

    def on_close(self, callback: Callable[[SessionNotice | None], None]) -> None:
        """Call ``callback`` once when the session closes, to stop work in flight.

        In process it is called with the booth's close notice. Against a
        booth service, it is called when this code closes the session or a
        crossing finds it closed (with ``None``); configure the session's
        webhook to hear about a sweep at once.
        """
        run_now = False
        with self._lock:
            if self.closed.is_set():
                run_now = True
            else:
                self._callbacks.append(callback)
        if run_now:
            callback(self.notice)

    def close(
        self, *, reason: CloseReason = CloseReason.CLOSED, error: str | None = None
    ) -> dict[str, Any]:
        """Close and settle the session; return its signed settlement record."""
        if self.settlement is None:
            self.settlement = self.transport.close_session(
                self.session_id, reason, error
            )
            self._mark_closed(None)
        return self.settlement

    @property
    def state(self) -> str:
        """The settled state once closed (or ``closed`` when only that is
        known), else ``open``."""
        if self.settlement is not None:
            return str(self.settlement["state"])
        if self.notice is not None:
            return self.notice.state
        if self.closed.is_set():
            return "closed"
        return "open"

    def _on_notice(self, notice: SessionNotice) -> None:
        self._mark_closed(notice)

    def _mark_closed(self, notice: SessionNotice | None) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.notice = notice
            self.closed.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(notice)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.settlement is not None:
            return
        try:
            if error is None:
                self.close()
            else:
                self.close(reason=CloseReason.ERROR, error=_text(error))
        except SessionClosed:
            # Closed meanwhile, by the sweeper for instance: it is settled.
            self._mark_closed(None)

    # Participants and grants

    def admit(
        self,
        participant_id: str,
        *,
        name: str | None = None,
        scope: Sequence[str] = (),
    ) -> CrossingAnswer:
        """Admit a participant; raises ``CrossingDenied`` if the booth refuses."""
        answer: CrossingAnswer = self._call(
            lambda: self.transport.admit(
                self.session_id,
                ParticipantSpec(id=participant_id, name=name, scope=list(scope)),
            )
        )
        _raise_if_denied(answer)
        return answer

    def grant(
        self,
        grantee: str,
        kinds: Iterable[str],
        *,
        targets: Sequence[str] = ("*",),
        grant_id: str | None = None,
        grantor: str | None = None,
        parent: str | None = None,
    ) -> dict[str, Any]:
        """Issue a grant in the session; it is revoked when the session closes."""
        grant: dict[str, Any] = self._call(
            lambda: self.transport.issue_grant(
                self.session_id,
                GrantSpec(
                    grantee=grantee,
                    kinds=list(kinds),
                    targets=list(targets),
                    id=grant_id,
                    grantor=grantor,
                    parent=parent,
                ),
            )
        )
        return grant

    # Crossings

    def begin(self, request: BeginCrossing) -> Crossing:
        """Ask the booth before any crossing; the typed methods call this."""
        if request.crossing_id is None:
            # The key is chosen here, so a retried request is recognised.
            request = _with_key(request, uuid.uuid4().hex)
        answer = self._call(lambda: self.transport.begin(self.session_id, request))
        _raise_if_denied(answer)
        return Crossing(self, answer)

    def invoke_model(
        self,
        provider: str | None = None,
        model: str | None = None,
        *,
        input_tokens: int,
        max_output_tokens: int,
        invoker: str | None = None,
        routes: Sequence[RouteSpec] = (),
        crossing_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> Crossing:
        """Ask before a model call; reserves input tokens plus the output cap, priced.

        Give ``provider`` and ``model``, or candidate ``routes`` for the
        booth to choose the cheapest one every policy and quota admits.
        """
        return self.begin(
            BeginCrossing(
                kind="model_invocation",
                provider=provider,
                model=model,
                input_tokens=input_tokens,
                max_output_tokens=max_output_tokens,
                invoker=invoker,
                routes=list(routes),
                crossing_id=crossing_id,
                attributes=dict(attributes or {}),
            )
        )

    def call_tool(
        self,
        tool: str,
        *,
        invoker: str | None = None,
        mutates_state: bool | None = None,
        crossing_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> Crossing:
        """Ask before a tool call; changing state needs a grant under the defaults."""
        merged = dict(attributes or {})
        if mutates_state is not None:
            merged["mutates_state"] = mutates_state
        return self.begin(
            BeginCrossing(
                kind="tool_call",
                actor=_prefixed(tool, "tool"),
                invoker=invoker,
                target=f"tool:{tool.removeprefix('tool:')}",
                crossing_id=crossing_id,
                attributes=merged,
            )
        )

    def write_memory(
        self,
        store: str,
        *,
        record: str | None = None,
        persistent: bool = False,
        persistence_authorised: bool | None = None,
        invoker: str | None = None,
        crossing_id: str | None = None,
    ) -> Crossing:
        """Ask before writing memory; memory kept past the session needs authority."""
        attributes: dict[str, str | int | bool | list[str]] = {
            "memory_store": store,
            "persistent": persistent,
            "memory_operation": "write",
        }
        if record is not None:
            attributes["memory_record"] = record
        if persistence_authorised is not None:
            attributes["persistence_authorised"] = persistence_authorised
        return self.begin(
            BeginCrossing(
                kind="memory_write",
                actor=f"memory:{store}",
                invoker=invoker,
                target=f"memory_store:{store}",
                crossing_id=crossing_id,
                attributes=attributes,
            )
        )

    def shift_residency(
        self,
        region: str,
        *,
        jurisdiction: str,
        from_jurisdiction: str | None = None,
        invoker: str | None = None,
        crossing_id: str | None = None,
    ) -> Crossing:
        """Ask before the session moves to another region or legal jurisdiction."""
        attributes: dict[str, str | int | bool | list[str]] = {
            "region": region,
            "jurisdiction": jurisdiction,
        }
        if from_jurisdiction is not None:
            attributes["from_jurisdiction"] = from_jurisdiction
        return self.begin(
            BeginCrossing(
                kind="residency_shift",
                actor=f"jurisdiction:{jurisdiction}",
                invoker=invoker,
                target=f"region:{region}",
                crossing_id=crossing_id,
                attributes=attributes,
            )
        )

    def route_carrier(
        self,
        route: str,
        *,
        carrier: str,
        cost: str | None = None,
        currency: str | None = None,
        invoker: str | None = None,
        crossing_id: str | None = None,
    ) -> Crossing:
        """Ask before a segment travels a network route; its cost is billed."""
        return self.begin(
            BeginCrossing(
                kind="carrier_path",
                actor=_prefixed(carrier, "carrier"),
                invoker=invoker,
                target=f"route:{route}",
                cost=cost,
                currency=currency,
                crossing_id=crossing_id,
                attributes={"route": route},
            )
        )

    def prove_identity(
        self,
        vendor: str,
        *,
        subject: str,
        valid_seconds: int,
        invoker: str | None = None,
        crossing_id: str | None = None,
    ) -> Crossing:
        """Ask before binding an identity proof to the session, and for how long."""
        return self.begin(
            BeginCrossing(
                kind="identity_proof",
                actor=_prefixed(vendor, "verifier"),
                invoker=invoker,
                target=f"participant:{subject}",
                crossing_id=crossing_id,
                attributes={"subject": subject, "proof_valid_seconds": valid_seconds},
            )
        )

    def activate_accessibility(
        self,
        service: str,
        *,
        recipient: str,
        invoker: str | None = None,
        crossing_id: str | None = None,
        attributes: Attributes | None = None,
    ) -> Crossing:
        """Ask before an accessibility service joins a stream, and for whom."""
        merged = dict(attributes or {})
        merged["recipient"] = recipient
        return self.begin(
            BeginCrossing(
                kind="accessibility_activation",
                actor=_prefixed(service, "accessibility"),
                invoker=invoker,
                target=f"participant:{recipient}",
                crossing_id=crossing_id,
                attributes=merged,
            )
        )

    # Wrappers

    def tool(
        self,
        name: str | None = None,
        *,
        invoker: str | None = None,
        mutates_state: bool | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a function so that every call is a tool call through the booth.

        Example::

            @session.tool(invoker="agent:refund-bot", mutates_state=True)
            def issue_refund(order_id: str) -> None: ...
        """
        from ssoar.sdk._wrap import tool_wrapper

        return tool_wrapper(self, name, invoker=invoker, mutates_state=mutates_state)

    def _call(self, function: Callable[[], Any]) -> Any:
        try:
            return function()
        except SessionClosed:
            self._mark_closed(None)
            raise


def _raise_if_denied(answer: CrossingAnswer) -> None:
    if not answer.allowed:
        raise CrossingDenied(
            answer.crossing_id,
            tuple((reason.code, reason.message) for reason in answer.reasons),
            tuple(answer.policy_ids),
        )


def _with_key(request: BeginCrossing, key: str) -> BeginCrossing:
    import msgspec

    return msgspec.structs.replace(request, crossing_id=key)


def _prefixed(name: str, prefix: str) -> str:
    return name if ":" in name else f"{prefix}:{name}"


def _text(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error[:2000]
    return f"{type(error).__name__}: {error}"[:2000]
