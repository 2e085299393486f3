"""The Cedar schema that booth policies are validated against.

Every crossing kind of a template is a Cedar action. The principal is always
the participant at the crossing; the resource is what it acts on (a model,
tool, memory store, region, route, data source or another participant) or,
when it acts on nothing in particular, the session itself. Every target and
every admitted participant is a member of its session, so ``resource in
Session::"..."`` and ``principal in resource`` work as expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ssoar.model._template import Template

__all__ = [
    "CONTEXT_ATTRIBUTES",
    "ENTITY_TYPES",
    "ContextAttribute",
    "build_schema",
]


@dataclass(frozen=True, slots=True)
class ContextAttribute:
    """One attribute of the context every booth request carries."""

    name: str
    cedar_type: str
    """``Boolean``, ``Long``, ``String`` or ``Set<String>``."""
    required: bool
    doc: str


CONTEXT_ATTRIBUTES: tuple[ContextAttribute, ...] = (
    ContextAttribute(
        "imported", "Boolean", True, "The crossing is imported history, not live."
    ),
    ContextAttribute(
        "declared",
        "Boolean",
        True,
        "The actor is on the session's roster (an import profile or the SDK).",
    ),
    ContextAttribute(
        "actor_admitted", "Boolean", True, "The actor was admitted to the session."
    ),
    ContextAttribute(
        "invoker_admitted",
        "Boolean",
        True,
        "The participant on whose behalf the actor acts was admitted; equal to "
        "actor_admitted when the actor acts for itself.",
    ),
    ContextAttribute(
        "granted",
        "Boolean",
        True,
        "A valid authority grant covers this crossing.",
    ),
    ContextAttribute("invoker", "String", False, "Id of the invoking participant."),
    ContextAttribute("participant_class", "String", False, "Class of the actor."),
    ContextAttribute("scope", "Set<String>", False, "Crossing kinds requested."),
    ContextAttribute("provider", "String", False, "Model provider, such as openai."),
    ContextAttribute("model", "String", False, "Model name as requested."),
    ContextAttribute(
        "input_tokens", "Long", False, "Input tokens of a model invocation."
    ),
    ContextAttribute(
        "output_tokens_max", "Long", False, "Output token cap of a model invocation."
    ),
    ContextAttribute(
        "cost_estimate_micro_usd",
        "Long",
        False,
        "Worst-case price of the crossing in millionths of a US dollar.",
    ),
    ContextAttribute("tool", "String", False, "Tool name."),
    ContextAttribute(
        "mutates_state", "Boolean", False, "The tool changes state outside the session."
    ),
    ContextAttribute("memory_store", "String", False, "Memory store id."),
    ContextAttribute(
        "persistent", "Boolean", False, "The memory write outlives the session."
    ),
    ContextAttribute(
        "persistence_authorised",
        "Boolean",
        False,
        "A grant covers keeping the memory beyond the session.",
    ),
    ContextAttribute("region", "String", False, "Cloud region of the crossing."),
    ContextAttribute("jurisdiction", "String", False, "Legal jurisdiction entered."),
    ContextAttribute(
        "from_jurisdiction", "String", False, "Jurisdiction the session left."
    ),
    ContextAttribute(
        "allowed_jurisdictions",
        "Set<String>",
        False,
        "Jurisdictions the session may run in, when it is restricted.",
    ),
    ContextAttribute("route", "String", False, "Network route or carrier."),
    ContextAttribute("recipient", "String", False, "Who receives a stream."),
    ContextAttribute("proof_type", "String", False, "Kind of identity proof."),
    ContextAttribute(
        "proof_valid_seconds", "Long", False, "How long an identity proof stays valid."
    ),
    ContextAttribute("data_source", "String", False, "Data source of a retrieval."),
    ContextAttribute("target_agent", "String", False, "Agent that takes over work."),
)

ENTITY_TYPES: dict[str, dict[str, str]] = {
    "Session": {"tenant": "String", "template": "String"},
    "Participant": {"class": "String", "name": "String"},
    "Model": {"provider": "String", "name": "String"},
    "Tool": {"name": "String"},
    "MemoryStore": {"name": "String"},
    "Region": {"name": "String"},
    "Route": {"name": "String"},
    "DataSource": {"name": "String"},
}
"""Entity types and their attributes. Every type but Session is a member of
its session."""


def _cedar_type(name: str) -> dict[str, Any]:
    if name == "Set<String>":
        return {"type": "Set", "element": {"type": "String"}}
    return {"type": name}


def build_schema(template: Template) -> dict[str, Any]:
    """Return the Cedar JSON schema for a template's crossing kinds."""
    entity_types: dict[str, Any] = {}
    for entity, attributes in ENTITY_TYPES.items():
        entry: dict[str, Any] = {
            "shape": {
                "type": "Record",
                "attributes": {
                    key: _cedar_type(kind) for key, kind in attributes.items()
                },
            }
        }
        if entity != "Session":
            entry["memberOfTypes"] = ["Session"]
        entity_types[entity] = entry
    context = {
        "type": "Record",
        "attributes": {
            attribute.name: {
                **_cedar_type(attribute.cedar_type),
                "required": attribute.required,
            }
            for attribute in CONTEXT_ATTRIBUTES
        },
    }
    actions = {
        kind: {
            "appliesTo": {
                "principalTypes": ["Participant"],
                "resourceTypes": sorted(ENTITY_TYPES),
                "context": context,
            }
        }
        for kind in template.kinds
    }
    return {"": {"entityTypes": entity_types, "actions": actions}}
