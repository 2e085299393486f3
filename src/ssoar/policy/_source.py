"""Policy source files, split into single policies with their line numbers.

Cedar reports parse and validation errors without a source position, so the
loader splits each file into its policies first: an error in one policy can
then be reported at that policy's first line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ssoar.errors import PolicyError

__all__ = [
    "POLICY_FILE_SIZE_MAX",
    "POLICY_NESTING_MAX",
    "POLICY_OPERATORS_MAX",
    "PolicyStatement",
    "check_policy_size",
    "read_policy_files",
    "split_policies",
]

POLICY_FILE_SIZE_MAX = 1_000_000
"""Largest policy file the loader reads, in bytes."""
POLICY_NESTING_MAX = 64
"""Deepest nesting of brackets and ``if`` expressions in one policy.

Cedar's parser recurses once per level, and a native stack overflow is a
segmentation fault, not an error: cedarpy 4.12.2 crashed at 700 nested
parentheses on x86_64 Linux with an 8 MiB stack."""
POLICY_OPERATORS_MAX = 2_000
"""Most ``&&``, ``||``, ``+``, ``-``, ``*`` and ``.`` operators and ``[``
indexes in one policy.

Cedar nests a chain of them one level per operator, and cedarpy 4.12.2
crashed converting a chain of 20,000 ``&&`` terms to JSON (same machine)."""


@dataclass(frozen=True, slots=True)
class PolicyStatement:
    """One policy of a policy file."""

    file: str
    line: int
    """The 1-based line where the policy starts (its first annotation, if any)."""
    text: str


def split_policies(file: str, text: str) -> list[PolicyStatement]:
    """Split Cedar source text into policies, each ending at a top-level ``;``.

    String literals and ``//`` comments are skipped while scanning, so a
    semicolon inside either does not end a policy.

    Raises:
        PolicyError: If a string literal is not closed, or text follows the
            last policy without a closing ``;``.
    """
    statements: list[PolicyStatement] = []
    start: int | None = None
    start_line = 0
    line = 1
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
        elif char == "/" and text.startswith("//", index):
            index = _comment_end(text, index)
            continue
        elif char == '"':
            if start is None:
                start, start_line = index, line
            index, line = _skip_string(file, text, index, line)
            continue
        elif not char.isspace():
            if start is None:
                start, start_line = index, line
            if char == ";":
                statements.append(
                    PolicyStatement(file, start_line, text[start : index + 1])
                )
                start = None
        index += 1
    if start is not None:
        raise PolicyError(
            file, start_line, "policy is not terminated; end every policy with ';'"
        )
    return statements


def _comment_end(text: str, index: int) -> int:
    """Return the index where a ``//`` comment starting at ``index`` ends.

    Cedar ends a comment at a line feed or a carriage return, whichever
    comes first. The returned index is that of the line break itself.
    """
    ends = [
        end for end in (text.find("\n", index), text.find("\r", index)) if end != -1
    ]
    return min(ends) if ends else len(text)


def check_policy_size(statement: PolicyStatement) -> None:
    """Check that a policy is within the nesting and operator limits.

    Runs before Cedar parses the policy, because Cedar's parser crashes the
    process on deeply nested input instead of raising an error. Strings and
    ``//`` comments are skipped, as in ``split_policies``. An ``if`` counts as
    a level until the bracket or element around it ends: an ``if`` that
    follows another in the same element is always inside the first one.

    Raises:
        PolicyError: Naming the line where a limit is exceeded.
    """
    text = statement.text
    file = statement.file
    line = statement.line
    # The if-expressions opened inside each open bracket, the outermost first.
    groups = [0]
    depth = 0
    operators = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        step = 1
        if char == "\n":
            line += 1
        elif char == "/" and text.startswith("//", index):
            index = _comment_end(text, index)
            continue
        elif char == '"':
            index, line = _skip_string(file, text, index, line)
            continue
        elif char in "([{":
            groups.append(0)
            depth += 1
        elif char in ")]}":
            if len(groups) > 1:
                depth -= 1 + groups.pop()
        elif char == ",":
            # A comma ends an element of a set, record or argument list, and
            # every if-expression opened in it.
            depth -= groups[-1]
            groups[-1] = 0
        elif char in "&|" and text.startswith(char * 2, index):
            operators += 1
            step = 2
        elif char in "+-*.":
            operators += 1
        if char == "[":
            # A chain of indexes such as x["a"]["b"] nests like a chain of
            # operators, one level each, though its brackets close at once.
            operators += 1
        elif _is_if(text, index):
            groups[-1] += 1
            depth += 1
            step = 2
        if depth > POLICY_NESTING_MAX:
            raise PolicyError(
                file,
                line,
                f"policy nests brackets and if-expressions more than "
                f"{POLICY_NESTING_MAX} levels deep; flatten the condition or split "
                "it into several policies",
            )
        if operators > POLICY_OPERATORS_MAX:
            raise PolicyError(
                file,
                line,
                f"policy has more than {POLICY_OPERATORS_MAX} operators (&&, ||, +, "
                "-, *, . and [ ]); split it into several policies, or test "
                'membership in a set such as ["a", "b"].contains(context.model)',
            )
        index += step


def _is_if(text: str, index: int) -> bool:
    """Return whether the keyword ``if`` starts at ``index``."""
    if not text.startswith("if", index):
        return False
    before = text[index - 1] if index > 0 else " "
    after = text[index + 2] if index + 2 < len(text) else " "
    return not (_is_name_char(before) or _is_name_char(after))


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _skip_string(file: str, text: str, index: int, line: int) -> tuple[int, int]:
    """Return the index after the string literal starting at ``index``."""
    opening_line = line
    index += 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "\n":
            line += 1
        if char == '"':
            return index + 1, line
        index += 1
    raise PolicyError(file, opening_line, "string literal is not closed with '\"'")


def read_policy_files(path: Path) -> list[tuple[str, str]]:
    """Read one ``.cedar`` file, or every ``.cedar`` file in a directory in name order.

    Returns:
        Pairs of (file name, text).

    Raises:
        PolicyError: If the path does not exist, holds no policy files, or a
            file is too large or not UTF-8.
    """
    if path.is_dir():
        files = sorted(item for item in path.glob("*.cedar") if item.is_file())
        if not files:
            raise PolicyError(str(path), None, "directory contains no .cedar files")
    elif path.is_file():
        files = [path]
    else:
        raise PolicyError(str(path), None, "no such policy file or directory")
    sources: list[tuple[str, str]] = []
    for file in files:
        size = file.stat().st_size
        if size > POLICY_FILE_SIZE_MAX:
            raise PolicyError(
                str(file),
                None,
                f"file has {size} bytes; the limit is {POLICY_FILE_SIZE_MAX}. "
                "Split it into several files",
            )
        try:
            sources.append((str(file), file.read_text(encoding="utf-8")))
        except UnicodeDecodeError as error:
            raise PolicyError(str(file), None, f"file is not UTF-8: {error}") from None
    return sources
