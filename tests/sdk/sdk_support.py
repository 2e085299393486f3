"""Helpers for SDK tests: a stub OpenAI-compatible upstream, a fake clock,
a transport that records every CrossingAnswer, and a booth served over HTTP.

Every server here listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from ssoar.live import (
    AttemptReport,
    BeginCrossing,
    CompleteCrossing,
    CrossingAnswer,
    LiveBooth,
)
from ssoar.sdk import Session
from ssoar.server import build_app

TENANT = "acme"
"""The tenant every SDK test works for."""


class FakeClock:
    """A clock for LiveBooth that moves only when a test advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)


class RecordingTransport:
    """A session transport wrapper that keeps every CrossingAnswer it returns.

    The OpenAI wrapper returns the provider's response, not the booth's
    CrossingAnswer, so tests read those from here.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.begun: list[CrossingAnswer] = []
        self.attempts: list[CrossingAnswer] = []
        self.completed: list[CrossingAnswer] = []

    def begin(self, session_id: str, request: BeginCrossing) -> CrossingAnswer:
        answer: CrossingAnswer = self.inner.begin(session_id, request)
        self.begun.append(answer)
        return answer

    def attempt(
        self, session_id: str, key: str, request: AttemptReport
    ) -> CrossingAnswer:
        answer: CrossingAnswer = self.inner.attempt(session_id, key, request)
        self.attempts.append(answer)
        return answer

    def complete(
        self, session_id: str, key: str, request: CompleteCrossing
    ) -> CrossingAnswer:
        answer: CrossingAnswer = self.inner.complete(session_id, key, request)
        self.completed.append(answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def record_answers(session: Session) -> RecordingTransport:
    """Make ``session`` send its requests through a RecordingTransport."""
    recorder = RecordingTransport(session.transport)
    session.transport = recorder  # type: ignore[assignment]
    return recorder


@dataclass
class StubUsage:
    """The usage block the stub reports, as OpenAI's chat completions API writes it."""

    prompt_tokens: int = 1200
    cached_tokens: int = 200
    completion_tokens: int = 300
    reasoning_tokens: int = 64

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {
                "cached_tokens": self.cached_tokens,
                "audio_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


@dataclass
class StubRequest:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StubUpstream:
    """Settings and request log of the stub upstream, shared with its server thread."""

    url: str = ""
    usage: StubUsage = field(default_factory=StubUsage)
    answer_words: tuple[str, ...] = ("The ", "refund ", "was ", "issued.")
    requests: list[StubRequest] = field(default_factory=list)
    failures_left: int = 0
    cuts_left: int = 0
    cut_mode: str = "drop"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int) -> None:
        """Respond to the next ``count`` requests with HTTP 500."""
        with self.lock:
            self.failures_left = count

    def cut_next_stream(self, mode: str = "drop") -> None:
        """Stop the next streamed response after its content, before the usage chunk.

        ``drop`` closes the connection in the middle of the chunked body, as
        a network failure does, so the client sees a protocol error. ``end``
        finishes the body cleanly with neither the usage chunk nor
        ``data: [DONE]``.
        """
        if mode not in ("drop", "end"):
            raise ValueError(f"cut mode {mode!r} must be 'drop' or 'end'")
        with self.lock:
            self.cuts_left = 1
            self.cut_mode = mode

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, oldest first."""
        with self.lock:
            return [request.body for request in self.requests]


_STUB_MODEL_VERSION = "gpt-4.1-2025-04-14"


class _StubHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 allows a chunked streaming body. Every response closes its
    # connection, so no handler thread outlives the test.
    protocol_version = "HTTP/1.1"
    server: _StubServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output free of access logs."""

    def do_POST(self) -> None:
        stub = self.server.stub
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error_body("request body is not JSON", "invalid"))
            return
        with stub.lock:
            stub.requests.append(
                StubRequest(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            fail = stub.failures_left > 0
            if fail:
                stub.failures_left -= 1
            cut = None
            if body.get("stream") and stub.cuts_left > 0:
                stub.cuts_left -= 1
                cut = stub.cut_mode
            usage = stub.usage.to_json()
            words = stub.answer_words
            number = len(stub.requests)
        if self.path != "/v1/chat/completions":
            self._send_json(404, _error_body(f"no route {self.path}", "not_found"))
            return
        if fail:
            self._send_json(
                500,
                _error_body(
                    "The server had an error while processing your request.",
                    "server_error",
                ),
            )
            return
        completion_id = f"chatcmpl-stub{number:04d}"
        if body.get("stream"):
            self._stream(body, completion_id, words, usage, cut)
        else:
            self._send_json(200, _completion(completion_id, words, usage))

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _stream(
        self,
        body: dict[str, Any],
        completion_id: str,
        words: tuple[str, ...],
        usage: dict[str, Any],
        cut: str | None,
    ) -> None:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        deltas = [{"role": "assistant", "content": "", "refusal": None}]
        deltas += [{"content": word} for word in words]
        for index, delta in enumerate(deltas):
            last = index == len(deltas) - 1
            chunk = _chunk(completion_id, delta, "stop" if last else None)
            if include_usage:
                chunk["usage"] = None
            self._write_event(chunk)
        if cut == "drop":
            # No terminating zero-length chunk: the body is incomplete.
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if cut is None:
            if include_usage:
                final = _chunk(completion_id, None, None)
                final["choices"] = []
                final["usage"] = usage
                self._write_event(final)
            self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _write_event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: StubUpstream) -> None:
        super().__init__(("127.0.0.1", 0), _StubHandler)
        self.stub = stub


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _completion(
    completion_id: str, words: tuple[str, ...], usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": 1764842400,
        "model": _STUB_MODEL_VERSION,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(words),
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_stub",
    }


def _chunk(
    completion_id: str, delta: dict[str, Any] | None, finish_reason: str | None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": 1764842400,
        "model": _STUB_MODEL_VERSION,
        "service_tier": "default",
        "system_fingerprint": "fp_stub",
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }


@contextlib.contextmanager
def run_stub_upstream() -> Iterator[StubUpstream]:
    """Serve a stub OpenAI chat completions API on 127.0.0.1 at a free port."""
    stub = StubUpstream()
    server = _StubServer(stub)
    host, port = server.server_address[:2]
    stub.url = f"http://{host}:{port}"
    # A short poll interval keeps shutdown, which waits for one poll, quick.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class BoothService:
    """A booth served over HTTP on 127.0.0.1, with a key for the test tenant."""

    url: str
    api_key: str
    booth: LiveBooth


@contextlib.contextmanager
def serve_booth(booth: LiveBooth) -> Iterator[BoothService]:
    """Serve ``ssoar.server.build_app(booth)`` with uvicorn on a free local port."""
    key = booth.create_key(TENANT, ("booth", "read"), "sdk tests")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(booth), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    try:
        _wait_until(lambda: server.started, "the booth service did not start")
        yield BoothService(f"http://127.0.0.1:{port}", key.secret, booth)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _wait_until(condition: Callable[[], bool], message: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.01)
