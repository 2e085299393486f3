"""Crossings: governed events inside a session, and the booth's decision on each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

from ssoar.model._time import format_time
from ssoar.model._usage import TokenUsage

__all__ = [
    "AttributeValue",
    "Crossing",
    "CrossingState",
    "Decision",
    "DenialReason",
    "SourceRef",
    "Target",
    "UsageSource",
]

AttributeValue: TypeAlias = str | int | bool | None | tuple[str, ...]
"""A crossing attribute: text, an integer, a flag or a list of strings.

Floats are not allowed, because their text form differs between JSON
libraries and would make canonical records ambiguous. Importers keep a
float from a trace as its decimal text.
"""


class CrossingState(StrEnum):
    """Where a crossing is in its life."""

    OPEN = "open"
    """Admitted or observed, not yet finished."""
    COMPLETED = "completed"
    FAILED = "failed"
    DENIED = "denied"
    """Refused by the booth; it never ran."""

    @property
    def is_final(self) -> bool:
        """Whether the crossing has finished."""
        return self is not CrossingState.OPEN


class UsageSource(StrEnum):
    """Where a crossing's token counts came from."""

    REPORTED = "reported"
    """Counted by the provider and reported with the call."""
    ESTIMATED = "estimated"
    """Not reported; the reservation or a tokenizer estimate stands in for it."""
    NONE = "none"
    """No usage: the kind uses no tokens, or a failed call consumed none."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a crossing acts on: a model, tool, memory store, region or route."""

    target_type: str
    target_id: str

    def to_json(self) -> dict[str, str]:
        """Return the target as a JSON object."""
        return {"type": self.target_type, "id": self.target_id}


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where an imported crossing came from: the file and the record inside it."""

    file: str
    pointer: str
    """A JSON pointer to the record, such as ``/observations/3``."""
    format: str
    """The record format, such as ``langfuse`` or ``otlp``."""
    convention: str | None = None
    """The attribute convention usage was read in: ``gen_ai``, ``openinference``
    or ``langfuse``."""
    ignored: tuple[str, ...] = ()
    """Attribute keys of the record that the importer did not use, message
    content aside, with list indices folded to ``*``."""

    def to_json(self) -> dict[str, object]:
        """Return the reference as a JSON object."""
        return {
            "file": self.file,
            "pointer": self.pointer,
            "format": self.format,
            "convention": self.convention,
            "ignored": list(self.ignored),
        }


@dataclass(frozen=True, slots=True)
class DenialReason:
    """One reason the booth refused, or would have refused, a crossing."""

    code: str
    """A reason code such as ``authority_missing``."""
    message: str

    def to_json(self) -> dict[str, str]:
        """Return the reason as a JSON object."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Decision:
    """The booth's answer at a crossing.

    ``retrospective`` marks a decision taken on imported history: the
    crossing already happened without a booth, and the decision records what
    the booth would have said.
    """

    allowed: bool
    retrospective: bool
    reasons: tuple[DenialReason, ...]
    policy_ids: tuple[str, ...]
    """The ``@id`` of every policy that determined the outcome."""
    obligations: tuple[str, ...]
    """Obligations attached by the determining policies' annotations."""
    errors: tuple[str, ...]
    """Policy evaluation errors; any error makes the decision a denial."""
    policy_digest: str
    """The SHA-256 of the policy set the decision was taken under."""
    _json: dict[str, object] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def to_json(self) -> dict[str, object]:
        """Return the decision as a JSON object.

        The object is built once and shared: callers must not change it.
        """
        if self._json is not None:
            return self._json
        result: dict[str, object] = {
            "allowed": self.allowed,
            "retrospective": self.retrospective,
            "reasons": [reason.to_json() for reason in self.reasons],
            "policy_ids": list(self.policy_ids),
            "obligations": list(self.obligations),
            "errors": list(self.errors),
            "policy_digest": self.policy_digest,
        }
        object.__setattr__(self, "_json", result)
        return result


@dataclass(frozen=True, slots=True)
class Crossing:
    """One governed event inside a session.

    ``actor_id`` is the participant at the crossing (the model at a model
    invocation, the tool at a tool call). ``invoker_id`` is the participant
    on whose behalf it acted, when that is someone else; authority is checked
    for the invoker when there is one.
    """

    crossing_id: str
    session_id: str
    kind: str
    actor_id: str
    started_at: datetime
    state: CrossingState
    invoker_id: str | None = None
    target: Target | None = None
    ended_at: datetime | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    usage: TokenUsage | None = None
    usage_source: UsageSource = UsageSource.NONE
    error: str | None = None
    source: SourceRef | None = None

    def __post_init__(self) -> None:
        for key, value in self.attributes.items():
            if value is None or type(value) in (str, int, bool):
                continue
            if isinstance(value, tuple) and all(type(item) is str for item in value):
                continue
            raise TypeError(
                f"crossing {self.crossing_id} attribute {key}={value!r} has type "
                f"{type(value).__name__}; attributes are text, integers, flags, "
                "tuples of text or None (write decimals as text)"
            )
        assert self.started_at.tzinfo is not None, self.crossing_id

    @property
    def authority_holder_id(self) -> str:
        """The participant whose grant must cover this crossing."""
        return self.invoker_id or self.actor_id

    def to_json(self) -> dict[str, object]:
        """Return the crossing as a JSON object with canonical timestamps."""
        return {
            "crossing_id": self.crossing_id,
            "session_id": self.session_id,
            "kind": self.kind,
            "actor_id": self.actor_id,
            "invoker_id": self.invoker_id,
            "target": self.target.to_json() if self.target else None,
            "started_at": format_time(self.started_at),
            "ended_at": format_time(self.ended_at) if self.ended_at else None,
            "state": self.state.value,
            "attributes": {
                key: list(value) if type(value) is tuple else value
                for key, value in self.attributes.items()
            },
            "usage": self.usage.to_json() if self.usage else None,
            "usage_source": self.usage_source.value,
            "error": self.error,
            "source": self.source.to_json() if self.source else None,
        }
