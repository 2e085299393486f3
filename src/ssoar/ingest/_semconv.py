"""Attribute keys of the trace conventions the importer reads.

OpenTelemetry GenAI semantic conventions (current and deprecated names) and
OpenInference name the same facts differently. Each fact is looked up under
every name it has, in the order below; the first name found wins, and the
crossing records which convention supplied it.
"""

from __future__ import annotations

__all__ = [
    "AGENT_ID",
    "AGENT_NAME",
    "CACHE_READ_TOKENS",
    "CACHE_WRITE_TOKENS",
    "CONVERSATION_ID",
    "FINISH_REASONS",
    "INPUT_TOKENS",
    "MAX_TOKENS",
    "MEMORY_OPERATIONS",
    "MEMORY_RECORD_ID",
    "MEMORY_STORE_ID",
    "MODEL_OPERATIONS",
    "OPENINFERENCE_SPAN_KIND",
    "OPERATION_NAME",
    "OUTPUT_TOKENS",
    "PROVIDER",
    "REASONING_TOKENS",
    "REQUEST_MODEL",
    "RESPONSE_ID",
    "RESPONSE_MODEL",
    "STREAMING",
    "TOOL_CALL_ID",
    "TOOL_NAME",
    "TOOL_TYPE",
    "USER_ID",
]

# Each tuple lists the names of one fact, most preferred first.
OPERATION_NAME = ("gen_ai.operation.name",)
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
REQUEST_MODEL = ("gen_ai.request.model", "llm.request.model_name")
RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model_name", "llm.model_name")
RESPONSE_ID = ("gen_ai.response.id",)
FINISH_REASONS = ("gen_ai.response.finish_reasons", "llm.finish_reason")
MAX_TOKENS = ("gen_ai.request.max_tokens",)
STREAMING = ("gen_ai.request.stream",)
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHE_READ_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
REASONING_TOKENS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
CONVERSATION_ID = ("gen_ai.conversation.id", "session.id")
USER_ID = ("user.id", "enduser.id")
AGENT_NAME = ("gen_ai.agent.name", "agent.name", "graph.node.id")
AGENT_ID = ("gen_ai.agent.id",)
TOOL_NAME = ("gen_ai.tool.name", "tool.name")
TOOL_CALL_ID = ("gen_ai.tool.call.id", "tool_call.id", "tool.id")
TOOL_TYPE = ("gen_ai.tool.type",)
MEMORY_STORE_ID = ("gen_ai.memory.store.id",)
MEMORY_RECORD_ID = ("gen_ai.memory.record.id",)

MODEL_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "completion",
        "embeddings",
        "responses",
    }
)
"""``gen_ai.operation.name`` values of a model invocation."""
MEMORY_OPERATIONS = frozenset({"create_memory", "update_memory", "upsert_memory"})
"""``gen_ai.operation.name`` values that write memory."""
RETRIEVAL_OPERATIONS = frozenset({"retrieval", "search_memory"})
