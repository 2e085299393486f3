"""Spans as the importer sees them, whatever format they came in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["LangfuseFields", "SpanEvent", "SpanRecord", "SpanStatus", "excerpt"]

SpanStatus = str
"""``ok``, ``error`` or ``unset``."""

_EXCERPT_LENGTH_MAX = 40


def excerpt(value: Any) -> str:
    """Return ``repr(value)`` for an error message, cut to 40 characters when
    longer, so a value of megabytes does not fill the terminal."""
    text = repr(value)
    if len(text) <= _EXCERPT_LENGTH_MAX:
        return text
    return f"{text[:_EXCERPT_LENGTH_MAX]}... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event recorded on a span, such as an exception."""

    name: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LangfuseFields:
    """What a Langfuse observation adds beyond the span's own attributes."""

    observation_type: str
    """SPAN, GENERATION, AGENT, TOOL, CHAIN, EVENT or another Langfuse type."""
    model: str | None
    usage_details: Mapping[str, Any]
    cost_details: Mapping[str, Any]
    level: str | None
    trace_session_id: str | None
    trace_user_id: str | None


@dataclass(slots=True)
class SpanRecord:
    """One span with flat attributes, read from any supported format.

    Not frozen, because an import builds one per span and frozen dataclasses
    cost several times more to construct; nothing changes a span once read.
    """

    file: str
    pointer: str
    """JSON pointer to the span inside its file."""
    format: str
    """``otlp``, ``attributes`` (a bare attribute map) or ``langfuse``."""
    name: str
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    start: datetime | None
    end: datetime | None
    status: SpanStatus
    status_message: str | None
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    langfuse: LangfuseFields | None = None

    def first(self, keys: tuple[str, ...]) -> tuple[str, Any] | None:
        """Return the first of ``keys`` with a non-empty value, and that value."""
        for key in keys:
            value = self.attributes.get(key)
            if value is not None and value != "":
                return key, value
        return None

    def value(self, keys: tuple[str, ...]) -> Any:
        """Return the value of the first of ``keys`` present, or None."""
        found = self.first(keys)
        return None if found is None else found[1]
