"""Tenant isolation of the booth service, over real HTTP.

Tenant beta has an open session with a begun crossing, a settled session,
a plan and an extra API key. Tenant acme then calls every endpoint that
takes an id with beta's ids, through each of its keys. Each answer must be
the problem document a missing id gets (or a missing scope, for a key
without it), and must hold none of beta's data but the ids in the URL.
The endpoints come from ``ssoar.server.ENDPOINTS``, so an endpoint added
without a case here fails ``test_matrix_covers_every_id_endpoint``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from booth_service import ALL_SCOPES, SCOPES, Service, assert_problem

from ssoar.live._tenants import revoke_key
from ssoar.server import ENDPOINTS
from ssoar.server._app import Endpoint
from ssoar.store._sqlite import Store

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
ID_PARAMETERS = frozenset({"session_id", "crossing_key", "record_id", "key_id"})
KEY_NAMES = (*SCOPES, ALL_SCOPES)

MODEL_CALL = {
    "kind": "model_invocation",
    "provider": "openai",
    "model": "gpt-4.1",
    "invoker": "agent:support-bot",
}
# gpt-4.1 costs $2 per million input and $8 per million output tokens, so
# this reservation is 0.079002 USD: an amount no other record contains.
OPEN_CALL = {**MODEL_CALL, "input_tokens": 12_345, "max_output_tokens": 6_789}
OPEN_RESERVATION = "0.079002"
CLOSED_CALL = {**MODEL_CALL, "input_tokens": 23_456, "max_output_tokens": 4_321}
CLOSED_USAGE = {"input_tokens": 21_111, "output_tokens": 3_333}
SESSION_LIMIT = "313.37"
PLAN_LIMIT = "7.77"

# One valid body per endpoint that takes one, so that a request passes body
# validation and reaches the tenant check.
BODIES: dict[str, dict[str, Any]] = {
    "admit": {"id": "agent:intruder"},
    "grant": {"grantee": "agent:intruder", "kinds": ["tool_call"], "id": "g-intrude"},
    "begin": {**MODEL_CALL, "input_tokens": 10, "max_output_tokens": 10},
    "complete": {"outcome": "completed", "usage": CLOSED_USAGE},
    "attempt": {"error": "timed out", "attempt_id": "a-intrude"},
    "close": {"reason": "error", "error": "closed by another tenant"},
}


@dataclass(frozen=True)
class BetaData:
    """What tenant beta created, and every string that would betray it."""

    open_session: str
    open_key: str
    closed_session: str
    closed_key: str
    admission_record: str
    plan_quota: str
    key_id: str
    key_secret: str
    markers: frozenset[str]

    @property
    def open_crossing(self) -> str:
        return f"{self.open_session}/{self.open_key}"

    @property
    def closed_crossing(self) -> str:
        return f"{self.closed_session}/{self.closed_key}"


def id_endpoints() -> list[Endpoint]:
    """Return every endpoint whose path takes an id."""
    return [spec for spec in ENDPOINTS if PATH_PARAMETER.search(spec.path)]


def cases_for(beta: BetaData) -> dict[str, list[dict[str, str]]]:
    """Return, per handler, the path parameters that name beta's records."""
    open_ids = {"session_id": beta.open_session}
    closed_ids = {"session_id": beta.closed_session}
    sessions = [open_ids, closed_ids]
    crossings = [
        {**open_ids, "crossing_key": beta.open_key},
        {**open_ids, "crossing_key": beta.open_crossing},
        {**closed_ids, "crossing_key": beta.closed_key},
        {**closed_ids, "crossing_key": beta.closed_crossing},
    ]
    return {
        "get_session": sessions,
        "admit": sessions,
        "grant": sessions,
        "begin": sessions,
        "get_crossing": crossings,
        "complete": crossings,
        "attempt": crossings,
        "close": sessions,
        "settlement": sessions,
        "explain": sessions,
        "proof": [
            {**closed_ids, "record_id": beta.closed_crossing},
            {**closed_ids, "record_id": beta.admission_record},
            {**open_ids, "record_id": beta.open_crossing},
        ],
        "revoke_key": [{"key_id": beta.key_id}],
    }


def url_of(spec: Endpoint, parameters: dict[str, str]) -> str:
    """Fill the path template, each id URL-encoded as one path segment."""
    return PATH_PARAMETER.sub(
        lambda match: quote(parameters[match.group(1)], safe=""), spec.path
    )


def leaked_markers(text: str, markers: frozenset[str], allowed: set[str]) -> set[str]:
    """Return the markers in ``text``, apart from the ids the request itself sent."""
    lowered = text.lower()
    return {
        marker
        for marker in markers - allowed
        if marker.lower() in lowered and not any(marker in sent for sent in allowed)
    }


@pytest.fixture(scope="module")
def beta(service: Service) -> BetaData:
    """Create beta's open session, settled session, plan and API key over HTTP."""
    client = service.client(service.key("beta"))
    opened = client.post(
        "/v1/sessions",
        json={
            "participants": [{"id": "agent:support-bot"}],
            "grants": [{"grantee": "agent:support-bot", "kinds": ["model_invocation"]}],
            "quotas": [
                {
                    "id": "spend",
                    "unit": "money",
                    "limit": SESSION_LIMIT,
                    "currency": "USD",
                }
            ],
            "labels": {"customer": "beta-customer-label"},
        },
    )
    assert opened.status_code == 201, opened.text
    open_session = opened.json()["session_id"]
    begun = client.post(
        f"/v1/sessions/{open_session}/crossings",
        json={**OPEN_CALL, "crossing_id": "k-open-5d1c"},
    )
    assert begun.status_code == 201, begun.text
    assert begun.json()["reserved"] == {f"{open_session}/quota/spend": OPEN_RESERVATION}

    second = client.post(
        "/v1/sessions",
        json={
            "participants": [{"id": "agent:support-bot"}],
            "grants": [{"grantee": "agent:support-bot", "kinds": ["model_invocation"]}],
            "quotas": [{"id": "calls", "unit": "crossings", "limit": "40"}],
        },
    )
    assert second.status_code == 201, second.text
    closed_session = second.json()["session_id"]
    call = client.post(
        f"/v1/sessions/{closed_session}/crossings",
        json={**CLOSED_CALL, "crossing_id": "k-closed-9a2e"},
    )
    assert call.status_code == 201, call.text
    completed = client.post(
        f"/v1/sessions/{closed_session}/crossings/k-closed-9a2e/complete",
        json={"usage": CLOSED_USAGE},
    )
    assert completed.status_code == 200, completed.text
    closed = client.post(f"/v1/sessions/{closed_session}/close", json={})
    assert closed.status_code == 200, closed.text
    settlement = closed.json()
    assert settlement["state"] == "settled"

    plan = client.put(
        "/v1/plan",
        json={
            "quotas": [
                {
                    "id": "plan-spend-77",
                    "unit": "money",
                    "limit": PLAN_LIMIT,
                    "currency": "USD",
                    "scope": "tenant",
                }
            ]
        },
    )
    assert plan.status_code == 200, plan.text
    created = client.post(
        "/v1/api-keys", json={"scopes": ["read"], "label": "beta-ops-label"}
    )
    assert created.status_code == 201, created.text
    key = created.json()

    charge = completed.json()["charge"]["amount"]
    markers = {
        "beta",
        open_session,
        closed_session,
        "k-open-5d1c",
        "k-closed-9a2e",
        "plan-spend-77",
        "beta-customer-label",
        "beta-ops-label",
        key["key_id"],
        key["key"],
        service.key("beta").key_id,
        SESSION_LIMIT,
        PLAN_LIMIT,
        OPEN_RESERVATION,
        charge,
        settlement["merkle_root"],
    }
    return BetaData(
        open_session=open_session,
        open_key="k-open-5d1c",
        closed_session=closed_session,
        closed_key="k-closed-9a2e",
        admission_record=f"{closed_session}/admit/agent:support-bot",
        plan_quota="plan-spend-77",
        key_id=key["key_id"],
        key_secret=key["key"],
        markers=frozenset(markers),
    )


@pytest.fixture(scope="module")
def acme_sessions(service: Service) -> tuple[str, str]:
    """Give acme an open and a settled session, so its lists are not empty."""
    client = service.client(service.key("acme"))
    ids = []
    for _ in range(2):
        opened = client.post(
            "/v1/sessions", json={"participants": [{"id": "agent:acme-bot"}]}
        )
        assert opened.status_code == 201, opened.text
        ids.append(opened.json()["session_id"])
    closed = client.post(f"/v1/sessions/{ids[1]}/close", json={})
    assert closed.status_code == 200, closed.text
    plan = client.put(
        "/v1/plan",
        json={
            "quotas": [
                {
                    "id": "acme-plan",
                    "unit": "crossings",
                    "limit": "500",
                    "scope": "tenant",
                }
            ]
        },
    )
    assert plan.status_code == 200, plan.text
    return ids[0], ids[1]


def test_matrix_covers_every_id_endpoint(beta: BetaData) -> None:
    handlers = {spec.handler for spec in id_endpoints()}
    assert set(cases_for(beta)) == handlers
    parameters = {
        name for spec in id_endpoints() for name in PATH_PARAMETER.findall(spec.path)
    }
    assert parameters <= ID_PARAMETERS
    bodied = {spec.handler for spec in id_endpoints() if spec.body is not None}
    assert set(BODIES) == bodied


@pytest.mark.parametrize("key_name", KEY_NAMES)
@pytest.mark.parametrize("spec", id_endpoints(), ids=lambda spec: spec.handler)
def test_other_tenant_ids_look_missing(
    service: Service, beta: BetaData, spec: Endpoint, key_name: str
) -> None:
    key = service.key("acme", key_name)
    client = service.client(key)
    allowed_scope = spec.scope is None or spec.scope in key.scopes
    expected = 404 if allowed_scope else 403
    for parameters in cases_for(beta)[spec.handler]:
        response = client.request(
            spec.method, url_of(spec, parameters), json=BODIES.get(spec.handler)
        )
        problem = assert_problem(response, expected)
        if expected == 404:
            assert problem["type"].endswith("/not-found"), problem
        else:
            assert problem["type"].endswith("/scope-missing"), problem
        assert "session_state" not in problem
        assert "close_reason" not in problem
        leaked = leaked_markers(response.text, beta.markers, set(parameters.values()))
        assert leaked == set(), f"{spec.method} {spec.path} {parameters}"


def test_other_tenant_records_unchanged(service: Service, beta: BetaData) -> None:
    # Runs after the matrix (pytest keeps file order): acme's writes on beta's
    # ids must have changed nothing.
    client = service.client(service.key("beta"))
    session = client.get(f"/v1/sessions/{beta.open_session}")
    assert session.status_code == 200, session.text
    assert session.json()["state"] == "open"
    assert session.json()["crossings"] == 2
    crossing = client.get(f"/v1/sessions/{beta.open_session}/crossings/{beta.open_key}")
    assert crossing.status_code == 200, crossing.text
    assert crossing.json()["state"] == "open"
    assert crossing.json()["attempts"] == 0
    settled = client.get(f"/v1/sessions/{beta.closed_session}")
    assert settled.json()["state"] == "settled"
    assert settled.json()["close_reason"] == "closed"
    reader = service.client(beta.key_secret)
    assert reader.get("/v1/sessions").status_code == 200


def test_own_session_with_other_tenant_ids(
    service: Service, beta: BetaData, acme_sessions: tuple[str, str]
) -> None:
    open_session, closed_session = acme_sessions
    client = service.client(service.key("acme"))
    requests = [
        ("GET", f"/v1/sessions/{open_session}/crossings/{quote(beta.open_crossing)}"),
        ("GET", f"/v1/sessions/{open_session}/crossings/{beta.open_key}"),
        (
            "GET",
            f"/v1/sessions/{closed_session}/proof/"
            + quote(beta.closed_crossing, safe=""),
        ),
    ]
    for method, path in requests:
        response = client.request(method, path)
        problem = assert_problem(response, 404)
        assert problem["type"].endswith("/not-found")
        sent = {open_session, closed_session, beta.open_crossing, beta.closed_crossing}
        assert leaked_markers(response.text, beta.markers, sent) == set(), path


def test_session_id_of_other_tenant_not_reused(
    service: Service, beta: BetaData
) -> None:
    client = service.client(service.key("acme", "booth"))
    for session_id in (beta.open_session, beta.closed_session):
        response = client.post("/v1/sessions", json={"session_id": session_id})
        problem = assert_problem(response, 409)
        assert problem["type"].endswith("/conflict")
        leaked = leaked_markers(response.text, beta.markers, {session_id})
        assert leaked == set()


@pytest.mark.parametrize("key_name", ["read", ALL_SCOPES])
def test_lists_hold_only_own_records(
    service: Service,
    beta: BetaData,
    acme_sessions: tuple[str, str],
    key_name: str,
) -> None:
    client = service.client(service.key("acme", key_name))
    sessions = client.get("/v1/sessions")
    assert sessions.status_code == 200, sessions.text
    listed = {item["session_id"] for item in sessions.json()["sessions"]}
    assert set(acme_sessions) <= listed
    assert beta.open_session not in listed
    assert beta.closed_session not in listed

    report = client.get("/v1/report")
    assert report.status_code == 200, report.text
    reported = {item["session_id"] for item in report.json()["session_list"]}
    assert reported == {acme_sessions[1]}

    plan = client.get("/v1/plan")
    assert plan.status_code == 200, plan.text
    assert [quota["id"] for quota in plan.json()["quotas"]] == ["acme-plan"]

    for response in (sessions, report, plan):
        assert leaked_markers(response.text, beta.markers, set()) == set()


TENANT_HEADERS = [
    {"x-tenant": "beta"},
    {"x-ssoar-tenant": "beta"},
    {"tenant": "beta"},
    {"forwarded": "for=127.0.0.1;host=beta;proto=http"},
    {"x-forwarded-host": "beta", "x-forwarded-for": "127.0.0.1"},
    {"x-forwarded-user": "beta", "x-remote-user": "beta"},
]


@pytest.mark.parametrize(
    "headers", TENANT_HEADERS, ids=lambda headers: ",".join(headers)
)
def test_headers_cannot_change_tenant(
    service: Service,
    beta: BetaData,
    acme_sessions: tuple[str, str],
    headers: dict[str, str],
) -> None:
    client = service.client(service.key("acme"), headers=headers)
    listed = client.get("/v1/sessions", params={"tenant": "beta"})
    assert listed.status_code == 200, listed.text
    ids = {item["session_id"] for item in listed.json()["sessions"]}
    assert acme_sessions[0] in ids
    assert beta.open_session not in ids

    other = client.get(f"/v1/sessions/{beta.open_session}")
    assert_problem(other, 404)

    opened = client.post("/v1/sessions", json={})
    assert opened.status_code == 201, opened.text
    assert opened.json()["tenant"] == "acme"

    plan = client.get("/v1/plan")
    assert [quota["id"] for quota in plan.json()["quotas"]] == ["acme-plan"]


def test_second_key_header_cannot_change_tenant(
    service: Service, beta: BetaData
) -> None:
    # The bearer token decides; an X-API-Key header is read only without one.
    client = service.client(
        service.key("acme"), headers={"x-api-key": service.key("beta").secret}
    )
    opened = client.post("/v1/sessions", json={})
    assert opened.status_code == 201, opened.text
    assert opened.json()["tenant"] == "acme"
    assert_problem(client.get(f"/v1/sessions/{beta.open_session}"), 404)


def test_revoked_key_gets_401(service: Service) -> None:
    admin = service.client(service.key("acme", "admin"))
    created = admin.post("/v1/api-keys", json={"scopes": ["read"], "label": "short"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["tenant"] == "acme"
    reader = service.client(key["key"])
    assert reader.get("/v1/sessions").status_code == 200

    revoked = admin.delete(f"/v1/api-keys/{key['key_id']}")
    assert revoked.status_code == 204
    assert revoked.content == b""

    refused = reader.get("/v1/sessions")
    problem = assert_problem(refused, 401)
    assert problem["type"].endswith("/unauthenticated")
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert key["key"] not in refused.text

    again = admin.delete(f"/v1/api-keys/{key['key_id']}")
    assert_problem(again, 404)


def revoke_elsewhere(service: Service, tenant: str, key_id: str) -> None:
    """Revoke a key on a connection of its own, as 'ssoar api-key revoke' does."""
    store = Store.open(service.booth.settings.db)
    try:
        with store.transaction():
            assert revoke_key(store.connection, tenant, key_id)
    finally:
        store.close()


def test_key_revoked_elsewhere_stops_within_2s(service: Service) -> None:
    key = service.booth.create_key("acme", ("read",), "revoked by the CLI")
    reader = service.client(key)
    assert reader.get("/v1/plan").status_code == 200
    revoke_elsewhere(service, "acme", key.key_id)
    deadline = time.monotonic() + 2.0
    while reader.get("/v1/plan").status_code == 200:
        assert time.monotonic() < deadline, "the revoked key still works after 2 s"
        time.sleep(0.05)
    assert_problem(reader.get("/v1/plan"), 401)


def test_revoked_key_of_other_tenant_keeps_working(
    service: Service, beta: BetaData
) -> None:
    admin = service.client(service.key("acme", "admin"))
    assert_problem(admin.delete(f"/v1/api-keys/{beta.key_id}"), 404)
    reader = service.client(beta.key_secret)
    assert reader.get("/v1/sessions").status_code == 200


@pytest.mark.parametrize(
    "spec",
    [spec for spec in ENDPOINTS if spec.scope is not None],
    ids=lambda spec: spec.handler,
)
def test_missing_scope_gets_403(service: Service, spec: Endpoint) -> None:
    parameters = {
        "session_id": "ses-absent",
        "crossing_key": "k-absent",
        "record_id": "ses-absent/k-absent",
        "key_id": "0123456789abcdef",
    }
    for key_name in SCOPES:
        key = service.key("acme", key_name)
        if spec.scope in key.scopes:
            continue
        client = service.client(key)
        # An empty body would be invalid: the scope is checked first.
        response = client.request(spec.method, url_of(spec, parameters), content=b"")
        problem = assert_problem(response, 403)
        assert problem["type"].endswith("/scope-missing")
        assert f"'{spec.scope}'" in problem["detail"]
