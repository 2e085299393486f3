"""Reference tables for the documentation, generated from the code that defines them.

``make docs`` writes them between marker comments in ``docs/*.md``, and a
test fails when a page no longer matches, so the documentation cannot drift
from the defaults it describes.
"""

from __future__ import annotations

from collections.abc import Callable

from ssoar.config._settings import settings_reference
from ssoar.ledger._billing import DEFAULT_TOLLS_USD
from ssoar.ledger._flops import MODEL_SIZES
from ssoar.model._template import load_template
from ssoar.policy._schema import CONTEXT_ATTRIBUTES
from ssoar.settlement._exceptions import (
    DEFAULT_REVIEW_COSTS_USD,
    REASON_DESCRIPTIONS,
    ReasonCode,
)

__all__ = ["REFERENCES", "render_reference"]


def _crossing_map(template_name: str) -> str:
    template = load_template(template_name)
    lines = [
        "| Crossing kind | Who enters or acts | Ledgers it must touch "
        "| The booth's question |",
        "|---|---|---|---|",
    ]
    for spec in template.kinds.values():
        actors = ", ".join(actor.value for actor in spec.actors) or "the whole session"
        ledgers = ", ".join(sorted(ledger.value for ledger in spec.ledgers))
        lines.append(f"| `{spec.kind}` | {actors} | {ledgers} | {spec.question} |")
    return "\n".join(lines) + "\n"


def _context() -> str:
    lines = [
        "| Attribute | Cedar type | Always present | Meaning |",
        "|---|---|---|---|",
    ]
    for attribute in CONTEXT_ATTRIBUTES:
        required = "yes" if attribute.required else "no"
        lines.append(
            f"| `context.{attribute.name}` | {attribute.cedar_type} | {required} | "
            f"{attribute.doc} |"
        )
    return "\n".join(lines) + "\n"


def _reasons() -> str:
    lines = [
        "| Reason code | Default review cost (USD) | Meaning |",
        "|---|---|---|",
    ]
    for reason in ReasonCode:
        doc = REASON_DESCRIPTIONS[reason]
        cost = DEFAULT_REVIEW_COSTS_USD.get(reason, 0)
        lines.append(f"| `{reason.value}` | {cost} | {doc} |")
    return "\n".join(lines) + "\n"


def _tolls() -> str:
    lines = ["| Crossing kind | Default toll (USD) |", "|---|---|"]
    for kind, amount in DEFAULT_TOLLS_USD.items():
        lines.append(f"| `{kind}` | {amount} |")
    return "\n".join(lines) + "\n"


def _model_sizes() -> str:
    lines = [
        "| Model names | Active parameters | Total parameters | Source |",
        "|---|---|---|---|",
    ]
    for size in MODEL_SIZES:
        patterns = ", ".join(f"`{pattern}`" for pattern in size.patterns)
        lines.append(
            f"| {patterns} | {size.active_parameters:,} | {size.total_parameters:,} | "
            f"{size.source} |"
        )
    return "\n".join(lines) + "\n"


REFERENCES: dict[str, Callable[[], str]] = {
    "settings": settings_reference,
    "crossing-map-generic": lambda: _crossing_map("generic"),
    "crossing-map-agentic-workflow": lambda: _crossing_map("agentic-workflow"),
    "context": _context,
    "reasons": _reasons,
    "tolls": _tolls,
    "model-sizes": _model_sizes,
}
"""Every generated table, by the name used in its marker comment."""


def render_reference(name: str) -> str:
    """Return one generated table."""
    return REFERENCES[name]()
