"""The OpenAPI document the service serves at /openapi.json.

The document must be valid OpenAPI 3.1: it is checked with the OpenAPI 3.1
meta-schema that schemathesis ships, and every component schema with the
JSON Schema 2020-12 meta-schema of jsonschema_rs. It must list exactly the
operations that ``ENDPOINTS`` declares and that the Starlette app routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from booth_service import Service
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from starlette.routing import Route

from ssoar.server import ENDPOINTS, build_app, openapi_document

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
CONVERTER = re.compile(r":\w+\}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
UNDOCUMENTED_ROUTES = {("GET", "/openapi.json")}
"""Routes the app serves that the document leaves out: the document itself."""
SAMPLE_IDS = {
    "session_id": "ses-sample",
    "crossing_key": "k-sample",
    "record_id": "ses-sample%2Fk-sample",
    "key_id": "0123456789abcdef",
}


@pytest.fixture(scope="module")
def document(service: Service) -> dict[str, Any]:
    response = service.client().get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert isinstance(served, dict)
    return served


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def references(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def resolve(document: dict[str, Any], reference: str) -> object:
    assert reference.startswith("#/"), reference
    node: object = document
    for part in reference[2:].split("/"):
        assert isinstance(node, dict), reference
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    OPENAPI_31_VALIDATOR.validate(document)


def test_served_document_is_generated_one(document: dict[str, Any]) -> None:
    assert document == openapi_document()


def test_component_schemas_are_json_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas
    for name, schema in schemas.items():
        jsonschema_rs.meta.validate(schema)
        # Compiling with the document as root resolves every $ref inside.
        jsonschema_rs.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}}
        )


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    found = list(references(document))
    assert found
    for reference in found:
        assert isinstance(resolve(document, reference), dict), reference


def test_operations_match_endpoints(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    declared = {(spec.method, spec.path) for spec in ENDPOINTS}
    assert documented == declared
    assert len(declared) == len(ENDPOINTS)
    identifiers = [operation["operationId"] for _, _, operation in operations(document)]
    assert sorted(identifiers) == sorted(spec.handler for spec in ENDPOINTS)


def test_operations_match_app_routes(
    document: dict[str, Any], service: Service
) -> None:
    app = build_app(service.booth)
    routed = set()
    for route in app.routes:
        assert isinstance(route, Route)
        assert route.methods is not None
        path = CONVERTER.sub("}", route.path)
        routed |= {(method, path) for method in route.methods if method != "HEAD"}
    documented = {(method, path) for method, path, _ in operations(document)}
    assert routed - documented == UNDOCUMENTED_ROUTES
    assert documented - routed == set()


def test_path_parameters_declared(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        in_path = {
            parameter["name"]
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "path"
        }
        assert in_path == set(PATH_PARAMETER.findall(path)), (method, path)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["required"] is True


def test_error_responses_documented(document: dict[str, Any]) -> None:
    by_handler = {spec.handler: spec for spec in ENDPOINTS}
    for method, path, operation in operations(document):
        spec = by_handler[operation["operationId"]]
        statuses = set(operation["responses"])
        assert str(spec.status) in statuses
        if spec.scope is not None:
            assert {"401", "403", "429"} <= statuses, (method, path)
            assert operation["security"] == [{"apiKey": []}, {"apiKeyHeader": []}]
        else:
            assert operation["security"] == []
        if spec.body is not None:
            assert {"400", "413", "422"} <= statuses, (method, path)
            # A body whose fields all have defaults may be left out.
            optional = len(spec.body.__struct_defaults__) == len(
                spec.body.__struct_fields__
            )
            assert operation["requestBody"]["required"] is not optional
        if PATH_PARAMETER.search(path):
            assert "404" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "description": scheme["description"],
    }
    header = document["components"]["securitySchemes"]["apiKeyHeader"]
    assert header == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": header["description"],
    }


def test_documented_operations_are_served(
    document: dict[str, Any], service: Service
) -> None:
    # Without a key every secured route returns 401. A route that does not
    # exist returns a "no-route" 404 instead, and a wrong method 405.
    client = service.client()
    for method, path, operation in operations(document):
        url = PATH_PARAMETER.sub(lambda match: SAMPLE_IDS[match.group(1)], path)
        response = client.request(method, url)
        expected = 401 if operation["security"] else 200
        assert response.status_code == expected, (method, url, response.text)


def test_undocumented_methods_get_405(
    document: dict[str, Any], service: Service
) -> None:
    # Crossing keys may contain "/", so GET .../crossings/k/complete reaches
    # get_crossing for the key "k/complete"; such requests are left out.
    routes = build_app(service.booth).routes
    client = service.client()
    for path, item in document["paths"].items():
        url = PATH_PARAMETER.sub(lambda match: SAMPLE_IDS[match.group(1)], path)
        for method in METHODS:
            if method.lower() in item:
                continue
            shadowed = any(
                isinstance(route, Route)
                and method in (route.methods or ())
                and route.path_regex.match(url)
                for route in routes
            )
            if shadowed:
                continue
            response = client.request(method, url)
            assert response.status_code == 405, (method, url)
            assert response.headers["content-type"] == "application/problem+json"


def test_document_needs_no_key(service: Service) -> None:
    response = service.client().get("/openapi.json")
    assert response.status_code == 200
    assert "authorization" not in response.request.headers
