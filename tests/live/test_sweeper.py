"""The sweeper closes sessions past their idle timeout or lifetime, as unclean.

A swept session settles like any other: its open crossings are posted at
their reservation and flagged, its grants are revoked, its settlement is
signed, and subscribers and the session's webhook are notified. The booth's
clock is injected, so "61 seconds later" is exact.

The open model call reserves gpt-4.1's worst case for 10,000 input tokens
and a 10,000-token output cap: 10,000 x $2/M + 10,000 x $8/M = 0.10 USD.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import pytest

from ssoar.audit._signing import SignatureInvalid, verify_signature
from ssoar.errors import RequestError, SessionClosed
from ssoar.live import (
    BeginCrossing,
    CompleteCrossing,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
    QuotaSpec,
    SessionNotice,
    UsageReport,
)
from ssoar.report._verify import verify_store

TENANT = "acme"
INVOKER = "agent:sleepy"
RESERVATION = Decimal("0.10")
DELIVERY_TIMEOUT_SECONDS = 10.0


class Clock(Protocol):
    """The settable clock of the ``clock`` fixture."""

    def __call__(self) -> datetime: ...

    def advance(self, seconds: float) -> None: ...


class _WebhookServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every POST it receives."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.received = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/hooks/ssoar"


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.requests.append((headers, body))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
        self.server.received.set()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output free of access logs."""


@pytest.fixture
def webhook_server() -> Iterator[_WebhookServer]:
    server = _WebhookServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _open(
    booth: LiveBooth,
    *,
    idle_timeout_seconds: int,
    max_lifetime_seconds: int | None = None,
    webhook_url: str | None = None,
) -> str:
    answer = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(id=INVOKER)],
            grants=[GrantSpec(grantee=INVOKER, kinds=["model_invocation"])],
            quotas=[
                QuotaSpec(
                    id="budget",
                    unit="money",
                    limit="1.00",
                    currency="USD",
                    kinds=["model_invocation"],
                )
            ],
            idle_timeout_seconds=idle_timeout_seconds,
            max_lifetime_seconds=max_lifetime_seconds,
            webhook_url=webhook_url,
        ),
    )
    return answer.session_id


def _model_call(key: str) -> BeginCrossing:
    return BeginCrossing(
        kind="model_invocation",
        crossing_id=key,
        provider="openai",
        model="gpt-4.1",
        input_tokens=10_000,
        max_output_tokens=10_000,
        invoker=INVOKER,
    )


def _assert_swept_record(
    booth: LiveBooth, record: dict[str, Any], session_id: str
) -> None:
    """Assert what every swept session with one open 0.10 USD call settles to."""
    assert record["session_id"] == session_id
    assert record["close_reason"] == "swept"
    assert record["state"] == "settled_unclean"

    crossing_id = f"{session_id}/in-flight"
    exceptions = [
        item for item in record["exceptions"] if item["crossing_id"] == crossing_id
    ]
    assert {item["reason"] for item in exceptions} == {
        "open_at_close",
        "usage_estimated",
    }
    # The crossing's money at risk is listed once, on its first exception.
    at_risk = [item["money_at_risk"] for item in exceptions if item["money_at_risk"]]
    assert at_risk == [{"amount": "0.10", "currency": "USD"}]

    entitlement = record["totals"]["entitlement"]
    assert set(entitlement) == {f"{session_id}/quota/budget"}
    for account_id, totals in entitlement.items():
        reserved = Decimal(totals["reserved"])
        assert reserved == RESERVATION, account_id
        assert Decimal(totals["posted"]) == RESERVATION, account_id
        assert reserved == Decimal(totals["posted"]) + Decimal(totals["released"])

    authority = record["totals"]["authority"]
    assert authority["grants_issued"] == 1
    assert authority["grants_revoked"] == authority["grants_issued"]
    assert authority["grants_outstanding"] == []

    report = verify_store(booth.store, booth.key.public_key, [session_id])
    assert [str(failure) for failure in report.failures] == []
    assert report.sessions_checked == 1


def _wait_for(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_idle_session_swept(
    make_booth: Callable[..., LiveBooth],
    clock: Clock,
    webhook_server: _WebhookServer,
) -> None:
    booth = make_booth(deliver_webhooks=True)
    session_id = _open(booth, idle_timeout_seconds=60, webhook_url=webhook_server.url)
    notices: list[SessionNotice] = []
    booth.subscribers.add(notices.append, session_id=session_id)
    begun = booth.begin(TENANT, session_id, _model_call("in-flight"))
    assert begun.reserved == {f"{session_id}/quota/budget": "0.10"}

    clock.advance(59)
    assert booth.sweep() == []
    clock.advance(2)
    records = booth.sweep()

    assert len(records) == 1
    record = records[0]
    _assert_swept_record(booth, record, session_id)
    session = booth.session(TENANT, session_id)
    assert session.state == "settled_unclean"
    assert session.close_reason == "swept"

    with pytest.raises(SessionClosed) as raised:
        booth.begin(TENANT, session_id, _model_call("after-sweep"))
    assert raised.value.session_id == session_id
    assert raised.value.state == "settled_unclean"
    assert raised.value.close_reason == "swept"
    assert "takes no more crossings" in str(raised.value)

    # The subscriber heard of the close before sweep() returned.
    assert len(notices) == 1
    notice = notices[0]
    assert notice.session_id == session_id
    assert notice.tenant == TENANT
    assert notice.state == "settled_unclean"
    assert notice.close_reason == "swept"
    assert notice.error == (
        "idle past its timeout of 60 seconds, which ended at "
        "2026-03-10T12:01:00.000000Z"
    )
    assert notice.closed_at == "2026-03-10T12:01:01.000000Z"
    assert notice.merkle_root == record["merkle_root"]
    assert notice.key_id == booth.key.key_id

    assert webhook_server.received.wait(DELIVERY_TIMEOUT_SECONDS)
    assert len(webhook_server.requests) == 1
    headers, body = webhook_server.requests[0]
    assert headers["ssoar-key-id"] == booth.key.key_id
    assert headers["content-type"] == "application/json"
    timestamp = headers["ssoar-timestamp"]
    signature = bytes.fromhex(headers["ssoar-signature"])
    verify_signature(
        booth.key.public_key, signature, timestamp.encode("ascii") + b"." + body
    )
    with pytest.raises(SignatureInvalid):
        verify_signature(
            booth.key.public_key,
            signature,
            timestamp.encode("ascii") + b"." + body.replace(b"swept", b"close"),
        )
    payload = json.loads(body)
    assert payload["type"] == "session.closed"
    assert payload["session_id"] == session_id
    assert payload["state"] == "settled_unclean"
    assert payload["close_reason"] == "swept"
    assert payload["merkle_root"] == record["merkle_root"]
    assert "webhook_url" not in payload
    assert booth.webhooks is not None
    assert _wait_for(
        lambda: booth.webhooks is not None and bool(booth.webhooks.delivered)
    )
    assert booth.webhooks.delivered == [(session_id, 200)]
    assert booth.webhooks.failed == []


def test_swept_message_says_closed(booth: LiveBooth, clock: Clock) -> None:
    session_id = _open(booth, idle_timeout_seconds=60)
    clock.advance(61)
    booth.sweep()

    with pytest.raises(SessionClosed) as raised:
        booth.begin(TENANT, session_id, _model_call("after-sweep"))

    assert "closed" in str(raised.value)


def test_activity_extends_idle_deadline(booth: LiveBooth, clock: Clock) -> None:
    session_id = _open(booth, idle_timeout_seconds=60)
    clock.advance(50)
    booth.begin(TENANT, session_id, _model_call("in-flight"))

    clock.advance(59)
    assert booth.sweep() == []
    assert booth.session(TENANT, session_id).idle_deadline == (
        "2026-03-10T12:01:50.000000Z"
    )
    clock.advance(1)
    records = booth.sweep()

    assert [record["session_id"] for record in records] == [session_id]
    _assert_swept_record(booth, records[0], session_id)


def test_lifetime_sweep(booth: LiveBooth, clock: Clock) -> None:
    session_id = _open(booth, idle_timeout_seconds=3_600, max_lifetime_seconds=120)
    notices: list[SessionNotice] = []
    booth.subscribers.add(notices.append, session_id=session_id)
    booth.begin(TENANT, session_id, _model_call("in-flight"))

    # Activity keeps the session from idling but not from ageing.
    clock.advance(100)
    booth.begin(TENANT, session_id, _model_call("late-call"))
    booth.complete(
        TENANT,
        session_id,
        "late-call",
        CompleteCrossing(usage=UsageReport(input_tokens=1_000, output_tokens=100)),
    )
    clock.advance(19)
    assert booth.sweep() == []
    clock.advance(1)
    records = booth.sweep()

    assert len(records) == 1
    record = records[0]
    assert record["close_reason"] == "swept"
    assert record["state"] == "settled_unclean"
    totals = record["totals"]["entitlement"][f"{session_id}/quota/budget"]
    # Each call reserved 0.10, and the finished one used
    # 1,000 x $2/M + 100 x $8/M = 0.0028.
    assert Decimal(totals["reserved"]) == Decimal("0.20")
    assert Decimal(totals["posted"]) == Decimal("0.1028")
    assert Decimal(totals["released"]) == Decimal("0.0972")
    assert len(notices) == 1
    assert notices[0].error == (
        "past its maximum lifetime, which ended at 2026-03-10T12:02:00.000000Z"
    )
    report = verify_store(booth.store, booth.key.public_key)
    assert [str(failure) for failure in report.failures] == []


def test_sweep_every_due_session(booth: LiveBooth, clock: Clock) -> None:
    # More due sessions than one sweep operation closes.
    due = [_open(booth, idle_timeout_seconds=60) for _ in range(70)]
    clock.advance(30)
    not_due = [_open(booth, idle_timeout_seconds=60) for _ in range(3)]
    clock.advance(31)

    records = booth.sweep()

    assert sorted(record["session_id"] for record in records) == sorted(due)
    for session_id in not_due:
        assert booth.session(TENANT, session_id).state == "open"
    assert booth.sweep() == []


def test_sweep_from_other_instance(
    make_booth: Callable[..., LiveBooth], clock: Clock
) -> None:
    serving = make_booth()
    session_id = _open(serving, idle_timeout_seconds=60)
    serving.begin(TENANT, session_id, _model_call("in-flight"))
    sweeper = make_booth()

    clock.advance(61)
    records = sweeper.sweep()

    assert [record["session_id"] for record in records] == [session_id]
    _assert_swept_record(sweeper, records[0], session_id)
    # The serving booth still caches the session, and it must see the close.
    with pytest.raises(SessionClosed):
        serving.begin(TENANT, session_id, _model_call("after-sweep"))
    assert serving.close_session(TENANT, session_id) == records[0]


def test_expired_session_refuses_begin(booth: LiveBooth, clock: Clock) -> None:
    """A crossing asked after the idle timeout closes the session, as a sweep would."""
    opened = booth.open_session(
        TENANT,
        OpenSession(
            participants=[ParticipantSpec(INVOKER)],
            grants=[GrantSpec(INVOKER, ["model_invocation"])],
            idle_timeout_seconds=60,
        ),
    )
    clock.advance(61)
    with pytest.raises(SessionClosed) as refused:
        booth.begin(
            TENANT,
            opened.session_id,
            BeginCrossing(
                kind="model_invocation",
                invoker=INVOKER,
                provider="openai",
                model="gpt-4.1",
                input_tokens=10,
                max_output_tokens=10,
            ),
        )
    assert refused.value.close_reason == "swept"
    record = booth.close_session(TENANT, opened.session_id)
    assert record["close_reason"] == "swept"
    assert record["state"] == "settled_unclean"
    assert record["crossings"]["by_kind"] == {
        "participant_admission": {"total": 1, "reconciled": 0},
        "session_closure": {"total": 1, "reconciled": 1},
    }


def test_sweep_passes_unloadable_session(
    make_booth: Callable[..., LiveBooth],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booth = make_booth()
    booth.open_session("acme", OpenSession(session_id="broken"))
    booth.open_session("acme", OpenSession(session_id="idle"))
    # Another process sweeps: it loads the sessions from the database, and
    # one of them no longer loads.
    sweeper = make_booth()
    original = sweeper._load_session

    def load(session_id: str, tenant: str) -> Any:
        if session_id == "broken":
            raise RequestError("template", "template 'gone' is not installed")
        return original(session_id, tenant)

    monkeypatch.setattr(sweeper, "_load_session", load)
    clock.advance(24 * 3600)
    swept = sweeper.sweep()
    assert [record["session_id"] for record in swept] == ["idle"]
