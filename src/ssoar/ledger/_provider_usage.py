"""Normalise raw provider usage blocks into TokenUsage.

Every provider reports usage in its own shape and with its own idea of what a
total includes. Each shape has one named rule here, and each rule states which
keys it reads and how they map onto the disjoint parts of ``TokenUsage``:

=====================  =====================================================
Rule                   Usage block
=====================  =====================================================
``openai_chat``        OpenAI Chat Completions and the many APIs that copy it
                       (Azure OpenAI, Groq, Mistral, DeepSeek, OpenRouter,
                       Together, Fireworks, Cerebras, Hugging Face, ...)
``openai_responses``   OpenAI Responses API (also OpenRouter's default)
``openai_embeddings``  OpenAI Embeddings
``anthropic_messages`` Anthropic Messages, also served by Bedrock, Vertex AI
                       and Azure
``bedrock_converse``   AWS Bedrock Converse
``gemini``             Google Gemini and Vertex AI ``usageMetadata``, in the
                       REST camelCase or the Python SDK snake_case spelling
``cohere_billed``      Cohere ``billed_units`` (v2 ``usage``, v1 ``meta``)
``cohere_tokens``      Cohere raw ``tokens`` counts
``xai_chat``           xAI Chat Completions, where reasoning tokens are not
                       part of ``completion_tokens``
``xai_sdk``            xAI SDK usage with top-level ``reasoning_tokens``
``perplexity``         Perplexity Chat Completions with reasoning and
                       citation tokens outside ``completion_tokens``
=====================  =====================================================

The rule is chosen from the provider and API flavour when they are given
(``select_rule``), otherwise from the keys of the block. Keys a rule does not
read are never dropped silently: ``parse_usage`` returns them in
``ParsedUsage.unmapped`` so the caller can record them. Only keys that carry
no billable count, such as Groq's timings, are ignored, and each rule lists
them. A provider's grand total (``total_tokens``) is compared with the
normalised total and returned as unmapped when the two differ.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ssoar.ledger._pricing import resolve_provider_id
from ssoar.model._usage import TokenUsage, UsageError

__all__ = [
    "USAGE_RULES",
    "ParsedUsage",
    "UsageRule",
    "normalise_usage",
    "parse_usage",
    "select_rule",
]

_Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ParsedUsage:
    """A normalised usage block and what the normaliser did not read."""

    usage: TokenUsage
    rule: str
    """The name of the rule that read the block."""
    unmapped: Mapping[str, object]
    """Each value the rule does not know, by its path in the input, such as
    ``{"usage.server_tool_use.web_search_requests": 2}``. A reported total
    that differs from ``usage.total_tokens`` is included too, because the
    difference is tokens that no key the rule reads accounts for."""


@dataclass(frozen=True, slots=True)
class UsageRule:
    """One documented mapping from a provider's usage block to TokenUsage."""

    name: str
    summary: str
    parse: Callable[[_Reader], TokenUsage]
    ignored: frozenset[str]
    """Dotted keys that carry no billable count, with everything under them."""
    total_keys: tuple[str, ...] = ()
    """Spellings of the provider's own grand total, read only as a check."""


def normalise_usage(
    body: Mapping[str, Any],
    *,
    provider: str | None = None,
    api_flavor: str | None = None,
) -> TokenUsage:
    """Turn a provider's usage block into disjoint token counts.

    Use ``parse_usage`` to also get the keys the rule did not read.

    Args:
        body: The usage block (such as a response's ``usage``), or a whole
            response body that contains one under ``usage``,
            ``usageMetadata``, ``usage_metadata`` or Cohere's ``meta``.
        provider: The provider name, in genai-prices, OpenTelemetry or
            OpenInference spelling; it picks between shapes that look alike.
        api_flavor: The API flavour in genai-prices terms (``chat``,
            ``responses``, ``embeddings``, ``anthropic``, ``tokens`` or
            ``default``) or a rule name from ``USAGE_RULES``.

    Raises:
        UsageError: If the block is not a known shape, a count is invalid, or
            a part is larger than the total it belongs to.
    """
    return parse_usage(body, provider=provider, api_flavor=api_flavor).usage


def parse_usage(
    body: Mapping[str, Any],
    *,
    provider: str | None = None,
    api_flavor: str | None = None,
) -> ParsedUsage:
    """Normalise a usage block and list the values the rule did not read.

    Takes the same arguments and raises the same errors as
    ``normalise_usage``.
    """
    block, label = _locate_block(body)
    rule = select_rule(block, provider=provider, api_flavor=api_flavor)
    if label is None:
        label = _default_label(rule, block)
    reader = _Reader(block, label)
    try:
        usage = rule.parse(reader)
    except UsageError as error:
        raise UsageError(f"{error} (usage rule {rule.name})") from None
    for total_key in rule.total_keys:
        if reader.value((total_key,)) == usage.total_tokens:
            reader.mark_read((total_key,))
    unmapped = {
        reader.text(path): value
        for path, value in _leaves(block, ())
        if not reader.was_read(path) and not _is_ignored(path, rule.ignored)
    }
    return ParsedUsage(usage=usage, rule=rule.name, unmapped=unmapped)


def select_rule(
    block: Mapping[str, Any],
    *,
    provider: str | None = None,
    api_flavor: str | None = None,
) -> UsageRule:
    """Choose the rule for a usage block.

    An explicit ``api_flavor`` wins: it is a rule name, or a genai-prices
    flavour looked up for the provider (``chat`` is ``xai_chat`` for xAI and
    ``openai_chat`` otherwise). Without one, or with ``default`` and no known
    provider, the block's keys decide, and the provider only settles shapes
    that look alike.

    Raises:
        UsageError: If the flavour is unsupported or the shape is unknown.
    """
    provider_id = resolve_provider_id(provider)
    if api_flavor is not None and not (api_flavor == "default" and not provider_id):
        return USAGE_RULES[_rule_for_flavor(api_flavor, provider_id)]
    return USAGE_RULES[_rule_for_keys(block, provider_id)]


_FLAVOR_RULES: Mapping[tuple[str | None, str], str] = {
    (None, "chat"): "openai_chat",
    ("x-ai", "chat"): "xai_chat",
    (None, "responses"): "openai_responses",
    (None, "embeddings"): "openai_embeddings",
    ("cohere", "embeddings"): "cohere_billed",
    (None, "anthropic"): "anthropic_messages",
    ("cohere", "tokens"): "cohere_tokens",
    (None, "default"): "openai_chat",
    ("anthropic", "default"): "anthropic_messages",
    ("minimax", "default"): "anthropic_messages",
    ("aws", "default"): "bedrock_converse",
    ("google", "default"): "gemini",
    ("cohere", "default"): "cohere_billed",
    ("x-ai", "default"): "xai_sdk",
    ("perplexity", "default"): "perplexity",
    ("openrouter", "default"): "openai_responses",
}
"""Rules for genai-prices API flavours, by provider id (``None``: any)."""


def _rule_for_flavor(api_flavor: str, provider_id: str | None) -> str:
    if api_flavor in USAGE_RULES:
        return api_flavor
    rule = _FLAVOR_RULES.get((provider_id, api_flavor))
    if rule is None:
        rule = _FLAVOR_RULES.get((None, api_flavor))
    if rule is None:
        flavors = sorted({flavor for _, flavor in _FLAVOR_RULES})
        raise UsageError(
            f"api_flavor={api_flavor!r} is not supported for provider "
            f"{provider_id!r}; use one of {flavors} or a rule name from "
            f"{sorted(USAGE_RULES)}"
        )
    return rule


_GEMINI_KEYS = frozenset(
    {
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "cachedContentTokenCount",
        "toolUsePromptTokenCount",
        "totalTokenCount",
        "prompt_token_count",
        "candidates_token_count",
        "thoughts_token_count",
        "cached_content_token_count",
        "tool_use_prompt_token_count",
        "total_token_count",
    }
)


def _rule_for_keys(block: Mapping[str, Any], provider_id: str | None) -> str:
    keys = set(block)
    if keys & _GEMINI_KEYS:
        return "gemini"
    if keys & {"inputTokens", "outputTokens"}:
        return "bedrock_converse"
    if keys & {"billed_units", "tokens"}:
        return "cohere_billed"
    if keys & {"cache_creation_input_tokens", "cache_read_input_tokens"}:
        return "anthropic_messages"
    if "input_tokens" in keys:
        # Without cache keys both shapes read the same; the provider decides.
        if provider_id == "anthropic":
            return "anthropic_messages"
        return "openai_responses"
    if "prompt_tokens" in keys:
        return _chat_rule_for_keys(keys, provider_id)
    raise UsageError(
        f"usage block with keys {sorted(keys)} matches no known provider shape; "
        f"pass api_flavor (one of the rules {sorted(USAGE_RULES)})"
    )


def _chat_rule_for_keys(keys: set[str], provider_id: str | None) -> str:
    if provider_id == "x-ai":
        flat = "completion_tokens_details" not in keys and (
            keys & {"reasoning_tokens", "cached_prompt_text_tokens"}
        )
        return "xai_sdk" if flat else "xai_chat"
    if provider_id == "perplexity":
        return "perplexity"
    if "completion_tokens" not in keys:
        return "openai_embeddings"
    return "openai_chat"


def _locate_block(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    for key in ("usage", "usageMetadata", "usage_metadata"):
        value = body.get(key)
        if isinstance(value, Mapping):
            return value, key
    meta = body.get("meta")
    if isinstance(meta, Mapping) and ("billed_units" in meta or "tokens" in meta):
        return meta, "meta"
    return body, None


def _default_label(rule: UsageRule, block: Mapping[str, Any]) -> str:
    if rule.name != "gemini":
        return "usage"
    return "usage_metadata" if "prompt_token_count" in block else "usageMetadata"


class _Reader:
    """A reader of token counts from one usage block that records each path it
    reads."""

    def __init__(self, block: Mapping[str, Any], label: str) -> None:
        self.block = block
        self.label = label
        self._read: set[_Path] = set()

    def text(self, path: _Path) -> str:
        """Return a path as text, such as ``usage.details[0].tokens``."""
        text = self.label
        for step in path:
            text += f"[{step}]" if isinstance(step, int) else f".{step}"
        return text

    def was_read(self, path: _Path) -> bool:
        return any(path[:length] in self._read for length in range(len(path) + 1))

    def mark_read(self, path: _Path) -> None:
        self._read.add(path)

    def value(self, path: _Path) -> Any:
        """Return the raw value at ``path``, or None when it is missing."""
        node: Any = self.block
        for step in path:
            if isinstance(step, int):
                if not isinstance(node, list | tuple) or step >= len(node):
                    return None
            elif not isinstance(node, Mapping):
                return None
            node = node[step] if isinstance(step, int) else node.get(step)
        return node

    def count(self, *path: str | int) -> int | None:
        """Read a token count, or None when it is missing or null."""
        self.mark_read(path)
        return self._as_count(path, self.value(path))

    def require(self, *path: str | int) -> int:
        """Read a token count that the shape always has."""
        value = self.count(*path)
        if value is None:
            raise UsageError(
                f"{self.text(path)} is missing; this rule needs it, so check that "
                "the block has this shape or pass the matching api_flavor"
            )
        return value

    def first(self, *paths: _Path) -> tuple[int, _Path] | None:
        """Read the first present count of several spellings of one value.

        Raises:
            UsageError: If two spellings are present and disagree.
        """
        found: tuple[int, _Path] | None = None
        for path in paths:
            value = self.count(*path)
            if value is None:
                continue
            if found is not None and found[0] != value:
                raise UsageError(
                    f"{self.text(found[1])}={found[0]} and {self.text(path)}={value} "
                    "report the same count differently; fix the producer of the "
                    "block"
                )
            found = found or (value, path)
        return found

    def check_part(
        self, part: int, part_text: str, whole: int, whole_text: str, reason: str
    ) -> None:
        """Raise when a part is larger than the total it belongs to."""
        if part > whole:
            raise UsageError(
                f"{part_text} is {part}, more than {whole_text} ({whole}); "
                f"{reason}, so the part cannot be larger. The block may come from "
                "another API: pass the matching api_flavor, or fix the producer "
                "of the block"
            )

    def _as_count(self, path: _Path, value: Any) -> int | None:
        if value is None:
            return None
        count: int | None = None
        if isinstance(value, float) and value.is_integer():
            count = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            count = value
        if count is None or count < 0:
            raise UsageError(
                f"{self.text(path)}={value!r} is not a token count; expected a "
                "non-negative integer"
            )
        return count


def _leaves(node: Any, path: _Path) -> Iterator[tuple[_Path, object]]:
    """Yield every leaf value with its path, skipping nulls, which carry no
    count."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    elif node is not None:
        yield path, node


def _is_ignored(path: _Path, ignored: frozenset[str]) -> bool:
    dotted = ""
    for step in path:
        if isinstance(step, int):
            return False
        dotted = f"{dotted}.{step}" if dotted else step
        if dotted in ignored:
            return True
    return False


def _parse_openai_chat(reader: _Reader) -> TokenUsage:
    """Read an OpenAI Chat Completions usage block.

    ``prompt_tokens`` includes the cached tokens in
    ``prompt_tokens_details.cached_tokens`` (also spelled
    ``prompt_cache_hit_tokens`` by DeepSeek and ``cached_tokens`` at the top
    level by some compatible servers) and the cache writes in
    ``prompt_tokens_details.cache_write_tokens`` (OpenRouter).
    ``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens``.
    The audio, image and video counts of both details objects are breakdowns.
    """
    return _read_chat(reader, reasoning_in_completion=True)


def _parse_xai_chat(reader: _Reader) -> TokenUsage:
    """Read an xAI Chat Completions usage block.

    The keys are OpenAI's, but xAI bills
    ``completion_tokens_details.reasoning_tokens`` on top of
    ``completion_tokens``, which does not include them.
    """
    return _read_chat(reader, reasoning_in_completion=False)


def _read_chat(reader: _Reader, *, reasoning_in_completion: bool) -> TokenUsage:
    prompt = reader.require("prompt_tokens")
    completion = reader.require("completion_tokens")

    cached = reader.first(
        ("prompt_tokens_details", "cached_tokens"),
        ("prompt_cache_hit_tokens",),
        ("cached_tokens",),
    )
    cache_read, read_path = cached or (0, ("prompt_tokens_details", "cached_tokens"))
    write_path = ("prompt_tokens_details", "cache_write_tokens")
    cache_write = reader.count(*write_path) or 0
    _check_cached(
        reader,
        (read_path, cache_read),
        (write_path, cache_write),
        (("prompt_tokens",), prompt),
    )

    reasoning_path = ("completion_tokens_details", "reasoning_tokens")
    reasoning = reader.count(*reasoning_path) or 0
    output = completion
    if reasoning_in_completion:
        reader.check_part(
            reasoning,
            reader.text(reasoning_path),
            completion,
            reader.text(("completion_tokens",)),
            "reasoning tokens are part of the completion",
        )
        output = completion - reasoning

    return TokenUsage(
        input_uncached_tokens=prompt - cache_read - cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=output,
        reasoning_tokens=reasoning,
        **_chat_modalities(reader, prompt, completion),
    )


_CHAT_MODALITIES = {
    "input_audio_tokens": ("prompt_tokens_details", "audio_tokens"),
    "input_image_tokens": ("prompt_tokens_details", "image_tokens"),
    "input_video_tokens": ("prompt_tokens_details", "video_tokens"),
    "output_audio_tokens": ("completion_tokens_details", "audio_tokens"),
    "output_image_tokens": ("completion_tokens_details", "image_tokens"),
}
"""TokenUsage breakdown fields and the chat usage keys they are read from."""


def _chat_modalities(reader: _Reader, prompt: int, completion: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, path in _CHAT_MODALITIES.items():
        counts[name] = reader.count(*path) or 0
        total_key = "prompt_tokens" if name.startswith("input") else "completion_tokens"
        reader.check_part(
            counts[name],
            reader.text(path),
            prompt if total_key == "prompt_tokens" else completion,
            reader.text((total_key,)),
            "a modality count is a breakdown of that total",
        )
    return counts


def _check_cached(
    reader: _Reader,
    read: tuple[_Path, int],
    write: tuple[_Path, int],
    whole: tuple[_Path, int],
) -> None:
    """Check that cache reads, and reads plus writes, fit in the input total."""
    (read_path, cache_read), (write_path, cache_write), (whole_path, total) = (
        read,
        write,
        whole,
    )
    reason = "cached tokens are part of the input total"
    whole_text = reader.text(whole_path)
    reader.check_part(cache_read, reader.text(read_path), total, whole_text, reason)
    if cache_write:
        both = f"{reader.text(read_path)} + {reader.text(write_path)}"
        reader.check_part(cache_read + cache_write, both, total, whole_text, reason)


def _parse_xai_sdk(reader: _Reader) -> TokenUsage:
    """Read the usage of the xAI SDK.

    ``prompt_tokens`` includes ``cached_prompt_text_tokens`` and
    ``prompt_image_tokens``; ``reasoning_tokens`` are billed on top of
    ``completion_tokens``.
    """
    prompt = reader.require("prompt_tokens")
    completion = reader.require("completion_tokens")
    cached = reader.count("cached_prompt_text_tokens") or 0
    image = reader.count("prompt_image_tokens") or 0
    for part, key in (
        (cached, "cached_prompt_text_tokens"),
        (image, "prompt_image_tokens"),
    ):
        reader.check_part(
            part,
            reader.text((key,)),
            prompt,
            reader.text(("prompt_tokens",)),
            "that count is part of the prompt",
        )
    return TokenUsage(
        input_uncached_tokens=prompt - cached,
        cache_read_tokens=cached,
        output_tokens=completion,
        reasoning_tokens=reader.count("reasoning_tokens") or 0,
        input_image_tokens=image,
    )


def _parse_perplexity(reader: _Reader) -> TokenUsage:
    """Read a Perplexity Chat Completions usage block.

    ``reasoning_tokens`` and ``citation_tokens`` are billed on top of
    ``completion_tokens``. Search counts such as ``num_search_queries`` are
    not tokens and stay unmapped.
    """
    prompt = reader.require("prompt_tokens")
    completion = reader.require("completion_tokens")
    citation = reader.count("citation_tokens") or 0
    return TokenUsage(
        input_uncached_tokens=prompt,
        output_tokens=completion + citation,
        reasoning_tokens=reader.count("reasoning_tokens") or 0,
        output_citation_tokens=citation,
    )


def _parse_openai_responses(reader: _Reader) -> TokenUsage:
    """Read an OpenAI Responses API usage block.

    ``input_tokens`` includes ``input_tokens_details.cached_tokens`` and
    ``input_tokens_details.cache_write_tokens``; ``output_tokens`` includes
    ``output_tokens_details.reasoning_tokens``.
    """
    total_in = reader.require("input_tokens")
    total_out = reader.require("output_tokens")
    read_path = ("input_tokens_details", "cached_tokens")
    write_path = ("input_tokens_details", "cache_write_tokens")
    reasoning_path = ("output_tokens_details", "reasoning_tokens")
    cache_read = reader.count(*read_path) or 0
    cache_write = reader.count(*write_path) or 0
    reasoning = reader.count(*reasoning_path) or 0
    _check_cached(
        reader,
        (read_path, cache_read),
        (write_path, cache_write),
        (("input_tokens",), total_in),
    )
    reader.check_part(
        reasoning,
        reader.text(reasoning_path),
        total_out,
        reader.text(("output_tokens",)),
        "reasoning tokens are part of the output",
    )
    return TokenUsage(
        input_uncached_tokens=total_in - cache_read - cache_write,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        output_tokens=total_out - reasoning,
        reasoning_tokens=reasoning,
    )


def _parse_openai_embeddings(reader: _Reader) -> TokenUsage:
    """Read an OpenAI Embeddings usage block: only ``prompt_tokens``."""
    return TokenUsage(input_uncached_tokens=reader.require("prompt_tokens"))


def _parse_anthropic(reader: _Reader) -> TokenUsage:
    """Read an Anthropic Messages usage block.

    ``input_tokens`` excludes the cache: ``cache_read_input_tokens`` and
    ``cache_creation_input_tokens`` come on top of it. The cache writes split
    into ``cache_creation.ephemeral_5m_input_tokens`` and
    ``cache_creation.ephemeral_1h_input_tokens``. When only that split is
    present, its sum is the cache write count. ``output_tokens`` includes
    ``output_tokens_details.thinking_tokens``. Server tool counts such as
    ``server_tool_use.web_search_requests`` are not tokens and stay unmapped.
    """
    uncached = reader.require("input_tokens")
    output = reader.require("output_tokens")
    cache_read = reader.count("cache_read_input_tokens") or 0
    written = reader.count("cache_creation_input_tokens")
    five_minutes_path = ("cache_creation", "ephemeral_5m_input_tokens")
    one_hour_path = ("cache_creation", "ephemeral_1h_input_tokens")
    five_minutes = reader.count(*five_minutes_path) or 0
    one_hour = reader.count(*one_hour_path) or 0
    if written is None:
        written = five_minutes + one_hour
    reader.check_part(
        five_minutes + one_hour,
        f"{reader.text(five_minutes_path)} + {reader.text(one_hour_path)}",
        written,
        reader.text(("cache_creation_input_tokens",)),
        "the split by lifetime is part of the cache writes",
    )
    thinking_path = ("output_tokens_details", "thinking_tokens")
    thinking = reader.count(*thinking_path) or 0
    reader.check_part(
        thinking,
        reader.text(thinking_path),
        output,
        reader.text(("output_tokens",)),
        "thinking tokens are part of the output",
    )
    return TokenUsage(
        input_uncached_tokens=uncached,
        cache_read_tokens=cache_read,
        cache_write_tokens=written,
        output_tokens=output - thinking,
        reasoning_tokens=thinking,
        cache_write_1h_tokens=one_hour,
    )


def _parse_bedrock_converse(reader: _Reader) -> TokenUsage:
    """Read an AWS Bedrock Converse usage block.

    ``inputTokens`` excludes the cache: ``cacheReadInputTokens`` and
    ``cacheWriteInputTokens`` (also spelled ``...TokenCount``) come on top of
    it. ``cacheDetails`` entries with ``ttl`` ``"1h"`` are one-hour writes.
    """
    uncached = reader.require("inputTokens")
    output = reader.require("outputTokens")
    read = reader.first(("cacheReadInputTokens",), ("cacheReadInputTokenCount",))
    written = reader.first(("cacheWriteInputTokens",), ("cacheWriteInputTokenCount",))
    cache_write = written[0] if written else 0
    one_hour = 0
    details = reader.value(("cacheDetails",))
    if isinstance(details, Sequence) and not isinstance(details, str):
        for index, item in enumerate(details):
            ttl = item.get("ttl") if isinstance(item, Mapping) else None
            if ttl not in ("5m", "1h"):
                continue
            tokens = reader.count("cacheDetails", index, "inputTokens") or 0
            reader.mark_read(("cacheDetails", index))
            one_hour += tokens if ttl == "1h" else 0
    reader.check_part(
        one_hour,
        reader.text(("cacheDetails",)) + " with ttl 1h",
        cache_write,
        reader.text(written[1] if written else ("cacheWriteInputTokens",)),
        "one-hour writes are part of the cache writes",
    )
    return TokenUsage(
        input_uncached_tokens=uncached,
        cache_read_tokens=read[0] if read else 0,
        cache_write_tokens=cache_write,
        output_tokens=output,
        cache_write_1h_tokens=one_hour,
    )


_GEMINI_SNAKE_CASE = {
    "promptTokenCount": "prompt_token_count",
    "cachedContentTokenCount": "cached_content_token_count",
    "toolUsePromptTokenCount": "tool_use_prompt_token_count",
    "candidatesTokenCount": "candidates_token_count",
    "thoughtsTokenCount": "thoughts_token_count",
    "promptTokensDetails": "prompt_tokens_details",
    "toolUsePromptTokensDetails": "tool_use_prompt_tokens_details",
    "cacheTokensDetails": "cache_tokens_details",
    "candidatesTokensDetails": "candidates_tokens_details",
    "tokenCount": "token_count",
}

# Document tokens count as image tokens, as genai-prices 0.2.3's Gemini
# extractor also counts them.
_GEMINI_MODALITIES = {
    "TEXT": "TEXT",
    "IMAGE": "IMAGE",
    "DOCUMENT": "IMAGE",
    "AUDIO": "AUDIO",
    "VIDEO": "VIDEO",
}


def _parse_gemini(reader: _Reader) -> TokenUsage:
    """Read a Gemini ``usageMetadata`` block.

    ``promptTokenCount`` includes ``cachedContentTokenCount``.
    ``toolUsePromptTokenCount`` (prompts of built-in tools such as search)
    is input on top of the prompt. ``candidatesTokenCount`` excludes
    ``thoughtsTokenCount``: ``totalTokenCount`` is the sum of prompt, tool
    prompt, candidates and thoughts. The ``...TokensDetails`` lists split
    each count by modality, and document tokens count as image tokens.
    """
    snake = "prompt_token_count" in reader.block or (
        "candidates_token_count" in reader.block
    )

    def key(camel: str) -> str:
        return _GEMINI_SNAKE_CASE[camel] if snake else camel

    prompt = reader.count(key("promptTokenCount")) or 0
    cached = reader.count(key("cachedContentTokenCount")) or 0
    tool = reader.count(key("toolUsePromptTokenCount")) or 0
    candidates = reader.count(key("candidatesTokenCount")) or 0
    thoughts = reader.count(key("thoughtsTokenCount")) or 0
    reader.check_part(
        cached,
        reader.text((key("cachedContentTokenCount"),)),
        prompt,
        reader.text((key("promptTokenCount"),)),
        "cached tokens are part of the prompt",
    )
    count_key = key("tokenCount")
    by_prompt, by_tool, by_cache, by_output = (
        _modalities(reader, key(list_key), count_key, whole, key(whole_key))
        for list_key, whole, whole_key in (
            ("promptTokensDetails", prompt, "promptTokenCount"),
            ("toolUsePromptTokensDetails", tool, "toolUsePromptTokenCount"),
            ("cacheTokensDetails", cached, "cachedContentTokenCount"),
            ("candidatesTokensDetails", candidates, "candidatesTokenCount"),
        )
    )
    return TokenUsage(
        input_uncached_tokens=prompt + tool - cached,
        cache_read_tokens=cached,
        output_tokens=candidates,
        reasoning_tokens=thoughts,
        input_audio_tokens=by_prompt["AUDIO"] + by_tool["AUDIO"],
        input_image_tokens=by_prompt["IMAGE"] + by_tool["IMAGE"],
        input_video_tokens=by_prompt["VIDEO"] + by_tool["VIDEO"],
        cache_read_audio_tokens=by_cache["AUDIO"],
        cache_read_image_tokens=by_cache["IMAGE"],
        output_audio_tokens=by_output["AUDIO"],
        output_image_tokens=by_output["IMAGE"],
        output_video_tokens=by_output["VIDEO"],
    )


def _modalities(
    reader: _Reader, list_key: str, count_key: str, whole: int, whole_key: str
) -> dict[str, int]:
    """Sum a Gemini details list by modality. Unknown modalities stay unread.

    The cached video count has no field of its own: no catalogue price uses
    it, and its tokens are already in the cache read count.
    """
    totals = dict.fromkeys(_GEMINI_MODALITIES.values(), 0)
    entries = reader.value((list_key,))
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return totals
    for index, entry in enumerate(entries):
        raw = entry.get("modality") if isinstance(entry, Mapping) else None
        modality = _GEMINI_MODALITIES.get(str(raw).upper())
        if modality is None:
            continue
        totals[modality] += reader.count(list_key, index, count_key) or 0
        reader.mark_read((list_key, index))
    reader.check_part(
        sum(totals.values()),
        f"the sum of {reader.text((list_key,))}",
        whole,
        reader.text((whole_key,)),
        "the list splits that count by modality",
    )
    return totals


def _parse_cohere_billed(reader: _Reader) -> TokenUsage:
    """Read Cohere's ``billed_units``, the counts Cohere charges for.

    ``tokens`` and ``cached_tokens`` are raw counts that ``billed_units``
    already accounts for, so they are ignored.
    """
    return TokenUsage(
        input_uncached_tokens=reader.require("billed_units", "input_tokens"),
        output_tokens=reader.count("billed_units", "output_tokens") or 0,
    )


def _parse_cohere_tokens(reader: _Reader) -> TokenUsage:
    """Read Cohere's raw ``tokens`` counts, with ``cached_tokens`` as part of
    the input."""
    total_in = reader.count("tokens", "input_tokens") or 0
    cached = reader.count("cached_tokens") or 0
    reader.check_part(
        cached,
        reader.text(("cached_tokens",)),
        total_in,
        reader.text(("tokens", "input_tokens")),
        "cached tokens are part of the input",
    )
    return TokenUsage(
        input_uncached_tokens=total_in - cached,
        cache_read_tokens=cached,
        output_tokens=reader.count("tokens", "output_tokens") or 0,
    )


_CHAT_IGNORED = frozenset(
    {
        # Breakdowns of counts that are read, with no price of their own.
        "prompt_tokens_details.text_tokens",
        "completion_tokens_details.text_tokens",
        "completion_tokens_details.accepted_prediction_tokens",
        "completion_tokens_details.rejected_prediction_tokens",
        # DeepSeek: prompt_tokens minus prompt_cache_hit_tokens.
        "prompt_cache_miss_tokens",
        # Groq's timings in seconds.
        "queue_time",
        "prompt_time",
        "completion_time",
        "total_time",
    }
)


def _rule(
    name: str,
    summary: str,
    parse: Callable[[_Reader], TokenUsage],
    *,
    total_key: str | None = None,
    ignored: frozenset[str] | tuple[str, ...] = (),
) -> UsageRule:
    total_keys = () if total_key is None else (total_key,)
    return UsageRule(name, summary, parse, frozenset(ignored), total_keys)


USAGE_RULES: Mapping[str, UsageRule] = {
    rule.name: rule
    for rule in (
        _rule(
            "openai_chat",
            "OpenAI Chat Completions and compatible APIs",
            _parse_openai_chat,
            total_key="total_tokens",
            ignored=_CHAT_IGNORED,
        ),
        _rule(
            "xai_chat",
            "xAI Chat Completions; reasoning tokens outside completion_tokens",
            _parse_xai_chat,
            total_key="total_tokens",
            ignored=_CHAT_IGNORED,
        ),
        _rule(
            "xai_sdk",
            "xAI SDK usage",
            _parse_xai_sdk,
            total_key="total_tokens",
            ignored=("prompt_text_tokens",),
        ),
        _rule(
            "perplexity",
            "Perplexity Chat Completions",
            _parse_perplexity,
            total_key="total_tokens",
        ),
        _rule(
            "openai_responses",
            "OpenAI Responses API",
            _parse_openai_responses,
            total_key="total_tokens",
        ),
        _rule(
            "openai_embeddings",
            "OpenAI Embeddings",
            _parse_openai_embeddings,
            total_key="total_tokens",
        ),
        _rule("anthropic_messages", "Anthropic Messages", _parse_anthropic),
        _rule(
            "bedrock_converse",
            "AWS Bedrock Converse",
            _parse_bedrock_converse,
            total_key="totalTokens",
        ),
        UsageRule(
            "gemini",
            "Google Gemini and Vertex AI usageMetadata",
            _parse_gemini,
            frozenset(),
            ("totalTokenCount", "total_token_count"),
        ),
        _rule(
            "cohere_billed",
            "Cohere billed_units",
            _parse_cohere_billed,
            ignored=("tokens", "cached_tokens", "api_version"),
        ),
        _rule(
            "cohere_tokens",
            "Cohere raw token counts",
            _parse_cohere_tokens,
            ignored=("billed_units", "api_version"),
        ),
    )
}
"""Every usage rule by name."""
