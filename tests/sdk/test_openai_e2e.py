"""End to end: an OpenAI client wrapped by ``ssoar.wrap_openai``, on a stub upstream.

The stub reports 1,200 prompt tokens (200 of them cached) and 300 completion
tokens (64 of them reasoning). At gpt-4.1's prices of $2 per million input
tokens, $0.50 per million cached input tokens and $8 per million output
tokens, that is 1,000 x 2 + 200 x 0.5 + 300 x 8 = 4,500 micro-dollars.
``test_catalogue_prices_gpt_4_1`` checks those prices against the bundled
genai-prices catalogue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import openai
import pytest
from sdk_support import StubUpstream, StubUsage, record_answers

import ssoar
from ssoar.ledger._pricing import PriceCatalogue
from ssoar.model._usage import TokenUsage
from ssoar.sdk import Client, Session, estimate_input_tokens

EXPECTED_CHARGE = Decimal("0.0045")
"""The stub's usage priced at gpt-4.1's rates, computed by hand above."""

DEFAULT_OUTPUT_CAP = 4096
"""The max_completion_tokens the wrapper adds to a request that sets none."""

MESSAGES = [
    {"role": "system", "content": "You are a support agent for an online shop."},
    {"role": "user", "content": "Please refund order 1234; it arrived broken."},
]


def open_session(client: Client, *, budget: str = "1.00") -> Session:
    """Open a session in which every crossing touches an entitlement."""
    return client.session(
        participants=["human:alice", "agent:bot"],
        grants=[ssoar.GrantSpec("agent:bot", ["model_invocation"])],
        quotas=[
            ssoar.QuotaSpec("crossings", "crossings", "100"),
            ssoar.QuotaSpec("budget", "money", budget, currency="USD"),
        ],
    )


def worst_case(output_cap: int) -> Decimal:
    """The reservation for MESSAGES: the wrapper's input estimate plus the cap."""
    input_tokens = estimate_input_tokens({"messages": MESSAGES})
    return (Decimal(input_tokens) * 2 + Decimal(output_cap) * 8) / 1_000_000


def budget_account(session: Session) -> str:
    return f"{session.session_id}/quota/budget"


def billed_usage(settlement: dict[str, Any]) -> Decimal:
    return Decimal(settlement["totals"]["billing"]["USD"]["usage"])


def model_calls(settlement: dict[str, Any]) -> dict[str, int]:
    return settlement["crossings"]["by_kind"]["model_invocation"]


def test_catalogue_prices_gpt_4_1() -> None:
    catalogue = PriceCatalogue()
    at = datetime.now(UTC)
    million = 1_000_000

    def price(usage: TokenUsage) -> Decimal:
        return catalogue.quote(
            usage, model="gpt-4.1", provider="openai", at=at
        ).total.amount

    assert price(TokenUsage(input_uncached_tokens=million)) == Decimal("2")
    assert price(TokenUsage(cache_read_tokens=million)) == Decimal("0.5")
    assert price(TokenUsage(output_tokens=million)) == Decimal("8")
    stub_usage = TokenUsage.from_inclusive(
        input_tokens=1200, output_tokens=300, cache_read_tokens=200, reasoning_tokens=64
    )
    assert price(stub_usage) == EXPECTED_CHARGE


def test_model_call_billed_and_settled(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        response = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert response.choices[0].message.content == "The refund was issued."
    assert response.usage is not None
    assert response.usage.prompt_tokens == 1200

    assert len(stub_upstream.requests) == 1
    sent = stub_upstream.requests[0]
    assert sent.headers["authorization"] == "Bearer test"
    assert sent.body["max_completion_tokens"] == DEFAULT_OUTPUT_CAP
    assert sent.body["messages"] == MESSAGES
    assert "stream_options" not in sent.body

    assert len(answers.begun) == 1
    begun = answers.begun[0]
    assert begun.allowed
    assert begun.policy_ids == ["agentic.model.permit"]
    assert Decimal(begun.reserved[budget_account(session)]) == worst_case(
        DEFAULT_OUTPUT_CAP
    )
    completed = answers.completed[-1]
    assert completed.state == "completed"
    assert completed.usage_source == "reported"
    assert completed.charge is not None
    assert Decimal(completed.charge["amount"]) == EXPECTED_CHARGE
    assert Decimal(completed.posted[budget_account(session)]) == EXPECTED_CHARGE

    settlement = session.settlement
    assert settlement is not None
    assert settlement["state"] == "settled"
    assert settlement["close_reason"] == "closed"
    assert settlement["exceptions"] == []
    assert model_calls(settlement) == {"total": 1, "reconciled": 1}
    assert billed_usage(settlement) == EXPECTED_CHARGE
    budget = settlement["totals"]["entitlement"][budget_account(session)]
    assert Decimal(budget["posted"]) == EXPECTED_CHARGE
    assert (
        Decimal(budget["released"]) == worst_case(DEFAULT_OUTPUT_CAP) - EXPECTED_CHARGE
    )
    tokens = settlement["totals"]["compute"]["tokens"]
    assert tokens["input_uncached_tokens"] == 1000
    assert tokens["cache_read_tokens"] == 200
    assert tokens["output_tokens"] == 300 - 64
    assert tokens["reasoning_tokens"] == 64


def test_caller_output_cap_is_kept(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    # A provider keeps to the cap it was given, and the prompt is within
    # the wrapper's estimate.
    estimate = estimate_input_tokens({"messages": MESSAGES})
    stub_upstream.usage = StubUsage(
        prompt_tokens=estimate - 10,
        cached_tokens=0,
        completion_tokens=250,
        reasoning_tokens=0,
    )
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, max_completion_tokens=256
        )

    assert stub_upstream.bodies[0]["max_completion_tokens"] == 256
    reserved = answers.begun[0].reserved[budget_account(session)]
    assert Decimal(reserved) == worst_case(256)
    assert session.settlement is not None
    assert session.settlement["exceptions"] == []
    assert session.state == "settled"


def test_stream_charged_from_final_chunk(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        stream = client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True
        )
        chunks = list(stream)

    text = "".join(
        chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices
    )
    assert text == "The refund was issued."
    assert [chunk.usage is not None for chunk in chunks].count(True) == 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None

    sent = stub_upstream.bodies[0]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == DEFAULT_OUTPUT_CAP

    completed = answers.completed[-1]
    assert completed.usage_source == "reported"
    assert Decimal(completed.posted[budget_account(session)]) == EXPECTED_CHARGE

    settlement = session.settlement
    assert settlement is not None
    assert settlement["state"] == "settled"
    assert settlement["exceptions"] == []
    assert billed_usage(settlement) == EXPECTED_CHARGE


def test_stream_usage_forced_on(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client) as session:
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        stream = client.chat.completions.create(
            model="gpt-4.1",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": False},
        )
        list(stream)

    assert stub_upstream.bodies[0]["stream_options"] == {"include_usage": True}
    assert session.settlement is not None
    assert billed_usage(session.settlement) == EXPECTED_CHARGE


def assert_settled_at_reservation(session: Session, answers: Any) -> None:
    """Check a model call charged its worst case, marked estimated, at risk in full."""
    reservation = worst_case(DEFAULT_OUTPUT_CAP)
    completed = answers.completed[-1]
    assert completed.usage_source == "estimated"
    assert Decimal(completed.posted[budget_account(session)]) == reservation

    settlement = session.settlement
    assert settlement is not None
    assert settlement["state"] == "settled_unclean"
    assert billed_usage(settlement) == reservation
    assert model_calls(settlement) == {"total": 1, "reconciled": 0}
    assert len(settlement["exceptions"]) == 1
    exception = settlement["exceptions"][0]
    assert exception["crossing_id"] == completed.crossing_id
    assert exception["reason"] == "usage_estimated"
    assert exception["money_at_risk"] == {"amount": str(reservation), "currency": "USD"}


def test_stream_ending_before_usage_chunk(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    stub_upstream.cut_next_stream("end")
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        chunks = list(
            client.chat.completions.create(
                model="gpt-4.1", messages=MESSAGES, stream=True
            )
        )

    assert all(chunk.usage is None for chunk in chunks)
    assert_settled_at_reservation(session, answers)


def test_stream_dropped_before_usage_chunk(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    stub_upstream.cut_next_stream("drop")
    received = []
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        stream = client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True
        )
        with pytest.raises(openai.APIConnectionError):
            for chunk in stream:
                received.append(chunk)

    # The provider generated, and bills, the output that arrived.
    assert (
        "".join(
            chunk.choices[0].delta.content or "" for chunk in received if chunk.choices
        )
        == "The refund was issued."
    )
    assert_settled_at_reservation(session, answers)


def test_stream_abandoned_by_caller(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        with client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True
        ) as stream:
            for _ in stream:
                break

    assert_settled_at_reservation(session, answers)


def test_small_budget_sends_no_request(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    assert worst_case(DEFAULT_OUTPUT_CAP) > Decimal("0.01")
    with open_session(booth_client, budget="0.01") as session:
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        with pytest.raises(ssoar.CrossingDenied) as denied:
            client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert stub_upstream.requests == []
    assert denied.value.codes == ("entitlement_overdrawn",)
    settlement = session.settlement
    assert settlement is not None
    # A crossing the booth stopped in time reconciles, and nothing was billed.
    assert settlement["state"] == "settled"
    assert model_calls(settlement) == {"total": 1, "reconciled": 1}
    assert billed_usage(settlement) == 0


def test_retries_share_one_crossing(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    stub_upstream.fail_next(2)
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(
            openai_client, session, invoker="agent:bot", attempts=3
        )
        response = client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert response.choices[0].message.content == "The refund was issued."
    assert len(stub_upstream.requests) == 3
    assert len(answers.begun) == 1
    assert len(answers.attempts) == 2
    assert len(answers.completed) == 1
    answer = answers.completed[0]
    assert answer.attempts == 2
    assert answer.crossing_id == answers.begun[0].crossing_id
    assert Decimal(answer.posted[budget_account(session)]) == EXPECTED_CHARGE

    settlement = session.settlement
    assert settlement is not None
    assert settlement["state"] == "settled"
    assert model_calls(settlement) == {"total": 1, "reconciled": 1}
    assert billed_usage(settlement) == EXPECTED_CHARGE


def test_every_attempt_failing_is_unbilled(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    stub_upstream.fail_next(5)
    with open_session(booth_client) as session:
        answers = record_answers(session)
        client = ssoar.wrap_openai(
            openai_client, session, invoker="agent:bot", attempts=2
        )
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)

    assert len(stub_upstream.requests) == 2
    answer = answers.completed[-1]
    assert answer.state == "failed"
    assert answer.attempts == 1
    assert answer.charge is None
    assert Decimal(answer.posted[budget_account(session)]) == 0
    settlement = session.settlement
    assert settlement is not None
    assert settlement["state"] == "settled"
    assert billed_usage(settlement) == 0


def test_stream_supports_next(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client) as session:
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        stream = client.chat.completions.create(
            model="gpt-4.1", messages=MESSAGES, stream=True
        )
        first = next(stream)
        rest = list(stream)

    assert first.choices[0].delta.role == "assistant"
    assert rest[-1].usage is not None
    assert session.settlement is not None
    assert billed_usage(session.settlement) == EXPECTED_CHARGE


def test_raw_response_never_bypasses_booth(
    booth_client: Client, openai_client: openai.OpenAI, stub_upstream: StubUpstream
) -> None:
    with open_session(booth_client, budget="0.01") as session:
        client = ssoar.wrap_openai(openai_client, session, invoker="agent:bot")
        # Either metered (and denied by the small budget) or rejected outright.
        with pytest.raises((ssoar.CrossingDenied, AttributeError)):
            client.chat.completions.with_raw_response.create(
                model="gpt-4.1", messages=MESSAGES
            )

    assert stub_upstream.requests == []
