"""The ``ssoar`` command line, run in-process on real traces."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner, Result

from ssoar.cli import app
from ssoar.model._template import BUILTIN_TEMPLATES

CREWAI = "traces/langfuse/crewai-2025-07-11.trace.json"
MICROSOFT_AGENT = "traces/langfuse/microsoft-agent-2025-12-17.trace.json"
OTLP_TOOLS = "traces/otlp-openinference/chat-tools.json"
VALID_POLICY = """\
// Tenant rule: every model may be called.
@id("tenant.models.allow")
permit (principal, action == Action::"model_invocation", resource);
"""
# Line 5 contains a syntax error: the comma between action and resource is missing.
INVALID_POLICY = """\
// Tenant rules.
@id("tenant.tools.allow")
permit (principal, action == Action::"tool_call", resource);

@id("tenant.broken")
permit (principal, action resource);
"""


def _command_paths() -> list[tuple[str, ...]]:
    """Return the path of every command and command group, the root included."""
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


@dataclass(frozen=True)
class Imported:
    """A database with settled sessions and its signing key."""

    db: Path
    key_file: Path
    session_ids: list[str]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep SSOAR_* variables and any ssoar.toml of the caller out of each test."""
    for name in (
        "SSOAR_DB",
        "SSOAR_KEY_FILE",
        "SSOAR_TENANT",
        "SSOAR_TEMPLATE",
        "SSOAR_CONFIG",
        "SSOAR_POLICY_DIR",
        "SSOAR_TEMPLATE_POLICIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "80"})


def _flat(text: str) -> str:
    """Join the lines Rich wraps at 80 columns back into single spaces."""
    return " ".join(text.split())


def _storage(db: Path, key_file: Path) -> list[str]:
    return ["--db", str(db), "--key-file", str(key_file)]


@pytest.fixture
def imported(real_data: Any, tmp_path: Path) -> Imported:
    db = tmp_path / "ssoar.db"
    key_file = tmp_path / "ssoar.key"
    files = [
        str(real_data.path(name)) for name in (CREWAI, MICROSOFT_AGENT, OTLP_TOOLS)
    ]
    result = invoke("import", *files, *_storage(db, key_file), "--json")
    assert result.exit_code == 0, result.stderr
    sessions = [item["session_id"] for item in json.loads(result.stdout)["sessions"]]
    return Imported(db, key_file, sessions)


def _write_public_key(path: Path) -> Path:
    public_key = Ed25519PrivateKey.generate().public_key()
    path.write_text(
        public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex() + "\n",
        encoding="ascii",
    )
    return path


# Help


@pytest.mark.parametrize(
    "path", _command_paths(), ids=lambda path: " ".join(("ssoar", *path))
)
def test_help_has_example(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout


def _example(path: tuple[str, ...]) -> str:
    """Return the ``Example:`` line of a command's help, unwrapped."""
    text = _flat(invoke(*path, "--help").stdout)
    match = re.search(r"Example: (.*?) (?:Arguments|Options):", text)
    assert match is not None, text
    return match.group(1)


def _run_example(example: str) -> list[Result]:
    """Run each ``ssoar`` command of a help example in the working directory.

    The shell parts are done here: ``> FILE`` writes the output to FILE and
    an argument with ``*`` expands to the files it matches.
    """
    results = []
    for command in example.split(" && "):
        words = shlex.split(command)
        assert words[0] == "ssoar", command
        target = None
        if ">" in words:
            target = words[words.index(">") + 1]
            words = words[: words.index(">")]
        arguments: list[str] = []
        for word in words[1:]:
            if "*" in word:
                arguments.extend(sorted(str(item) for item in Path().glob(word)))
            else:
                arguments.append(word)
        result = invoke(*arguments)
        if target is not None:
            Path(target).write_text(result.stdout, encoding="utf-8")
        results.append(result)
    return results


def test_root_help_example_runs(real_data: Any, tmp_path: Path) -> None:
    example = _example(())
    assert example == (
        "ssoar import traces/*.json --db ssoar.db && ssoar report --db ssoar.db"
    )
    folder = tmp_path / "traces"
    folder.mkdir()
    for name in (CREWAI, OTLP_TOOLS):
        source = real_data.path(name)
        (folder / source.name).write_bytes(source.read_bytes())
    results = _run_example(example)
    assert [result.exit_code for result in results] == [0, 0]
    assert "settled" in results[0].stdout


def test_policy_help_example_runs(tmp_path: Path) -> None:
    """The policy group's example saves the defaults and checks them."""
    results = _run_example(_example(("policy",)))
    assert [result.exit_code for result in results] == [0, 0], results[-1].stderr


def test_command_paths_cover_every_command() -> None:
    assert _command_paths() == [
        (),
        ("api-key",),
        ("api-key", "create"),
        ("api-key", "revoke"),
        ("explain",),
        ("import",),
        ("key",),
        ("key", "show"),
        ("policy",),
        ("policy", "check"),
        ("policy", "show"),
        ("prove",),
        ("report",),
        ("serve",),
        ("sweep",),
        ("verify",),
    ]


# JSON output


def test_import_json_only(real_data: Any, tmp_path: Path) -> None:
    result = invoke(
        "import",
        str(real_data.path(CREWAI)),
        *_storage(tmp_path / "a.db", tmp_path / "a.key"),
        "--json",
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert [item["status"] for item in document["sessions"]] == ["settled"]
    assert [item["error"] for item in document["files"]] == [None]


def test_report_json_only(imported: Imported) -> None:
    result = invoke("report", "--db", str(imported.db), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["sessions"]["total"] == 3


def test_explain_json_only(imported: Imported) -> None:
    session_id = imported.session_ids[0]
    result = invoke("explain", session_id, "--db", str(imported.db), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["session"]["session_id"] == session_id


def test_verify_json_only(imported: Imported) -> None:
    result = invoke("verify", *_storage(imported.db, imported.key_file), "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["sessions_checked"] == 3
    assert document["failures"] == []


def test_policy_check_json_only(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "models.cedar").write_text(VALID_POLICY, encoding="utf-8")
    result = invoke("policy", "check", "policies", "--template", "generic", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["policies"] == [
        {
            "id": "tenant.models.allow",
            "layer": "tenant",
            "effect": "permit",
            "file": "policies/models.cedar",
            "line": 2,
        }
    ]


def test_policy_check_json_failure(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "broken.cedar").write_text(INVALID_POLICY, encoding="utf-8")
    result = invoke("policy", "check", "policies", "--template", "generic", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["error"].startswith("policies/broken.cedar:5: ")


# Import exit status


def test_import_success_exits_0(real_data: Any, tmp_path: Path) -> None:
    result = invoke(
        "import",
        str(real_data.path(CREWAI)),
        str(real_data.path(OTLP_TOOLS)),
        *_storage(tmp_path / "a.db", tmp_path / "a.key"),
    )
    assert result.exit_code == 0


def test_import_failed_file_exits_1(real_data: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = invoke(
        "import",
        str(real_data.path(CREWAI)),
        str(broken),
        *_storage(tmp_path / "a.db", tmp_path / "a.key"),
        "--json",
    )
    assert result.exit_code == 1
    files = json.loads(result.stdout)["files"]
    assert files[0]["error"] is None
    assert files[1]["error"].startswith(f"{broken}: ")


def test_import_unknown_shape_exits_1(tmp_path: Path) -> None:
    """A JSON file that is no trace format fails the import."""
    (tmp_path / "odd.json").write_text('{"answer": 42}', encoding="utf-8")
    storage = _storage(tmp_path / "a.db", tmp_path / "a.key")
    result = invoke("import", "odd.json", *storage)
    assert result.exit_code == 1
    assert "error: odd.json: not a span" in _flat(result.stderr)


@pytest.mark.parametrize("name", [CREWAI, OTLP_TOOLS])
def test_import_again_unchanged(real_data: Any, tmp_path: Path, name: str) -> None:
    """Importing the same file twice leaves the settled session unchanged, exit 0."""
    storage = _storage(tmp_path / "a.db", tmp_path / "a.key")
    first = invoke("import", str(real_data.path(name)), *storage, "--json")
    assert first.exit_code == 0
    second = invoke("import", str(real_data.path(name)), *storage, "--json")
    statuses = [item["status"] for item in json.loads(second.stdout)["sessions"]]
    assert statuses == ["unchanged"]
    assert second.exit_code == 0


def test_import_lists_full_session_ids(real_data: Any, tmp_path: Path) -> None:
    """The human import summary prints every session id whole at 80 columns."""
    result = invoke(
        "import",
        str(real_data.path(MICROSOFT_AGENT)),
        str(real_data.path(OTLP_TOOLS)),
        *_storage(tmp_path / "a.db", tmp_path / "a.key"),
    )
    assert result.exit_code == 0
    assert "…" not in result.stdout
    for session_id in (
        "conv:resp_0e32bda5b6259ecd00694279e271348194a818447145cd1763",
        "span:94bc369a150838cd461a52bf92898fca",
    ):
        assert session_id in result.stdout


# Missing database


@pytest.mark.parametrize(
    "arguments",
    [
        ("report",),
        ("explain", "conv:any"),
        ("prove", "conv:any", "conv:any/closure"),
    ],
    ids=lambda arguments: arguments[0],
)
def test_missing_database_exits_2(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    result = invoke(*arguments, "--db", "absent.db")
    assert result.exit_code == 2
    assert "error: database absent.db does not exist" in _flat(result.stderr)
    assert "hint: import traces first" in _flat(result.stderr)
    assert not (tmp_path / "absent.db").exists()


def test_verify_missing_database_exits_2(imported: Imported, tmp_path: Path) -> None:
    result = invoke("verify", *_storage(Path("absent.db"), imported.key_file))
    assert result.exit_code == 2
    assert "error: database absent.db does not exist" in _flat(result.stderr)
    assert "hint: import traces first" in _flat(result.stderr)
    assert not (tmp_path / "absent.db").exists()


def test_verify_missing_database_named_first(tmp_path: Path) -> None:
    """With neither database nor key, verify names the missing database."""
    result = invoke("verify", "--db", "absent.db")
    assert result.exit_code == 2
    assert "error: database absent.db does not exist" in _flat(result.stderr)


def test_error_path_not_wrapped(tmp_path: Path) -> None:
    """An error names a long path on one line, so it can be copied from a log."""
    db = tmp_path / ("nested-folder-" * 6) / "absent.db"
    result = invoke("report", "--db", str(db))
    assert result.exit_code == 2
    assert f"error: database {db} does not exist\n" in result.stderr


# Trusted keys


def test_verify_other_key_fails_every_session(
    imported: Imported, tmp_path: Path
) -> None:
    other = _write_public_key(tmp_path / "other.pub")
    result = invoke(
        "verify", "--db", str(imported.db), "--public-key", str(other), "--json"
    )
    assert result.exit_code == 1
    failures = json.loads(result.stdout)["failures"]
    assert sorted(item["session_id"] for item in failures) == sorted(
        imported.session_ids
    )
    assert sorted(item["record"] for item in failures) == sorted(
        f"settlements/{session_id}" for session_id in imported.session_ids
    )


def test_verify_other_key_names_signer(imported: Imported, tmp_path: Path) -> None:
    other = _write_public_key(tmp_path / "other.pub")
    result = invoke(
        "verify", "--db", str(imported.db), "--public-key", str(other), "--json"
    )
    details = {item["detail"] for item in json.loads(result.stdout)["failures"]}
    assert len(details) == 1
    assert re.fullmatch(
        r"step 2: settlement was signed with ed25519:[0-9a-f]{16}, not the trusted "
        r"key ed25519:[0-9a-f]{16}",
        details.pop(),
    )


def test_verify_own_public_key_passes(imported: Imported, tmp_path: Path) -> None:
    """The public half of the signing key, given as hex, is trusted."""
    from ssoar.audit._signing import SigningKey

    public = tmp_path / "own.pub"
    public.write_text(SigningKey.load(imported.key_file).public_key.hex(), "ascii")
    result = invoke("verify", "--db", str(imported.db), "--public-key", str(public))
    assert result.exit_code == 0


def test_verify_missing_key_file_exits_2(imported: Imported, tmp_path: Path) -> None:
    result = invoke("verify", *_storage(imported.db, Path("absent.key")))
    assert result.exit_code == 2
    assert "error: signing key absent.key does not exist" in _flat(result.stderr)
    assert (
        "hint: pass --key-file, or --public-key with the signer's 64 hex digits"
        in _flat(result.stderr)
    )
    assert not (tmp_path / "absent.key").exists()


def test_verify_missing_public_key_exits_2(imported: Imported, tmp_path: Path) -> None:
    result = invoke("verify", "--db", str(imported.db), "--public-key", "absent.pub")
    assert result.exit_code == 2
    assert (
        "error: --public-key 'absent.pub' is neither 64 hex digits nor a file"
        in _flat(result.stderr)
    )
    assert "hint: 'ssoar key show' prints the public key" in _flat(result.stderr)


def test_verify_short_public_key_exits_2(imported: Imported, tmp_path: Path) -> None:
    (tmp_path / "short.pub").write_text("ab" * 31, encoding="ascii")
    result = invoke("verify", "--db", str(imported.db), "--public-key", "short.pub")
    assert result.exit_code == 2
    assert f"error: public key {'ab' * 31!r} is not 64 hex digits" in _flat(
        result.stderr
    )


def test_verify_public_key_as_hex_passes(imported: Imported) -> None:
    """The public key printed by 'ssoar key show' is trusted when given inline."""
    shown = invoke("key", "show", "--db", str(imported.db), "--json")
    assert shown.exit_code == 0, shown.stderr
    key = json.loads(shown.stdout)
    from ssoar.audit._signing import SigningKey

    signing = SigningKey.load(imported.key_file)
    assert key["public_key"] == signing.public_key.hex()
    assert key["key_id"] == signing.key_id
    result = invoke(
        "verify", "--db", str(imported.db), "--public-key", key["public_key"]
    )
    assert result.exit_code == 0, result.stderr


def test_verify_other_hex_key_fails(imported: Imported) -> None:
    result = invoke("verify", "--db", str(imported.db), "--public-key", "11" * 32)
    assert result.exit_code == 1


def test_verify_unknown_session_exits_2(imported: Imported) -> None:
    result = invoke("verify", "conv:no-such-session", "--db", str(imported.db))
    assert result.exit_code == 2
    assert "error: session 'conv:no-such-session' is not stored in" in _flat(
        result.stderr
    )


def test_key_show_without_key_exits_2(tmp_path: Path) -> None:
    result = invoke("key", "show", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2
    assert "does not exist" in _flat(result.stderr)


def test_version_prints_version() -> None:
    from ssoar import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"ssoar {__version__}\n"


# Policies


def test_policy_check_invalid_names_line(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "models.cedar").write_text(VALID_POLICY, encoding="utf-8")
    (folder / "broken.cedar").write_text(INVALID_POLICY, encoding="utf-8")
    result = invoke("policy", "check", "policies", "--template", "generic")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: policies/broken.cedar:5: ")


def test_policy_check_valid_lists_policies(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "models.cedar").write_text(VALID_POLICY, encoding="utf-8")
    result = invoke("policy", "check", "policies", "--template", "generic")
    assert result.exit_code == 0
    assert "tenant.models.allow  policies/models.cedar:2" in result.stdout


@pytest.mark.parametrize("template", BUILTIN_TEMPLATES)
def test_policy_show_passes_check(tmp_path: Path, template: str) -> None:
    """Policies saved from ``policy show`` pass check as the template layer."""
    defaults = invoke("policy", "show", template)
    assert defaults.exit_code == 0
    assert "@id(" in defaults.stdout
    (tmp_path / "base.cedar").write_text(defaults.stdout, encoding="utf-8")
    result = invoke(
        "policy",
        "check",
        "--template-policies",
        "base.cedar",
        "--template",
        template,
        "--json",
    )
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["template"] == template
    layers = {item["layer"] for item in document["policies"]}
    files = {item["file"] for item in document["policies"]}
    assert layers == {"template"}
    assert files == {"base.cedar"}
    assert len(document["policies"]) == defaults.stdout.count("@id(")


def test_policy_show_as_tenant_rejected(tmp_path: Path) -> None:
    """The defaults loaded again as tenant policies repeat every id."""
    defaults = invoke("policy", "show", "generic")
    (tmp_path / "base.cedar").write_text(defaults.stdout, encoding="utf-8")
    result = invoke("policy", "check", "base.cedar", "--template", "generic")
    assert result.exit_code == 1
    assert _flat(result.stderr).startswith(
        "error: base.cedar:15: @id('generic.admission.declared') is already used "
        "at ssoar:policy/defaults/generic.cedar:15; policy ids must be unique "
        "across tenant, template and session policies"
    )


def test_policy_check_tenant_on_template_policies(tmp_path: Path) -> None:
    """Tenant policies are checked with the template layer given in its place."""
    defaults = invoke("policy", "show", "generic")
    (tmp_path / "base.cedar").write_text(defaults.stdout, encoding="utf-8")
    (tmp_path / "models.cedar").write_text(VALID_POLICY, encoding="utf-8")
    result = invoke(
        "policy",
        "check",
        "models.cedar",
        "--template-policies",
        "base.cedar",
        "--template",
        "generic",
        "--json",
    )
    assert result.exit_code == 0, result.stdout
    policies = json.loads(result.stdout)["policies"]
    assert policies[-1] == {
        "id": "tenant.models.allow",
        "layer": "tenant",
        "effect": "permit",
        "file": "models.cedar",
        "line": 2,
    }
    assert [item["layer"] for item in policies].count("template") == 13


def test_policy_show_unknown_template_exits_2() -> None:
    result = invoke("policy", "show", "no-such-template")
    assert result.exit_code == 2
    assert "no-such-template" in result.stderr


def test_import_template_policies_decide(real_data: Any, tmp_path: Path) -> None:
    """An import decides with --template-policies in place of the defaults."""
    defaults = invoke("policy", "show", "agentic-workflow")
    text = defaults.stdout.replace('"agentic.model.permit"', '"custom.model.permit"')
    (tmp_path / "base.cedar").write_text(text, encoding="utf-8")
    result = invoke(
        "import",
        str(real_data.path(CREWAI)),
        "--template-policies",
        "base.cedar",
        *_storage(tmp_path / "a.db", tmp_path / "a.key"),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(tmp_path / "a.db") as connection:
        decided = {
            row[0]
            for row in connection.execute(
                "SELECT json_extract(record, '$.decision.policy_ids') "
                "FROM crossing_records "
                "WHERE json_extract(record, '$.crossing.kind') = 'model_invocation'"
            )
        }
        files = {
            row[0]
            for row in connection.execute(
                "SELECT json_extract(source.value, '$.file') "
                "FROM policy_sets, json_each(policy_sets.sources) AS source"
            )
        }
    assert decided == {'["custom.model.permit"]'}
    assert files == {"base.cedar"}


def test_policy_check_reads_template_policies_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSOAR_TEMPLATE_POLICIES replaces the defaults, as --template-policies does."""
    bad = tmp_path / "bad.cedar"
    bad.write_text(
        '@id("x") permit(principal, action, resource) when { context.nosuch };\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("SSOAR_TEMPLATE_POLICIES", str(bad))
    result = invoke("policy", "check")
    assert result.exit_code == 1
    assert f"error: {bad}:1: does not validate against the schema" in _flat(
        result.stderr
    )
