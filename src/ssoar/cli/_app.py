"""The ``ssoar`` command: import, report, explain, verify, prove and policy.

Every command that reports results takes ``--json``; errors go to stderr
with the value at fault and a hint, and the exit status is 1 for a failed
check or import and 2 for invalid input or settings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from ssoar.audit._signing import SigningKey
from ssoar.cli._terminal import terminal_text
from ssoar.cli._words import counted
from ssoar.config._settings import Settings, load_settings
from ssoar.errors import SsoarError, VerificationError
from ssoar.model._template import BUILTIN_TEMPLATES, load_template

__all__ = ["app", "main"]

app = typer.Typer(
    name="ssoar",
    help=(
        "Put a policy booth at every crossing of a session, post each crossing to "
        "the compute, billing, entitlement and authority ledgers, and settle each "
        "session into one signed record.\n\n"
        "\b\nExample: ssoar import traces/*.json --db ssoar.db && "
        "ssoar report --db ssoar.db"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: Rich markup would read "[env: SSOAR_DB]" as a style tag.
    rich_markup_mode=None,
)
policy_app = typer.Typer(
    help=(
        "Check and show booth policies.\n\n"
        "\b\nExample: ssoar policy show > base.cedar && "
        "ssoar policy check --template-policies base.cedar"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")

_PUBLIC_KEY_HEX_DIGITS = 64
_PIPE_WIDTH = 200
"""Columns of human-readable output written to a pipe or file."""


def _width() -> int | None:
    """Return a wide fixed width when output is not a terminal, else None.

    Rich falls back to 80 columns for pipes and files, which folds ids and
    states in CI logs; a terminal keeps its own width. A width set in
    COLUMNS wins in both cases.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else _PIPE_WIDTH


# Markup stays off: ids and policy names contain brackets that Rich would
# otherwise read as style tags and drop.
stdout = Console(highlight=False, markup=False, width=_width())
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
    # Messages name ids and values from imported files, and Cedar's messages
    # can span several lines.
    message = terminal_text(message, multiline=True)
    stderr.print(Text("error: ", style="bold red") + Text(message))
    if hint:
        stderr.print(f"hint: {terminal_text(hint, multiline=True)}")
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

    \b
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
        typer.Option(
            "--session", metavar="SESSION_ID", help="Only these sessions (repeatable)."
        ),
    ] = None,
    sessions_list: Annotated[
        bool, typer.Option("--sessions", help="Also list every session.")
    ] = False,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the reconciliation ledger: sessions, exceptions, exposure and tolls.

    \b
    Example: ssoar report --tenant acme --json
    """
    from ssoar.cli._render import render_report
    from ssoar.report._ledger import build_report

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        report = build_report(store, tenant=tenant, session_ids=session)
    except VerificationError as error:
        _fail(str(error), code=1)
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

    \b
    Example: ssoar explain conv:demo-session
    """
    from ssoar.cli._render import render_explain
    from ssoar.report._explain import explain_session

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        answer = explain_session(store, session_id)
    except VerificationError as error:
        _fail(str(error), code=1)
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
        list[str] | None,
        typer.Argument(
            metavar="[SESSION_ID]...", help="Sessions to verify; default all."
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help=(
                "Trusted Ed25519 public key: 64 hex digits, or a file holding "
                "them ('ssoar key show' prints it); default: the key file's."
            ),
        ),
    ] = None,
    db: DbOption = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help=(
                "Signing key whose public half is trusted [env: SSOAR_KEY_FILE; "
                "default: the database path with .key]."
            ),
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute every stored record against its audit log and signed settlement.

    Exits 1 and names the first record that does not match.

    \b
    Example: ssoar verify --json
    """
    from ssoar.report._verify import verify_store

    settings = _settings(db=db, key_file=key_file)
    store = _open_existing(settings)
    try:
        trusted = _trusted_key(settings, public_key)
        unknown = [
            session_id
            for session_id in session_ids or []
            if not store.has_session(session_id) and not store.leaves(session_id)
        ]
    except typer.Exit:
        store.close()
        raise
    if unknown:
        store.close()
        _fail(
            f"session {unknown[0]!r} is not stored in {settings.db}",
            "list the stored sessions with 'ssoar report --sessions'",
        )
    try:
        report = verify_store(store, trusted, session_ids or None)
    finally:
        store.close()
    if json_output:
        _print_json(report.to_json())
    elif report.ok:
        stdout.print(
            f"verified {counted(report.sessions_checked, 'session')}: "
            f"{counted(report.leaves_checked, 'audit record')}, "
            f"{counted(report.rows_checked, 'table row')}; every root and signature "
            "matches"
        )
    else:
        for failure in report.failures:
            stderr.print(f"FAILED {terminal_text(str(failure))}")
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

    \b
    Example: ssoar prove conv:ticket-4711 4f3c2a1b0e9d8c7b/a000000000000002 > proof.json
    """
    from ssoar.report._prove import prove_record

    settings = _settings(db=db)
    store = _open_existing(settings)
    try:
        document = prove_record(store, session_id, record_id)
    except VerificationError as error:
        _fail(str(error), code=1)
    except SsoarError as error:
        _fail(str(error))
    finally:
        store.close()
    text = json.dumps(document.to_json(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        _fail(
            f"cannot write the proof to {output}: {error.strerror or error}",
            "create the directory first, or pass another path with -o",
        )
    stderr.print(f"wrote {output}")


key_app = typer.Typer(
    help="Show the signing key.\n\n\b\nExample: ssoar key show --db ssoar.db",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(key_app, name="key")


@key_app.command("show")
def key_show_command(
    db: DbOption = None,
    key_file: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print the public key and key id that settlements are signed with.

    Give the public key to whoever verifies your settlements or proofs:
    'ssoar verify --public-key HEX' and 'ssoar-verify-proof --public-key HEX'
    trust it instead of a key file.

    \b
    Example: ssoar key show --db ssoar.db
    """
    settings = _settings(db=db, key_file=key_file)
    if not settings.key_file.exists():
        _fail(
            f"signing key {settings.key_file} does not exist",
            "it is created by the first import; pass --key-file or --db",
        )
    try:
        key = SigningKey.load(settings.key_file)
    except SsoarError as error:
        _fail(str(error))
    if json_output:
        _print_json(
            {
                "key_file": str(settings.key_file),
                "key_id": key.key_id,
                "public_key": key.public_key.hex(),
            }
        )
        return
    stdout.print(f"key file   {settings.key_file}")
    stdout.print(f"key id     {key.key_id}")
    stdout.print(f"public key {key.public_key.hex()}")


@policy_app.command("check")
def policy_check_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Tenant policies: a .cedar file or a directory of them."),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help=(
                "Template whose schema the policies are validated against "
                "[env: SSOAR_TEMPLATE; default: agentic-workflow]."
            )
        ),
    ] = None,
    template_policies: TemplatePoliciesOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check that policies load: parse them and validate them against the schema.

    The tenant policies are checked together with the template layer (the
    template's defaults, or --template-policies), as an import loads them.

    \b
    Example: ssoar policy check ./policies --template generic
    """
    from ssoar._runtime import compile_policies

    try:
        settings = _settings(template_policies=template_policies)
        loaded = load_template(template or settings.template)
        policies = compile_policies(
            loaded, path, template_policies=settings.template_policies
        )
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
        stdout.print(
            terminal_text(
                f"  {info.effect:<7} {info.policy_id}  {info.file}:{info.line}"
            )
        )


@policy_app.command("show")
def policy_show_command(
    template: Annotated[
        str | None,
        typer.Argument(
            help=(
                "Template name or file [env: SSOAR_TEMPLATE; default: "
                "agentic-workflow]."
            )
        ),
    ] = None,
) -> None:
    """Print a template's default policies, to copy and edit.

    \b
    Example: ssoar policy show agentic-workflow > policies/base.cedar
    """
    try:
        name = template or _settings().template
        _, text = load_template(name).policy_text()
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


def _trusted_key(settings: Settings, public_key: str | None) -> bytes:
    if public_key is not None:
        return _parse_public_key(public_key)
    if not settings.key_file.exists():
        _fail(
            f"signing key {settings.key_file} does not exist, so there is no trusted "
            "key",
            "pass --key-file, or --public-key with the signer's 64 hex digits",
        )
    try:
        return SigningKey.load(settings.key_file).public_key
    except SsoarError as error:
        _fail(str(error))


def _parse_public_key(value: str) -> bytes:
    """Read a public key given as 64 hex digits or as a file holding them."""
    text = value.strip()
    if len(text) != _PUBLIC_KEY_HEX_DIGITS or not _is_hex(text):
        path = Path(value)
        if not path.is_file():
            _fail(
                f"--public-key {value!r} is neither 64 hex digits nor a file",
                "'ssoar key show' prints the public key of a signing key",
            )
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            _fail(f"cannot read public key file {value}: {error}")
    if len(text) != _PUBLIC_KEY_HEX_DIGITS or not _is_hex(text):
        _fail(
            f"public key {text[:80]!r} is not 64 hex digits",
            "an Ed25519 public key is 32 bytes, written as 64 hex digits",
        )
    return bytes.fromhex(text)


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdefABCDEF" for char in text)


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.")
    ] = False,
) -> None:
    if version:
        from ssoar import __version__

        stdout.print(f"ssoar {__version__}")
        raise typer.Exit(0)


def main() -> None:
    """Run the command line."""
    app()
