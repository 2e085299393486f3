"""Tests for escaping text from imported files before it reaches a terminal."""

from __future__ import annotations

import pytest

from ssoar.cli._terminal import terminal_safe, terminal_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("conv:ticket-4711", "conv:ticket-4711"),
        ("ok\x1b[2Jsettled\x07", "ok\\x1b[2Jsettled\\x07"),
        ("a\nb\tc\r", "a\\x0ab\\x09c\\x0d"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),
    ],
)
def test_text_escapes_control_characters(text: str, expected: str) -> None:
    assert terminal_text(text) == expected


def test_text_multiline_keeps_layout() -> None:
    assert terminal_text("line 1\n\tline 2\x1b", multiline=True) == (
        "line 1\n\tline 2\\x1b"
    )


def test_safe_copies_nested_values() -> None:
    value = {"id\x1b": ["a\x1b", ("b", 1, None)], "n": 2.5, "ok": True}
    assert terminal_safe(value) == {
        "id\\x1b": ["a\\x1b", ["b", 1, None]],
        "n": 2.5,
        "ok": True,
    }
    assert value["id\x1b"] == ["a\x1b", ("b", 1, None)]


def test_safe_deep_value() -> None:
    depth = 5_000
    value: list[object] = ["\x1b"]
    for _ in range(depth):
        value = [value]
    copied = terminal_safe(value)
    for _ in range(depth):
        copied = copied[0]
    assert copied == ["\\x1b"]
