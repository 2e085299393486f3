"""Tests for RFC 8785 canonical JSON of audit records."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.audit._canonical import (
    CanonicalJSONError,
    canonical_json,
    canonical_record_json,
)

INTEGER_MAX = 2**53 - 1

_CONTROL_AND_ASCII = st.characters(min_codepoint=0, max_codepoint=0x7F)
_ANY_CHARACTER = st.characters(exclude_categories=("Cs",))
_STRINGS = st.text(_CONTROL_AND_ASCII, max_size=8) | st.text(_ANY_CHARACTER, max_size=8)
_ASCII_KEYS = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6)
_KEYS = _ASCII_KEYS | st.text(_ANY_CHARACTER, max_size=4)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-INTEGER_MAX, max_value=INTEGER_MAX)
    | _STRINGS
)
_RECORDS = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_RECORDS)
def test_canonical_json_matches_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(_RECORDS)
def test_record_json_matches_reference(value: Any) -> None:
    assert canonical_record_json(value) == rfc8785.dumps(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_ASCII_KEYS, st.floats(allow_nan=False, allow_infinity=False)))
def test_canonical_json_floats_reference(value: dict[str, float]) -> None:
    """Floats go through the reference implementation."""
    assert canonical_json(value) == rfc8785.dumps(value)


def test_key_order_utf16() -> None:
    """Keys sort by UTF-16 code units, as in the RFC 8785 sorting example."""
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    for serialise in (canonical_json, canonical_record_json):
        keys = list(json.loads(serialise(value)))
        assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_string_escapes_match_rfc() -> None:
    value = ["\b\t\n\f\r", '"\\', "\x0f\x1f", "\x7f/\u2028"]
    expected = '["\\b\\t\\n\\f\\r","\\"\\\\","\\u000f\\u001f","\x7f/\u2028"]'
    assert canonical_json(value) == expected.encode("utf-8")
    assert canonical_record_json(value) == expected.encode("utf-8")


@pytest.mark.parametrize("number", [INTEGER_MAX, -INTEGER_MAX])
@pytest.mark.parametrize("serialise", [canonical_json, canonical_record_json])
def test_integer_limit_accepted(serialise: Any, number: int) -> None:
    assert serialise({"n": number}) == f'{{"n":{number}}}'.encode()


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**53},
        {"n": -(2**53)},
        {"n": [1, 2**64]},
        # A non-ASCII key sends the record down the reference path.
        {"\u00e9": 2**60},
    ],
)
@pytest.mark.parametrize("serialise", [canonical_json, canonical_record_json])
def test_integer_beyond_limit_rejected(serialise: Any, value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        serialise(value)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_canonical_json_non_finite_rejected(number: float) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json({"x": number})
    with pytest.raises(CanonicalJSONError):
        canonical_json({"\u00e9": [number]})


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1.0, b'{"x":1}'),
        (-0.0, b'{"x":0}'),
        (0.1, b'{"x":0.1}'),
        (1e21, b'{"x":1e+21}'),
        (1e-7, b'{"x":1e-7}'),
        (5e-324, b'{"x":5e-324}'),
    ],
)
def test_canonical_json_float_form(number: float, expected: bytes) -> None:
    """Floats take the RFC 8785 number form, as the reference writes them."""
    assert canonical_json({"x": number}) == expected
    assert rfc8785.dumps({"x": number}) == expected


@pytest.mark.parametrize("serialise", [canonical_json, canonical_record_json])
def test_non_string_key_rejected(serialise: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        serialise({1: "one"})


def test_canonical_json_depth_limit() -> None:
    value: Any = "leaf"
    for _ in range(70):
        value = [value]
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"x": "\ud800"},
        # A non-ASCII key sends the value down the reference path.
        {"\u00e9": "\ud800"},
        {"\ud800": 1},
    ],
)
@pytest.mark.parametrize("serialise", [canonical_json, canonical_record_json])
def test_lone_surrogate_rejected(serialise: Any, value: Any) -> None:
    """A string that is not valid Unicode raises CanonicalJSONError."""
    with pytest.raises(CanonicalJSONError):
        serialise(value)


def test_tuples_written_as_arrays() -> None:
    assert canonical_json({"b": (1, 2), "a": ()}) == b'{"a":[],"b":[1,2]}'
