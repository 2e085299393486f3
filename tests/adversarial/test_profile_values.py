"""Import profiles with values that cannot be enforced.

A profile value that is invalid must stop the import with exit status 2 and
a message naming the entry, before any session is settled. A quota the
profile declares must never be dropped silently.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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


def _invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "200"})


def _trace(tmp_path: Path) -> Path:
    values: dict[str, Any] = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": "ticket"},
        "gen_ai.usage.input_tokens": {"intValue": "100000"},
        "gen_ai.usage.output_tokens": {"intValue": "5000"},
        "user.id": {"stringValue": "ana"},
    }
    span = {
        "traceId": "ab" * 16,
        "spanId": "00000000000000a1",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }
    path = tmp_path / "trace.json"
    path.write_text(
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}),
        encoding="utf-8",
    )
    return path


def _profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _settled(db: Path) -> int:
    if not db.exists():
        return 0
    connection = sqlite3.connect(db)
    try:
        (count,) = connection.execute("SELECT count(*) FROM settlements").fetchone()
        return int(count)
    finally:
        connection.close()


MONEY_QUOTA = """\
[[participant]]
match = "*"
kinds = ["participant_admission", "model_invocation"]

[[quota]]
id = "spend"
unit = "money"
limit = "0.000001"
currency = {currency}
"""


@pytest.mark.parametrize("currency", ['"usd"', "5", '"US Dollar"', '""'])
def test_money_quota_currency_invalid(tmp_path: Path, currency: str) -> None:
    # The call costs far more than the limit. With currency "usd" (or 5) no
    # charge ever matches the quota, so the session settles clean.
    profile = _profile(tmp_path, MONEY_QUOTA.format(currency=currency))
    db = tmp_path / "ssoar.db"

    result = _invoke(
        "import", str(_trace(tmp_path)), "--profile", str(profile), "--db", str(db)
    )

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "currency" in result.stderr
    assert _settled(db) == 0


def test_validity_window_reversed(tmp_path: Path) -> None:
    profile = _profile(
        tmp_path,
        '[[participant]]\nmatch = "*"\nkinds = ["model_invocation"]\n'
        'valid_from = "2026-01-01T00:00:00Z"\nvalid_until = "2025-01-01T00:00:00Z"\n',
    )
    db = tmp_path / "ssoar.db"

    result = _invoke(
        "import", str(_trace(tmp_path)), "--profile", str(profile), "--db", str(db)
    )

    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2
    assert "participant[0]" in result.stderr
    assert "valid_until" in result.stderr
    assert _settled(db) == 0
