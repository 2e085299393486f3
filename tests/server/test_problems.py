"""Every error of the booth service is an RFC 9457 problem document.

Each case sends a real request to a service on 127.0.0.1 and checks the
status, the ``application/problem+json`` content type, the problem fields
and the headers the status needs (WWW-Authenticate, Retry-After, Allow).
Body-size and rate limits run on services of their own with small limits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from booth_service import PROBLEM_TYPE, Service, StartService, assert_problem

from ssoar.server import ServiceLimits

BODY_LIMIT = 1000
RATE_PER_SECOND = 5
BURST = 5
MODEL_CALL = {
    "kind": "model_invocation",
    "provider": "openai",
    "model": "gpt-4.1",
    "input_tokens": 1000,
    "max_output_tokens": 500,
    "invoker": "agent:bot",
}
SESSION = {
    "participants": [{"id": "agent:bot"}],
    "grants": [{"grantee": "agent:bot", "kinds": ["model_invocation"]}],
    "quotas": [{"id": "spend", "unit": "money", "limit": "5.00", "currency": "USD"}],
}


@pytest.fixture(scope="module")
def client(service: Service) -> httpx.Client:
    return service.client(service.key("acme"))


@pytest.fixture(scope="module")
def small_body_service(start_service: StartService) -> Service:
    return start_service(ServiceLimits(max_body_bytes=BODY_LIMIT))


@pytest.fixture(scope="module")
def rate_limited_service(start_service: StartService) -> Service:
    return start_service(
        ServiceLimits(requests_per_second=RATE_PER_SECOND, burst=BURST)
    )


def open_session(client: httpx.Client, **changes: Any) -> str:
    response = client.post("/v1/sessions", json={**SESSION, **changes})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def labels_body(size: int) -> bytes:
    """Return a valid session request of exactly ``size`` bytes.

    Label values are at most 200 characters long, so the body spreads its
    padding over as many labels as it needs.
    """
    labels: dict[str, str] = {}
    while True:
        name = f"l{len(labels)}"
        labels[name] = ""
        room = size - len(compact_json({"labels": labels}))
        assert room >= 0, size
        labels[name] = "x" * min(room, 200)
        if room <= 200:
            body = compact_json({"labels": labels})
            assert len(body) == size
            return body


def compact_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def chunks(body: bytes, size: int = 100) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


# 422: invalid fields


@pytest.mark.parametrize(
    ("body", "field", "hint"),
    [
        (
            {
                "quotas": [
                    {"id": "q", "unit": "money", "limit": "1,50", "currency": "USD"}
                ]
            },
            "quotas[0].limit",
            "decimal number written as text",
        ),
        (
            {"quotas": [{"id": "q", "unit": "money", "limit": "1.50"}]},
            "quotas[0].currency",
            "needs a currency, such as USD",
        ),
        (
            {"quotas": [{"id": "q", "unit": "tokens", "limit": "1.5"}]},
            "quotas[0].limit",
            "whole numbers",
        ),
        (
            {
                "quotas": [
                    {
                        "id": "q",
                        "unit": "money",
                        "limit": "1",
                        "currency": "USD",
                        "scope": "tenant",
                    }
                ]
            },
            "quotas[0].scope",
            "PUT /v1/plan",
        ),
        (
            {"participants": [{"id": "agent:a"}, {"id": "robot:b"}]},
            "participants[1].id",
            "known prefixes: ",
        ),
        (
            {"grants": [{"grantee": "agent:a", "kinds": []}]},
            "grants[0].kinds",
            "length >= 1",
        ),
        (
            {
                "grants": [
                    {
                        "grantee": "agent:a",
                        "kinds": ["model_invocation"],
                        "expires_at": "2030-01-01T00:00:00",
                    }
                ]
            },
            "grants[0].expires_at",
            "with an offset, such as Z",
        ),
        ({"idle_timeout_seconds": 0}, "idle_timeout_seconds", ">= 1"),
        ({"webhook_url": "ftp://hooks"}, "webhook_url", "http or https"),
    ],
)
def test_invalid_field_names_path(
    client: httpx.Client, body: dict[str, Any], field: str, hint: str
) -> None:
    response = client.post("/v1/sessions", json=body)
    problem = assert_problem(response, 422)
    assert problem["type"].endswith("/invalid-field")
    assert problem["field"] == field
    assert problem["detail"].startswith(f"{field}: ")
    assert hint in problem["detail"]


def test_invalid_label_key_names_field(client: httpx.Client) -> None:
    response = client.post("/v1/sessions", json={"labels": {"k" * 65: "v"}})
    problem = assert_problem(response, 422)
    assert problem.get("field") == "labels"


def test_invalid_body_type_has_no_field(client: httpx.Client) -> None:
    response = client.post("/v1/sessions", json=[])
    problem = assert_problem(response, 422)
    assert "field" not in problem
    assert problem["detail"] == "body: Expected `object`, got `array`"


def test_invalid_query_parameter(client: httpx.Client) -> None:
    for value in ("0", "1001", "ten", "-1"):
        response = client.get("/v1/sessions", params={"limit": value})
        problem = assert_problem(response, 422)
        assert problem["field"] == "limit"
        assert "whole number from 1 to 1000" in problem["detail"]


def test_superscript_limit_rejected(client: httpx.Client) -> None:
    response = client.get("/v1/sessions", params={"limit": "²"})
    problem = assert_problem(response, 422)
    assert problem["field"] == "limit"


# 400: malformed JSON


@pytest.mark.parametrize("content", [b"{", b'{"labels": }', b"\xff\xfe"])
def test_malformed_json_gets_400(client: httpx.Client, content: bytes) -> None:
    response = client.post(
        "/v1/sessions", content=content, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/malformed-json")
    assert problem["detail"].startswith("the request body is not valid JSON")


def test_empty_body_where_fields_required_gets_400(client: httpx.Client) -> None:
    response = client.put(
        "/v1/plan", content=b"", headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/malformed-json")


def test_empty_body_takes_defaults(client: httpx.Client) -> None:
    """Every field of an open request has a default, so no body opens a session."""
    response = client.post("/v1/sessions", content=b"")
    assert response.status_code == 201
    session_id = response.json()["session_id"]
    closed = client.post(f"/v1/sessions/{session_id}/close", content=b"")
    assert closed.status_code == 200
    assert closed.json()["close_reason"] == "closed"


# 404 and 405: routing


@pytest.mark.parametrize("path", ["/nope", "/v1", "/v1/sessions/a/b/c/d", "/v2/plan"])
def test_unknown_route_gets_404(service: Service, path: str) -> None:
    for client in (service.client(), service.client(service.key("acme"))):
        response = client.get(path)
        problem = assert_problem(response, 404)
        assert problem["type"].endswith("/no-route")
        assert path in problem["detail"]


def test_unknown_id_gets_404(client: httpx.Client) -> None:
    response = client.get("/v1/sessions/ses-never-opened")
    problem = assert_problem(response, 404)
    assert problem["type"].endswith("/not-found")
    assert "ses-never-opened" in problem["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/v1/plan"),
        ("DELETE", "/v1/sessions"),
        ("GET", "/v1/api-keys/0123456789abcdef"),
        ("PUT", "/v1/sessions/ses-1/close"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_gets_405(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    problem = assert_problem(response, 405)
    assert problem["type"].endswith("/method-not-allowed")
    assert method in problem["detail"]


def test_wrong_method_lists_allowed(client: httpx.Client) -> None:
    response = client.request("PATCH", "/v1/plan")
    assert response.status_code == 405
    assert "allow" in response.headers
    allowed = {item.strip() for item in response.headers["allow"].split(",")}
    assert {"GET", "PUT"} <= allowed


# 413: body too large


def test_large_body_with_length_gets_413(small_body_service: Service) -> None:
    client = small_body_service.client(small_body_service.key("acme"))
    fits = client.post(
        "/v1/sessions",
        content=labels_body(BODY_LIMIT),
        headers={"content-type": "application/json"},
    )
    assert fits.status_code == 201, fits.text

    response = client.post(
        "/v1/sessions",
        content=labels_body(BODY_LIMIT + 1),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers["content-length"] == str(BODY_LIMIT + 1)
    problem = assert_problem(response, 413)
    assert problem["type"].endswith("/body-too-large")
    assert str(BODY_LIMIT) in problem["detail"]


def test_large_body_without_key_gets_413(small_body_service: Service) -> None:
    # The declared length is checked before the key, and before any body is read.
    response = small_body_service.client().post(
        "/v1/sessions", content=labels_body(BODY_LIMIT + 100)
    )
    assert_problem(response, 413)


def test_chunked_body_within_limit(small_body_service: Service) -> None:
    client = small_body_service.client(small_body_service.key("acme"))
    response = client.post(
        "/v1/sessions",
        content=chunks(labels_body(BODY_LIMIT)),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201, response.text


def test_large_chunked_body_gets_413(small_body_service: Service) -> None:
    client = small_body_service.client(small_body_service.key("acme"))
    response = client.post(
        "/v1/sessions",
        content=chunks(labels_body(BODY_LIMIT + 1)),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    problem = assert_problem(response, 413)
    assert problem["type"].endswith("/body-too-large")


# 429: rate limit


def test_rate_limit_gets_429(rate_limited_service: Service) -> None:
    client = rate_limited_service.client(rate_limited_service.key("acme", "read"))
    responses = [client.get("/v1/plan") for _ in range(4 * BURST)]
    statuses = [response.status_code for response in responses]
    assert statuses[:BURST] == [200] * BURST
    assert 429 in statuses, statuses
    refused = responses[statuses.index(429)]
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("/rate-limited")
    retry_after = refused.headers["retry-after"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert problem["retry_after_seconds"] == int(retry_after)

    # The bucket belongs to the key: another key of the tenant is not slowed.
    other = rate_limited_service.client(rate_limited_service.key("acme"))
    assert other.get("/v1/plan").status_code == 200

    time.sleep(int(retry_after))
    assert client.get("/v1/plan").status_code == 200


# 409: closed sessions and conflicts


def test_closed_session_gets_409(client: httpx.Client) -> None:
    session_id = open_session(client)
    begun = client.post(
        f"/v1/sessions/{session_id}/crossings", json={**MODEL_CALL, "crossing_id": "c1"}
    )
    assert begun.status_code == 201, begun.text
    closed = client.post(f"/v1/sessions/{session_id}/close", json={})
    assert closed.status_code == 200, closed.text
    state = closed.json()["state"]

    requests = [
        ("POST", f"/v1/sessions/{session_id}/crossings", MODEL_CALL),
        ("POST", f"/v1/sessions/{session_id}/participants", {"id": "agent:late"}),
        ("POST", f"/v1/sessions/{session_id}/crossings/c1/complete", {}),
        ("POST", f"/v1/sessions/{session_id}/crossings/c1/attempts", {"error": "x"}),
        ("GET", f"/v1/sessions/{session_id}/crossings/c1", None),
    ]
    for method, path, body in requests:
        response = client.request(method, path, json=body)
        problem = assert_problem(response, 409)
        assert problem["type"].endswith("/session-closed"), path
        assert problem["session_id"] == session_id
        assert problem["session_state"] == state
        assert problem["close_reason"] == "closed"

    again = client.post(f"/v1/sessions/{session_id}/close", json={})
    assert again.status_code == 200
    assert again.json() == closed.json()


def test_reused_crossing_id_gets_409(client: httpx.Client) -> None:
    session_id = open_session(client)
    path = f"/v1/sessions/{session_id}/crossings"
    first = client.post(path, json={**MODEL_CALL, "crossing_id": "same"})
    assert first.status_code == 201, first.text
    replay = client.post(path, json={**MODEL_CALL, "crossing_id": "same"})
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"] is True

    changed = {**MODEL_CALL, "crossing_id": "same", "input_tokens": 1001}
    problem = assert_problem(client.post(path, json=changed), 409)
    assert problem["type"].endswith("/conflict")
    assert "session_state" not in problem

    header = client.post(path, json=MODEL_CALL, headers={"idempotency-key": "hdr"})
    assert header.status_code == 201, header.text
    assert header.json()["crossing_id"] == f"{session_id}/hdr"
    changed_header = client.post(
        path,
        json={**MODEL_CALL, "max_output_tokens": 501},
        headers={"idempotency-key": "hdr"},
    )
    assert assert_problem(changed_header, 409)["type"].endswith("/conflict")


def test_reused_session_id_gets_409(client: httpx.Client) -> None:
    session_id = open_session(client, session_id="ses-fixed-id")
    replay = client.post("/v1/sessions", json={**SESSION, "session_id": session_id})
    assert replay.status_code in (200, 201), replay.text
    assert replay.json()["session_id"] == session_id
    changed = {**SESSION, "session_id": session_id, "labels": {"a": "b"}}
    problem = assert_problem(client.post("/v1/sessions", json=changed), 409)
    assert problem["type"].endswith("/conflict")
    assert session_id in problem["detail"]


def test_repeated_open_answers_200(client: httpx.Client) -> None:
    # The OpenAPI document promises 200 for "a repeat of an earlier
    # request", as a repeated crossing gets.
    session_id = open_session(client, session_id="ses-repeated-open")
    replay = client.post("/v1/sessions", json={**SESSION, "session_id": session_id})
    assert replay.status_code == 200


# 401 and 403: keys and scopes


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-key",
        "Bearer ssoar_0123456789abcdef_" + "A" * 43,
        "Basic YWNtZTpzZWNyZXQ=",
    ],
)
def test_missing_key_gets_401(service: Service, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = service.client().get("/v1/sessions", headers=headers)
    problem = assert_problem(response, 401)
    assert problem["type"].endswith("/unauthenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="ssoar"'
    assert "Authorization: Bearer" in problem["detail"]


def test_wrong_secret_gets_401(service: Service) -> None:
    key = service.key("acme")
    tampered = key.secret[:-1] + ("A" if key.secret[-1] != "A" else "B")
    response = service.client(tampered).get("/v1/sessions")
    assert_problem(response, 401)
    assert "www-authenticate" in response.headers


def test_missing_scope_gets_403(service: Service) -> None:
    response = service.client(service.key("acme", "read")).post(
        "/v1/sessions", json=SESSION
    )
    problem = assert_problem(response, 403)
    assert problem["type"].endswith("/scope-missing")
    assert "'booth'" in problem["detail"]
    assert "read" in problem["detail"]


def test_health_needs_no_key(service: Service) -> None:
    response = service.client().get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok"}


def test_success_is_not_problem_json(client: httpx.Client) -> None:
    response = client.get("/v1/plan")
    assert response.status_code == 200
    assert response.headers["content-type"] != PROBLEM_TYPE


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (
            {"quotas": [{"id": "a", "limit": "1"}]},
            "quotas[0].unit",
            "quotas[0].unit: required field 'unit' is missing",
        ),
        (
            {"participant": []},
            "participant",
            "participant: unknown field 'participant'; did you mean 'participants'?",
        ),
        (
            {"quotas": [{"id": "a", "unit": "dollars", "limit": "1"}]},
            "quotas[0].unit",
            "quotas[0].unit: 'dollars' is not one of tokens, money, crossings",
        ),
        (
            {"quotas": [{"id": "a", "unit": "money", "limit": 1.5, "currency": "USD"}]},
            "quotas[0].limit",
            "quotas[0].limit: Expected `str`, got `float`; write amounts as quoted "
            'decimal text, such as "1.50"',
        ),
    ],
)
def test_invalid_field_says_fix(
    client: httpx.Client, body: dict[str, Any], field: str, detail: str
) -> None:
    problem = assert_problem(client.post("/v1/sessions", json=body), 422)
    assert problem["field"] == field
    assert problem["detail"] == detail


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("prompt_tokens", "report it as 'input_tokens'"),
        ("completion_tokens", "report it as 'output_tokens'"),
        ("total_tokens", "leave it out, the booth adds up the parts"),
    ],
)
def test_provider_token_names_get_field(
    client: httpx.Client, name: str, hint: str
) -> None:
    response = client.post(
        "/v1/sessions/s/crossings/c/complete",
        json={"usage": {"input_tokens": 1, "output_tokens": 1, name: 1}},
    )
    problem = assert_problem(response, 422)
    assert problem["field"] == f"usage.{name}"
    assert problem["detail"] == f"usage.{name}: unknown field {name!r}; {hint}"


def test_missing_scope_logs_key_id(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    key = service.key("acme", "read")
    caplog.set_level(logging.INFO, logger="ssoar.server")
    response = service.client(key).post("/v1/sessions", json=SESSION)
    assert_problem(response, 403)
    logged = [
        record.getMessage()
        for record in caplog.records
        if "scope-missing" in record.getMessage()
    ]
    assert logged == [
        f"POST /v1/sessions -> 403 scope-missing (key {key.key_id}, session -)"
    ]
