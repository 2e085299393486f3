"""Published parameter counts of open-weight models, for counting FLOPs.

A forward pass costs about two floating-point operations per active
parameter per token (Kaplan et al., "Scaling Laws for Neural Language
Models", 2020, section 2.1). ssoar counts FLOPs only for models whose
parameter count their publisher states; for every other model the compute
ledger records FLOPs as unknown instead of guessing. The estimate leaves out
attention over the context and counts no work for tokens read from a cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from ssoar.model._usage import TokenUsage

__all__ = [
    "MODEL_SIZES",
    "FlopsEstimate",
    "ModelSize",
    "estimate_flops",
    "find_model_size",
]

FLOPS_PER_PARAMETER_TOKEN = 2


@dataclass(frozen=True, slots=True)
class ModelSize:
    """A model's published size."""

    patterns: tuple[str, ...]
    """Lower-case shell patterns matched against the model name."""
    active_parameters: int
    """Parameters used per token: all of them for a dense model, the routed
    experts' share for a mixture of experts."""
    total_parameters: int
    source: str


MODEL_SIZES: tuple[ModelSize, ...] = (
    ModelSize(
        ("*llama-3.1-405b*", "*llama3.1-405b*"),
        405_000_000_000,
        405_000_000_000,
        "Meta, Llama 3.1 model card (2024-07-23): 405B",
    ),
    ModelSize(
        ("*llama-3.1-70b*", "*llama3.1-70b*", "*llama-3-70b*", "*llama3-70b*"),
        70_000_000_000,
        70_000_000_000,
        "Meta, Llama 3 and 3.1 model cards (2024): 70B",
    ),
    ModelSize(
        ("*llama-3.1-8b*", "*llama3.1-8b*", "*llama-3-8b*", "*llama3-8b*"),
        8_000_000_000,
        8_000_000_000,
        "Meta, Llama 3 and 3.1 model cards (2024): 8B",
    ),
    ModelSize(
        ("*mixtral-8x22b*",),
        39_000_000_000,
        141_000_000_000,
        "Mistral AI, 'Cheaper, Better, Faster, Stronger' (2024-04-17): 141B total, "
        "39B active",
    ),
    ModelSize(
        ("*mixtral-8x7b*",),
        12_900_000_000,
        46_700_000_000,
        "Mistral AI, 'Mixtral of experts' (2023-12-11): 46.7B total, 12.9B per token",
    ),
    ModelSize(
        ("*mistral-7b*",),
        7_300_000_000,
        7_300_000_000,
        "Mistral AI, 'Mistral 7B' (2023-09-27): 7.3B",
    ),
    ModelSize(
        (
            "deepseek-v3",
            "deepseek-v3-[0-9]*",
            "*/deepseek-v3",
            "*/deepseek-v3-[0-9]*",
            "deepseek-r1",
            "deepseek-r1-[0-9]*",
            "*/deepseek-r1",
            "*/deepseek-r1-[0-9]*",
            "deepseek-chat",
            "deepseek-reasoner",
        ),
        37_000_000_000,
        671_000_000_000,
        "DeepSeek-V3 Technical Report (arXiv 2412.19437): 671B total, 37B activated",
    ),
    ModelSize(
        ("*gpt-oss-120b*",),
        5_100_000_000,
        117_000_000_000,
        "OpenAI, gpt-oss model card (2025-08-05): 117B total, 5.1B active",
    ),
    ModelSize(
        ("*gpt-oss-20b*",),
        3_600_000_000,
        21_000_000_000,
        "OpenAI, gpt-oss model card (2025-08-05): 21B total, 3.6B active",
    ),
)


@dataclass(frozen=True, slots=True)
class FlopsEstimate:
    """FLOPs of one invocation and how they were computed."""

    flops: int
    basis: str


@lru_cache(maxsize=4096)
def find_model_size(model: str) -> ModelSize | None:
    """Return the published size of ``model``, or None when none is published."""
    name = model.lower()
    for size in MODEL_SIZES:
        if any(fnmatchcase(name, pattern) for pattern in size.patterns):
            return size
    return None


def estimate_flops(model: str | None, usage: TokenUsage) -> FlopsEstimate | None:
    """Estimate the FLOPs of an invocation, or return None when the size is unknown."""
    if model is None:
        return None
    size = find_model_size(model)
    if size is None:
        return None
    tokens = (
        usage.input_uncached_tokens
        + usage.cache_write_tokens
        + usage.output_tokens
        + usage.reasoning_tokens
    )
    flops = FLOPS_PER_PARAMETER_TOKEN * size.active_parameters * tokens
    basis = (
        f"2 x {size.active_parameters} active parameters x {tokens} tokens "
        f"(cache reads excluded); {size.source}"
    )
    return FlopsEstimate(flops, basis)
