"""Commands of the live booth: serve, sweep and API keys."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from ssoar.cli._app import (
    DbOption,
    JsonOption,
    KeyOption,
    _fail,
    _print_json,
    _settings,
    app,
    stderr,
    stdout,
)
from ssoar.cli._words import counted
from ssoar.errors import SsoarError

__all__ = ["api_key_app"]

api_key_app = typer.Typer(
    help=(
        "Create and revoke API keys of the booth service.\n\n"
        "\b\nExample: ssoar api-key create --tenant acme --scope booth --scope read"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(api_key_app, name="api-key")

_DEFAULT_PORT = 8700


@app.command("serve")
def serve_command(
    host: Annotated[
        str,
        typer.Option(
            help=(
                "Address to listen on; 0.0.0.0 listens on every interface (put a "
                "TLS-terminating proxy in front of it)."
            )
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = _DEFAULT_PORT,
    db: DbOption = None,
    key_file: KeyOption = None,
    sweep_interval: Annotated[
        float,
        typer.Option(help="Seconds between sweeps for idle and expired sessions."),
    ] = 5.0,
    rate: Annotated[
        float, typer.Option(help="Requests per second allowed per API key.")
    ] = 2000.0,
    max_body: Annotated[
        int, typer.Option(help="Largest request body accepted, in bytes.")
    ] = 1_048_576,
    log_level: Annotated[
        str,
        typer.Option(
            help="debug, info (starts, stops and every refused request), "
            "warning or error."
        ),
    ] = "info",
) -> None:
    """Run the booth as an HTTP service, with the sweeper inside it.

    Clients authenticate with keys from 'ssoar api-key create'; the OpenAPI
    document is at /openapi.json.

    \b
    Example: ssoar serve --db ssoar.db --port 8700
    """
    import uvicorn

    from ssoar.live._engine import LiveBooth
    from ssoar.server import ServiceLimits, build_app, tune_collector

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        _fail(
            f"--log-level {log_level!r} is not a level",
            "use debug, info, warning or error",
        )
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(db=db, key_file=key_file)
    try:
        booth = LiveBooth(settings)
    except SsoarError as error:
        _fail(str(error))
    limits = ServiceLimits(
        max_body_bytes=max_body,
        requests_per_second=rate,
        burst=max(1, int(rate * 2)),
        sweep_interval_seconds=sweep_interval,
    )
    app = build_app(booth, limits)
    tune_collector()
    stderr.print(
        f"ssoar booth on http://{host}:{port} (database {settings.db}); "
        "OpenAPI at /openapi.json"
    )
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            loop="uvloop",
            http="httptools",
        )
    finally:
        booth.close()


@app.command("sweep")
def sweep_command(
    db: DbOption = None,
    key_file: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Close every live session past its idle timeout or lifetime, as unclean.

    Each swept session releases its reservations, revokes its grants, turns
    its open crossings into exceptions with their exposure, and is signed.
    'ssoar serve' sweeps on its own; run this where no service runs.

    \b
    Example: ssoar sweep --db ssoar.db
    """
    from ssoar.live._engine import LiveBooth

    settings = _settings(db=db, key_file=key_file)
    if not settings.db.exists():
        _fail(f"database {settings.db} does not exist", "pass --db or SSOAR_DB")
    booth = LiveBooth(settings, deliver_webhooks=True)
    try:
        closed = booth.sweep()
    finally:
        booth.close()
    if json_output:
        _print_json(
            {
                "swept": [
                    {
                        "session_id": record["session_id"],
                        "state": record["state"],
                        "exceptions": len(record["exceptions"]),
                        "exposure": record["exposure"]["by_currency"],
                    }
                    for record in closed
                ]
            }
        )
        return
    if not closed:
        stdout.print("no session is past its idle timeout or lifetime")
    for record in closed:
        exposure = ", ".join(
            f"{values['total']} {currency}"
            for currency, values in record["exposure"]["by_currency"].items()
        )
        stdout.print(
            f"swept {record['session_id']}: {record['state']}, "
            f"{counted(len(record['exceptions']), 'exception')}, exposure "
            f"{exposure or '0'}"
        )


@api_key_app.command("create")
def api_key_create_command(
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help="booth (ask the booth), read (read records), admin (plan and keys); "
            "repeat for several.",
        ),
    ],
    label: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
    db: DbOption = None,
    key_file: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create an API key; the full key is printed once and never stored.

    \b
    Example: ssoar api-key create --tenant acme --scope booth --scope read
    """
    from ssoar.live._tenants import SCOPES, create_key
    from ssoar.store._sqlite import Store

    unknown = [item for item in scope if item not in SCOPES]
    if unknown:
        _fail(
            f"unknown scope {unknown[0]!r}",
            f"scopes are {', '.join(SCOPES)}",
        )
    settings = _settings(db=db, key_file=key_file)
    try:
        store = Store.open(Path(settings.db))
        try:
            with store.transaction():
                created = create_key(store.connection, tenant, tuple(scope), label)
        finally:
            store.close()
    except SsoarError as error:
        _fail(str(error))
    if json_output:
        _print_json(
            {
                "key_id": created.key_id,
                "tenant": created.tenant,
                "scopes": list(created.scopes),
                "label": created.label,
                "key": created.secret,
            }
        )
        return
    stderr.print(
        f"created key {created.key_id} for tenant {created.tenant} with scopes "
        f"{', '.join(created.scopes)}; it is shown only once:"
    )
    stdout.print(created.secret)


@api_key_app.command("revoke")
def api_key_revoke_command(
    key_id: Annotated[
        str, typer.Argument(metavar="KEY_ID", help="The key id, from 'create'.")
    ],
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to.")],
    db: DbOption = None,
) -> None:
    """Revoke an API key; a running service refuses it within a second.

    \b
    Example: ssoar api-key revoke 0f1e2d3c4b5a6978 --tenant acme
    """
    from ssoar.live._tenants import revoke_key
    from ssoar.store._sqlite import Store

    settings = _settings(db=db)
    store = Store.open(Path(settings.db))
    try:
        with store.transaction():
            revoked = revoke_key(store.connection, tenant, key_id)
    finally:
        store.close()
    if not revoked:
        _fail(f"tenant {tenant} has no live key {key_id}")
    stdout.print(f"revoked key {key_id}")
