"""Classifying spans: which are crossings, what they used and what they name.

A span becomes a crossing by its role. Model spans (OpenInference ``LLM``
or ``EMBEDDING``, a GenAI model operation, a Langfuse generation) become
model invocations; tool spans become tool calls; retriever spans become
retrievals; GenAI memory operations become memory writes. Agent spans name
the agents that act; chains and plain spans only give structure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ssoar.errors import InputError
from ssoar.ingest import _semconv as keys
from ssoar.ingest._spans import SpanRecord, excerpt
from ssoar.ledger._pricing import resolve_provider_id
from ssoar.model._crossing import AttributeValue, UsageSource
from ssoar.model._usage import TokenUsage, UsageError

__all__ = [
    "Role",
    "SpanFacts",
    "read_facts",
]

Role = str
"""``model``, ``tool``, ``agent``, ``retrieval``, ``memory`` or ``structure``."""

_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})
_CONTENT_PREFIXES = (
    "gen_ai.input.",
    "gen_ai.output.",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "llm.input_messages",
    "llm.output_messages",
    "llm.tools",
    "input.",
    "output.",
)
_INDEX_PATTERN = re.compile(r"\.\d+(?=\.|$)")
TOKEN_COUNT_MAX = 2**53 - 1
"""Largest token count or output cap read. Audit records are RFC 8785 JSON,
which represents integers exactly only up to 2**53 - 1."""
_CAP_TEXT_LENGTH_MAX = 40
"""Longest output cap text read; int() of a longer digit string is slow or fails."""


@dataclass(slots=True)
class SpanFacts:
    """The normalised facts the importer reads from one span.

    Not frozen, for the same reason as ``SpanRecord``; nothing changes it.
    """

    role: Role
    provider: str | None
    request_model: str | None
    response_model: str | None
    usage: TokenUsage | None
    usage_source: UsageSource
    usage_convention: str | None
    """The source of the usage: ``gen_ai``, ``openinference`` or ``langfuse``."""
    output_tokens_max: int | None
    finish_reasons: tuple[str, ...]
    streaming: bool
    agent_name: str | None
    tool_name: str | None
    tool_call_id: str | None
    tool_type: str | None
    memory_store: str | None
    memory_record: str | None
    memory_operation: str | None
    conversation_id: str | None
    user_id: str | None
    failed: bool
    error: str | None
    ignored_keys: tuple[str, ...]
    """Attribute keys the importer did not use, with list indices folded to ``*``."""

    @property
    def model(self) -> str | None:
        """The most specific model name known: served, else requested."""
        return self.response_model or self.request_model


_MODEL_NAMES = keys.REQUEST_MODEL + keys.RESPONSE_MODEL
_GROUPS: tuple[tuple[str, ...], ...] = (
    keys.OPERATION_NAME,
    keys.PROVIDER,
    keys.REQUEST_MODEL,
    keys.RESPONSE_MODEL,
    _MODEL_NAMES,
    keys.FINISH_REASONS,
    keys.MAX_TOKENS,
    keys.STREAMING,
    keys.INPUT_TOKENS,
    keys.OUTPUT_TOKENS,
    keys.CACHE_READ_TOKENS,
    keys.CACHE_WRITE_TOKENS,
    keys.REASONING_TOKENS,
    keys.CONVERSATION_ID,
    keys.USER_ID,
    keys.AGENT_NAME,
    keys.TOOL_NAME,
    keys.TOOL_CALL_ID,
    keys.TOOL_TYPE,
    keys.MEMORY_STORE_ID,
    keys.MEMORY_RECORD_ID,
)
_GROUP_INDEX = {group: index for index, group in enumerate(_GROUPS)}
# The same groups by object identity: every caller passes these very tuples,
# and an int hashes faster than a tuple of strings, which is hashed anew on
# every lookup.
_GROUP_INDEX_BY_ID = {id(group): index for index, group in enumerate(_GROUPS)}


def _key_ranks() -> dict[str, list[tuple[int, int]]]:
    """Map each attribute key to the groups it is in, with its rank there."""
    ranks: dict[str, list[tuple[int, int]]] = {}
    for index, group in enumerate(_GROUPS):
        for rank, key in enumerate(group):
            ranks.setdefault(key, []).append((index, rank))
    return ranks


_KEY_RANKS = _key_ranks()


class _Lookup:
    """The attributes of one span, looked up by fact in one pass.

    ``first`` has the meaning of ``SpanRecord.first`` for the groups of keys
    in ``_GROUPS``: the first key of the group, in the group's order, that
    contains a value other than None or "".
    """

    __slots__ = ("_best", "_span")

    def __init__(self, span: SpanRecord) -> None:
        self._span = span
        best: dict[int, tuple[int, str, Any]] = {}
        for key, value in span.attributes.items():
            ranks = _KEY_RANKS.get(key)
            if ranks is None or value is None or value == "":
                continue
            for group, rank in ranks:
                current = best.get(group)
                if current is None or rank < current[0]:
                    best[group] = (rank, key, value)
        self._best = best

    def first(self, group: tuple[str, ...]) -> tuple[str, Any] | None:
        index = _GROUP_INDEX_BY_ID.get(id(group))
        if index is None:
            index = _GROUP_INDEX.get(group)
            if index is None:
                return self._span.first(group)
        entry = self._best.get(index)
        return None if entry is None else (entry[1], entry[2])

    def value(self, group: tuple[str, ...]) -> Any:
        index = _GROUP_INDEX_BY_ID.get(id(group))
        if index is None:
            found = self.first(group)
            return None if found is None else found[1]
        entry = self._best.get(index)
        return None if entry is None else entry[2]


def read_facts(span: SpanRecord) -> SpanFacts:
    """Read the normalised facts of a span.

    Raises:
        InputError: If a usage count is not an integer, or a part of the usage
            exceeds its total.
    """
    attributes = span.attributes
    found = _Lookup(span)
    invocation = _json_object(attributes.get("llm.invocation_parameters"))
    output = _json_object(attributes.get("output.value"))
    role = _role(span, found)
    usage, source, convention = _usage(span, found)
    provider_found = found.first(keys.PROVIDER)
    raw_provider = str(provider_found[1]) if provider_found else None
    provider = resolve_provider_id(raw_provider) or (
        raw_provider.lower() if raw_provider else None
    )
    request_model = _text(found.value(keys.REQUEST_MODEL)) or _text(
        invocation.get("model")
    )
    response_model = _text(found.value(keys.RESPONSE_MODEL))
    if response_model is None and span.langfuse is not None:
        response_model = span.langfuse.model
    failed, error = _failure(span)
    ignored = sorted(
        {
            _INDEX_PATTERN.sub(".*", key)
            for key in attributes
            if key not in _USED_KEYS and not key.startswith(_CONTENT_PREFIXES)
        }
    )
    return SpanFacts(
        role=role,
        provider=provider,
        request_model=request_model,
        response_model=response_model,
        usage=usage,
        usage_source=source,
        usage_convention=convention,
        output_tokens_max=_output_cap(found, invocation),
        finish_reasons=_finish_reasons(found, output),
        streaming=_streaming(found, invocation),
        agent_name=_text(found.value(keys.AGENT_NAME)),
        tool_name=_text(found.value(keys.TOOL_NAME)),
        tool_call_id=_text(found.value(keys.TOOL_CALL_ID)),
        tool_type=_text(found.value(keys.TOOL_TYPE)),
        memory_store=_text(found.value(keys.MEMORY_STORE_ID)),
        memory_record=_text(found.value(keys.MEMORY_RECORD_ID)),
        memory_operation=_text(found.value(keys.OPERATION_NAME))
        if role == "memory"
        else None,
        conversation_id=_text(found.value(keys.CONVERSATION_ID)),
        user_id=_text(found.value(keys.USER_ID)),
        failed=failed,
        error=error,
        ignored_keys=tuple(ignored),
    )


def _collect_used_keys() -> frozenset[str]:
    used: set[str] = set()
    for group in (
        keys.OPERATION_NAME,
        keys.PROVIDER,
        keys.REQUEST_MODEL,
        keys.RESPONSE_MODEL,
        keys.RESPONSE_ID,
        keys.FINISH_REASONS,
        keys.MAX_TOKENS,
        keys.STREAMING,
        keys.INPUT_TOKENS,
        keys.OUTPUT_TOKENS,
        keys.CACHE_READ_TOKENS,
        keys.CACHE_WRITE_TOKENS,
        keys.REASONING_TOKENS,
        keys.CONVERSATION_ID,
        keys.USER_ID,
        keys.AGENT_NAME,
        keys.AGENT_ID,
        keys.TOOL_NAME,
        keys.TOOL_CALL_ID,
        keys.TOOL_TYPE,
        keys.MEMORY_STORE_ID,
        keys.MEMORY_RECORD_ID,
    ):
        used.update(group)
    used.update(
        {
            keys.OPENINFERENCE_SPAN_KIND,
            "llm.invocation_parameters",
            "llm.token_count.total",
            "gen_ai.usage.total_tokens",
        }
    )
    return frozenset(used)


_USED_KEYS = _collect_used_keys()
"""Attribute keys the importer reads; every other key is recorded as ignored."""


def _role(span: SpanRecord, found: _Lookup) -> Role:
    attributes = span.attributes
    operation = _text(attributes.get("gen_ai.operation.name"))
    kind = str(attributes.get(keys.OPENINFERENCE_SPAN_KIND) or "").upper()
    observation = span.langfuse.observation_type if span.langfuse else ""
    if operation in keys.MEMORY_OPERATIONS:
        return "memory"
    if operation in keys.RETRIEVAL_OPERATIONS or kind == "RETRIEVER":
        return "retrieval"
    if operation == "execute_tool" or kind == "TOOL" or observation == "TOOL":
        return "tool"
    if (
        operation in ("invoke_agent", "create_agent")
        or kind == "AGENT"
        or observation == "AGENT"
    ):
        return "agent"
    if (
        operation in keys.MODEL_OPERATIONS
        or kind in _MODEL_KINDS
        or observation == "GENERATION"
    ):
        return "model"
    if found.first(keys.AGENT_NAME) is not None:
        return "agent"
    if found.first(keys.INPUT_TOKENS) is not None and found.first(_MODEL_NAMES):
        return "model"
    return "structure"


def _usage(
    span: SpanRecord, found: _Lookup
) -> tuple[TokenUsage | None, UsageSource, str | None]:
    """Read usage from span attributes, else from Langfuse's usage details."""
    input_found = found.first(keys.INPUT_TOKENS)
    output_found = found.first(keys.OUTPUT_TOKENS)
    counted = input_found or output_found
    if counted is not None:
        convention = "openinference" if counted[0].startswith("llm.") else "gen_ai"
        counts = {
            "input_tokens": _count(span, input_found),
            "output_tokens": _count(span, output_found),
            "cache_read_tokens": _count(span, found.first(keys.CACHE_READ_TOKENS)),
            "cache_write_tokens": _count(span, found.first(keys.CACHE_WRITE_TOKENS)),
            "reasoning_tokens": _count(span, found.first(keys.REASONING_TOKENS)),
        }
        return _split(span, counts), UsageSource.REPORTED, convention
    details = span.langfuse.usage_details if span.langfuse else {}
    if "input" in details or "output" in details:
        counts = {
            "input_tokens": _langfuse_count(span, details, "input"),
            "output_tokens": _langfuse_count(span, details, "output"),
            "cache_read_tokens": _langfuse_count(
                span, details, "prompt_details.cache_read"
            ),
            "cache_write_tokens": _langfuse_count(
                span, details, "prompt_details.cache_write"
            ),
            "reasoning_tokens": _langfuse_count(
                span, details, "completion_details.reasoning"
            ),
        }
        # The span reported no usage; Langfuse filled it in, often by running
        # its own tokenizer, so the counts are an estimate.
        return _split(span, counts), UsageSource.ESTIMATED, "langfuse"
    return None, UsageSource.NONE, None


def _split(span: SpanRecord, counts: Mapping[str, int]) -> TokenUsage:
    try:
        return TokenUsage.from_inclusive(**counts)
    except UsageError as error:
        raise InputError(
            span.file, span.pointer, f"usage cannot be split: {error}"
        ) from None


def _count(span: SpanRecord, found: tuple[str, Any] | None) -> int:
    if found is None:
        return 0
    key, value = found
    return _integer(span, "attribute", key, value)


def _langfuse_count(span: SpanRecord, details: Mapping[str, Any], key: str) -> int:
    value = details.get(key)
    return 0 if value is None else _integer(span, "usageDetails", key, value)


def _integer(span: SpanRecord, source: str, key: str, value: Any) -> int:
    """Read a token count. ``source`` and ``key`` name its origin in errors."""
    if type(value) is int and 0 <= value <= TOKEN_COUNT_MAX:
        return value
    field = f"{source} {key}"
    result: int | Decimal | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        result = value
    elif isinstance(value, str | float):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = None
        if (
            number is not None
            and number.is_finite()
            and number == number.to_integral_value()
        ):
            # The range is checked on the Decimal: int() of "1e100000000"
            # would build a hundred-million-digit integer first.
            result = number
    if result is None:
        raise InputError(
            span.file,
            span.pointer,
            f"{field}={excerpt(value)} is not a token count; expected a whole number",
        )
    if result < 0:
        raise InputError(
            span.file,
            span.pointer,
            f"{field}={excerpt(value)} is negative; token counts start at 0",
        )
    if result > TOKEN_COUNT_MAX:
        raise InputError(
            span.file,
            span.pointer,
            f"{field}={excerpt(value)} is larger than {TOKEN_COUNT_MAX}, the "
            "largest count an audit record represents exactly",
        )
    return int(result)


def _failure(span: SpanRecord) -> tuple[bool, str | None]:
    exception = next(
        (event for event in span.events if event.name == "exception"), None
    )
    if span.status == "error" or exception is not None:
        message = span.status_message
        if exception is not None:
            kind = exception.attributes.get("exception.type")
            detail = exception.attributes.get("exception.message")
            message = message or ": ".join(str(part) for part in (kind, detail) if part)
        return True, message or "the span ended with an error status"
    error_type = _text(span.attributes.get("error.type"))
    if error_type:
        return True, error_type
    return False, None


def _output_cap(found: _Lookup, invocation: Mapping[str, Any]) -> int | None:
    """Read the requested output cap. A value that is not a whole number in the
    range of a token count is left out, as if it were absent."""
    value = found.value(keys.MAX_TOKENS)
    if value is None:
        value = invocation.get("max_completion_tokens", invocation.get("max_tokens"))
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not value.is_integer():
        # NaN and the infinities are not whole numbers either.
        return None
    if isinstance(value, str) and len(value) > _CAP_TEXT_LENGTH_MAX:
        return None
    try:
        cap = int(value)
    except (TypeError, ValueError):
        return None
    return cap if -TOKEN_COUNT_MAX <= cap <= TOKEN_COUNT_MAX else None


def _finish_reasons(found: _Lookup, output: Mapping[str, Any]) -> tuple[str, ...]:
    value = found.value(keys.FINISH_REASONS)
    reasons: list[Any] = []
    if isinstance(value, list | tuple):
        reasons = list(value)
    elif isinstance(value, str):
        parsed = _json_value(value)
        reasons = list(parsed) if isinstance(parsed, list) else [value]
    elif isinstance(output.get("finish_reason"), str):
        reasons = [output["finish_reason"]]
    elif isinstance(output.get("choices"), list):
        reasons = [
            choice.get("finish_reason")
            for choice in output["choices"]
            if isinstance(choice, dict) and choice.get("finish_reason")
        ]
    return tuple(str(reason).lower() for reason in reasons if reason)


def _streaming(found: _Lookup, invocation: Mapping[str, Any]) -> bool:
    value = found.value(keys.STREAMING)
    if value is None:
        value = invocation.get("stream")
    return value is True or value == "true"


def _json_object(value: Any) -> Mapping[str, Any]:
    parsed = _json_value(value) if isinstance(value, str) else value
    return parsed if isinstance(parsed, dict) else {}


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers of more than 4300
        # digits; RecursionError is text nested deeper than about 1000 levels.
        # Python-repr lists such as "['stop']" appear in some exporters.
        if text.startswith("[") and text.endswith("]"):
            return [
                item.strip(" '\"")
                for item in text[1:-1].split(",")
                if item.strip(" '\"")
            ]
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def attribute_text(value: Any) -> AttributeValue:
    """Return a span attribute value in a form crossing attributes allow."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return json.dumps(value, sort_keys=True)
