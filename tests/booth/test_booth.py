"""Tests for the booth's decision at a crossing and its decision memo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssoar.booth._booth import AUTHORITY_REASONS, Booth, BoothFacts
from ssoar.booth._entities import DECISION_MEMO_SIZE_MAX, SessionEntities
from ssoar.ledger._authority import AuthorityCheck, AuthorityStatus
from ssoar.ledger._entitlement import Overdraft
from ssoar.model import (
    Crossing,
    CrossingState,
    Participant,
    ParticipantClass,
    Session,
    Target,
    load_template,
)
from ssoar.policy import BoothPolicies, PolicySource

GENERIC = load_template("generic")
SESSION = Session(
    "s-1", "acme", "generic", datetime(2025, 6, 1, tzinfo=UTC), origin="live"
)
AT = datetime(2025, 6, 1, 12, tzinfo=UTC)
VALID = AuthorityCheck(AuthorityStatus.VALID, "agent:a", "g-1", "grant g-1", ())


def compile_policies(text: str | None = None) -> BoothPolicies:
    if text is None:
        file, text = GENERIC.policy_text()
        return BoothPolicies.compile(GENERIC, [PolicySource("template", file, text)])
    return BoothPolicies.compile(GENERIC, [PolicySource("tenant", "t.cedar", text)])


DEFAULTS = Booth(compile_policies())
# The defaults plus a policy that names an entity, so each session keeps its
# own memo instead of sharing the booth's.
BLOCKED_TOOL = """
@id("tenant.blocked-tool")
forbid (principal, action, resource == Tool::"blocked");
"""


def compile_with_defaults(tenant_text: str) -> BoothPolicies:
    file, text = GENERIC.policy_text()
    return BoothPolicies.compile(
        GENERIC,
        [
            PolicySource("template", file, text),
            PolicySource("tenant", "t.cedar", tenant_text),
        ],
    )


NAMING = Booth(compile_with_defaults(BLOCKED_TOOL))


def make_crossing(
    kind: str = "tool_call",
    *,
    actor: str = "tool:search",
    invoker: str | None = "agent:a",
    target: Target | None = None,
    **attributes: Any,
) -> Crossing:
    return Crossing(
        crossing_id=f"c-{kind}",
        session_id=SESSION.session_id,
        kind=kind,
        actor_id=actor,
        invoker_id=invoker,
        started_at=AT,
        state=CrossingState.COMPLETED,
        target=target,
        attributes=attributes,
    )


def make_facts(
    *,
    declared: bool = True,
    admitted: bool = True,
    authority: AuthorityCheck = VALID,
    overdrafts: tuple[Overdraft, ...] = (),
    extra: dict[str, Any] | None = None,
) -> BoothFacts:
    return BoothFacts(
        declared=declared,
        actor_admitted=admitted,
        invoker_admitted=admitted,
        authority=authority,
        overdrafts=overdrafts,
        extra_context=extra,
    )


def make_entities(*participant_ids: str) -> SessionEntities:
    entities = SessionEntities(SESSION)
    for participant_id in participant_ids:
        entities.add_participant(
            Participant(participant_id, ParticipantClass.AGENT, participant_id)
        )
    return entities


def decide(
    booth: Booth,
    crossing: Crossing,
    facts: BoothFacts | None = None,
    entities: SessionEntities | None = None,
    *,
    retrospective: bool = False,
) -> Any:
    return booth.decide(
        crossing,
        facts or make_facts(),
        entities or make_entities("tool:search", "agent:a"),
        retrospective=retrospective,
    )


def codes(decision: Any) -> list[str]:
    return [reason.code for reason in decision.reasons]


# Policy outcomes


def test_decide_no_permit_denies() -> None:
    booth = Booth(
        compile_policies(
            '@id("tools")\npermit (principal, action == Action::"tool_call", resource);'
        )
    )
    decision = decide(booth, make_crossing("model_invocation", actor="model:m"))
    assert decision.allowed is False
    assert codes(decision) == ["policy_denied"]
    assert (
        decision.reasons[0].message == "no policy permits model_invocation by model:m"
    )
    assert decision.policy_ids == ()


def test_decide_forbid_overrides_permit() -> None:
    booth = Booth(
        compile_policies(
            '@id("all")\npermit (principal, action, resource);\n'
            '@id("no-tools")\n'
            'forbid (principal, action == Action::"tool_call", resource);'
        )
    )
    decision = decide(booth, make_crossing())
    assert decision.allowed is False
    assert codes(decision) == ["policy_denied"]
    assert decision.reasons[0].message == "forbidden by no-tools"
    assert decision.policy_ids == ("no-tools",)


ERRORING_FORBIDS = {
    "missing principal": (
        '@id("named")\nforbid (principal, action, resource)\n'
        'when { principal.name == "mallory" };',
        make_entities("agent:a"),
    ),
    "missing resource": (
        '@id("named")\nforbid (principal, action, resource is Tool)\n'
        'when { resource.name == "rm" };',
        make_entities("tool:search", "agent:a"),
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORING_FORBIDS))
def test_decide_erroring_forbid_denies(case: str) -> None:
    """A forbid whose condition fails to evaluate denies despite a matching permit."""
    forbid, entities = ERRORING_FORBIDS[case]
    booth = Booth(
        compile_policies('@id("all")\npermit (principal, action, resource);\n' + forbid)
    )
    # The target tool:rm is never added to the entities, and the actor
    # tool:search is missing from the first entity set.
    crossing = make_crossing(target=Target("tool", "rm"))
    decision = decide(booth, crossing, entities=entities)
    assert decision.allowed is False
    assert codes(decision) == ["policy_error"]
    assert len(decision.errors) == 1
    assert "does not exist" in decision.errors[0]
    assert decision.obligations == ()


def test_decide_obligation_from_permit() -> None:
    crossing = make_crossing(
        "accessibility_activation", actor="svc:captions", invoker="human:h"
    )
    decision = decide(DEFAULTS, crossing)
    assert decision.allowed is True
    assert decision.obligations == ("deliver_stream",)
    assert decision.policy_ids == ("generic.accessibility.permit",)


def test_decide_carry_forward_obligation() -> None:
    crossing = make_crossing(
        "memory_write",
        actor="memory:m",
        persistent=True,
        persistence_authorised=True,
    )
    decision = decide(DEFAULTS, crossing)
    assert decision.allowed is True
    assert decision.obligations == ("carry_forward:memory_retention",)
    assert decision.policy_ids == ("generic.memory.persistent-permit",)


def test_decide_denial_drops_obligations() -> None:
    crossing = make_crossing(
        "accessibility_activation", actor="svc:captions", invoker="human:h"
    )
    decision = decide(DEFAULTS, crossing, make_facts(admitted=False))
    assert decision.allowed is False
    assert decision.obligations == ()
    assert decision.policy_ids == ("generic.accessibility.permit",)


def test_decide_policy_ids_are_annotations() -> None:
    decision = decide(DEFAULTS, make_crossing())
    assert decision.allowed is True
    assert decision.policy_ids == ("generic.tool.permit",)


def test_decide_state_change_needs_grant() -> None:
    missing = AuthorityCheck(AuthorityStatus.MISSING, "agent:a", None, "no grant")
    decision = decide(
        DEFAULTS, make_crossing(mutates_state=True), make_facts(authority=missing)
    )
    assert decision.allowed is False
    assert codes(decision) == ["policy_denied", "authority_missing"]
    assert decision.policy_ids == ("generic.tool.state-change-needs-grant",)


def test_decide_jurisdiction_outside_allowed() -> None:
    crossing = make_crossing("residency_shift", actor="place:us", jurisdiction="us")
    decision = decide(
        DEFAULTS, crossing, make_facts(extra={"allowed_jurisdictions": ("eu",)})
    )
    assert decision.allowed is False
    assert codes(decision) == ["policy_denied"]
    assert decision.policy_ids == ("generic.residency.allowed-jurisdictions",)


def test_decide_jurisdiction_inside_allowed() -> None:
    crossing = make_crossing("residency_shift", actor="place:eu", jurisdiction="eu")
    facts = make_facts(extra={"allowed_jurisdictions": ("eu", "uk")})
    decision = decide(DEFAULTS, crossing, facts)
    assert decision.allowed is True
    assert decision.policy_ids == ("generic.residency.permit",)


# Admission, authority and entitlement


def test_decide_invoker_not_admitted() -> None:
    decision = decide(DEFAULTS, make_crossing(), make_facts(admitted=False))
    assert decision.allowed is False
    assert codes(decision) == ["admission_missing"]
    assert decision.reasons[0].message == "agent:a was never admitted to session s-1"


def test_decide_admission_admits_itself() -> None:
    crossing = make_crossing("participant_admission", actor="human:h", invoker=None)
    decision = decide(DEFAULTS, crossing, make_facts(admitted=False))
    assert decision.allowed is True
    assert decision.policy_ids == ("generic.admission.declared",)


def test_decide_undeclared_admission_denied() -> None:
    crossing = make_crossing("participant_admission", actor="human:h", invoker=None)
    decision = decide(DEFAULTS, crossing, make_facts(declared=False, admitted=False))
    assert decision.allowed is False
    assert codes(decision) == ["policy_denied"]
    assert "not declared" in decision.reasons[0].message


@pytest.mark.parametrize(
    ("status", "code"),
    [(status, code.value) for status, code in AUTHORITY_REASONS.items()],
    ids=[status.value for status in AUTHORITY_REASONS],
)
def test_decide_authority_reason(status: AuthorityStatus, code: str) -> None:
    check = AuthorityCheck(status, "agent:a", "g-1", f"grant is {status.value}")
    decision = decide(DEFAULTS, make_crossing(), make_facts(authority=check))
    assert decision.allowed is False
    assert codes(decision) == [code]
    assert decision.reasons[0].message == f"grant is {status.value}"


def test_authority_reason_table() -> None:
    assert {status: code.value for status, code in AUTHORITY_REASONS.items()} == {
        AuthorityStatus.MISSING: "authority_missing",
        AuthorityStatus.OUT_OF_SCOPE: "authority_out_of_scope",
        AuthorityStatus.EXPIRED: "authority_expired",
        AuthorityStatus.NOT_YET_VALID: "authority_expired",
        AuthorityStatus.REVOKED: "authority_expired",
        AuthorityStatus.UNTRACEABLE: "authority_untraceable",
    }


def test_decide_no_authority_ledger_ignores_grant() -> None:
    """Carrier paths do not touch the authority ledger, so no grant is needed."""
    missing = AuthorityCheck(AuthorityStatus.MISSING, "agent:a", None, "no grant")
    crossing = make_crossing("carrier_path", actor="carrier:c")
    decision = decide(DEFAULTS, crossing, make_facts(authority=missing))
    assert decision.allowed is True
    assert decision.reasons == ()


def test_decide_overdraft_reason() -> None:
    overdraft = Overdraft("acct-1", "c-tool_call", Decimal(5), Decimal(2))
    decision = decide(DEFAULTS, make_crossing(), make_facts(overdrafts=(overdraft,)))
    assert decision.allowed is False
    assert codes(decision) == ["entitlement_overdrawn"]
    assert decision.reasons[0].message == (
        "account acct-1 has 2 left; the crossing needs 5"
    )


def test_decide_records_every_reason() -> None:
    missing = AuthorityCheck(AuthorityStatus.MISSING, "agent:a", None, "no grant")
    overdraft = Overdraft("acct-1", "c-tool_call", Decimal(5), Decimal(2))
    facts = make_facts(admitted=False, authority=missing, overdrafts=(overdraft,))
    decision = decide(DEFAULTS, make_crossing(mutates_state=True), facts)
    assert codes(decision) == [
        "policy_denied",
        "admission_missing",
        "authority_missing",
        "entitlement_overdrawn",
    ]


# Context types


@pytest.mark.parametrize(
    ("kind", "attributes", "fragment"),
    [
        ("tool_call", {"mutates_state": "yes"}, "mutates_state='yes'"),
        ("identity_proof", {"proof_valid_seconds": True}, "must be Long"),
        ("residency_shift", {"jurisdiction": 7}, "jurisdiction=7"),
    ],
)
def test_decide_context_type_error(
    kind: str, attributes: dict[str, Any], fragment: str
) -> None:
    """A mistyped attribute that a policy reads denies with policy_error."""
    decision = decide(DEFAULTS, make_crossing(kind, **attributes))
    assert decision.allowed is False
    assert codes(decision) == ["policy_error"]
    assert fragment in decision.errors[0]


def test_decide_passes_retrospective_and_digest() -> None:
    decision = decide(DEFAULTS, make_crossing(), retrospective=True)
    assert decision.retrospective is True
    assert decision.policy_digest == DEFAULTS.policies.digest


def test_decide_closure_adds_session_principal() -> None:
    entities = make_entities()
    crossing = make_crossing("session_closure", actor="s-1", invoker=None)
    decision = decide(DEFAULTS, crossing, make_facts(admitted=False), entities)
    assert decision.allowed is True
    assert decision.policy_ids == ("generic.closure.permit",)
    added = json.loads(str(entities.handle))
    principals = [
        item for item in added if item["uid"] == {"type": "Participant", "id": "s-1"}
    ]
    assert [item["attrs"]["class"] for item in principals] == ["session"]


# The decision memo


def full_request(crossing: Crossing, facts: BoothFacts) -> dict[str, Any]:
    """Build the booth's request for a crossing without using the booth."""
    context: dict[str, Any] = {
        "imported": False,
        "declared": facts.declared,
        "actor_admitted": facts.actor_admitted,
        "invoker_admitted": facts.invoker_admitted,
        "granted": facts.authority.valid,
    }
    if crossing.invoker_id is not None:
        context["invoker"] = crossing.invoker_id
    for source in (crossing.attributes, facts.extra_context or {}):
        for key, value in source.items():
            context.setdefault(key, list(value) if isinstance(value, tuple) else value)
    resource = (
        {"type": "Session", "id": SESSION.session_id}
        if crossing.target is None
        else {"type": "Tool", "id": crossing.target.target_id}
    )
    return {
        "principal": {"type": "Participant", "id": crossing.actor_id},
        "action": {"type": "Action", "id": crossing.kind},
        "resource": resource,
        "context": context,
    }


def fresh_evaluation(
    crossing: Crossing,
    facts: BoothFacts,
    entities: SessionEntities,
    booth: Booth = DEFAULTS,
) -> Any:
    """Evaluate the unpruned request directly, bypassing the booth and its memo."""
    query = full_request(crossing, facts)
    raw = booth.policies.evaluate_raw(
        query["principal"],
        query["action"],
        query["resource"],
        json.dumps(query["context"]),
        entities.handle,
    )
    return booth.policies.evaluation_from_raw(raw)


def shared_memo(booth: Booth) -> dict[Any, Any] | None:
    """Return the evaluations a booth shares between sessions, if it shares any."""
    memo: dict[Any, Any] | None = booth._shared_memo
    return memo


def test_memo_per_session_when_naming() -> None:
    """A policy that names an entity makes each session keep its own memo."""
    assert DEFAULTS.policies.names_entities is False
    assert NAMING.policies.names_entities is True
    assert shared_memo(NAMING) is None
    assert shared_memo(Booth(compile_policies())) == {}


def test_memo_stores_one_evaluation() -> None:
    entities = make_entities("tool:search", "agent:a")
    decide(NAMING, make_crossing(), entities=entities)
    decide(NAMING, make_crossing(), entities=entities)
    assert len(entities.memo) == 1


def test_memo_matches_fresh_evaluation() -> None:
    entities = make_entities("tool:search", "agent:a")
    crossing = make_crossing(mutates_state=True)
    facts = make_facts()
    decide(NAMING, crossing, facts, entities)
    (memoised,) = entities.memo.values()
    assert memoised == fresh_evaluation(crossing, facts, entities, NAMING)


def test_memo_emptied_on_new_entity() -> None:
    entities = make_entities("tool:search", "agent:a")
    decide(NAMING, make_crossing(), entities=entities)
    assert len(entities.memo) == 1
    entities.add_participant(Participant("agent:b", ParticipantClass.AGENT, "b"))
    assert entities.memo == {}


def test_memo_emptied_on_new_target() -> None:
    entities = make_entities("tool:search", "agent:a")
    decide(NAMING, make_crossing(), entities=entities)
    assert len(entities.memo) == 1
    entities.add_target(Target("tool", "grep"), {"name": "grep"})
    assert entities.memo == {}


def test_memo_kept_on_known_entity() -> None:
    entities = make_entities("tool:search", "agent:a")
    decide(NAMING, make_crossing(), entities=entities)
    entities.add_participant(Participant("agent:a", ParticipantClass.AGENT, "agent:a"))
    assert len(entities.memo) == 1


def test_shared_memo_across_sessions() -> None:
    """Equal requests in two sessions share one evaluation."""
    booth = Booth(compile_policies())
    first = decide(booth, make_crossing(), entities=make_entities("tool:search"))
    second = decide(booth, make_crossing(), entities=make_entities("tool:search"))
    assert second == first
    assert len(shared_memo(booth) or {}) == 1
    assert make_entities("tool:search").memo == {}


def test_shared_memo_keyed_by_attributes() -> None:
    """A principal with other attributes in another session is decided afresh."""
    booth = Booth(
        compile_policies(
            '@id("all")\npermit (principal, action, resource);\n'
            '@id("named")\nforbid (principal, action, resource)\n'
            'when { principal.name == "mallory" };'
        )
    )
    assert booth.policies.names_entities is False
    plain = SessionEntities(SESSION)
    plain.add_participant(Participant("tool:search", ParticipantClass.TOOL, "search"))
    renamed = SessionEntities(SESSION)
    renamed.add_participant(
        Participant("tool:search", ParticipantClass.TOOL, "mallory")
    )
    allowed = decide(booth, make_crossing(), entities=plain)
    forbidden = decide(booth, make_crossing(), entities=renamed)
    again = decide(booth, make_crossing(), entities=plain)
    assert allowed.allowed is True
    assert forbidden.allowed is False
    assert forbidden.policy_ids == ("named",)
    assert again == allowed
    assert len(shared_memo(booth) or {}) == 2


def test_memo_sees_entity_change() -> None:
    """A decision that depends on an entity changes once the entity is added."""
    booth = Booth(
        compile_policies(
            '@id("all")\npermit (principal, action, resource);\n'
            '@id("named")\nforbid (principal, action, resource)\n'
            'when { principal.name == "mallory" };'
        )
    )
    entities = make_entities("agent:a")
    before = decide(booth, make_crossing(), entities=entities)
    entities.add_participant(
        Participant("tool:search", ParticipantClass.TOOL, "search")
    )
    after = decide(booth, make_crossing(), entities=entities)
    assert codes(before) == ["policy_error"]
    assert after.allowed is True


def test_memo_cleared_when_full() -> None:
    entities = make_entities("tool:search", "agent:a")
    for index in range(DECISION_MEMO_SIZE_MAX):
        entities.memo[("filler", str(index))] = None
    decide(NAMING, make_crossing(), entities=entities)
    assert len(entities.memo) == 1


def test_shared_memo_cleared_when_full() -> None:
    booth = Booth(compile_policies())
    memo = shared_memo(booth)
    assert memo is not None
    for index in range(DECISION_MEMO_SIZE_MAX):
        memo[("filler", str(index))] = None
    decide(booth, make_crossing())
    assert len(memo) == 1


_ATTRIBUTES = st.fixed_dictionaries(
    {},
    optional={
        "mutates_state": st.booleans(),
        "persistent": st.booleans(),
        "persistence_authorised": st.booleans(),
        "jurisdiction": st.sampled_from(["eu", "us"]),
        "proof_valid_seconds": st.integers(-2, 2),
        "model": st.sampled_from(["gpt-4o", "llama"]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(GENERIC.kinds)),
    attributes=_ATTRIBUTES,
    declared=st.booleans(),
    admitted=st.booleans(),
    granted=st.booleans(),
    allowed_jurisdictions=st.none() | st.just(("eu",)),
    shared=st.booleans(),
)
def test_memo_equals_fresh_property(
    shared: bool,
    kind: str,
    attributes: dict[str, Any],
    declared: bool,
    admitted: bool,
    granted: bool,
    allowed_jurisdictions: tuple[str, ...] | None,
) -> None:
    """A memo hit gives the evaluation a fresh, unpruned evaluation gives.

    The default policies share one memo between sessions, so a second
    session's equal request must get the same decision. A policy set that
    names an entity keeps one memo per session.
    """
    booth = Booth(DEFAULTS.policies) if shared else Booth(NAMING.policies)
    authority = (
        VALID
        if granted
        else AuthorityCheck(AuthorityStatus.MISSING, "agent:a", None, "no grant")
    )
    extra = (
        None
        if allowed_jurisdictions is None
        else {"allowed_jurisdictions": allowed_jurisdictions}
    )
    facts = make_facts(
        declared=declared, admitted=admitted, authority=authority, extra=extra
    )
    crossing = make_crossing(kind, **attributes)
    entities = make_entities("tool:search", "agent:a")
    first = decide(booth, crossing, facts, entities)
    second = decide(booth, crossing, facts, entities)
    other_session = decide(
        booth, crossing, facts, make_entities("tool:search", "agent:a")
    )
    assert other_session == first
    if shared:
        assert entities.memo == {}
        (memoised,) = (shared_memo(booth) or {}).values()
    else:
        (memoised,) = entities.memo.values()
    fresh = fresh_evaluation(crossing, facts, entities, booth)
    assert second == first
    assert memoised.allowed == fresh.allowed
    assert sorted(memoised.policy_ids) == sorted(fresh.policy_ids)
    assert memoised.errors == fresh.errors
    assert ("policy_error" in codes(first)) == bool(fresh.errors)
    denied_by_policy = not fresh.allowed and not fresh.errors
    assert ("policy_denied" in codes(first)) == denied_by_policy
    expected_obligations = sorted(fresh.obligations) if first.allowed else []
    assert sorted(first.obligations) == expected_obligations
