"""The Cedar entities of one session: the session, its participants and targets."""

from __future__ import annotations

from typing import Any

import cedarpy
import orjson

from ssoar.model._crossing import Crossing, Target
from ssoar.model._participant import Participant
from ssoar.model._session import Session

__all__ = [
    "DECISION_MEMO_SIZE_MAX",
    "SessionEntities",
    "target_attributes",
    "target_entity_type",
]

DECISION_MEMO_SIZE_MAX = 4096
"""Most policy evaluations one session remembers before it starts afresh."""

_TARGET_TYPES = {
    "model": "Model",
    "tool": "Tool",
    "memory_store": "MemoryStore",
    "region": "Region",
    "route": "Route",
    "data_source": "DataSource",
    "participant": "Participant",
}


def target_attributes(target: Target, crossing: Crossing) -> dict[str, str]:
    """Return the Cedar attributes of a crossing's target: its name, and a
    model's provider."""
    if target.target_type == "model":
        provider = crossing.attributes.get("provider")
        return {
            "provider": provider if isinstance(provider, str) else "",
            "name": target.target_id,
        }
    return {"name": target.target_id}


def target_entity_type(target: Target) -> str:
    """Return the Cedar entity type of a target."""
    return _TARGET_TYPES[target.target_type]


class SessionEntities:
    """A growing Cedar entity set for one session.

    Cedar parses an entity set once into a handle; new participants and
    targets are added to the handle as they appear instead of rebuilding it.
    """

    def __init__(self, session: Session, *, keep_memo_on_add: bool = False) -> None:
        self.session_uid = {"type": "Session", "id": session.session_id}
        self._known: set[tuple[str, str]] = {("Session", session.session_id)}
        self.attributes: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
            ("Session", session.session_id): (
                ("template", session.template),
                ("tenant", session.tenant),
            )
        }
        """Each entity's attributes, by (type, id), as sorted pairs."""
        first = {
            "uid": self.session_uid,
            "attrs": {"tenant": session.tenant, "template": session.template},
            "parents": [],
        }
        self.handle: Any = cedarpy.Entities.from_json_str(
            orjson.dumps([first]).decode("utf-8")
        )
        self.memo: dict[tuple[object, ...], Any] = {}
        """Evaluations of requests already seen against the current entities.

        Cedar is deterministic: the same policies, entities and request give
        the same outcome, so a repeated request reuses its evaluation."""
        self._keep_memo_on_add = keep_memo_on_add

    def add_participant(self, participant: Participant) -> None:
        """Add a participant, once."""
        self._add(
            "Participant",
            participant.participant_id,
            {"class": participant.participant_class.value, "name": participant.name},
        )

    def add_principal(self, participant_id: str, participant_class: str) -> None:
        """Add a principal that is not a registered participant, such as the session."""
        self._add(
            "Participant",
            participant_id,
            {"class": participant_class, "name": participant_id},
        )

    def add_target(self, target: Target, attributes: dict[str, str]) -> None:
        """Add a target, once."""
        entity_type = target_entity_type(target)
        if entity_type == "Participant":
            return
        self._add(entity_type, target.target_id, attributes)

    def add_target_of(self, crossing: Crossing) -> None:
        """Add a crossing's target, once, with the attributes it has there."""
        target = crossing.target
        if target is None:
            return
        # Nearly every target is known already, so its attributes are built
        # only for a new one.
        if (target_entity_type(target), target.target_id) not in self._known:
            self.add_target(target, target_attributes(target, crossing))

    def _add(
        self, entity_type: str, entity_id: str, attributes: dict[str, str]
    ) -> None:
        key = (entity_type, entity_id)
        if key in self._known:
            return
        entity = {
            "uid": {"type": entity_type, "id": entity_id},
            "attrs": attributes,
            "parents": [self.session_uid],
        }
        self.handle = self.handle.with_added_json_str(
            orjson.dumps([entity]).decode("utf-8")
        )
        self._known.add(key)
        self.attributes[key] = tuple(sorted(attributes.items()))
        self._forget(entity_type, entity_id)

    def _forget(self, entity_type: str, entity_id: str) -> None:
        """Drop the evaluations a new entity can change.

        A new entity has only the session as its parent, so it never changes
        the ancestors of an entity a request already named. It changes an
        earlier outcome only where that request named it as principal or
        resource (it was missing then), or through a policy that reads a
        literal entity's attributes, which empties the memo.
        """
        if not self._keep_memo_on_add:
            self.memo.clear()
            return
        stale = [
            key
            for key in self.memo
            if (entity_type == "Participant" and key[0] == entity_id)
            or (key[2] == entity_type and key[3] == entity_id)
        ]
        for key in stale:
            del self.memo[key]
