"""Tests for compiling booth policies and evaluating requests against them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cedarpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssoar._runtime import compile_policies
from ssoar.booth._entities import SessionEntities
from ssoar.errors import PolicyError
from ssoar.model import Participant, ParticipantClass, Session, load_template
from ssoar.policy import (
    CONTEXT_ATTRIBUTES,
    POLICY_COUNT_MAX,
    BoothPolicies,
    PolicyInfo,
    PolicySource,
    compute_policy_digest,
    split_policies,
)

GENERIC = load_template("generic")
AGENTIC = load_template("agentic-workflow")
SESSION = Session(
    "s-1", "acme", "generic", datetime(2025, 6, 1, tzinfo=UTC), origin="live"
)
BASE_CONTEXT: dict[str, Any] = {
    "imported": False,
    "declared": True,
    "actor_admitted": True,
    "invoker_admitted": True,
    "granted": True,
}


def compile_text(text: str, file: str = "tenant.cedar") -> BoothPolicies:
    return BoothPolicies.compile(GENERIC, [PolicySource("tenant", file, text)])


def compile_error(sources: list[PolicySource]) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        BoothPolicies.compile(GENERIC, sources)
    return caught.value


def default_sources(template: Any) -> list[PolicySource]:
    file, text = template.policy_text()
    return [PolicySource("template", file, text)]


def request(
    kind: str, context: dict[str, Any], principal: str = "agent:a"
) -> dict[str, Any]:
    return {
        "principal": {"type": "Participant", "id": principal},
        "action": {"type": "Action", "id": kind},
        "resource": {"type": "Session", "id": SESSION.session_id},
        "context": context,
    }


def session_entities() -> SessionEntities:
    entities = SessionEntities(SESSION)
    entities.add_participant(
        Participant("agent:a", ParticipantClass.AGENT, "a", ("tool_call",))
    )
    return entities


# Loading


def test_compile_parse_error_location() -> None:
    bad = '@id("b")\npermit (principal, actionx, resource);'
    text = '@id("a")\npermit (principal, action, resource);\n\n' + bad + "\n"
    with pytest.raises(ValueError) as cedar_error:
        cedarpy.PolicySet.from_str(bad)
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.file == "t.cedar"
    assert error.line == 4
    assert str(cedar_error.value) in error.detail


def test_compile_parse_error_second_file() -> None:
    good = PolicySource(
        "tenant", "a.cedar", '@id("a")\npermit (principal, action, resource);\n'
    )
    bad = PolicySource("session", "b.cedar", '\n\n@id("b")\npermit (principal);\n')
    error = compile_error([good, bad])
    assert error.file == "b.cedar"
    assert error.line == 3


def test_compile_unknown_context_attribute() -> None:
    text = (
        '@id("a")\npermit (principal, action, resource);\n'
        "// reads an attribute the schema does not declare\n"
        '@id("b")\npermit (principal, action, resource) when { context.nope };\n'
    )
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.file == "t.cedar"
    assert error.line == 4
    assert "does not validate" in error.detail
    assert "`nope`" in error.detail


def test_compile_unknown_action_rejected() -> None:
    text = '@id("a")\npermit (principal, action == Action::"teleport", resource);\n'
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.line == 1
    assert "teleport" in error.detail


def test_compile_missing_id_rejected() -> None:
    text = (
        '@id("a")\npermit (principal, action, resource);\n\n'
        '@obligation("x")\npermit (principal, action, resource);\n'
    )
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.file == "t.cedar"
    assert error.line == 4
    assert "no @id" in error.detail


def test_compile_empty_id_rejected() -> None:
    error = compile_error(
        [
            PolicySource(
                "tenant", "t.cedar", '@id("")\npermit (principal, action, resource);'
            )
        ]
    )
    assert error.line == 1
    assert "no @id" in error.detail


def test_compile_duplicate_id_across_layers() -> None:
    tenant = PolicySource(
        "tenant", "tenant.cedar", '\n@id("x")\npermit (principal, action, resource);\n'
    )
    session = PolicySource(
        "session",
        "session.cedar",
        '@id("y")\npermit (principal, action, resource);\n'
        '@id("x")\nforbid (principal, action, resource);\n',
    )
    error = compile_error([tenant, session])
    assert error.file == "session.cedar"
    assert error.line == 3
    assert "tenant.cedar:2" in error.detail


def test_compile_unterminated_policy_start() -> None:
    text = (
        '@id("a")\npermit (principal, action, resource);\n\n'
        '@id("b")\npermit (principal, action, resource)\n'
    )
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.file == "t.cedar"
    assert error.line == 4


def test_compile_no_policies_rejected() -> None:
    error = compile_error([PolicySource("tenant", "t.cedar", "// nothing\n")])
    assert error.file == "t.cedar"
    assert "no policies" in error.detail


def test_compile_policy_template_rejected() -> None:
    text = '@id("t")\npermit (principal == ?principal, action, resource);\n'
    error = compile_error([PolicySource("tenant", "t.cedar", text)])
    assert error.file == "t.cedar"
    assert "templates" in error.detail


def test_compile_policy_template_location() -> None:
    template_text = '@id("base")\npermit (principal, action, resource);\n'
    tenant_text = (
        '@id("t.ok")\npermit (principal, action, resource);\n\n'
        '@id("t.linked")\npermit (principal, action, resource == ?resource);\n'
    )
    error = compile_error(
        [
            PolicySource("template", "base.cedar", template_text),
            PolicySource("tenant", "t.cedar", tenant_text),
        ]
    )
    assert error.file == "t.cedar"
    assert error.line == 4


def test_compile_long_allow_list() -> None:
    # Each || is two levels of Cedar's JSON form, so 800 alternatives nest
    # deeper than orjson reads, and the fallback parser reads them.
    alternatives = " || ".join(f'context.model == "model-{i}"' for i in range(800))
    text = (
        '@id("t.models")\n'
        'permit (principal, action == Action::"model_invocation", resource)\n'
        f"when {{ context has model && ({alternatives}) }};\n"
    )
    policies = BoothPolicies.compile(AGENTIC, [PolicySource("tenant", "m", text)])
    assert [info.policy_id for info in policies.infos] == ["t.models"]
    assert policies.context_keys == frozenset({"model"})


def test_compile_too_many_policies() -> None:
    text = "\n".join(
        f'@id("p{index}")\npermit (principal, action, resource);'
        for index in range(POLICY_COUNT_MAX + 1)
    )
    error = compile_error([PolicySource("tenant", "many.cedar", text)])
    # Policy number POLICY_COUNT_MAX + 1 starts on line 2 * POLICY_COUNT_MAX + 1.
    assert error.line == 2 * POLICY_COUNT_MAX + 1
    assert str(POLICY_COUNT_MAX) in error.detail


@pytest.mark.parametrize("template", [GENERIC, AGENTIC], ids=lambda t: t.name)
def test_compile_builtin_defaults(template: Any) -> None:
    policies = BoothPolicies.compile(template, default_sources(template))
    ids = [info.policy_id for info in policies.infos]
    assert len(ids) == len(set(ids))
    assert all(info.layer == "template" for info in policies.infos)
    assert policies.digest.startswith("sha256:")


def test_policy_info_fields() -> None:
    text = (
        "// first\n"
        '@id("m")\n@obligation("deliver_stream, carry_forward:x ,")\n'
        'permit (principal, action == Action::"model_invocation", resource);\n'
    )
    policies = compile_text(text, "m.cedar")
    info = policies.info("m")
    assert info.effect == "permit"
    assert info.layer == "tenant"
    assert info.file == "m.cedar"
    assert info.line == 2
    assert info.obligations == ("deliver_stream", "carry_forward:x")


def test_policy_info_unknown_id() -> None:
    policies = compile_text('@id("m")\npermit (principal, action, resource);')
    with pytest.raises(KeyError):
        policies.info("nope")


def test_digest_changes_with_file() -> None:
    """The digest says where each policy came from, so the file is part of it."""
    text = '@id("m")\npermit (principal, action, resource);\n'
    first = compile_text(text, "/one/a.cedar")
    second = compile_text(text, "/two/b.cedar")
    assert first.digest != second.digest


def test_digest_changes_with_line() -> None:
    text = '@id("m")\npermit (principal, action, resource);\n'
    first = compile_text(text)
    second = compile_text("\n" + text)
    assert first.digest != second.digest


def test_digest_same_for_same_sources() -> None:
    text = '@id("m")\npermit (principal, action, resource);\n'
    assert compile_text(text, "a.cedar").digest == compile_text(text, "a.cedar").digest


def test_digest_from_stored_sources() -> None:
    """compute_policy_digest over (layer, file, line, text) gives the set's digest."""
    text = (
        '// two policies\n@id("m")\npermit (principal, action, resource);\n\n'
        '@id("n")\nforbid (principal, action, resource) when { !context.granted };\n'
    )
    policies = compile_text(text, "t.cedar")
    assert [(layer, item.line) for layer, item in policies.statements] == [
        ("tenant", 2),
        ("tenant", 5),
    ]
    digest = compute_policy_digest(
        (layer, item.file, item.line, item.text) for layer, item in policies.statements
    )
    assert digest == policies.digest
    moved = compute_policy_digest(
        (layer, item.file, item.line + 1, item.text)
        for layer, item in policies.statements
    )
    assert moved != policies.digest


def test_digest_length_prefixed() -> None:
    """Parts are length-prefixed, so moving text between parts changes the digest."""
    assert compute_policy_digest([("tenant", "ab", 1, "c")]) != compute_policy_digest(
        [("tenant", "a", 1, "bc")]
    )


def test_digest_changes_with_text() -> None:
    first = compile_text('@id("m")\npermit (principal, action, resource);')
    second = compile_text('@id("n")\npermit (principal, action, resource);')
    assert first.digest != second.digest


def test_digest_changes_with_layer() -> None:
    text = '@id("m")\npermit (principal, action, resource);'
    tenant = BoothPolicies.compile(GENERIC, [PolicySource("tenant", "a", text)])
    session = BoothPolicies.compile(GENERIC, [PolicySource("session", "a", text)])
    assert tenant.digest != session.digest


def test_source_text_heads_each_policy() -> None:
    policies = compile_text('\n@id("m")\npermit (principal, action, resource);', "a")
    assert policies.source_text() == (
        '// tenant a:2\n@id("m")\npermit (principal, action, resource);\n'
    )


# Context pruning


def test_context_keys_of_generic_defaults() -> None:
    policies = BoothPolicies.compile(GENERIC, default_sources(GENERIC))
    # Read off generic.cedar: every context attribute some policy reads or tests.
    assert policies.context_keys == frozenset(
        {
            "declared",
            "proof_valid_seconds",
            "mutates_state",
            "granted",
            "persistent",
            "persistence_authorised",
            "allowed_jurisdictions",
            "jurisdiction",
        }
    )


def test_context_keys_whole_context_is_none() -> None:
    text = '@id("m")\npermit (principal, action, resource) when { context == context };'
    assert compile_text(text).context_keys is None


def test_relevant_context_drops_unread() -> None:
    policies = compile_text(
        '@id("m")\npermit (principal, action, resource) when { context.granted };'
    )
    context = {"granted": True, "declared": False, "model": "gpt-4o"}
    assert policies.relevant_context(context) == {"granted": True}


def test_relevant_context_whole_context_kept() -> None:
    text = '@id("m")\npermit (principal, action, resource) when { context == context };'
    context = {"granted": True, "model": "gpt-4o"}
    assert compile_text(text).relevant_context(context) == context


# Evaluation


def test_evaluate_no_permit_denies() -> None:
    policies = compile_text(
        '@id("tools")\npermit (principal, action == Action::"tool_call", resource);'
    )
    evaluation = policies.evaluate(
        request("model_invocation", BASE_CONTEXT), session_entities().handle
    )
    assert evaluation.allowed is False
    assert evaluation.forbidden is False
    assert evaluation.policy_ids == ()
    assert evaluation.errors == ()


def test_evaluate_forbid_overrides_permit() -> None:
    policies = compile_text(
        '@id("all")\npermit (principal, action, resource);\n'
        '@id("no-tools")\nforbid (principal, action == Action::"tool_call", resource);'
    )
    evaluation = policies.evaluate(
        request("tool_call", BASE_CONTEXT), session_entities().handle
    )
    assert evaluation.allowed is False
    assert evaluation.forbidden is True
    assert evaluation.policy_ids == ("no-tools",)


def test_evaluate_erroring_forbid_denies() -> None:
    """A forbid that fails to evaluate denies even when a permit matches."""
    policies = compile_text(
        '@id("all")\npermit (principal, action, resource);\n'
        '@id("named")\nforbid (principal, action, resource)\n'
        'when { principal.name == "mallory" };'
    )
    # The principal is not in the entity set, so reading principal.name fails.
    evaluation = policies.evaluate(
        request("tool_call", BASE_CONTEXT, principal="agent:ghost"),
        session_entities().handle,
    )
    assert evaluation.allowed is False
    assert evaluation.errors == (
        "error while evaluating policy `named`: entity "
        '`Participant::"agent:ghost"` does not exist',
    )
    assert evaluation.obligations == ()


def test_evaluate_permit_ids_and_obligations() -> None:
    policies = compile_text(
        '@id("one")\n@obligation("a, b")\n'
        'permit (principal, action == Action::"tool_call", resource);\n'
        '@id("two")\n@obligation("b, c")\n'
        'permit (principal, action == Action::"tool_call", resource);\n'
        '@id("other")\n@obligation("z")\n'
        'permit (principal, action == Action::"memory_write", resource);'
    )
    evaluation = policies.evaluate(
        request("tool_call", BASE_CONTEXT), session_entities().handle
    )
    assert evaluation.allowed is True
    assert evaluation.policy_ids == ("one", "two")
    assert sorted(evaluation.obligations) == ["a", "b", "c"]


def test_evaluate_policy_ids_deterministic() -> None:
    """The same request gives the same policy id order every time.

    Decisions go into canonical audit records, so a varying order would give
    the same session a different Merkle root on every run.
    """
    policies = compile_text(
        '@id("one")\n@obligation("a")\npermit (principal, action, resource);\n'
        '@id("two")\n@obligation("b")\npermit (principal, action, resource);\n'
        '@id("three")\n@obligation("c")\npermit (principal, action, resource);'
    )
    handle = session_entities().handle
    query = request("tool_call", BASE_CONTEXT)
    evaluations = [policies.evaluate(query, handle) for _ in range(50)]
    assert {evaluation.policy_ids for evaluation in evaluations} == {
        ("one", "two", "three")
    }
    assert len({evaluation.obligations for evaluation in evaluations}) == 1


def test_evaluate_denied_has_no_obligations() -> None:
    policies = compile_text(
        '@id("one")\n@obligation("a")\npermit (principal, action, resource);\n'
        '@id("no")\nforbid (principal, action, resource) when { !context.granted };'
    )
    context = {**BASE_CONTEXT, "granted": False}
    evaluation = policies.evaluate(
        request("tool_call", context), session_entities().handle
    )
    assert evaluation.allowed is False
    assert evaluation.obligations == ()
    assert evaluation.policy_ids == ("no",)


# The fast path against the public cedarpy API

_EXAMPLE_REQUEST = re.compile(r'^(?P<type>.+)::"(?P<id>.*)"$')


def parse_uid(text: str) -> dict[str, str]:
    match = _EXAMPLE_REQUEST.match(text)
    assert match is not None, text
    return {"type": match["type"], "id": match["id"]}


def example_policies(file: Path) -> tuple[BoothPolicies, str]:
    """Wrap a real example's policies, which may lack @id, in BoothPolicies."""
    text = file.read_text(encoding="utf-8")
    statements = [("tenant", item) for item in split_policies(str(file), text)]
    combined = "\n".join(item.text for _, item in statements)
    static = json.loads(cedarpy.policies_to_json_str(combined))["staticPolicies"]
    infos = []
    for index, (layer, statement) in enumerate(statements):
        body = static[f"policy{index}"]
        annotations = body.get("annotations", {})
        infos.append(
            PolicyInfo(
                annotations.get("id", f"policy{index}"),
                body["effect"],
                layer,
                statement.file,
                statement.line,
                annotations,
            )
        )
    policies = BoothPolicies(
        GENERIC,
        statements,
        cedarpy.PolicySet.from_str(combined),
        None,
        infos,
        "sha256:example",
    )
    return policies, combined


@pytest.mark.parametrize(
    ("example", "entities_need_schema"),
    [
        # Its action groups ("Role-A Actions") exist only in its schema.
        ("tags_n_roles", True),
        # Its entities.json does not conform to its own schema (modifyACL
        # names a Document), so Cedar rejects the entities with that schema.
        ("document_cloud", False),
    ],
)
def test_fast_path_real_examples(
    real_data, example: str, entities_need_schema: bool
) -> None:
    """evaluate_raw agrees with cedarpy.is_authorized and the ALLOW/DENY folder."""
    root = real_data.path(f"policies/cedar/{example}")
    policies, combined = example_policies(root / "policies.cedar")
    schema = (root / "policies.cedarschema").read_text(encoding="utf-8")
    entities = cedarpy.Entities.from_json_str(
        (root / "entities.json").read_text(encoding="utf-8"),
        schema if entities_need_schema else None,
    )
    seen = {"ALLOW": 0, "DENY": 0}
    for folder in seen:
        for file in sorted((root / folder).glob("*.json")):
            query = json.loads(file.read_text(encoding="utf-8"))
            context = query.get("context", {})
            raw = policies.evaluate_raw(
                parse_uid(query["principal"]),
                parse_uid(query["action"]),
                parse_uid(query["resource"]),
                json.dumps(context),
                entities,
            )
            public = cedarpy.is_authorized(query, combined, entities)
            evaluation = policies.evaluation_from_raw(raw)
            assert raw["decision"] == public.decision.value, file.name
            # Cedar reports reasons in hash-set order, so compare them as sets.
            assert sorted(raw["diagnostics"]["reason"]) == sorted(
                public.diagnostics.reasons
            ), file.name
            assert raw["diagnostics"]["errors"] == public.diagnostics.errors, file.name
            assert evaluation.allowed is (folder == "ALLOW"), file.name
            seen[folder] += 1
    assert seen["ALLOW"] > 0
    assert seen["DENY"] > 0


def test_fast_path_policy_ids_real(real_data) -> None:
    root = real_data.path("policies/cedar/tags_n_roles")
    policies, combined = example_policies(root / "policies.cedar")
    entities = cedarpy.Entities.from_json_str(
        (root / "entities.json").read_text(encoding="utf-8"),
        (root / "policies.cedarschema").read_text(encoding="utf-8"),
    )
    query = json.loads((root / "ALLOW" / "joe_read.json").read_text("utf-8"))
    public = cedarpy.is_authorized(query, combined, entities)
    raw = policies.evaluate_raw(
        parse_uid(query["principal"]),
        parse_uid(query["action"]),
        parse_uid(query["resource"]),
        "{}",
        entities,
    )
    names = public.diagnostics.id_annotations_by_reason
    expected = sorted(names[reason] for reason in public.diagnostics.reasons)
    assert sorted(policies.evaluation_from_raw(raw).policy_ids) == expected
    assert expected != []


# Extra tenant policies that read more of the context, so pruning has work.
_TENANT_EXTRA = """
@id("tenant.models.cap")
forbid (principal, action == Action::"model_invocation", resource)
when { context has input_tokens && context.input_tokens > 1000 };

@id("tenant.models.gpt")
@obligation("log_prompt")
permit (principal, action == Action::"model_invocation", resource)
when { context has model && context.model like "gpt-*" };

@id("tenant.scope")
forbid (principal, action == Action::"tool_call", resource)
when { context has scope && context.scope.contains("forbidden") };
"""

_VALUES_BY_TYPE = {
    "Boolean": st.booleans(),
    "Long": st.integers(min_value=-5, max_value=5000),
    "String": st.sampled_from(["", "gpt-4o", "gpt-x", "claude", "eu", "us"]),
    "Set<String>": st.lists(
        st.sampled_from(["eu", "us", "forbidden", "tool_call"]), max_size=3
    ),
}
_ANY_VALUE = st.one_of(*_VALUES_BY_TYPE.values())


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    """Booth contexts: required keys usually present, values usually well typed."""
    context: dict[str, Any] = {}
    for attribute in CONTEXT_ATTRIBUTES:
        present = draw(st.floats(0, 1)) < (0.9 if attribute.required else 0.4)
        if not present:
            continue
        well_typed = draw(st.floats(0, 1)) < 0.9
        strategy = _VALUES_BY_TYPE[attribute.cedar_type] if well_typed else _ANY_VALUE
        context[attribute.name] = draw(strategy)
    if draw(st.booleans()):
        context["unread_extra"] = draw(_ANY_VALUE)
    return context


def layered_policies(template: Any) -> BoothPolicies:
    return BoothPolicies.compile(
        template,
        [*default_sources(template), PolicySource("tenant", "t.cedar", _TENANT_EXTRA)],
    )


LAYERED = {template.name: layered_policies(template) for template in (GENERIC, AGENTIC)}
ENTITIES = session_entities()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(sorted(LAYERED)),
    data=st.data(),
    context=contexts(),
    principal=st.sampled_from(["agent:a", "agent:ghost"]),
)
def test_fast_path_matches_public(
    template: str, data: st.DataObject, context: dict[str, Any], principal: str
) -> None:
    """On generated contexts the fast path gives cedarpy.is_authorized's result."""
    policies = LAYERED[template]
    kind = data.draw(st.sampled_from(sorted(policies.template.kinds)))
    query = request(kind, context, principal)
    combined = "\n".join(statement.text for _, statement in policies.statements)
    raw = policies.evaluate_raw(
        query["principal"],
        query["action"],
        query["resource"],
        json.dumps(context),
        ENTITIES.handle,
    )
    public = cedarpy.is_authorized(query, combined, ENTITIES.handle)
    assert raw["decision"] == public.decision.value
    # Cedar reports reasons in hash-set order, so compare them as sets.
    assert sorted(raw["diagnostics"]["reason"]) == sorted(public.diagnostics.reasons)
    assert sorted(raw["diagnostics"]["errors"]) == sorted(public.diagnostics.errors)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=st.sampled_from(sorted(LAYERED)), data=st.data(), context=contexts())
def test_pruning_keeps_decision(
    template: str, data: st.DataObject, context: dict[str, Any]
) -> None:
    """Evaluating the pruned context gives the same evaluation as the full one."""
    policies = LAYERED[template]
    kind = data.draw(st.sampled_from(sorted(policies.template.kinds)))
    query = request(kind, context)
    pruned = policies.evaluate(query, ENTITIES.handle)
    full = policies.evaluation_from_raw(
        policies.evaluate_raw(
            query["principal"],
            query["action"],
            query["resource"],
            json.dumps(context),
            ENTITIES.handle,
        )
    )
    assert pruned.allowed == full.allowed
    assert sorted(pruned.policy_ids) == sorted(full.policy_ids)
    assert pruned.forbidden == full.forbidden
    assert sorted(pruned.obligations) == sorted(full.obligations)
    assert bool(pruned.errors) == bool(full.errors)


# The template layer


CUSTOM_TEMPLATE = '@id("custom.all")\npermit (principal, action, resource);\n'


def test_compile_policies_template_defaults() -> None:
    policies = compile_policies(GENERIC)
    first = policies.infos[0]
    assert (first.policy_id, first.layer, first.file, first.line) == (
        "generic.admission.declared",
        "template",
        "ssoar:policy/defaults/generic.cedar",
        15,
    )


def test_compile_policies_template_replaced(tmp_path: Path) -> None:
    """template_policies takes the place of the template's default policies."""
    path = tmp_path / "base.cedar"
    path.write_text(CUSTOM_TEMPLATE, encoding="utf-8")
    policies = compile_policies(GENERIC, template_policies=path)
    described = [
        (info.policy_id, info.layer, info.file, info.line) for info in policies.infos
    ]
    assert described == [("custom.all", "template", str(path), 1)]


def test_compile_policies_tenant_on_replaced(tmp_path: Path) -> None:
    base = tmp_path / "base.cedar"
    base.write_text(CUSTOM_TEMPLATE, encoding="utf-8")
    tenant = tmp_path / "tenant.cedar"
    tenant.write_text(
        '@id("tenant.no-tools")\n'
        'forbid (principal, action == Action::"tool_call", resource);\n',
        encoding="utf-8",
    )
    policies = compile_policies(GENERIC, tenant, template_policies=base)
    layers = [(info.policy_id, info.layer) for info in policies.infos]
    assert layers == [("custom.all", "template"), ("tenant.no-tools", "tenant")]
