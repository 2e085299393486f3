"""A live session may not take an id that begins crossing ids an import stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ssoar.cli import app
from ssoar.config._settings import Settings
from ssoar.errors import Conflict
from ssoar.live import LiveBooth, OpenSession

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def import_trace(settings: Settings, tmp_path: Path) -> None:
    """Import one tool span of trace TRACE_ID into the booth's database."""
    span = {
        "traceId": TRACE_ID,
        "spanId": "eee19b7ec3c1b174",
        "name": "execute_tool lookup",
        "startTimeUnixNano": "1760000000000000000",
        "endTimeUnixNano": "1760000001000000000",
        "attributes": {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup",
        },
    }
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps([span]), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["import", str(trace), "--db", settings.db, "--key-file", settings.key_file],
    )
    assert result.exit_code == 0, result.output


def test_trace_id_refused(booth: LiveBooth, settings: Settings, tmp_path: Path) -> None:
    import_trace(settings, tmp_path)
    with pytest.raises(Conflict, match=f"{TRACE_ID}/eee19b7ec3c1b174"):
        booth.open_session("acme", OpenSession(session_id=TRACE_ID))


def test_shorter_prefix_opens(
    booth: LiveBooth, settings: Settings, tmp_path: Path
) -> None:
    import_trace(settings, tmp_path)
    answer = booth.open_session("acme", OpenSession(session_id=TRACE_ID[:-1]))
    assert answer.state == "open"


def test_longer_id_opens(booth: LiveBooth, settings: Settings, tmp_path: Path) -> None:
    import_trace(settings, tmp_path)
    answer = booth.open_session("acme", OpenSession(session_id=f"{TRACE_ID}0"))
    assert answer.state == "open"
