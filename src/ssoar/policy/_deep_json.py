"""Parsing JSON text that may nest deeper than recursive parsers allow."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["parse_deep_json"]

# One token: a bracket, comma or colon, a string literal, or a run of other
# characters (a number, true, false or null), after optional whitespace.
_TOKEN = re.compile(r'\s*([{}\[\],:]|"(?:[^"\\]|\\.)*"|[^\s{}\[\],:"]+)')
_TRAILING_SPACE = re.compile(r"\s*")


def parse_deep_json(text: str) -> Any:
    """Parse JSON text of any nesting depth.

    orjson parses up to 1024 levels; deeper text is parsed here without
    recursion, with a stack of open containers. That fallback is meant for
    JSON that a program wrote, such as Cedar's: it checks that brackets
    match and that every token is valid, but not every rule of the grammar,
    such as the commas between items.

    Raises:
        ValueError: If the text is not JSON.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # Too deep for orjson, or not JSON at all. The fallback parser raises
        # ValueError in the second case.
        pass
    return _parse_with_stack(text)


def _parse_with_stack(text: str) -> Any:
    containers: list[Any] = []
    keys: list[str | None] = []
    expect_key = False
    result: Any = None
    complete = False
    position = 0
    while True:
        match = _TOKEN.match(text, position)
        if match is None:
            break
        position = match.end()
        if complete:
            raise ValueError(f"unexpected text after the JSON value at {position}")
        token = match.group(1)
        value: Any
        if token == "{" or token == "[":
            containers.append({} if token == "{" else [])
            keys.append(None)
            expect_key = token == "{"
            continue
        if token == "," or token == ":":
            # After a comma inside an object, the next string is a key.
            expect_key = (
                token == "," and bool(containers) and isinstance(containers[-1], dict)
            )
            continue
        if token == "}" or token == "]":
            if not containers or isinstance(containers[-1], dict) != (token == "}"):
                raise ValueError(f"unmatched {token!r} at {position}")
            value = containers.pop()
            keys.pop()
            expect_key = False
        else:
            value = json.loads(token)
            if expect_key:
                if not isinstance(value, str):
                    raise ValueError(f"object key {token!r} is not a string")
                keys[-1] = value
                expect_key = False
                continue
        if not containers:
            result, complete = value, True
        elif isinstance(containers[-1], list):
            containers[-1].append(value)
        else:
            key = keys[-1]
            if key is None:
                raise ValueError(f"object value without a key at {position}")
            containers[-1][key] = value
            keys[-1] = None
    if not complete or containers:
        raise ValueError("JSON text ends inside a value")
    if _TRAILING_SPACE.fullmatch(text, position) is None:
        raise ValueError(f"invalid JSON text at {position}")
    return result
