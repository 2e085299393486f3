"""Notices that a session has closed, so the runtime can stop work still in flight.

When a session closes, by its owner, on an error or by the sweeper, the
booth tells two kinds of subscriber once the settlement is durable:
callbacks registered in the same process (the SDK registers one per
session) and the session's webhook. A webhook body is signed with the
booth's Ed25519 key, so a receiver can check that it came from the booth:

    Ssoar-Key-Id: ed25519:1a2b3c4d5e6f7a8b
    Ssoar-Timestamp: 2026-12-04T10:00:00.000000Z
    Ssoar-Signature: <hex Ed25519 signature of "<timestamp>." + body>

Delivery runs on a background thread, retries a few times with a growing
pause, and never holds up the booth.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx
import orjson

from ssoar.audit._signing import SigningKey
from ssoar.model._time import format_time, utc_now

__all__ = [
    "SessionNotice",
    "Subscribers",
    "WebhookSender",
    "signed_payload",
]

_LOG = logging.getLogger("ssoar.webhooks")
_DELIVERY_ATTEMPTS = 4
_FIRST_PAUSE_SECONDS = 0.5
_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SessionNotice:
    """That a session closed, how, and the root and signature of its settlement."""

    session_id: str
    tenant: str
    state: str
    close_reason: str
    error: str | None
    closed_at: str
    merkle_root: str
    signature: str
    """The settlement's Ed25519 signature, hex."""
    key_id: str
    webhook_url: str | None = None

    def body(self) -> bytes:
        """The webhook body: the notice as JSON, without the webhook address."""
        fields = asdict(self)
        fields.pop("webhook_url")
        return orjson.dumps(
            {"type": "session.closed", **fields}, option=orjson.OPT_SORT_KEYS
        )


Callback = Callable[[SessionNotice], None]


class Subscribers:
    """In-process callbacks, per session or for every session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_session: dict[str, list[Callback]] = {}
        self._all: list[Callback] = []

    def add(self, callback: Callback, session_id: str | None = None) -> None:
        """Call ``callback`` when the session (or any session) closes."""
        with self._lock:
            if session_id is None:
                self._all.append(callback)
            else:
                self._by_session.setdefault(session_id, []).append(callback)

    def notify(self, notice: SessionNotice) -> None:
        """Call every callback for the session; one that raises is logged."""
        with self._lock:
            callbacks = [*self._by_session.pop(notice.session_id, []), *self._all]
        for callback in callbacks:
            try:
                callback(notice)
            except Exception:
                _LOG.exception(
                    "close callback for session %s raised", notice.session_id
                )


def signed_payload(key: SigningKey, body: bytes, timestamp: str) -> dict[str, str]:
    """Return the headers that sign a webhook body."""
    signature = key.sign(timestamp.encode("ascii") + b"." + body)
    return {
        "content-type": "application/json",
        "ssoar-key-id": key.key_id,
        "ssoar-timestamp": timestamp,
        "ssoar-signature": signature.hex(),
    }


class WebhookSender:
    """Delivers close notices to webhooks from a background thread."""

    def __init__(
        self,
        key: SigningKey,
        *,
        attempts: int = _DELIVERY_ATTEMPTS,
        first_pause: float = _FIRST_PAUSE_SECONDS,
    ) -> None:
        self._key = key
        self._attempts = attempts
        self._first_pause = first_pause
        self._queue: queue.Queue[SessionNotice | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered: list[tuple[str, int]] = []
        """(session id, HTTP status) of each notice a webhook accepted."""
        self.failed: list[tuple[str, str]] = []
        """(session id, last error) of each notice no attempt delivered."""

    def send(self, notice: SessionNotice) -> None:
        """Queue a notice for delivery."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ssoar-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(notice)

    def stop(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        with httpx.Client(timeout=_TIMEOUT_SECONDS, follow_redirects=False) as client:
            while True:
                notice = self._queue.get()
                if notice is None:
                    return
                self._deliver(client, notice)

    def _deliver(self, client: httpx.Client, notice: SessionNotice) -> None:
        assert notice.webhook_url is not None
        body = notice.body()
        pause = self._first_pause
        last_error = "not attempted"
        for attempt in range(1, self._attempts + 1):
            headers = signed_payload(self._key, body, format_time(utc_now()))
            try:
                response = client.post(
                    notice.webhook_url, content=body, headers=headers
                )
            except httpx.HTTPError as error:
                last_error = f"{type(error).__name__}: {error}"
            else:
                if response.is_success:
                    self.delivered.append((notice.session_id, response.status_code))
                    return
                last_error = f"HTTP {response.status_code}"
            if attempt < self._attempts:
                time.sleep(pause)
                pause *= 2
        _LOG.warning(
            "webhook %s for session %s failed after %d attempts: %s",
            notice.webhook_url,
            notice.session_id,
            self._attempts,
            last_error,
        )
        self.failed.append((notice.session_id, last_error))
