"""Live sessions and imports never store the same crossing id twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app
from ssoar.config._settings import Settings
from ssoar.errors import Conflict, CrossingIdTaken, RequestError
from ssoar.live import BeginCrossing, LiveBooth, OpenSession
from ssoar.store._sqlite import Store

TRACE_ID = "5b8efff798038103d269b633813fc60c"


class Clock(Protocol):
    """The fixture clock of conftest.py."""

    def advance(self, seconds: float) -> None: ...


def run_import(settings: Settings, tmp_path: Path) -> Result:
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
    return CliRunner().invoke(
        app,
        ["import", str(trace), "--db", settings.db, "--key-file", settings.key_file],
    )


def import_trace(settings: Settings, tmp_path: Path) -> None:
    """Import the trace, which must succeed."""
    result = run_import(settings, tmp_path)
    assert result.exit_code == 0, result.output


def test_trace_id_rejected(
    booth: LiveBooth, settings: Settings, tmp_path: Path
) -> None:
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


SPAN_ID = "eee19b7ec3c1b174"


def test_import_rejected_while_open(
    booth: LiveBooth, settings: Settings, tmp_path: Path
) -> None:
    booth.open_session("acme", OpenSession(session_id=TRACE_ID))
    result = run_import(settings, tmp_path)
    assert result.exit_code == 1
    assert f"crossing {TRACE_ID}/{SPAN_ID} has the form of a crossing" in result.output
    record = booth.close_session("acme", TRACE_ID)
    assert record["state"] == "settled"


def test_close_rejected_when_id_taken(
    booth: LiveBooth,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booth.open_session("acme", OpenSession(session_id=TRACE_ID))
    booth.begin(
        "acme",
        TRACE_ID,
        BeginCrossing(kind="tool_call", crossing_id=SPAN_ID, actor="tool:lookup"),
    )
    # An import in another process that checked before the session opened.
    monkeypatch.setattr(Store, "open_live_sessions", lambda self, ids: set())
    assert run_import(settings, tmp_path).exit_code == 0
    with pytest.raises(CrossingIdTaken, match=f"{TRACE_ID}/{SPAN_ID}"):
        booth.close_session("acme", TRACE_ID)
    assert booth.session("acme", TRACE_ID).state == "open"


def test_sweep_passes_stuck_session(
    booth: LiveBooth,
    settings: Settings,
    tmp_path: Path,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    booth.open_session("acme", OpenSession(session_id=TRACE_ID))
    booth.begin(
        "acme",
        TRACE_ID,
        BeginCrossing(kind="tool_call", crossing_id=SPAN_ID, actor="tool:lookup"),
    )
    booth.open_session("acme", OpenSession(session_id="idle-one"))
    monkeypatch.setattr(Store, "open_live_sessions", lambda self, ids: set())
    assert run_import(settings, tmp_path).exit_code == 0
    clock.advance(24 * 3600)
    swept = booth.sweep()
    assert [record["session_id"] for record in swept] == ["idle-one"]
    assert booth.session("acme", TRACE_ID).state == "open"


@pytest.mark.parametrize("session_id", ["a/b", "-lead", "x" * 201, "new\nline"])
def test_bad_session_id_rejected(booth: LiveBooth, session_id: str) -> None:
    with pytest.raises(RequestError, match="is not a session id of 1 to 200"):
        booth.open_session("acme", OpenSession(session_id=session_id))
