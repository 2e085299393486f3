"""The booth's HTTP service: a Starlette app on uvicorn, bodies in msgspec.

Every endpoint is declared once, in ``ENDPOINTS``: the same table builds the
Starlette routes and the OpenAPI document, so the document describes what
the server does. Each request is authenticated with an API key. Its tenant
comes from the key alone, and every read and write is limited to it, so an
id of another tenant gets the same response as an id that does not exist.
Errors are RFC 9457 problem documents naming the field and the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ssoar.errors import (
    BoothUnavailable,
    Conflict,
    NotFound,
    RequestError,
    SessionClosed,
    SessionError,
    SsoarError,
)
from ssoar.live._async import AsyncBooth
from ssoar.live._collector import tune_collector
from ssoar.live._engine import LiveBooth
from ssoar.live._tenants import Caller, authenticate
from ssoar.live._wire import (
    PATTERN_MEANINGS,
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    GrantLimit,
    GrantSpec,
    OpenSession,
    ParticipantSpec,
    PlanQuotas,
    QuotaSpec,
    RouteSpec,
    SessionAnswer,
    UsageReport,
)
from ssoar.model._session import CloseReason
from ssoar.server._schemas import (
    ApiKeyAnswer,
    ApiKeyRequest,
    CloseRequest,
    Problem,
    SessionList,
    SessionSummary,
)
from ssoar.store._sqlite import Store

__all__ = [
    "ENDPOINTS",
    "Endpoint",
    "ServiceLimits",
    "build_app",
    "openapi_document",
    "tune_collector",
]

_LOG = logging.getLogger("ssoar.server")
_PROBLEM_BASE = "https://ssoar.dev/problems/"
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_CALLER_CACHE_SECONDS = 1.0
_CALLER_CACHE_SIZE_MAX = 10_000
_NAMED_FIELD = re.compile(
    r"^Object (contains unknown field|missing required field) `(.+)`$"
)
_ENUM_VALUE = re.compile(r"^Invalid enum value ('.*')$")
_ENUM_VALUES = {
    "unit": ("tokens", "money", "crossings"),
    "scope": ("session", "participant", "tenant"),
    "window": ("none", "daily", "weekly", "monthly"),
    "outcome": ("completed", "failed"),
    "reason": ("closed", "error"),
    "scopes": ("booth", "read", "admin"),
}
"""The allowed values of each enumerated request field, for error messages."""
_FIELD_PATTERN = re.compile(r" - at (`key` in )?`\$\.?(.*)`$")
"""The path msgspec appends to a validation error, for a value or a dict key."""


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Limits the service enforces on every caller."""

    max_body_bytes: int = 1_048_576
    requests_per_second: float = 2000.0
    """Sustained rate per API key; bursts up to ``burst`` are let through."""
    burst: int = 4000
    sweep_interval_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint: how it is reached, who may call it, what it takes and gives."""

    method: str
    path: str
    scope: str | None
    summary: str
    handler: str
    body: type[msgspec.Struct] | None = None
    answer: type[msgspec.Struct] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/healthz", None, "Check that the service answers", "health",
        errors=(),
    ),
    Endpoint(
        "POST", "/v1/sessions", "booth", "Open a session", "open_session",
        OpenSession, SessionAnswer, 201, (409, 422),
        "Admits the listed participants, issues the grants and opens the "
        "quotas. Repeating the same request with the same session_id returns "
        "the session.",
    ),
    Endpoint(
        "GET", "/v1/sessions", "read", "List the tenant's sessions", "list_sessions",
        None, SessionList,
    ),
    Endpoint(
        "GET", "/v1/sessions/{session_id}", "read", "Show a session",
        "get_session", None, SessionAnswer, 200, (404,),
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/participants", "booth",
        "Admit a participant", "admit", ParticipantSpec, CrossingAnswer, 201,
        (404, 409, 422),
        "A participant admission crossing; a refusal is an answer with "
        "allowed false, not an error.",
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/grants", "booth", "Issue a grant",
        "grant", GrantSpec, None, 201, (404, 409, 422),
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/crossings", "booth",
        "Ask the booth before a crossing", "begin", BeginCrossing,
        CrossingAnswer, 201, (404, 409, 422, 503),
        "An admitted crossing reserves its worst case on every quota it "
        "touches; the answer comes once the reservation is durable. A "
        "refusal is an answer with allowed false and the reasons. The "
        "crossing_id (or the Idempotency-Key header) makes retries safe.",
    ),
    Endpoint(
        "GET", "/v1/sessions/{session_id}/crossings/{crossing_key}", "read",
        "Show a crossing of an open session", "get_crossing", None,
        CrossingAnswer, 200, (404, 409),
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/crossings/{crossing_key}/complete",
        "booth", "Report how a crossing ended", "complete", CompleteCrossing,
        CrossingAnswer, 200, (404, 409, 422, 503),
        "Posts what the crossing used and releases the rest of its "
        "reservation. Without usage, a model invocation settles at its "
        "reservation, marked estimated.",
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/crossings/{crossing_key}/attempts",
        "booth", "Record a failed attempt", "attempt", AttemptReport,
        CrossingAnswer, 200, (404, 409, 422),
    ),
    Endpoint(
        "POST", "/v1/sessions/{session_id}/close", "booth",
        "Close and settle a session", "close", CloseRequest, None, 200,
        (404, 409, 422),
        "Returns the signed settlement record. Closing a closed session "
        "returns its settlement again.",
    ),
    Endpoint(
        "GET", "/v1/sessions/{session_id}/settlement", "read",
        "Show a session's signed settlement", "settlement", None, None, 200,
        (404,),
    ),
    Endpoint(
        "GET", "/v1/sessions/{session_id}/explain", "read",
        "Answer the eight due-diligence questions", "explain", None, None, 200,
        (404,),
    ),
    Endpoint(
        "GET", "/v1/sessions/{session_id}/proof/{record_id}", "read",
        "Inclusion proof of one record", "proof", None, None, 200, (404,),
        "For tools/ssoar-verify-proof; the record_id is URL-encoded.",
    ),
    Endpoint(
        "GET", "/v1/report", "read", "The tenant's reconciliation ledger",
        "report", None, None,
    ),
    Endpoint(
        "GET", "/v1/plan", "read", "Show the tenant plan's quotas", "get_plan",
        None, PlanQuotas,
    ),
    Endpoint(
        "PUT", "/v1/plan", "admin", "Replace the tenant plan's quotas",
        "set_plan", PlanQuotas, PlanQuotas, 200, (422,),
    ),
    Endpoint(
        "POST", "/v1/api-keys", "admin", "Create an API key for the tenant",
        "create_key", ApiKeyRequest, ApiKeyAnswer, 201, (422,),
    ),
    Endpoint(
        "DELETE", "/v1/api-keys/{key_id}", "admin", "Revoke an API key",
        "revoke_key", None, None, 204, (404,),
    ),
)  # fmt: skip


class _RateLimiter:
    """A token bucket per API key."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one token; return 0, or the seconds until one is free."""
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self._rate
        self._buckets[key] = (tokens - 1, now)
        return 0.0


@dataclass
class _Service:
    booth: LiveBooth
    limits: ServiceLimits
    booth_async: AsyncBooth = field(init=False)
    rate: _RateLimiter = field(init=False)
    readers: threading.local = field(default_factory=threading.local)
    callers: dict[str, tuple[Caller, float]] = field(default_factory=dict)
    """Keys recently authenticated, with when each lookup expires."""

    def __post_init__(self) -> None:
        self.booth_async = self.booth.asynchronous
        self.rate = _RateLimiter(self.limits.requests_per_second, self.limits.burst)

    def authenticate(self, presented: str) -> Caller | None:
        """Return the caller of a key, looking it up again after a second.

        Revoking a key through this service takes effect at once; a key
        revoked by another process stops working within a second.
        """
        now = time.monotonic()
        cached = self.callers.get(presented)
        if cached is not None and cached[1] > now:
            return cached[0]
        caller = authenticate(self.reader().connection, presented)
        if caller is None:
            self.callers.pop(presented, None)
            return None
        if len(self.callers) >= _CALLER_CACHE_SIZE_MAX:
            self.callers.clear()
        self.callers[presented] = (caller, now + _CALLER_CACHE_SECONDS)
        return caller

    def forget_key(self, key_id: str) -> None:
        """Drop a revoked key from the cache."""
        for presented, (caller, _) in list(self.callers.items()):
            if caller.key_id == key_id:
                del self.callers[presented]

    def reader(self) -> Store:
        """Return this thread's own read connection, opening it on first use."""
        store: Store | None = getattr(self.readers, "store", None)
        if store is None:
            store = Store.open(self.booth.settings.db)
            self.readers.store = store
        return store


class _ProblemError(Exception):
    def __init__(
        self, status: int, slug: str, title: str, detail: str, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            type=_PROBLEM_BASE + slug,
            title=title,
            status=status,
            detail=detail,
            **extra,
        )
        self.headers: dict[str, str] = {}
        self.key_id: str | None = None
        """The key id of a caller rejected after its key was recognised, for the log."""


def body_is_optional(struct: type[msgspec.Struct]) -> bool:
    """Check whether every field of a request body has a default.

    Such a body may be left out of a request.
    """
    return len(struct.__struct_defaults__) == len(struct.__struct_fields__)


def build_app(booth: LiveBooth, limits: ServiceLimits | None = None) -> Starlette:
    """Build the ASGI app around a live booth."""
    service = _Service(booth, limits or ServiceLimits())
    handlers = _handlers(service)
    routes = [
        Route(
            _starlette_path(spec.path),
            _endpoint(service, spec, handlers[spec.handler]),
            methods=[spec.method],
        )
        for spec in ENDPOINTS
    ]
    document = orjson.dumps(openapi_document())
    routes.append(
        Route(
            "/openapi.json",
            lambda request: Response(document, media_type=_JSON),
            methods=["GET"],
        )
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_forever(service))
        _LOG.info("booth service started on database %s", booth.settings.db)
        try:
            yield
        finally:
            _LOG.info("booth service stopping")
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_exception_handler(404, _not_found_route)
    app.add_exception_handler(405, _method_not_allowed)
    return _BodyLimit(app, limits=service.limits)  # type: ignore[return-value]


class _BodyLimit:
    """Refuses request bodies over the limit before they are read whole."""

    def __init__(self, app: ASGIApp, *, limits: ServiceLimits) -> None:
        self.app = app
        self.limit = limits.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if (
                name == b"content-length"
                and value.isdigit()
                and int(value) > self.limit
            ):
                await _send_problem(send, _too_large(self.limit))
                return
        received = 0
        limit = self.limit

        async def limited() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _send_problem(send, _too_large(limit))

    # Starlette's attributes, for tests that reach through the wrapper.
    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> Problem:
    return Problem(
        type=_PROBLEM_BASE + "body-too-large",
        title="Request body too large",
        status=413,
        detail=f"the request body is larger than {limit} bytes; send less, or "
        "start the service with a larger --max-body",
    )


async def _send_problem(send: Send, problem: Problem) -> None:
    body = msgspec.json.encode(problem)
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", _PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _starlette_path(path: str) -> str:
    return path.replace("{crossing_key}", "{crossing_key:path}").replace(
        "{record_id}", "{record_id:path}"
    )


Handler = Callable[[Request, Caller | None, Any], Awaitable[Any]]


def _endpoint(
    service: _Service, spec: Endpoint, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    decoder = msgspec.json.Decoder(spec.body) if spec.body is not None else None
    body_optional = spec.body is not None and body_is_optional(spec.body)

    async def endpoint(request: Request) -> Response:
        caller: Caller | None = None
        try:
            if spec.scope is not None:
                caller = _authorise(service, request, spec.scope)
            body = None
            if decoder is not None:
                raw = await request.body()
                if not raw and body_optional:
                    # Every field has a default, so no body means all defaults.
                    raw = b"{}"
                try:
                    body = decoder.decode(raw)
                except msgspec.ValidationError as error:
                    raise _invalid(str(error)) from None
                except msgspec.DecodeError as error:
                    raise _ProblemError(
                        400,
                        "malformed-json",
                        "Malformed JSON",
                        f"the request body is not valid JSON: {error}",
                    ) from None
            result = await handler(request, caller, body)
        except _ProblemError as error:
            _log_problem(request, caller, error.problem, error.key_id)
            return _problem_response(error.problem, error.headers)
        except _BodyTooLarge:
            # A chunked body has no Content-Length, so the limit is found
            # while reading it, inside the endpoint.
            problem = _too_large(service.limits.max_body_bytes)
            _log_problem(request, caller, problem)
            return _problem_response(problem)
        except SsoarError as error:
            problem = _problem_of(error)
            _log_problem(request, caller, problem)
            return _problem_response(problem)
        except Exception:
            _LOG.exception("%s %s failed", request.method, request.url.path)
            return _problem_response(
                Problem(
                    type=_PROBLEM_BASE + "internal",
                    title="Internal error",
                    status=500,
                    detail="the service failed to answer; nothing was recorded for "
                    "this request unless a later read shows it",
                )
            )
        if spec.status == 204:
            return Response(status_code=204)
        status = spec.status
        if getattr(result, "replayed", False) and status == 201:
            status = 200
        return Response(msgspec.json.encode(result), status, media_type=_JSON)

    return endpoint


def _authorise(service: _Service, request: Request, scope: str) -> Caller:
    header = request.headers.get("authorization", "")
    presented = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not presented:
        presented = request.headers.get("x-api-key", "")
    caller = service.authenticate(presented) if presented else None
    if caller is None:
        error = _ProblemError(
            401,
            "unauthenticated",
            "Missing or invalid API key",
            "send a valid key as 'Authorization: Bearer ssoar_...'; create one "
            "with 'ssoar api-key create'",
        )
        error.headers["www-authenticate"] = 'Bearer realm="ssoar"'
        raise error
    if scope not in caller.scopes:
        error = _ProblemError(
            403,
            "scope-missing",
            "API key lacks a scope",
            f"this request needs the {scope!r} scope; the key has "
            f"{', '.join(sorted(caller.scopes))}",
        )
        error.key_id = caller.key_id
        raise error
    wait = service.rate.take(caller.key_id)
    if wait > 0:
        error = _ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            f"this key sent more than {service.limits.requests_per_second:g} "
            "requests per second; retry after the pause",
            retry_after_seconds=max(1, int(wait + 0.999)),
        )
        error.headers["retry-after"] = str(max(1, int(wait + 0.999)))
        error.key_id = caller.key_id
        raise error
    return caller


def _log_problem(
    request: Request,
    caller: Caller | None,
    problem: Problem,
    key_id: str | None = None,
) -> None:
    """Log a refused request: warnings for the server's side, info for the caller's."""
    if caller is not None:
        key_id = caller.key_id
    level = logging.WARNING if problem.status >= 500 else logging.INFO
    _LOG.log(
        level,
        "%s %s -> %d %s (key %s, session %s)",
        request.method,
        request.url.path,
        problem.status,
        problem.type.rsplit("/", 1)[-1],
        key_id or "-",
        request.path_params.get("session_id", "-"),
    )


def _invalid(message: str) -> _ProblemError:
    """Turn a msgspec validation message into a problem naming the field and fix."""
    match = _FIELD_PATTERN.search(message)
    field_path = match.group(2) if match else ""
    detail = _FIELD_PATTERN.sub("", message)
    if match and match.group(1):
        detail = f"a key: {detail}"
    named = _NAMED_FIELD.match(detail)
    if named is not None:
        # The message names a field inside the object at the path.
        problem, name = named.groups()
        field_path = f"{field_path}.{name}" if field_path else name
        if problem == "contains unknown field":
            detail = f"unknown field {name!r}" + _did_you_mean(name)
        else:
            detail = f"required field {name!r} is missing"
    for pattern, meaning in PATTERN_MEANINGS.items():
        regex = f"Expected `str` matching regex {pattern!r}"
        if regex in detail:
            detail = detail.replace(regex, f"expected {meaning}")
    if detail.startswith(("Expected `str`, got `float`", "Expected `str`, got `int`")):
        detail += '; write amounts as quoted decimal text, such as "1.50"'
    enum = _ENUM_VALUE.match(detail)
    if enum is not None:
        last = re.sub(r"\[\d+\]$", "", field_path.rsplit(".", 1)[-1])
        allowed = _ENUM_VALUES.get(last)
        if allowed:
            detail = f"{enum.group(1)} is not one of {', '.join(allowed)}"
    return _ProblemError(
        422,
        "invalid-field",
        "Invalid request field",
        f"{field_path or 'body'}: {detail}",
        field=field_path or None,
    )


_WIRE_FIELDS = sorted(
    {
        name
        for struct in (
            OpenSession,
            ParticipantSpec,
            GrantSpec,
            GrantLimit,
            QuotaSpec,
            BeginCrossing,
            RouteSpec,
            CompleteCrossing,
            UsageReport,
            AttemptReport,
            PlanQuotas,
            CloseRequest,
            ApiKeyRequest,
        )
        for name in struct.__struct_fields__
    }
)


_FIELD_ALIASES = {
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "cached_tokens": "cache_read_tokens",
    "cache_read_input_tokens": "cache_read_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}
"""Token counts as OpenAI and Anthropic name them, and the field that takes each."""


def _did_you_mean(name: str) -> str:
    alias = _FIELD_ALIASES.get(name)
    if alias is not None:
        return f"; report it as {alias!r}"
    if name == "total_tokens":
        return "; leave it out, the booth adds up the parts"
    # The name may be a field of another request struct; suggest a different one.
    candidates = [field for field in _WIRE_FIELDS if field != name]
    close = difflib.get_close_matches(name, candidates, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _problem_of(error: SsoarError) -> Problem:
    if isinstance(error, RequestError):
        return Problem(
            type=_PROBLEM_BASE + "invalid-field",
            title="Invalid request field",
            status=422,
            detail=str(error),
            field=error.field,
        )
    if isinstance(error, NotFound):
        return Problem(
            type=_PROBLEM_BASE + "not-found",
            title="Not found",
            status=404,
            detail=str(error),
        )
    if isinstance(error, SessionClosed):
        return Problem(
            type=_PROBLEM_BASE + "session-closed",
            title="Session closed",
            status=409,
            detail=str(error),
            session_id=error.session_id,
            session_state=error.state,
            close_reason=error.close_reason,
        )
    if isinstance(error, Conflict):
        return Problem(
            type=_PROBLEM_BASE + "conflict",
            title="Conflict",
            status=409,
            detail=str(error),
        )
    if isinstance(error, BoothUnavailable):
        return Problem(
            type=_PROBLEM_BASE + "booth-unavailable",
            title="Booth unavailable",
            status=503,
            detail=str(error),
        )
    if isinstance(error, SessionError):
        return Problem(
            type=_PROBLEM_BASE + "not-found",
            title="Not found",
            status=404,
            detail=str(error),
        )
    return Problem(
        type=_PROBLEM_BASE + "invalid-request",
        title="Invalid request",
        status=422,
        detail=str(error),
    )


def _problem_response(
    problem: Problem, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        msgspec.json.encode(problem),
        problem.status,
        headers=headers,
        media_type=_PROBLEM,
    )


async def _not_found_route(request: Request, exc: Exception) -> Response:
    return _problem_response(
        Problem(
            type=_PROBLEM_BASE + "no-route",
            title="No such endpoint",
            status=404,
            detail=f"{request.method} {request.url.path} is not an endpoint; the "
            "endpoints are listed in /openapi.json",
        )
    )


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # RFC 9110 section 15.5.6: a 405 lists the methods the resource accepts.
    # Starlette's own Allow header names one route's methods only. A path such
    # as .../crossings/k/complete also matches the {crossing_key:path} route,
    # so only the most specific templates (the most segments) count.
    path = request.url.path
    matching = [
        route
        for route in request.app.routes
        if isinstance(route, Route) and route.path_regex.match(path)
    ]
    depth = max((route.path.count("/") for route in matching), default=0)
    allowed = sorted(
        {
            method
            for route in matching
            if route.path.count("/") == depth
            for method in route.methods or ()
        }
    )
    return _problem_response(
        Problem(
            type=_PROBLEM_BASE + "method-not-allowed",
            title="Method not allowed",
            status=405,
            detail=f"{request.method} is not accepted on {request.url.path}; see "
            "/openapi.json",
        ),
        {"allow": ", ".join(allowed)},
    )


async def _sweep_forever(service: _Service) -> None:
    interval = service.limits.sweep_interval_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            while len(await service.booth_async.sweep()) > 0:
                pass
        except SsoarError:
            _LOG.exception("sweep failed; retrying in %s seconds", interval)


def _handlers(service: _Service) -> dict[str, Handler]:
    booth = service.booth_async

    def tenant(caller: Caller | None) -> str:
        assert caller is not None
        return caller.tenant

    async def health(request: Request, caller: Caller | None, body: Any) -> Any:
        return {"status": "ok"}

    async def open_session(
        request: Request, caller: Caller | None, body: OpenSession
    ) -> Any:
        return await booth.open_session(tenant(caller), body)

    async def list_sessions(request: Request, caller: Caller | None, body: Any) -> Any:
        limit = _int_param(request, "limit", 100, 1, 1000)
        rows = await _read(
            service,
            lambda store: store.connection.execute(
                "SELECT session_id, state, template, opened_at, close_reason "
                "FROM live_sessions WHERE tenant = ? "
                "UNION ALL SELECT s.session_id, t.state, s.template, s.opened_at, "
                "t.close_reason FROM sessions s JOIN settlements t "
                "ON t.session_id = s.session_id WHERE s.tenant = ? AND "
                "s.session_id NOT IN (SELECT session_id FROM live_sessions) "
                "ORDER BY 4 DESC LIMIT ?",
                (tenant(caller), tenant(caller), limit),
            ).fetchall(),
        )
        return SessionList([SessionSummary(*row) for row in rows])

    async def get_session(request: Request, caller: Caller | None, body: Any) -> Any:
        return await booth.session(tenant(caller), request.path_params["session_id"])

    async def admit(
        request: Request, caller: Caller | None, body: ParticipantSpec
    ) -> Any:
        return await booth.admit(
            tenant(caller), request.path_params["session_id"], body
        )

    async def grant(request: Request, caller: Caller | None, body: GrantSpec) -> Any:
        return await booth.issue_grant(
            tenant(caller), request.path_params["session_id"], body
        )

    async def begin(
        request: Request, caller: Caller | None, body: BeginCrossing
    ) -> Any:
        key = request.headers.get("idempotency-key")
        if key and body.crossing_id is None:
            body = msgspec.structs.replace(body, crossing_id=key)
        return await booth.begin(
            tenant(caller), request.path_params["session_id"], body
        )

    async def get_crossing(request: Request, caller: Caller | None, body: Any) -> Any:
        return await booth.crossing(
            tenant(caller),
            request.path_params["session_id"],
            request.path_params["crossing_key"],
        )

    async def complete(
        request: Request, caller: Caller | None, body: CompleteCrossing
    ) -> Any:
        return await booth.complete(
            tenant(caller),
            request.path_params["session_id"],
            request.path_params["crossing_key"],
            body,
        )

    async def attempt(
        request: Request, caller: Caller | None, body: AttemptReport
    ) -> Any:
        return await booth.attempt(
            tenant(caller),
            request.path_params["session_id"],
            request.path_params["crossing_key"],
            body,
        )

    async def close(request: Request, caller: Caller | None, body: CloseRequest) -> Any:
        reason = CloseReason.ERROR if body.reason == "error" else CloseReason.CLOSED
        return await booth.close_session(
            tenant(caller), request.path_params["session_id"], reason, body.error
        )

    async def settlement(request: Request, caller: Caller | None, body: Any) -> Any:
        session_id = request.path_params["session_id"]

        def read(store: Store) -> Any:
            row = store.settlement(session_id)
            if row is None or row.tenant != tenant(caller):
                raise _settled_not_found(session_id)
            return {
                "record": orjson.loads(row.record),
                "signature": row.signature.hex(),
                "key_id": row.key_id,
                "public_key": row.public_key.hex(),
            }

        return await _read(service, read)

    async def explain(request: Request, caller: Caller | None, body: Any) -> Any:
        from ssoar.report._explain import explain_session

        session_id = request.path_params["session_id"]

        def read(store: Store) -> Any:
            _check_owner(store, session_id, tenant(caller))
            return explain_session(store, session_id)

        return await _read(service, read)

    async def proof(request: Request, caller: Caller | None, body: Any) -> Any:
        from ssoar.report._prove import prove_record

        session_id = request.path_params["session_id"]
        record_id = request.path_params["record_id"]

        def read(store: Store) -> Any:
            _check_owner(store, session_id, tenant(caller))
            proved_id = record_id
            if not any(
                leaf.record_id == proved_id for leaf in store.leaves(session_id)
            ):
                # A crossing's key alone, as the crossing endpoints take it.
                proved_id = f"{session_id}/{record_id}"
            return prove_record(store, session_id, proved_id).to_json()

        return await _read(service, read)

    async def report(request: Request, caller: Caller | None, body: Any) -> Any:
        from ssoar.report._ledger import build_report

        return await _read(
            service, lambda store: build_report(store, tenant=tenant(caller)).to_json()
        )

    async def get_plan(request: Request, caller: Caller | None, body: Any) -> Any:
        return PlanQuotas(await booth.plan(tenant(caller)))

    async def set_plan(
        request: Request, caller: Caller | None, body: PlanQuotas
    ) -> Any:
        return PlanQuotas(await booth.set_plan(tenant(caller), body.quotas))

    async def create_key(
        request: Request, caller: Caller | None, body: ApiKeyRequest
    ) -> Any:
        created = await booth.create_key(tenant(caller), tuple(body.scopes), body.label)
        return ApiKeyAnswer(
            created.key_id,
            created.tenant,
            list(created.scopes),
            created.label,
            created.secret,
        )

    async def revoke_key(request: Request, caller: Caller | None, body: Any) -> Any:
        key_id = request.path_params["key_id"]
        if not await booth.revoke_key(tenant(caller), key_id):
            raise NotFound(f"no live API key {key_id!r} for this tenant")
        service.forget_key(key_id)
        return None

    return {
        name: function
        for name, function in locals().items()
        if callable(function) and name != "tenant"
    }


async def _read(service: _Service, function: Callable[[Store], Any]) -> Any:
    """Run a read on a worker thread with its own connection."""
    from anyio import to_thread

    return await to_thread.run_sync(lambda: function(service.reader()))


def _check_owner(store: Store, session_id: str, tenant: str) -> None:
    row = store.connection.execute(
        "SELECT tenant FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    if row is None or row[0] != tenant:
        raise _settled_not_found(session_id)


def _settled_not_found(session_id: str) -> NotFound:
    return NotFound(
        f"no settled session {session_id!r} for this tenant; a session has a "
        "settlement, explanation and proofs once it has closed"
    )


def _int_param(
    request: Request, name: str, default: int, lowest: int, highest: int
) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # str.isdigit() accepts digits such as "²" that int() rejects.
    if not (raw.isascii() and raw.isdigit()) or not lowest <= int(raw) <= highest:
        raise RequestError(
            name, f"{raw!r} must be a whole number from {lowest} to {highest}"
        )
    return int(raw)


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of every endpoint in ``ENDPOINTS``."""
    from ssoar import __version__
    from ssoar.server._openapi import build_document

    return build_document(ENDPOINTS, version=__version__)
