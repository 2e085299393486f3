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
    "PolicyStatement",
    "read_policy_files",
    "split_policies",
]

POLICY_FILE_SIZE_MAX = 1_000_000
"""Largest policy file the loader reads, in bytes."""


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
            newline = text.find("\n", index)
            index = length if newline == -1 else newline
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
