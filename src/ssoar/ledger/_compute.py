"""The compute ledger: tokens per crossing and, where known, FLOPs."""

from __future__ import annotations

from dataclasses import dataclass

from ssoar.ledger._flops import estimate_flops
from ssoar.model._crossing import Crossing, UsageSource
from ssoar.model._usage import TokenUsage

__all__ = ["ComputeEntry", "meter_crossing"]


@dataclass(slots=True)
class ComputeEntry:
    """The compute one crossing consumed.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    crossing_id: str
    model: str | None
    provider: str | None
    usage: TokenUsage
    usage_source: UsageSource
    flops: int | None
    """None when the model's size is not published: unknown, never guessed."""
    flops_basis: str | None

    def to_json(self) -> dict[str, object]:
        """Return the entry as a JSON object; FLOPs as a decimal string."""
        return {
            "model": self.model,
            "provider": self.provider,
            "usage": self.usage.to_json(),
            "usage_source": self.usage_source.value,
            "flops": None if self.flops is None else str(self.flops),
            "flops_basis": self.flops_basis,
        }


def meter_crossing(crossing: Crossing) -> ComputeEntry:
    """Meter a crossing's compute from its usage."""
    usage = crossing.usage or TokenUsage()
    model = _text(crossing.attributes.get("response_model")) or _text(
        crossing.attributes.get("model")
    )
    estimate = estimate_flops(model, usage) if crossing.usage is not None else None
    return ComputeEntry(
        crossing_id=crossing.crossing_id,
        model=model,
        provider=_text(crossing.attributes.get("provider")),
        usage=usage,
        usage_source=crossing.usage_source,
        flops=estimate.flops if estimate else None,
        flops_basis=estimate.basis if estimate else None,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
