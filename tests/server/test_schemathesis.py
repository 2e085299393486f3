"""Property-based tests of the live service against its own OpenAPI document.

Schemathesis generates valid and invalid requests for every operation in
/openapi.json and sends them to a real service on 127.0.0.1, with a key that
has every scope. Its default checks then require of each response: no 5xx, a
documented status, content type and headers, and a body that fits the
documented schema. About half of the valid requests that take a session id
get the id of a session that exists (and its real crossing and record ids),
so those requests reach stored data instead of returning 404.

Generation is bounded (``MAX_EXAMPLES`` per operation) and derandomized, so
a run is repeatable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from booth_service import Service
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 30
MODEL_CALL = {
    "kind": "model_invocation",
    "provider": "openai",
    "model": "gpt-4.1",
    "input_tokens": 1000,
    "max_output_tokens": 500,
    "invoker": "agent:bot",
}


@dataclass(frozen=True)
class Seeded:
    """Records that exist before generation starts: (session id, crossing key)."""

    open: tuple[str, str]
    settled: tuple[str, str]


def seed_session(client: httpx.Client, *, settle: bool) -> tuple[str, str]:
    opened = client.post(
        "/v1/sessions",
        json={
            "participants": [{"id": "agent:bot"}],
            "grants": [{"grantee": "agent:bot", "kinds": ["model_invocation"]}],
            "quotas": [
                {"id": "spend", "unit": "money", "limit": "50", "currency": "USD"}
            ],
        },
    )
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["session_id"]
    begun = client.post(
        f"/v1/sessions/{session_id}/crossings",
        json={**MODEL_CALL, "crossing_id": "seeded-call"},
    )
    assert begun.status_code == 201, begun.text
    if settle:
        completed = client.post(
            f"/v1/sessions/{session_id}/crossings/seeded-call/complete",
            json={"usage": {"input_tokens": 900, "output_tokens": 300}},
        )
        assert completed.status_code == 200, completed.text
        closed = client.post(f"/v1/sessions/{session_id}/close", json={})
        assert closed.status_code == 200, closed.text
    return session_id, "seeded-call"


@pytest.fixture(scope="module")
def seeded(service: Service) -> Seeded:
    client = service.client(service.key("acme"))
    return Seeded(
        open=seed_session(client, settle=False),
        settled=seed_session(client, settle=True),
    )


@pytest.fixture(scope="module")
def api_schema(service: Service) -> schemathesis.BaseSchema:
    config = SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"apiKey": {"bearer": service.key("acme").secret}}},
            "checks": {
                # A schema-valid request may still break a rule the schema
                # cannot state (a plan quota needs scope "tenant"), and the
                # documented response is then 422, so this check stays off.
                "positive_data_acceptance": {"enabled": False},
                # TODO: enable both once 405 responses carry an Allow header
                # (test_problems.py marks its absence as an expected failure).
                "unsupported_method": {"enabled": False},
                "allow_header_conformance": {"enabled": False},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json", config=config)


@pytest.fixture(scope="module")
def case_counter() -> itertools.count[int]:
    return itertools.count()


schema = schemathesis.pytest.from_fixture("api_schema")


SEEDED_STATUSES: list[tuple[str, int]] = []
"""Operation and status of each request that was pointed at a seeded session."""


def use_seeded_ids(case: Case, seeded: Seeded, number: int) -> bool:
    """Point a valid request that takes a session id at a real session.

    Only cases with an even ``number`` change, so about half of them keep
    their generated ids. Return True when the case changed.
    """
    parameters = case.path_parameters
    if not parameters or "session_id" not in parameters:
        return False
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    if number % 2 == 1:
        return False
    # Closing the open session would turn every later request on it into a
    # 409, so the close operation gets the settled one only.
    use_open = number % 4 == 0 and not case.operation.path.endswith("/close")
    session_id, key = seeded.open if use_open else seeded.settled
    parameters["session_id"] = session_id
    if "crossing_key" in parameters:
        parameters["crossing_key"] = key
    if "record_id" in parameters:
        parameters["record_id"] = f"{session_id}/{key}"
    return True


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_schema(
    case: Case,
    service: Service,
    seeded: Seeded,
    case_counter: itertools.count[int],
) -> None:
    changed = use_seeded_ids(case, seeded, next(case_counter))
    response = case.call_and_validate(timeout=30)
    if changed:
        SEEDED_STATUSES.append((case.operation.label, response.status_code))


def test_seeded_ids_reach_records() -> None:
    # Runs after test_api_conforms_to_schema, in file order.
    if not SEEDED_STATUSES:
        pytest.skip("needs test_api_conforms_to_schema in the same run")
    reached = {label for label, status in SEEDED_STATUSES if status == 200}
    assert "GET /v1/sessions/{session_id}/crossings/{crossing_key}" in reached
    assert "GET /v1/sessions/{session_id}/settlement" in reached
    assert "GET /v1/sessions/{session_id}/proof/{record_id}" in reached
    assert "GET /v1/sessions/{session_id}/explain" in reached
