"""Request and response bodies of the live booth, shared by the SDK and the service.

Each request is a msgspec struct: the HTTP service decodes request bodies
straight into them, the OpenAPI document is generated from them, and the
in-process SDK builds the same structs, so both paths check the same rules.
Amounts are decimal strings and instants are ISO 8601 text with an offset;
the booth turns them into ``Decimal`` and UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "ID_PATTERN",
    "SESSION_ID_PATTERN",
    "AttemptReport",
    "BeginCrossing",
    "CompleteCrossing",
    "CrossingAnswer",
    "GrantLimit",
    "GrantSpec",
    "OpenSession",
    "ParticipantSpec",
    "PlanQuotas",
    "QuotaSpec",
    "ReasonAnswer",
    "RouteSpec",
    "SessionAnswer",
    "UsageReport",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$"
"""Ids are 1 to 200 characters: letters, digits and ``. _ : @ / + = -``."""
SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,199}$"
"""Session ids leave out ``/``: they are one URL path segment, and a crossing
id is ``{session_id}/{key}``."""

PARTICIPANT_PATTERN = r"^[a-z_]+:[^\s]{1,190}$"
DECIMAL_PATTERN = r"^[0-9]{1,18}(\.[0-9]{1,18})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
PATTERN_MEANINGS = {
    ID_PATTERN: "an id of 1 to 200 letters, digits and . _ : @ / + = -, starting "
    "with a letter or digit",
    SESSION_ID_PATTERN: "a session id of 1 to 200 letters, digits and "
    ". _ : @ + = -, starting with a letter or digit",
    PARTICIPANT_PATTERN: "a participant id: a class prefix, a colon and a name, "
    "such as agent:refund-bot",
    DECIMAL_PATTERN: 'a non-negative decimal number written as text, such as "1.50"',
    CURRENCY_PATTERN: "an ISO 4217 currency code in capitals, such as USD",
    KIND_PATTERN: "a crossing kind in lowercase, such as model_invocation",
}
"""The meaning of each request field pattern, for error messages."""

Id = Annotated[str, Meta(pattern=ID_PATTERN)]
SessionId = Annotated[str, Meta(pattern=SESSION_ID_PATTERN)]
ParticipantId = Annotated[
    str,
    Meta(
        pattern=PARTICIPANT_PATTERN,
        description="A participant id: its class prefix, a colon and a name, "
        "such as agent:refund-bot or model:openai/gpt-4.1.",
    ),
]
DecimalText = Annotated[
    str,
    Meta(
        pattern=DECIMAL_PATTERN,
        description="A non-negative decimal number written as text, such as 1.50.",
    ),
]
Currency = Annotated[
    str, Meta(pattern=CURRENCY_PATTERN, description="An ISO 4217 currency code.")
]
Kind = Annotated[str, Meta(pattern=KIND_PATTERN)]
Tokens = Annotated[int, Meta(ge=0, le=100_000_000)]
Seconds = Annotated[int, Meta(ge=1, le=31_536_000)]
AttributeValue = str | int | bool | list[str]
LabelKey = Annotated[str, Meta(max_length=64)]
LabelValue = Annotated[str, Meta(max_length=200)]


class QuotaSpec(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A limit on what a session, its participants or the tenant's plan may use."""

    id: Id
    unit: Literal["tokens", "money", "crossings"]
    limit: DecimalText
    scope: Literal["session", "participant", "tenant"] = "session"
    currency: Currency | None = None
    """Required for money quotas, and only for them."""
    kinds: list[Kind] = []
    """Crossing kinds the quota counts; empty counts every kind."""
    participant: Annotated[str, Meta(max_length=200)] = "*"
    """For participant quotas: a pattern over participant ids, such as agent:*."""
    window: Literal["none", "daily", "weekly", "monthly"] = "none"
    """When the quota starts afresh; ``none`` never resets."""
    time_zone: Annotated[str, Meta(max_length=64)] = "UTC"
    """The IANA time zone whose local midnight starts each window."""
    anchor_day: Annotated[int, Meta(ge=1, le=31)] | None = None
    """Monthly: the day of the month a window starts; weekly: the ISO weekday."""


class ParticipantSpec(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A participant to admit to a session."""

    id: ParticipantId
    name: Annotated[str, Meta(max_length=200)] | None = None
    scope: list[Kind] = []
    """Crossing kinds the participant is admitted for."""


class GrantLimit(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A grant's own limit: what the crossings acting under it may use in all."""

    unit: Literal["tokens", "money", "crossings"]
    limit: DecimalText
    currency: Currency | None = None


class GrantSpec(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Authority for a participant to perform some crossing kinds on some targets."""

    grantee: ParticipantId
    kinds: Annotated[list[Kind], Meta(min_length=1)]
    targets: list[Annotated[str, Meta(max_length=200)]] = msgspec.field(
        default_factory=lambda: ["*"]
    )
    """Target patterns written type:id, such as model:openai/*; * covers all."""
    id: Id | None = None
    grantor: Annotated[str, Meta(max_length=200)] | None = None
    """An admitted participant, or empty for the tenant itself."""
    parent: Id | None = None
    """The grant this one delegates part of; delegation only narrows."""
    not_before: datetime | None = None
    expires_at: datetime | None = None
    """Defaults to the end of the session's lifetime."""
    limit: GrantLimit | None = None


class OpenSession(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Open a live session."""

    session_id: SessionId | None = None
    """Defaults to a new random id; reusing an open session's id returns it."""
    template: Annotated[str, Meta(max_length=64)] | None = None
    labels: dict[LabelKey, LabelValue] = {}
    participants: list[ParticipantSpec] = []
    """Participants admitted when the session opens, each by its own crossing."""
    grants: list[GrantSpec] = []
    quotas: list[QuotaSpec] = []
    allowed_jurisdictions: list[Annotated[str, Meta(max_length=64)]] | None = None
    idle_timeout_seconds: Seconds | None = None
    """Defaults to the template's; the sweeper closes a session idle this long."""
    max_lifetime_seconds: Seconds | None = None
    webhook_url: Annotated[str, Meta(max_length=2000)] | None = None
    """Receives a signed notice when the session closes."""


class UsageReport(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Token usage as providers report it: totals that include their parts."""

    input_tokens: Tokens
    """All input tokens, cached ones included."""
    output_tokens: Tokens
    """All output tokens, reasoning included."""
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    reasoning_tokens: Tokens = 0


class RouteSpec(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One place a model invocation could run."""

    provider: Annotated[str, Meta(min_length=1, max_length=64)]
    model: Annotated[str, Meta(min_length=1, max_length=200)]
    region: Annotated[str, Meta(max_length=64)] | None = None
    jurisdiction: Annotated[str, Meta(max_length=64)] | None = None


class BeginCrossing(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Ask the booth before a crossing; an admitted one reserves its worst case."""

    kind: Kind
    actor: ParticipantId | None = None
    """The participant at the crossing; model invocations name a model or routes."""
    crossing_id: Id | None = None
    """The idempotency key: a retry with the same id returns the first result."""
    invoker: ParticipantId | None = None
    """The participant the actor acts for; its authority is checked."""
    target: Annotated[str, Meta(max_length=200)] | None = None
    """The crossing's target, written type:id, such as tool:issue_refund."""
    attributes: dict[Annotated[str, Meta(max_length=64)], AttributeValue] = {}
    provider: Annotated[str, Meta(max_length=64)] | None = None
    model: Annotated[str, Meta(max_length=200)] | None = None
    input_tokens: Tokens | None = None
    """Model invocations: the prompt's tokens, counted before the call."""
    max_output_tokens: Tokens | None = None
    """Model invocations: the output cap, which bounds the reservation."""
    routes: list[RouteSpec] = []
    """Candidate routes; the booth takes the cheapest one that it admits."""
    cost: DecimalText | None = None
    """A known cost, such as a carrier path's; reserved against money quotas."""
    currency: Currency | None = None


class CompleteCrossing(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Report how a crossing ended; the booth posts its use and releases the rest."""

    outcome: Literal["completed", "failed"] = "completed"
    usage: UsageReport | None = None
    """Model invocations: what the provider reported; without it the crossing
    settles at its reservation, marked estimated."""
    error: Annotated[str, Meta(max_length=2000)] | None = None
    attributes: dict[Annotated[str, Meta(max_length=64)], AttributeValue] = {}
    cost: DecimalText | None = None
    """The actual cost, when the crossing declared one."""


class AttemptReport(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A failed attempt of a crossing that will be retried; it is never charged."""

    error: Annotated[str, Meta(max_length=2000)]
    attempt_id: Id | None = None
    """The idempotency key of the attempt; a repeat is recorded once."""
    route: Annotated[str, Meta(max_length=300)] | None = None


class PlanQuotas(Struct, forbid_unknown_fields=True):
    """The tenant plan's quotas, shared by every session of the tenant."""

    quotas: list[QuotaSpec]


class ReasonAnswer(Struct):
    """One reason the booth refused a crossing, with its reason code."""

    code: str
    message: str


class CrossingAnswer(Struct, omit_defaults=False):
    """The booth's decision at a crossing, and the crossing's state."""

    crossing_id: str
    session_id: str
    kind: str
    allowed: bool
    state: str
    """``open`` until completed, then ``completed`` or ``failed``; ``denied``."""
    reasons: list[ReasonAnswer]
    policy_ids: list[str]
    obligations: list[str]
    errors: list[str]
    actor: str
    route: str | None
    """The chosen route, provider/region/model, when routes were offered."""
    reserved: dict[str, str]
    """Amount reserved per account."""
    posted: dict[str, str]
    """Amount posted per account, once completed."""
    charge: dict[str, str] | None
    """The usage charge as {amount, currency}, once completed and priced."""
    usage_source: str
    attempts: int
    replayed: bool = False
    """True when this response repeats an earlier request with the same key."""


class SessionAnswer(Struct):
    """A live session and its state."""

    session_id: str
    tenant: str
    template: str
    state: str
    opened_at: str
    idle_deadline: str
    lifetime_deadline: str
    close_reason: str | None
    close_error: str | None
    """The error the session closed on, or the reason it was swept."""
    crossings: int
    participants: list[CrossingAnswer]
    """The admission crossings made when the session opened."""
    replayed: bool = False
    """True when this response repeats an earlier open with the same session_id."""


def encode(value: object) -> bytes:
    """Encode a wire struct as JSON."""
    return _ENCODER.encode(value)


_ENCODER = msgspec.json.Encoder()
