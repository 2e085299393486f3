"""Checks and conversions of live request fields, shared by every operation.

Each check raises ``RequestError`` naming the field, the rule it broke and
the fix, before the booth changes anything.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ssoar.errors import RequestError
from ssoar.live._wire import BeginCrossing, CompleteCrossing
from ssoar.model._crossing import AttributeValue, Target
from ssoar.model._participant import ParticipantClass
from ssoar.model._template import Template
from ssoar.model._usage import TokenUsage, UsageError

__all__ = [
    "BOOTH_ATTRIBUTES",
    "PARTICIPANT_PREFIXES",
    "CompletionReport",
    "aware_instant",
    "begin_request",
    "check_kinds",
    "check_webhook",
    "crossing_attributes",
    "decimal_field",
    "digest",
    "parse_target",
    "participant_class_of",
    "replace_struct",
    "request_fingerprint",
]

PARTICIPANT_PREFIXES: Mapping[str, ParticipantClass] = {
    "human": ParticipantClass.HUMAN,
    "agent": ParticipantClass.AGENT,
    "model": ParticipantClass.AI_MODEL,
    "ai_model": ParticipantClass.AI_MODEL,
    "tool": ParticipantClass.TOOL,
    "memory": ParticipantClass.MEMORY_LAYER,
    "memory_layer": ParticipantClass.MEMORY_LAYER,
    "jurisdiction": ParticipantClass.JURISDICTION,
    "region": ParticipantClass.JURISDICTION,
    "carrier": ParticipantClass.CARRIER,
    "accessibility": ParticipantClass.ACCESSIBILITY_SERVICE,
    "accessibility_service": ParticipantClass.ACCESSIBILITY_SERVICE,
    "verifier": ParticipantClass.VERIFICATION_VENDOR,
    "verification_vendor": ParticipantClass.VERIFICATION_VENDOR,
}
"""Participant id prefixes and the class each one names."""

_TARGET_TYPES = frozenset(
    {"model", "tool", "memory_store", "region", "route", "data_source", "participant"}
)
BOOTH_ATTRIBUTES = frozenset(
    {"provider", "model", "region", "jurisdiction", "route", "route_candidates"}
)
"""Attributes the booth sets itself; a request may not change them at completion."""


def participant_class_of(participant_id: str, field: str) -> ParticipantClass:
    """Return the class a participant id's prefix names.

    Raises:
        RequestError: If the prefix is not a known class.
    """
    prefix, _, name = participant_id.partition(":")
    found = PARTICIPANT_PREFIXES.get(prefix)
    if found is None or not name:
        raise RequestError(
            field,
            f"participant id {participant_id!r} must start with a class prefix "
            f"and a colon; known prefixes: {', '.join(sorted(PARTICIPANT_PREFIXES))}",
        )
    return found


def replace_struct(value: BeginCrossing, **changes: Any) -> BeginCrossing:
    """Return a copy of a request struct with some fields changed."""
    return msgspec.structs.replace(value, **changes)


def request_fingerprint(request: msgspec.Struct) -> str:
    # Sorted keys: the same request with its attributes in another order is
    # the same request.
    return digest(msgspec.json.encode(request, order="deterministic"))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def aware_instant(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise RequestError(field, "give the instant with an offset, such as Z for UTC")
    return value


def check_kinds(kinds: Iterable[str], template: Template, field: str) -> None:
    for index, kind in enumerate(kinds):
        if kind not in template.kinds:
            raise RequestError(
                f"{field}[{index}]",
                f"crossing kind {kind!r} is not part of template {template.name!r}; "
                f"its kinds are {', '.join(template.kinds)}",
            )


def check_webhook(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(
            "webhook_url",
            f"{url!r} is not an http or https address with a host",
        )


def decimal_field(text: str, field: str) -> Decimal:
    if not isinstance(text, str):
        raise RequestError(
            field,
            f"{text!r} is a {type(text).__name__}; write amounts as decimal text, "
            'such as "1.50", so no digit is lost to binary floating point',
        )
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RequestError(field, f"{text!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise RequestError(field, f"{text!r} must be a finite number of at least 0")
    return value


def crossing_attributes(
    raw: Mapping[str, str | int | bool | list[str]], field: str
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {}
    for name, value in raw.items():
        if isinstance(value, list):
            attributes[name] = tuple(value)
        else:
            attributes[name] = value
    return attributes


def parse_target(text: str | None, field: str) -> Target | None:
    if text is None:
        return None
    target_type, _, target_id = text.partition(":")
    if target_type not in _TARGET_TYPES or not target_id:
        raise RequestError(
            field,
            f"{text!r} is not a target written type:id; types are "
            f"{', '.join(sorted(_TARGET_TYPES))}",
        )
    return Target(target_type, target_id)


def begin_request(
    session_id: str, request: BeginCrossing
) -> tuple[BeginCrossing, str, str]:
    """Read a begin request's idempotency key before it reaches the booth.

    Returns the request with its key in ``crossing_id``, the key, and the
    request's fingerprint, which recognises a retry.

    Raises:
        RequestError: If the key names a crossing the booth makes itself.
    """
    key = request.crossing_id or uuid.uuid4().hex
    key = key.removeprefix(f"{session_id}/")
    if key == "closure" or key.startswith("admit/"):
        raise RequestError(
            "crossing_id",
            f"{key!r} names a crossing the booth makes itself (the session's "
            "closure or an admission); choose another id",
        )
    if request.crossing_id != key:
        # A retry may give the key alone or the whole crossing id.
        request = replace_struct(request, crossing_id=key)
    return request, key, request_fingerprint(request)


@dataclass(frozen=True, slots=True)
class CompletionReport:
    """A completion request, read and checked before it reaches the booth."""

    fingerprint: str
    usage: TokenUsage | None
    attributes: Mapping[str, AttributeValue]
    cost: Decimal | None

    @classmethod
    def read(cls, request: CompleteCrossing) -> CompletionReport:
        """Read the usage, attributes and cost of a completion.

        Raises:
            RequestError: If a field breaks its rule.
        """
        usage = None
        if request.usage is not None:
            try:
                usage = TokenUsage.from_inclusive(
                    input_tokens=request.usage.input_tokens,
                    output_tokens=request.usage.output_tokens,
                    cache_read_tokens=request.usage.cache_read_tokens,
                    cache_write_tokens=request.usage.cache_write_tokens,
                    reasoning_tokens=request.usage.reasoning_tokens,
                )
            except UsageError as error:
                raise RequestError("usage", str(error)) from None
        return cls(
            fingerprint=request_fingerprint(request),
            usage=usage,
            attributes=crossing_attributes(request.attributes, "attributes"),
            cost=decimal_field(request.cost, "cost")
            if request.cost is not None
            else None,
        )
