"""Text from imported files, made safe to print on a terminal.

Session, participant and crossing ids, tool names and error messages come
from the traces a user imports. Printed raw, a control character such as
ESC starts an escape sequence that can clear the screen or rewrite earlier
lines of a report, and a bidirectional formatting character reorders what a
line shows. Human-readable output shows each of them as an escape such as
``\\x1b``; JSON output keeps every value exact.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["terminal_safe", "terminal_text"]

# C0 and C1 control characters, DEL, and the bidirectional marks, embeddings,
# overrides and isolates of Unicode.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same without tab and newline, which lay out multi-line messages.
_CONTROL_INLINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def terminal_text(text: str, *, multiline: bool = False) -> str:
    """Return ``text`` with control characters written as escapes.

    ``multiline`` keeps tabs and newlines, for messages laid out over
    several lines; ids never need them.
    """
    pattern = _CONTROL_INLINE if multiline else _CONTROL
    return pattern.sub(_escape, text)


def terminal_safe(value: Any) -> Any:
    """Return a copy of a JSON-like value with every string, key included,
    passed through ``terminal_text``; tuples become lists.

    The copy is built without recursion, since a value read from a database
    can nest as deep as its JSON parser allows.
    """
    if isinstance(value, str):
        return terminal_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    root: dict[Any, Any] | list[Any] = {} if isinstance(value, dict) else []
    pending: list[tuple[Any, dict[Any, Any] | list[Any]]] = [(value, root)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            copy: Any
            if isinstance(item, dict | list | tuple):
                copy = {} if isinstance(item, dict) else []
                pending.append((item, copy))
            elif isinstance(item, str):
                copy = terminal_text(item)
            else:
                copy = item
            if isinstance(target, dict):
                target[terminal_text(key) if isinstance(key, str) else key] = copy
            else:
                target.append(copy)
    return root


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
