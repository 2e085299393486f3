"""Sessions that bring their own Cedar policies, over the template's and tenant's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import ssoar
from ssoar.errors import CrossingDenied, RequestError
from ssoar.live import (
    BeginCrossing,
    GrantSpec,
    LiveBooth,
    OpenSession,
    ParticipantSpec,
)
from ssoar.report._verify import verify_store

NO_GPT_41 = """
@id("session.no-gpt-4.1")
forbid (principal, action == Action::"model_invocation", resource)
when { context has model && context.model == "gpt-4.1" };
"""


def open_session(booth: LiveBooth, session_id: str, policies: str | None) -> None:
    booth.open_session(
        "acme",
        OpenSession(
            session_id=session_id,
            participants=[ParticipantSpec("agent:bot")],
            grants=[GrantSpec("agent:bot", ["model_invocation"])],
            policies=policies,
        ),
    )


def call(booth: LiveBooth, session_id: str, model: str) -> ssoar.CrossingAnswer:
    return booth.begin(
        "acme",
        session_id,
        BeginCrossing(
            kind="model_invocation",
            invoker="agent:bot",
            provider="openai",
            model=model,
            input_tokens=100,
            max_output_tokens=50,
        ),
    )


def test_session_forbid_denies(booth: LiveBooth) -> None:
    open_session(booth, "strict", NO_GPT_41)
    answer = call(booth, "strict", "gpt-4.1")
    assert answer.allowed is False
    assert [reason.code for reason in answer.reasons] == ["policy_denied"]
    assert answer.policy_ids == ["session.no-gpt-4.1"]


def test_session_policy_spares_others(booth: LiveBooth) -> None:
    open_session(booth, "strict", NO_GPT_41)
    assert call(booth, "strict", "gpt-4.1-mini").allowed is True
    open_session(booth, "plain", None)
    assert call(booth, "plain", "gpt-4.1").allowed is True


def test_bad_policy_names_line(booth: LiveBooth) -> None:
    text = '@id("session.bad")\nforbid (principal, action, resource)\nwhen { oops };\n'
    with pytest.raises(RequestError) as raised:
        open_session(booth, "bad", text)
    assert raised.value.field == "policies"
    assert "session.cedar:1" in str(raised.value)


def test_policy_without_id_refused(booth: LiveBooth) -> None:
    text = 'forbid (principal, action == Action::"model_invocation", resource);\n'
    with pytest.raises(RequestError, match="@id"):
        open_session(booth, "no-id", text)


def test_template_id_reused_refused(booth: LiveBooth) -> None:
    text = NO_GPT_41.replace("session.no-gpt-4.1", "agentic.model.permit")
    with pytest.raises(RequestError, match=r"agentic\.model\.permit"):
        open_session(booth, "reused", text)


def test_other_process_applies_policy(
    booth: LiveBooth, make_booth: Callable[..., LiveBooth]
) -> None:
    open_session(booth, "strict", NO_GPT_41)
    other = make_booth()
    answer = call(other, "strict", "gpt-4.1")
    assert answer.allowed is False
    assert answer.policy_ids == ["session.no-gpt-4.1"]


def test_settlement_names_session_layer(booth: LiveBooth) -> None:
    open_session(booth, "strict", NO_GPT_41)
    open_session(booth, "plain", None)
    strict = booth.close_session("acme", "strict")
    plain = booth.close_session("acme", "plain")
    assert strict["policy_digest"] != plain["policy_digest"]
    layers = booth.store.connection.execute(
        "SELECT sources FROM policy_sets WHERE digest = ?",
        (strict["policy_digest"],),
    ).fetchone()
    assert '"layer":"session"' in layers[0]
    report = verify_store(booth.store, booth.key.public_key)
    assert report.ok


def test_sdk_session_policies(booth: LiveBooth) -> None:
    client = ssoar.connect(booth=booth, tenant="acme")
    with client.session(
        participants=["agent:bot"],
        grants=[GrantSpec("agent:bot", ["model_invocation"])],
        policies=NO_GPT_41,
    ) as session:
        with pytest.raises(CrossingDenied) as denied:
            session.invoke_model(
                "openai",
                "gpt-4.1",
                input_tokens=100,
                max_output_tokens=50,
                invoker="agent:bot",
            )
        assert denied.value.policy_ids == ("session.no-gpt-4.1",)
    client.close()
