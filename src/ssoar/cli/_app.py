"""The ``ssoar`` command: import, report, explain, verify, prove and policy.

Every command that reports results takes ``--json``; errors go to stderr
with the value at fault and a hint, and the exit status is 1 for a failed
check or import and 2 for invalid input or settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from ssoar.audit._signing import SigningKey
from ssoar.config._settings import Settings, load_settings
from ssoar.errors import SsoarError
from ssoar.model._template import BUILTIN_TEMPLATES, load_template

__all__ = ["app", "main"]

app = typer.Typer(
    name="ssoar",
    help=(
        "Put a policy booth at every crossing of a session, post each crossing to "
        "the compute, billing, entitlement and authority ledgers, and settle each "
        "session into one signed record.\n\n"
        "Example: ssoar import traces/*.json --db ssoar.db && "
        "ssoar report --db ssoar.db"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policy_app = typer.Typer(
    help=(
        "Check and show booth policies.\n\n"
        "Example: ssoar policy show generic > base.cedar && "
        "ssoar policy check --template generic --template-policies base.cedar"
    ),
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")

# Markup stays off: ids and policy names contain brackets that Rich would
# otherwise read as style tags and drop.
stdout = Console(highlight=False, markup=False)
# Errors are never wrapped, so a long path stays on one line in logs.
stderr = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db", help="SQLite database file [env: SSOAR_DB; default: ssoar.db]."
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=(
            "Ed25519 signing key, created on first use [env: SSOAR_KEY_FILE; "
            "default: the database path with .key]."
        ),
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TemplatePoliciesOption = Annotated[
    Path | None,
    typer.Option(
        "--template-policies",
        help=(
            "A .cedar file or directory that replaces the template's default "
            "policies [env: SSOAR_TEMPLATE_POLICIES]."
        ),
    ),
]


def _fail(message: str, hint: str | None = None, *, code: int = 2) -> NoReturn:
    stderr.print(Text("error: ", style="bold red") + Text(message))
    if hint:
        stderr.print(f"hint: {hint}")
    raise typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(overrides)
    except SsoarError as error:
        _fail(str(error), "check the option, its SSOAR_* variable or ssoar.toml")


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


@app.command("import")
def import_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help=(
                "Trace files: OTLP JSON, single spans, attribute maps or Langfuse "
                "exports."
            )
        ),
    ],
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help=(
                "Import profile (TOML) declaring admitted participants, grants "
                "and quotas."
            ),
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(help="Tenant of the imported sessions [env: SSOAR_TENANT]."),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help=(
                f"Template: {', '.join(BUILTIN_TEMPLATES)}, or a template file "
                "[env: SSOAR_TEMPLATE]."
            )
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            help="Tenant .cedar file or directory, added to the template's policies.",
        ),
    ] = None,
    template_policies: TemplatePoliciesOption = None,
    db: DbOption = None,
    key_file: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Import traces, put every crossing through the booth and settle each session.

    Example: ssoar import traces/*.json --profile team.toml
    """
    from ssoar.cli._import import run_import

    settings = _settings(
        db=db,
        key_file=key_file,
        tenant=tenant,
        template=template,
        policy_dir=policies,
        template_policies=template_policies,
    )
    try:
        code = run_import(
            settings,
            files,
            profile,
            json_output=json_output,
            stdout=stdout,
            stderr=stderr,
        )
    except SsoarError as error:
        _fail(str(error), "fix the value named above and run the import again")
    raise typer.Exit(code)


@app.command("report")
def report_command(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's sessions.")
    ] = None,
    session: Annotated[
        list[str] | None,
        typer.Option("--session", help="Only these sessions (repeatable)."),
    ] = None,
    sessions_list: Annotated[
        bool, typer.Option("--sessions", help="Also list every session.")
    ] = False,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the reconciliation ledger: sessions, exceptions, exposure and tolls.

    Example: ssoar report --tenant acme --json
    """
    from ssoar.cli._render import render_report
    from ssoar.report._ledger import build_report

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        report = build_report(store, tenant=tenant, session_ids=session)
    finally:
        store.close()
    if json_output:
        _print_json(report.to_json())
    else:
        render_report(stdout, report, list_sessions=sessions_list)


@app.command("explain")
def explain_command(
    session_id: Annotated[
        str, typer.Argument(help="Session id, as listed by 'ssoar report --sessions'.")
    ],
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Answer the eight due-diligence questions for one session from its records.

    Example: ssoar explain conv:demo-session
    """
    from ssoar.cli._render import render_explain
    from ssoar.report._explain import explain_session

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        answer = explain_session(store, session_id)
    except SsoarError as error:
        _fail(str(error))
    finally:
        store.close()
    if json_output:
        _print_json(answer)
    else:
        render_explain(stdout, answer)


@app.command("verify")
def verify_command(
    session_ids: Annotated[
        list[str] | None, typer.Argument(help="Sessions to verify; default all.")
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help=(
                "Trusted Ed25519 public key as 64 hex digits; default: the key "
                "file's public key."
            ),
        ),
    ] = None,
    db: DbOption = None,
    key_file: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute every stored record against its audit log and signed settlement.

    Exits 1 and names the first record that does not match.

    Example: ssoar verify --json
    """
    from ssoar.report._verify import verify_store

    settings = _settings(db=db, key_file=key_file)
    store = _open_existing(settings)
    try:
        trusted = _trusted_key(settings, public_key)
    except typer.Exit:
        store.close()
        raise
    try:
        report = verify_store(store, trusted, session_ids or None)
    finally:
        store.close()
    if json_output:
        _print_json(report.to_json())
    elif report.ok:
        stdout.print(
            f"verified {report.sessions_checked} sessions: {report.leaves_checked} "
            "audit records, "
            f"{report.rows_checked} table rows; every root and signature matches"
        )
    else:
        for failure in report.failures:
            stderr.print(f"FAILED {failure}")
        stderr.print(
            f"{len(report.failures)} of {report.sessions_checked} sessions failed "
            "verification"
        )
    raise typer.Exit(0 if report.ok else 1)


@app.command("prove")
def prove_command(
    session_id: Annotated[str, typer.Argument(help="Session id.")],
    record_id: Annotated[
        str, typer.Argument(help="Crossing id (or any record id) in the session.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the proof to this file."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Print an inclusion proof of one crossing, for tools/ssoar-verify-proof.

    Example: ssoar prove conv:demo-session trace:abc/def > proof.json
    """
    from ssoar.report._prove import prove_record

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        document = prove_record(store, session_id, record_id)
    except SsoarError as error:
        _fail(str(error))
    finally:
        store.close()
    text = json.dumps(document.to_json(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {output}")


@policy_app.command("check")
def policy_check_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Tenant policies: a .cedar file or a directory of them."),
    ] = None,
    template: Annotated[
        str,
        typer.Option(help="Template whose schema the policies are validated against."),
    ] = "agentic-workflow",
    template_policies: TemplatePoliciesOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check that policies load: parse them and validate them against the schema.

    The tenant policies are checked together with the template layer (the
    template's defaults, or --template-policies), as an import loads them.

    Example: ssoar policy check ./policies --template generic
    """
    from ssoar._runtime import compile_policies

    try:
        loaded = load_template(template)
        policies = compile_policies(loaded, path, template_policies=template_policies)
    except SsoarError as error:
        if json_output:
            _print_json({"ok": False, "error": str(error)})
            raise typer.Exit(1) from None
        _fail(
            str(error),
            "fix the policy at that line; 'ssoar policy show' prints the defaults",
            code=1,
        )
    checked = [
        info
        for info in policies.infos
        if info.layer == "tenant" or template_policies is not None
    ]
    if json_output:
        _print_json(
            {
                "ok": True,
                "template": loaded.name,
                "digest": policies.digest,
                "policies": [
                    {
                        "id": info.policy_id,
                        "layer": info.layer,
                        "effect": info.effect,
                        "file": info.file,
                        "line": info.line,
                    }
                    for info in checked
                ],
            }
        )
        return
    stdout.print(
        f"{len(checked)} policies valid against template {loaded.name} "
        f"(policy set digest {policies.digest})"
    )
    for info in checked:
        stdout.print(f"  {info.effect:<7} {info.policy_id}  {info.file}:{info.line}")


@policy_app.command("show")
def policy_show_command(
    template: Annotated[str, typer.Argument(help="Template name or file.")] = "generic",
) -> None:
    """Print a template's default policies, to copy and edit.

    Example: ssoar policy show generic > policies/base.cedar
    """
    try:
        _, text = load_template(template).policy_text()
    except SsoarError as error:
        _fail(str(error))
    sys.stdout.write(text)


def _open_existing(settings: Settings) -> Any:
    from ssoar.store._sqlite import Store

    if not settings.db.exists():
        _fail(
            f"database {settings.db} does not exist",
            "import traces first, or pass --db / SSOAR_DB",
        )
    try:
        return Store.open(settings.db)
    except SsoarError as error:
        _fail(str(error))


def _trusted_key(settings: Settings, public_key: Path | None) -> bytes:
    if public_key is not None:
        try:
            value = bytes.fromhex(public_key.read_text(encoding="ascii").strip())
        except (OSError, ValueError) as error:
            _fail(
                f"cannot read public key {public_key}: {error}",
                "the file holds 64 hex digits",
            )
        if len(value) != 32:
            _fail(
                f"public key {public_key} has {len(value)} bytes; Ed25519 keys have 32"
            )
        return value
    if not settings.key_file.exists():
        _fail(
            f"signing key {settings.key_file} does not exist, so there is no trusted "
            "key",
            "pass --key-file or --public-key",
        )
    try:
        return SigningKey.load(settings.key_file).public_key
    except SsoarError as error:
        _fail(str(error))


def main() -> None:
    """Run the command line."""
    app()
