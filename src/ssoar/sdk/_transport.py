"""How the SDK reaches a booth: in this process, or over HTTP.

Both transports take and return the same request and answer structs, so a
program switches between an embedded booth and a booth service by changing
one argument of ``ssoar.connect``.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from ssoar.errors import (
    BoothUnavailable,
    Conflict,
    NotFound,
    RequestError,
    SessionClosed,
    SsoarError,
)
from ssoar.live._engine import LiveBooth
from ssoar.live._notify import SessionNotice
from ssoar.live._wire import (
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    PlanQuotas,
    QuotaSpec,
    SessionAnswer,
)
from ssoar.model._session import CloseReason

__all__ = ["HttpTransport", "LocalTransport", "Transport"]

T = TypeVar("T")
_TIMEOUT_SECONDS = 30.0


class Transport(Protocol):
    """The booth operations the SDK needs."""

    def open_session(self, request: OpenSession) -> SessionAnswer: ...
    def admit(self, session_id: str, request: ParticipantSpec) -> CrossingAnswer: ...
    def issue_grant(self, session_id: str, request: GrantSpec) -> dict[str, Any]: ...
    def begin(self, session_id: str, request: BeginCrossing) -> CrossingAnswer: ...
    def attempt(
        self, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer: ...
    def complete(
        self, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer: ...
    def close_session(
        self, session_id: str, reason: CloseReason, error: str | None
    ) -> dict[str, Any]: ...
    def session(self, session_id: str) -> SessionAnswer: ...
    def set_plan(self, quotas: list[QuotaSpec]) -> list[QuotaSpec]: ...
    def on_close(self, session_id: str, callback: Any) -> bool: ...
    def close(self) -> None: ...


class LocalTransport:
    """A booth in this process, on an embedded SQLite file."""

    def __init__(self, booth: LiveBooth, tenant: str, *, owned: bool) -> None:
        self.booth = booth
        self.tenant = tenant
        self._owned = owned

    def open_session(self, request: OpenSession) -> SessionAnswer:
        return self.booth.open_session(self.tenant, request)

    def admit(self, session_id: str, request: ParticipantSpec) -> CrossingAnswer:
        return self.booth.admit(self.tenant, session_id, request)

    def issue_grant(self, session_id: str, request: GrantSpec) -> dict[str, Any]:
        return self.booth.issue_grant(self.tenant, session_id, request)

    def begin(self, session_id: str, request: BeginCrossing) -> CrossingAnswer:
        return self.booth.begin(self.tenant, session_id, request)

    def attempt(
        self, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer:
        return self.booth.attempt(self.tenant, session_id, key, request)

    def complete(
        self, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer:
        return self.booth.complete(self.tenant, session_id, key, request)

    def close_session(
        self, session_id: str, reason: CloseReason, error: str | None
    ) -> dict[str, Any]:
        return self.booth.close_session(
            self.tenant, session_id, reason=reason, error=error
        )

    def session(self, session_id: str) -> SessionAnswer:
        return self.booth.session(self.tenant, session_id)

    def set_plan(self, quotas: list[QuotaSpec]) -> list[QuotaSpec]:
        return self.booth.set_plan(self.tenant, quotas)

    def on_close(self, session_id: str, callback: Any) -> bool:
        """Subscribe to the booth's close notices; True, as they always arrive."""

        def forward(notice: SessionNotice) -> None:
            callback(notice)

        self.booth.subscribers.add(forward, session_id)
        return True

    def close(self) -> None:
        if self._owned:
            self.booth.close()


class HttpTransport:
    """A booth service reached over HTTP with an API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = _TIMEOUT_SECONDS,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"authorization": f"Bearer {api_key}"},
        )

    def _call(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        answer: type[T],
    ) -> T:
        content = msgspec.json.encode(body) if body is not None else None
        try:
            response = self._client.request(
                method,
                path,
                content=content,
                headers={"content-type": "application/json"} if content else None,
            )
        except httpx.HTTPError as error:
            raise BoothUnavailable(
                f"cannot reach the booth at {self.base_url}: {error}; the request "
                "is refused until the booth answers"
            ) from None
        if response.status_code >= 400:
            raise _problem_error(response)
        return msgspec.json.decode(response.content, type=answer)

    def open_session(self, request: OpenSession) -> SessionAnswer:
        return self._call("POST", "/v1/sessions", request, SessionAnswer)

    def admit(self, session_id: str, request: ParticipantSpec) -> CrossingAnswer:
        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/participants",
            request,
            CrossingAnswer,
        )

    def issue_grant(self, session_id: str, request: GrantSpec) -> dict[str, Any]:
        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/grants",
            request,
            dict[str, Any],
        )

    def begin(self, session_id: str, request: BeginCrossing) -> CrossingAnswer:
        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/crossings",
            request,
            CrossingAnswer,
        )

    def attempt(
        self, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer:
        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/crossings/{_segment(key)}/attempts",
            request,
            CrossingAnswer,
        )

    def complete(
        self, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer:
        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/crossings/{_segment(key)}/complete",
            request,
            CrossingAnswer,
        )

    def close_session(
        self, session_id: str, reason: CloseReason, error: str | None
    ) -> dict[str, Any]:
        from ssoar.server._schemas import CloseRequest

        return self._call(
            "POST",
            f"/v1/sessions/{_segment(session_id)}/close",
            CloseRequest(
                reason="error" if reason is CloseReason.ERROR else "closed", error=error
            ),
            dict[str, Any],
        )

    def session(self, session_id: str) -> SessionAnswer:
        return self._call(
            "GET", f"/v1/sessions/{_segment(session_id)}", None, SessionAnswer
        )

    def set_plan(self, quotas: list[QuotaSpec]) -> list[QuotaSpec]:
        answer = self._call("PUT", "/v1/plan", PlanQuotas(quotas), PlanQuotas)
        return answer.quotas

    def on_close(self, session_id: str, callback: Any) -> bool:
        """A remote booth reports a close through the session's webhook only."""
        return False

    def close(self) -> None:
        self._client.close()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _problem_error(response: httpx.Response) -> SsoarError:
    """Turn an RFC 9457 problem response into the matching ssoar error."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    detail = str(problem.get("detail") or response.text or response.reason_phrase)
    status = response.status_code
    if status == 404:
        return NotFound(detail)
    if status == 409:
        if problem.get("session_state"):
            return SessionClosed(
                str(problem.get("session_id")),
                str(problem["session_state"]),
                problem.get("close_reason"),
            )
        return Conflict(detail)
    if status in (400, 413, 422):
        field = str(problem.get("field") or "body")
        # The service's detail already starts with the field.
        return RequestError(field, detail.removeprefix(f"{field}: "))
    if status == 503:
        return BoothUnavailable(detail)
    return SsoarError(f"HTTP {status}: {detail}")
