"""The ``ssoar import`` command's run and output."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from ssoar._runtime import Runtime
from ssoar.cli._terminal import terminal_text
from ssoar.config._settings import Settings
from ssoar.errors import ConfigError
from ssoar.ingest._pipeline import ImportContext, ImportResult, import_files
from ssoar.ingest._profile import ImportProfile, load_profile
from ssoar.model._template import load_template
from ssoar.model._time import utc_now
from ssoar.session._book import BookSettings

__all__ = ["run_import"]

_PROGRESS_SESSIONS_MIN = 20
"""Show a progress bar from this many sessions on."""


def run_import(
    settings: Settings,
    files: list[Path],
    profile_path: Path | None,
    *,
    json_output: bool,
    stdout: Console,
    stderr: Console,
) -> int:
    """Import files and print the outcome; return the exit status."""
    profile: ImportProfile | None = load_profile(profile_path) if profile_path else None
    tenant = settings.tenant
    template = settings.template
    if profile is not None:
        # A profile's tenant and template apply unless an option, variable or
        # configuration file set them.
        if profile.tenant and settings.is_default("tenant"):
            tenant = profile.tenant
        if profile.template and settings.is_default("template"):
            template = profile.template
    # Check everything that can be wrong before the database and key exist.
    loaded = load_template(template)
    if profile is not None:
        profile.check_kinds(list(loaded.kinds), loaded.name)
    unknown_tolls = [
        kind for kind in settings.configured_toll_kinds if kind not in loaded.kinds
    ]
    if unknown_tolls:
        raise ConfigError(
            f"{settings.config_file}: [tolls] names crossing kind "
            f"{unknown_tolls[0]!r}, which template {loaded.name!r} does not have; "
            "its kinds are "
            f"{', '.join(loaded.kinds)}"
        )
    runtime = Runtime.open(
        settings,
        template=template,
        session_policies=profile.session_policies if profile else None,
    )
    try:
        context = ImportContext(
            store=runtime.store,
            booth=runtime.booth,
            quoter=runtime.catalogue,
            book_settings=BookSettings(
                tolls=settings.tolls,
                review_costs=settings.review_costs,
                allowed_jurisdictions=profile.allowed_jurisdictions
                if profile
                else None,
            ),
            key=runtime.key,
            tenant=tenant,
            profile=profile,
            now=utc_now(),
        )
        result = _run_with_progress(files, context, stderr, show=not json_output)
    finally:
        runtime.close()
    if json_output:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        _render(stdout, stderr, result, settings)
    failed_sessions = [
        item for item in result.sessions if item.status in ("conflict", "failed")
    ]
    return 1 if result.failed_files or failed_sessions else 0


def _run_with_progress(
    files: list[Path], context: ImportContext, stderr: Console, *, show: bool
) -> ImportResult:
    progress = Progress(
        TextColumn("settling sessions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not show or not stderr.is_terminal,
    )
    with progress:
        task = progress.add_task("import", total=None)

        def advance(done: int, total: int) -> None:
            if total >= _PROGRESS_SESSIONS_MIN:
                progress.update(task, completed=done, total=total)

        return import_files(files, context, progress=advance)


def _render(
    stdout: Console, stderr: Console, result: ImportResult, settings: Settings
) -> None:
    for failed in result.failed_files:
        message = terminal_text(str(failed.error))
        stderr.print(Text("error: ", style="bold red") + Text(message))
    statuses = Counter(item.status for item in result.sessions)
    states = Counter(item.state for item in result.sessions if item.status == "settled")
    read = sum(item.spans for item in result.files)
    stdout.print(
        f"read {read} spans from {len(result.files) - len(result.failed_files)} of "
        f"{len(result.files)} files into {terminal_text(str(settings.db))}"
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("session", no_wrap=True)
    for header in ("status", "state", "crossings", "exceptions"):
        table.add_column(header, overflow="fold")
    for session in result.sessions:
        table.add_row(
            terminal_text(session.session_id),
            session.status,
            session.state or "",
            str(session.crossings),
            str(session.exceptions),
        )
    if result.sessions:
        stdout.print(table)
    stdout.print(
        f"sessions: {statuses.get('settled', 0)} settled "
        f"({states.get('settled', 0)} clean, {states.get('settled_unclean', 0)} "
        "unclean), "
        f"{statuses.get('unchanged', 0)} unchanged, {statuses.get('conflict', 0)} in "
        "conflict, "
        f"{statuses.get('failed', 0)} failed"
    )
    notes = sum(len(session.notes) for session in result.sessions)
    duplicates = sum(len(session.duplicates) for session in result.sessions)
    if notes or duplicates:
        stdout.print(
            f"{notes} wrapper span(s) not counted as crossings, {duplicates} duplicate "
            "record(s) skipped; 'ssoar import --json' lists each with its reason"
        )
    for session in result.sessions:
        if session.message:
            stderr.print(
                terminal_text(
                    f"{session.status}: {session.session_id}: {session.message}"
                )
            )
