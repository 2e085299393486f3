"""Token usage of one model invocation, normalised into disjoint parts."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BREAKDOWN_FIELDS", "PART_FIELDS", "TokenUsage", "UsageError"]

PART_FIELDS = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
"""The five disjoint parts. Every token of an invocation is in exactly one."""

BREAKDOWN_FIELDS = (
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "input_video_tokens",
    "cache_read_audio_tokens",
    "cache_read_image_tokens",
    "output_audio_tokens",
    "output_image_tokens",
    "output_video_tokens",
    "output_citation_tokens",
)
"""Subsets of the parts that some models price at their own rate.

They are never added to ``total_tokens``, because each token they count is
already counted in one of the five parts.
"""

# Every TokenUsage field in declaration order, so validation needs no
# dataclasses.fields() call.
_ALL_FIELDS = PART_FIELDS + BREAKDOWN_FIELDS
_read_all = operator.attrgetter(*_ALL_FIELDS)
_INT_ONLY = {int}


class UsageError(ValueError):
    """A usage block that cannot be normalised: a negative count, or a part
    larger than the total it belongs to."""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one model invocation, split into parts that never overlap.

    Providers report inclusive totals (input tokens that include cached
    tokens, output tokens that include reasoning tokens). Here each token is
    counted in exactly one of the five parts, so ``total_tokens`` is a plain
    sum and a cached token can never be counted twice: a prompt of 17,903
    tokens of which 17,817 were read from cache is
    ``input_uncached_tokens=86`` and ``cache_read_tokens=17817``.

    The remaining fields are breakdowns: subsets of the parts that some models
    price differently, such as audio input or one-hour cache writes. They
    default to 0, which means "not reported", and are not part of the total.
    """

    input_uncached_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    """Output tokens other than reasoning tokens."""
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    """Of ``cache_write_tokens``, those written with a one-hour lifetime."""
    input_audio_tokens: int = 0
    """Of all input tokens (uncached, cache read and cache write), audio ones."""
    input_image_tokens: int = 0
    """Of all input tokens, image ones (Gemini counts document pages here)."""
    input_video_tokens: int = 0
    """Of all input tokens, video ones."""
    cache_read_audio_tokens: int = 0
    """Of ``cache_read_tokens``, audio ones; also counted in ``input_audio_tokens``."""
    cache_read_image_tokens: int = 0
    """Of ``cache_read_tokens``, image ones; also counted in ``input_image_tokens``."""
    output_audio_tokens: int = 0
    """Of ``output_tokens`` (reasoning excluded), audio ones."""
    output_image_tokens: int = 0
    """Of ``output_tokens`` (reasoning excluded), image ones."""
    output_video_tokens: int = 0
    """Of ``output_tokens`` (reasoning excluded), video ones."""
    output_citation_tokens: int = 0
    """Of ``output_tokens`` (reasoning excluded), citation tokens (Perplexity)."""
    _json: dict[str, int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        values = _read_all(self)
        # Nearly every usage takes this path, so it checks with set and min,
        # which run in C.
        if set(map(type, values)) == _INT_ONLY and min(values) >= 0:
            if any(values[len(PART_FIELDS) :]):
                self._check_breakdowns()
            return
        for name in _ALL_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{name}={value!r} must be an integer token count")
            if value < 0:
                raise UsageError(f"{name}={value} is negative; token counts start at 0")
        if any(getattr(self, name) for name in BREAKDOWN_FIELDS):
            self._check_breakdowns()

    def _check_breakdowns(self) -> None:
        _check_subset(self, ("cache_write_1h_tokens",), "cache_write_tokens")
        _check_subset(
            self,
            ("cache_read_audio_tokens", "cache_read_image_tokens"),
            "cache_read_tokens",
        )
        _check_subset(self, ("cache_read_audio_tokens",), "input_audio_tokens")
        _check_subset(self, ("cache_read_image_tokens",), "input_image_tokens")
        _check_subset(
            self,
            ("input_audio_tokens", "input_image_tokens", "input_video_tokens"),
            "input_total_tokens",
        )
        _check_subset(
            self,
            (
                "output_audio_tokens",
                "output_image_tokens",
                "output_video_tokens",
                "output_citation_tokens",
            ),
            "output_tokens",
        )

    @classmethod
    def from_inclusive(
        cls,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> TokenUsage:
        """Split inclusive provider totals into disjoint parts.

        Args:
            input_tokens: All input tokens, cached ones included (the
                OpenTelemetry ``gen_ai.usage.input_tokens`` meaning).
            output_tokens: All output tokens, reasoning included.
            cache_read_tokens: Input tokens read from the provider's cache.
            cache_write_tokens: Input tokens written to the provider's cache.
            reasoning_tokens: Output tokens spent on reasoning.

        Raises:
            UsageError: If a part is larger than the total it belongs to.
        """
        cached = cache_read_tokens + cache_write_tokens
        if cached > input_tokens:
            raise UsageError(
                f"cache_read_tokens={cache_read_tokens} + cache_write_tokens="
                f"{cache_write_tokens} exceed input_tokens={input_tokens}; cached "
                "tokens are part of the input total"
            )
        if reasoning_tokens > output_tokens:
            raise UsageError(
                f"reasoning_tokens={reasoning_tokens} exceed output_tokens="
                f"{output_tokens}; reasoning tokens are part of the output total"
            )
        return cls(
            input_uncached_tokens=input_tokens - cached,
            cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens,
            output_tokens=output_tokens - reasoning_tokens,
            reasoning_tokens=reasoning_tokens,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TokenUsage:
        """Rebuild a usage from the object that ``to_json`` returns.

        Raises:
            UsageError: If a key is not a TokenUsage field or a count is invalid.
        """
        known = set(PART_FIELDS) | set(BREAKDOWN_FIELDS)
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(
                f"unknown token usage keys {unknown}; expected only {sorted(known)}"
            )
        counts: dict[str, Any] = dict(data)
        return cls(**counts)

    @property
    def input_total_tokens(self) -> int:
        """All input tokens: uncached, read from cache and written to cache."""
        return (
            self.input_uncached_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
        )

    @property
    def output_total_tokens(self) -> int:
        """All output tokens, reasoning included."""
        return self.output_tokens + self.reasoning_tokens

    @property
    def total_tokens(self) -> int:
        """Every token of the invocation, each counted once."""
        return self.input_total_tokens + self.output_total_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        sums = {
            name: getattr(self, name) + getattr(other, name) for name in _ALL_FIELDS
        }
        return TokenUsage(**sums)

    def to_json(self) -> dict[str, int]:
        """Return the five parts, and each non-zero breakdown, as a JSON object.

        The object is built once and shared: callers must not change it.
        """
        if self._json is not None:
            return self._json
        result = {name: getattr(self, name) for name in PART_FIELDS}
        for name in BREAKDOWN_FIELDS:
            value = getattr(self, name)
            if value:
                result[name] = value
        object.__setattr__(self, "_json", result)
        return result


def _check_subset(usage: TokenUsage, parts: tuple[str, ...], whole: str) -> None:
    part_sum = sum(getattr(usage, name) for name in parts)
    whole_value = getattr(usage, whole)
    if part_sum > whole_value:
        named = " + ".join(f"{name}={getattr(usage, name)}" for name in parts)
        raise UsageError(
            f"{named} exceed {whole}={whole_value}; these tokens are a subset of "
            f"{whole}, so lower them or raise {whole}"
        )
