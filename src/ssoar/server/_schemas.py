"""Request and answer bodies that only the HTTP service uses."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

__all__ = [
    "ApiKeyAnswer",
    "ApiKeyRequest",
    "CloseRequest",
    "Problem",
    "SessionList",
    "SessionSummary",
]


class CloseRequest(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Close a session: ``closed`` settles it normally, ``error`` as unclean."""

    reason: Literal["closed", "error"] = "closed"
    error: Annotated[str, Meta(max_length=2000)] | None = None
    """What went wrong, for a session closed on an error."""


class ApiKeyRequest(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Create another API key for the caller's tenant."""

    scopes: Annotated[list[Literal["booth", "read", "admin"]], Meta(min_length=1)]
    label: Annotated[str, Meta(max_length=200)] = ""


class ApiKeyAnswer(Struct):
    """A new API key; ``key`` is shown only in this answer."""

    key_id: str
    tenant: str
    scopes: list[str]
    label: str
    key: str


class SessionSummary(Struct):
    """One session in a list."""

    session_id: str
    state: str
    template: str
    opened_at: str
    close_reason: str | None


class SessionList(Struct):
    """The caller's sessions, newest first."""

    sessions: list[SessionSummary]


class Problem(Struct, omit_defaults=True):
    """An RFC 9457 problem: what went wrong, and how to fix it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    """The request field at fault, as a dotted path such as ``quotas[0].limit``."""
    session_id: str | None = None
    session_state: str | None = None
    close_reason: str | None = None
    retry_after_seconds: int | None = None
