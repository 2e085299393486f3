"""The OpenAPI 3.1 document, built from the endpoint table and the msgspec structs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ssoar.live._wire import ID_PATTERN, SESSION_ID_PATTERN
from ssoar.server._schemas import Problem

if TYPE_CHECKING:
    from ssoar.server._app import Endpoint

__all__ = ["build_document"]

_REF = "#/components/schemas/{name}"
_PARAMETER = re.compile(r"\{(\w+)\}")
_PATH_PATTERNS = {
    "session_id": SESSION_ID_PATTERN,
    "crossing_key": ID_PATTERN,
    "record_id": ID_PATTERN,
    "key_id": "^[0-9a-f]{16}$",
}
_PROBLEM_TITLES = {
    400: "The body is not valid JSON.",
    401: "The API key is missing or invalid.",
    403: "The API key lacks the scope this request needs.",
    404: "No such id for this tenant.",
    409: "The session is closed, or the id was used for another request.",
    413: "The body is larger than the service accepts.",
    422: "A field has an invalid value; the problem names it and the fix.",
    429: "Too many requests from this key; retry after the pause.",
    503: "The ledger cannot be written, so the booth refuses.",
}


def build_document(endpoints: Sequence[Endpoint], *, version: str) -> dict[str, Any]:
    """Return the OpenAPI document of the endpoints."""
    structs: set[type[msgspec.Struct]] = {Problem}
    for endpoint in endpoints:
        if endpoint.body is not None:
            structs.add(endpoint.body)
        if endpoint.answer is not None:
            structs.add(endpoint.answer)
    _, components = msgspec.json.schema_components(
        sorted(structs, key=lambda struct: struct.__name__), ref_template=_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(
            endpoint
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ssoar booth service",
            "version": version,
            "description": (
                "Open sessions, ask the booth before each crossing, report how "
                "it ended, and close the session into a signed settlement. "
                "Every request but /healthz and /openapi.json needs an API key "
                "('Authorization: Bearer ssoar_...', or an 'X-API-Key' header "
                "when there is no Authorization header), and sees only its "
                "tenant's records. Errors are RFC 9457 problem documents."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from 'ssoar api-key create'.",
                },
                "apiKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "The same key, read only when the request "
                    "has no Authorization header.",
                },
            },
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler,
        "summary": endpoint.summary,
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": _PATH_PATTERNS[name]},
        }
        for name in _PARAMETER.findall(endpoint.path)
    ]
    if endpoint.handler == "list_sessions":
        parameters.append(
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
            }
        )
    if endpoint.handler == "begin":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The crossing id, when the body gives none.",
                "schema": {"type": "string", "pattern": ID_PATTERN},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        from ssoar.server._app import body_is_optional

        operation["requestBody"] = {
            "required": not body_is_optional(endpoint.body),
            "content": {"application/json": {"schema": {"$ref": _ref(endpoint.body)}}},
        }
    responses: dict[str, Any] = {}
    if endpoint.status == 204:
        responses["204"] = {"description": "Done."}
    else:
        schema = (
            {"$ref": _ref(endpoint.answer)}
            if endpoint.answer is not None
            else {"type": "object"}
        )
        responses[str(endpoint.status)] = {
            "description": endpoint.summary,
            "content": {"application/json": {"schema": schema}},
        }
        if endpoint.status == 201:
            responses["200"] = {
                "description": "A repeat of an earlier request: the first answer.",
                "content": {"application/json": {"schema": schema}},
            }
    errors = set(endpoint.errors)
    if endpoint.scope is not None:
        errors |= {401, 403, 429}
        operation["security"] = [{"apiKey": []}, {"apiKeyHeader": []}]
    else:
        operation["security"] = []
    if endpoint.body is not None:
        errors |= {400, 413, 422}
    if endpoint.handler == "list_sessions":
        errors.add(422)
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _PROBLEM_TITLES[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": _ref(Problem)}}
            },
        }
    operation["responses"] = responses
    return operation


def _ref(struct: type[msgspec.Struct]) -> str:
    return _REF.format(name=struct.__name__)
