"""Participants: whoever enters or acts inside a session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Participant", "ParticipantClass"]


class ParticipantClass(StrEnum):
    """The kind of party a participant is."""

    HUMAN = "human"
    ACCESSIBILITY_SERVICE = "accessibility_service"
    VERIFICATION_VENDOR = "verification_vendor"
    AI_MODEL = "ai_model"
    AGENT = "agent"
    TOOL = "tool"
    MEMORY_LAYER = "memory_layer"
    JURISDICTION = "jurisdiction"
    CARRIER = "carrier"


@dataclass(frozen=True, slots=True)
class Participant:
    """A party inside a session.

    ``participant_id`` is stable and carries the class as a prefix, such as
    ``human:demo-user`` or ``model:openai/gpt-4o``. ``scope`` lists the
    crossing kinds the participant was admitted for; an empty scope admits
    nothing.
    """

    participant_id: str
    participant_class: ParticipantClass
    name: str
    scope: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """Return the participant as a JSON object."""
        return {
            "participant_id": self.participant_id,
            "class": self.participant_class.value,
            "name": self.name,
            "scope": list(self.scope),
        }
