"""Tests for parsing JSON text nested deeper than recursive parsers allow."""

from __future__ import annotations

import json

import pytest

from ssoar.policy._deep_json import parse_deep_json

SAMPLES = [
    '{"a": [1, 2.5, -3e2, {"b": null}], "c": "x\\"y\\u00e9", "d": true}',
    "[]",
    "{}",
    " 5 ",
    '"text"',
    '[[[["deep"]]]]',
    '{"a": {"b": {"c": [false, {}]}}}',
]


@pytest.mark.parametrize("text", SAMPLES)
def test_parse_matches_json_module(text: str) -> None:
    assert parse_deep_json(text) == json.loads(text)


@pytest.mark.parametrize("text", SAMPLES)
def test_fallback_matches_json_module(text: str) -> None:
    # Wrapped in 2,000 lists, the text is too deep for orjson and the json
    # module, so only the fallback parser reads it.
    depth = 2_000
    value = parse_deep_json("[" * depth + text + "]" * depth)
    for _ in range(depth):
        assert isinstance(value, list)
        assert len(value) == 1
        value = value[0]
    assert value == json.loads(text)


def test_parse_deep_objects() -> None:
    depth = 5_000
    value = parse_deep_json('{"a": ' * depth + "1" + "}" * depth)
    for _ in range(depth):
        value = value["a"]
    assert value == 1


def test_parse_empty_rejected() -> None:
    with pytest.raises(ValueError):
        parse_deep_json("  ")


@pytest.mark.parametrize(
    "text",
    ["[", "]", "[1]]", '{"a" 1', '{"a": 1}x', "tru", "[1, 2", "{1: 2}", "[}"],
)
def test_parse_invalid_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_deep_json(text)


@pytest.mark.parametrize(
    "text",
    ["[", "]", "[1]]", '{"a" 1', '{"a": 1}x', "tru", "[1, 2", "{1: 2}", "[}"],
)
def test_fallback_invalid_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_deep_json("[" * 2_000 + text + "]" * 2_000)
