"""One-line wrappers that put a tool function or a model client behind the booth."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ssoar.live._wire import UsageReport

if TYPE_CHECKING:
    from ssoar.sdk._session import Crossing, Session

__all__ = ["estimate_input_tokens", "tool_wrapper", "usage_from_openai", "wrap_openai"]

DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""The output cap the OpenAI wrapper sets on a request that gives none, so the
reservation has a bound and the provider honours it."""


def tool_wrapper(
    session: Session,
    name: str | None,
    *,
    invoker: str | None,
    mutates_state: bool | None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator that makes each call of a function a tool call crossing."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        tool = name or function.__name__

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            with session.call_tool(tool, invoker=invoker, mutates_state=mutates_state):
                return function(*args, **kwargs)

        return call

    return decorate


def estimate_input_tokens(request: Mapping[str, Any]) -> int:
    """Estimate a chat request's input tokens, erring high.

    English text averages about four bytes per token, code and other
    languages fewer. Counting one token per two bytes of the JSON-encoded
    messages and tools, plus 16, reserves more than most calls use, and the
    rest is released when the call completes. A call that uses more than
    was reserved settles as an entitlement_overdrawn exception, so pass an
    exact count from a tokenizer where one is at hand.
    """
    parts = {key: request.get(key) for key in ("messages", "tools", "input")}
    size = len(orjson.dumps(parts, default=str))
    return math.ceil(size / 2) + 16


def usage_from_openai(usage: Any) -> UsageReport | None:
    """Read an OpenAI usage object (chat or responses API) as a usage report."""
    if usage is None:
        return None
    prompt = _field(usage, "prompt_tokens", "input_tokens")
    completion = _field(usage, "completion_tokens", "output_tokens")
    if prompt is None or completion is None:
        return None
    prompt_details = _first(usage, "prompt_tokens_details", "input_tokens_details")
    completion_details = _first(
        usage, "completion_tokens_details", "output_tokens_details"
    )
    return UsageReport(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=_field(prompt_details, "cached_tokens") or 0,
        reasoning_tokens=_field(completion_details, "reasoning_tokens") or 0,
    )


def wrap_openai(
    client: Any,
    session: Session,
    *,
    invoker: str | None = None,
    provider: str = "openai",
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    attempts: int = 1,
    input_tokens: Callable[[Mapping[str, Any]], int] = estimate_input_tokens,
) -> Any:
    """Put every ``chat.completions.create`` call of an OpenAI client behind the booth.

    The booth decides each call first, reserving the estimated input plus the
    output cap, priced; a refusal raises ``CrossingDenied`` and no request
    is sent. A streamed call is metered from its final chunk (the wrapper
    requests it with ``stream_options.include_usage``). With ``attempts``
    above 1, a failed request is retried under the same crossing: every try
    is listed, and only the one that succeeds is charged.

    Example::

        client = wrap_openai(OpenAI(), session, invoker="agent:refund-bot")
        client.chat.completions.create(model="gpt-4.1", messages=[...])
    """
    return _Proxy(
        client,
        {
            "chat": {
                "completions": _Completions(
                    client.chat.completions,
                    session,
                    invoker=invoker,
                    provider=provider,
                    max_output_tokens=max_output_tokens,
                    attempts=attempts,
                    input_tokens=input_tokens,
                )
            }
        },
    )


_UNMETERED_METHODS = frozenset(
    {"with_raw_response", "with_streaming_response", "parse", "stream"}
)
"""chat.completions methods that send a request this wrapper does not meter."""


class _Proxy:
    """Forwards attribute access to the wrapped object, except the overridden ones."""

    def __init__(self, target: Any, overrides: Mapping[str, Any]) -> None:
        self._target = target
        self._overrides = overrides

    def __getattr__(self, name: str) -> Any:
        override = self._overrides.get(name)
        if isinstance(override, Mapping):
            return _Proxy(getattr(self._target, name), override)
        if override is not None:
            return override
        return getattr(self._target, name)


class _Completions:
    def __init__(
        self,
        completions: Any,
        session: Session,
        *,
        invoker: str | None,
        provider: str,
        max_output_tokens: int,
        attempts: int,
        input_tokens: Callable[[Mapping[str, Any]], int],
    ) -> None:
        self._completions = completions
        self._session = session
        self._invoker = invoker
        self._provider = provider
        self._max_output_tokens = max_output_tokens
        self._attempts = max(1, attempts)
        self._input_tokens = input_tokens

    def __getattr__(self, name: str) -> Any:
        if name in _UNMETERED_METHODS:
            raise AttributeError(
                f"chat.completions.{name} would reach the provider without asking "
                "the booth; call chat.completions.create on the wrapped client"
            )
        return getattr(self._completions, name)

    def create(self, **request: Any) -> Any:
        cap = request.get("max_completion_tokens") or request.get("max_tokens")
        if cap is None:
            cap = self._max_output_tokens
            request["max_completion_tokens"] = cap
        stream = bool(request.get("stream"))
        if stream:
            options = dict(request.get("stream_options") or {})
            options["include_usage"] = True
            request["stream_options"] = options
        call = self._session.invoke_model(
            self._provider,
            str(request["model"]),
            input_tokens=self._input_tokens(request),
            max_output_tokens=int(cap),
            invoker=self._invoker,
        )
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._completions.create(**request)
            except Exception as error:
                if attempt < self._attempts:
                    call.attempt_failed(error, attempt_id=str(attempt))
                    continue
                call.fail(error)
                raise
            break
        if stream:
            return _MeteredStream(response, call)
        call.complete(usage=usage_from_openai(getattr(response, "usage", None)))
        return response


class _MeteredStream:
    """A streamed response that reports its final usage to the booth when done."""

    def __init__(self, stream: Any, call: Crossing) -> None:
        self._stream = stream
        self._call = call
        self._usage: UsageReport | None = None
        self._chunks: Generator[Any, None, None] | None = None

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        # One metering generator per stream, as openai.Stream has one
        # iterator, so next() and for loops can be mixed.
        if self._chunks is None:
            self._chunks = self._metered()
        return next(self._chunks)

    def _metered(self) -> Generator[Any, None, None]:
        received = False
        try:
            for chunk in self._stream:
                received = True
                usage = usage_from_openai(getattr(chunk, "usage", None))
                if usage is not None:
                    self._usage = usage
                yield chunk
        except Exception as error:
            if not self._call.done:
                if received and self._usage is None:
                    # Output was already streamed and the provider bills it,
                    # so the crossing is charged its reservation, marked
                    # estimated.
                    self._call.complete(
                        attributes={"stream_error": f"{type(error).__name__}: {error}"}
                    )
                else:
                    self._call.fail(error, usage=self._usage)
            raise
        finally:
            # Ended early or without a usage chunk: the crossing is charged
            # its reservation, marked estimated, rather than zero.
            if not self._call.done:
                self._call.complete(usage=self._usage)

    def __enter__(self) -> _MeteredStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying stream and settle the crossing."""
        if self._chunks is not None:
            self._chunks.close()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        if not self._call.done:
            self._call.complete(usage=self._usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _field(value: Any, *names: str) -> int | None:
    if value is None:
        return None
    for name in names:
        found = (
            value.get(name)
            if isinstance(value, Mapping)
            else getattr(value, name, None)
        )
        if isinstance(found, int) and not isinstance(found, bool):
            return found
    return None


def _first(value: Any, *names: str) -> Any:
    for name in names:
        found = (
            value.get(name)
            if isinstance(value, Mapping)
            else getattr(value, name, None)
        )
        if found is not None:
            return found
    return None
