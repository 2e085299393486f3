"""Counted nouns in human-readable output."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``count`` with its noun, such as "1 session" or "3 sessions"."""
    if count == 1:
        return f"{count} {singular}"
    return f"{count} {plural or singular + 's'}"
