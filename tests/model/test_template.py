"""Tests for loading built-in and custom templates."""

from __future__ import annotations

from pathlib import Path

import cedarpy
import pytest

from ssoar.errors import TemplateError
from ssoar.model import (
    BUILTIN_TEMPLATES,
    Ledger,
    ParticipantClass,
    load_template,
)
from ssoar.policy import BoothPolicies, PolicySource

GENERIC_KINDS = [
    "participant_admission",
    "accessibility_activation",
    "identity_proof",
    "model_invocation",
    "tool_call",
    "memory_write",
    "residency_shift",
    "carrier_path",
    "session_closure",
]

HEADER = """
name = "custom"
title = "Custom"
policy_file = "generic.cedar"
"""

NEW_KIND = """
[[crossing]]
kind = "data_export"
title = "Data export"
actors = ["agent"]
ledgers = ["authority", "audit"]
question = "May this agent export data, and where to?"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TemplateError) as caught:
        load_template(str(path))
    return str(caught.value)


# Built-in templates


def test_builtin_template_names() -> None:
    assert BUILTIN_TEMPLATES == ("generic", "agentic-workflow")


def test_generic_template_loads() -> None:
    template = load_template("generic")
    assert template.name == "generic"
    assert list(template.kinds) == GENERIC_KINDS
    assert template.policy_file == "generic.cedar"
    assert template.idle_timeout_seconds == 1800
    assert template.max_lifetime_seconds == 86400


def test_generic_model_row() -> None:
    spec = load_template("generic").spec("model_invocation")
    assert spec.actors == (ParticipantClass.AI_MODEL,)
    assert spec.ledgers == frozenset({Ledger.COMPUTE, Ledger.BILLING, Ledger.AUTHORITY})


def test_agentic_template_loads() -> None:
    template = load_template("agentic-workflow")
    assert template.name == "agentic-workflow"
    assert list(template.kinds) == [
        "participant_admission",
        "identity_proof",
        "model_invocation",
        "tool_call",
        "memory_write",
        "residency_shift",
        "carrier_path",
        "session_closure",
        "agent_handoff",
        "retrieval",
    ]
    assert template.idle_timeout_seconds == 900
    assert template.max_lifetime_seconds == 14400


def test_agentic_admission_actors() -> None:
    spec = load_template("agentic-workflow").spec("participant_admission")
    assert spec.actors == (
        ParticipantClass.HUMAN,
        ParticipantClass.AGENT,
        ParticipantClass.AI_MODEL,
        ParticipantClass.TOOL,
        ParticipantClass.MEMORY_LAYER,
    )
    # The ledgers stay those of the generic row.
    assert (
        spec.ledgers == load_template("generic").spec("participant_admission").ledgers
    )


@pytest.mark.parametrize("name", BUILTIN_TEMPLATES)
def test_builtin_policies_compile(name: str) -> None:
    template = load_template(name)
    file, text = template.policy_text()
    policies = BoothPolicies.compile(template, [PolicySource("template", file, text)])
    assert len(policies.infos) > 0


def test_spec_unknown_kind() -> None:
    with pytest.raises(TemplateError, match="teleport"):
        load_template("generic").spec("teleport")


# Custom templates


def test_custom_extends_generic(tmp_path: Path) -> None:
    path = write(tmp_path, "custom.toml", HEADER + 'extends = "generic"\n' + NEW_KIND)
    template = load_template(str(path))
    assert list(template.kinds) == [*GENERIC_KINDS, "data_export"]
    spec = template.spec("data_export")
    assert spec.actors == (ParticipantClass.AGENT,)
    assert spec.ledgers == frozenset({Ledger.AUTHORITY, Ledger.AUDIT})
    assert template.idle_timeout_seconds == 1800


def test_custom_kind_in_policies(tmp_path: Path) -> None:
    """Policies can name the new kind as an action, and it is evaluated."""
    path = write(tmp_path, "custom.toml", HEADER + 'extends = "generic"\n' + NEW_KIND)
    template = load_template(str(path))
    text = (
        '@id("export.permit")\n'
        'permit (principal, action == Action::"data_export", resource)\n'
        "when { context.granted };\n"
        '@id("closure")\n'
        'permit (principal, action == Action::"session_closure", resource);\n'
    )
    policies = BoothPolicies.compile(template, [PolicySource("tenant", "t", text)])
    evaluation = policies.evaluate(
        {
            "principal": {"type": "Participant", "id": "agent:a"},
            "action": {"type": "Action", "id": "data_export"},
            "resource": {"type": "Session", "id": "s-1"},
            "context": {"granted": True},
        },
        cedarpy.Entities.from_json_str("[]"),
    )
    assert evaluation.allowed is True
    assert evaluation.policy_ids == ("export.permit",)


def test_custom_overrides_timeouts(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\nidle_timeout_seconds = 60\n'
    template = load_template(str(write(tmp_path, "t.toml", text)))
    assert template.idle_timeout_seconds == 60
    assert template.max_lifetime_seconds == 86400


def test_custom_uses_subset(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\nuses = ["tool_call", "session_closure"]\n'
    template = load_template(str(write(tmp_path, "t.toml", text)))
    assert list(template.kinds) == ["tool_call", "session_closure"]


def test_custom_without_extends(tmp_path: Path) -> None:
    closure = (
        '[[crossing]]\nkind = "session_closure"\ntitle = "Closure"\n'
        'ledgers = ["settlement"]\nquestion = "Closed?"\n'
    )
    text = HEADER + "idle_timeout_seconds = 10\nmax_lifetime_seconds = 20\n" + closure
    template = load_template(str(write(tmp_path, "t.toml", text)))
    assert list(template.kinds) == ["session_closure"]
    assert template.spec("session_closure").actors == ()


# Invalid template files


def test_unknown_ledger_rejected(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\n' + NEW_KIND.replace('"audit"', '"warp"')
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "crossing[0]" in message
    assert "unknown ledger 'warp'" in message


def test_unknown_actor_class_rejected(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\n' + NEW_KIND.replace('"agent"', '"robot"')
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "crossing[0].actors" in message
    assert "unknown participant class 'robot'" in message


def test_unknown_admission_class_rejected(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\n[admission]\nactors = ["robot"]\n'
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "admission.actors" in message


def test_missing_session_closure_rejected(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\nuses = ["tool_call"]\n'
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "'session_closure'" in message


def test_no_kinds_rejected(tmp_path: Path) -> None:
    text = HEADER + "idle_timeout_seconds = 10\nmax_lifetime_seconds = 20\n"
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "'session_closure'" in message


def test_extends_cycle_rejected(tmp_path: Path) -> None:
    first = tmp_path / "a.toml"
    second = tmp_path / "b.toml"
    first.write_text(HEADER + f'extends = "{second}"\n', encoding="utf-8")
    second.write_text(HEADER + f'extends = "{first}"\n', encoding="utf-8")
    message = load_error(first)
    assert str(first) in message or str(second) in message
    assert "'extends'" in message
    assert "cycle" in message


def test_extends_itself_rejected(tmp_path: Path) -> None:
    path = tmp_path / "self.toml"
    path.write_text(HEADER + f'extends = "{path}"\n', encoding="utf-8")
    message = load_error(path)
    assert str(path) in message
    assert "cycle" in message


def test_unknown_used_kind_names_file(tmp_path: Path) -> None:
    text = HEADER + 'extends = "generic"\nuses = ["teleport", "session_closure"]\n'
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert message == (
        f"{path}: 'uses' names crossing kind 'teleport', which template 'generic' "
        f"does not have; its kinds are {', '.join(GENERIC_KINDS)}"
    )


def test_relative_extends_beside_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``extends`` is found beside the template that names it."""
    folder = tmp_path / "templates"
    folder.mkdir()
    parent = HEADER.replace('"custom"', '"parent"') + 'extends = "generic"\n'
    write(folder, "parent.toml", parent + NEW_KIND)
    child = HEADER.replace('"custom"', '"child"') + 'extends = "parent.toml"\n'
    uses = 'uses = ["data_export", "session_closure"]\n'
    path = write(folder, "child.toml", child + uses)
    monkeypatch.chdir(tmp_path)
    template = load_template(str(path))
    assert template.name == "child"
    assert list(template.kinds) == ["data_export", "session_closure"]


def test_uses_not_list_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "t.toml", HEADER + 'extends = "generic"\nuses = "all"\n')
    message = load_error(path)
    assert str(path) in message
    assert "'uses'" in message


def test_redefined_kind_rejected(tmp_path: Path) -> None:
    text = (
        HEADER + 'extends = "generic"\n' + NEW_KIND.replace("data_export", "tool_call")
    )
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "redefines kind 'tool_call'" in message


@pytest.mark.parametrize("kind", ["Data-Export", "data export", "export!"])
def test_bad_kind_name_rejected(tmp_path: Path, kind: str) -> None:
    text = HEADER + 'extends = "generic"\n' + NEW_KIND.replace("data_export", kind)
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "lower-case letters" in message


def test_empty_ledgers_rejected(tmp_path: Path) -> None:
    text = (
        HEADER
        + 'extends = "generic"\n'
        + NEW_KIND.replace('["authority", "audit"]', "[]")
    )
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "'ledgers'" in message


@pytest.mark.parametrize("key", ["name", "title", "policy_file"])
def test_missing_string_key_rejected(tmp_path: Path, key: str) -> None:
    lines = [line for line in HEADER.splitlines() if not line.startswith(key)]
    text = "\n".join(lines) + '\nextends = "generic"\n'
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert f"'{key}'" in message


@pytest.mark.parametrize("value", ["0", "-5", "true", '"60"'])
def test_bad_timeout_rejected(tmp_path: Path, value: str) -> None:
    text = HEADER + f'extends = "generic"\nidle_timeout_seconds = {value}\n'
    path = write(tmp_path, "t.toml", text)
    message = load_error(path)
    assert str(path) in message
    assert "'idle_timeout_seconds'" in message


def test_invalid_toml_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "t.toml", "name = \n")
    message = load_error(path)
    assert str(path) in message
    assert "invalid TOML" in message


def test_missing_file_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    message = load_error(missing)
    assert str(missing) in message
    assert "neither a built-in template" in message
