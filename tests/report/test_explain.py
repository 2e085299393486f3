"""``ssoar explain``: the eight questions, answered from a session's stored records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app
from ssoar.errors import SessionError
from ssoar.report._explain import explain_session
from ssoar.store._sqlite import Store

ADK_TRACE = "traces/langfuse/google-adk-2025-08-28.trace.json"
AGENTS_TRACE = "traces/langfuse/openai-agents-2025-09-30.trace.json"
ADK_SESSION = "conv:demo-session"
AGENTS_SESSION = "trace:fee618f96dc31e0ca38b2f7b26eb8b29"
PROFILE = """\
tenant = "acme"

[[participant]]
match = "*"
kinds = ["model_invocation", "tool_call"]

[[quota]]
id = "session-tokens"
scope = "session"
unit = "tokens"
limit = "100000"
"""
HEADINGS = (
    "1. What crossed?",
    "2. Who admitted it?",
    "3. Under what authority?",
    "4. Against what entitlement?",
    "5. Where was it routed?",
    "6. Which ledger changed?",
    "7. Which record proves it?",
    "8. What settled when it closed?",
)


@dataclass(frozen=True)
class Explained:
    """A database with one admitted session and one that admitted no one."""

    db: Path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSOAR_DB", "SSOAR_KEY_FILE", "SSOAR_TENANT", "SSOAR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "80"})


@pytest.fixture
def explained(real_data: Any, tmp_path: Path) -> Explained:
    db = tmp_path / "ssoar.db"
    storage = ["--db", str(db), "--key-file", str(tmp_path / "ssoar.key")]
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    adk = str(real_data.path(ADK_TRACE))
    first = invoke("import", adk, "--profile", str(profile), *storage, "--json")
    assert first.exit_code == 0, first.stderr
    second = invoke("import", str(real_data.path(AGENTS_TRACE)), *storage, "--json")
    assert second.exit_code == 0, second.stderr
    return Explained(db)


def _explain(explained: Explained, session_id: str) -> dict[str, Any]:
    store = Store.open(explained.db)
    try:
        return explain_session(store, session_id)
    finally:
        store.close()


def _leaves(explained: Explained, session_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(explained.db) as connection:
        return connection.execute(
            "SELECT leaf_index, record_type, record_id, record, leaf_hash FROM "
            "audit_leaves WHERE session_id = ? ORDER BY leaf_index",
            (session_id,),
        ).fetchall()


def _records(explained: Explained, session_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        json.loads(row[3]) for row in _leaves(explained, session_id) if row[1] == kind
    ]


def _settlement(explained: Explained, session_id: str) -> tuple[Any, ...]:
    with sqlite3.connect(explained.db) as connection:
        row = connection.execute(
            "SELECT record, signature, merkle_root, key_id FROM settlements WHERE "
            "session_id = ?",
            (session_id,),
        ).fetchone()
    return (json.loads(row[0]), bytes(row[1]), row[2], row[3])


def _answer(explained: Explained, session_id: str, key: str) -> Any:
    return _explain(explained, session_id)["questions"][key]["answer"]


def test_questions_in_order(explained: Explained) -> None:
    questions = _explain(explained, ADK_SESSION)["questions"]
    numbered = [
        f"{number}. {entry['question']}"
        for number, entry in enumerate(questions.values(), start=1)
    ]
    assert numbered == list(HEADINGS)


def test_what_crossed_lists_log(explained: Explained) -> None:
    """Every crossing of the audit log is listed once, in log order."""
    crossings = _records(explained, ADK_SESSION, "crossing")
    answer = _answer(explained, ADK_SESSION, "what_crossed")
    assert [row["crossing_id"] for row in answer] == [
        record["crossing"]["crossing_id"] for record in crossings
    ]
    assert [row["kind"] for row in answer] == [
        record["crossing"]["kind"] for record in crossings
    ]


def test_who_admitted_names_admission(explained: Explained) -> None:
    """Each crossing names the allowed admission of the participant it acted for."""
    crossings = _records(explained, ADK_SESSION, "crossing")
    admissions = {
        record["crossing"]["actor_id"]: record["crossing"]["crossing_id"]
        for record in crossings
        if record["crossing"]["kind"] == "participant_admission"
        and record["decision"]["allowed"]
    }
    expected = {}
    for record in crossings:
        crossing = record["crossing"]
        holder = crossing["invoker_id"] or crossing["actor_id"]
        if crossing["kind"] != "session_closure":
            expected[crossing["crossing_id"]] = admissions.get(holder)
    answer = _answer(explained, ADK_SESSION, "who_admitted_it")
    admitted_by = {
        row["crossing_id"]: row["admitted_by"]
        for row in answer
        if row["crossing_id"] in expected
    }
    assert admitted_by == expected
    assert None not in admitted_by.values()


def test_who_admitted_without_profile(explained: Explained) -> None:
    """Without a profile no participant is admitted and the booth denies all."""
    answer = _answer(explained, AGENTS_SESSION, "who_admitted_it")
    rows = [row for row in answer if not row["crossing_id"].endswith("/closure")]
    assert {row["admitted_by"] for row in rows} == {None}
    assert {row["booth"] for row in rows} == {"denied"}


def test_authority_grants(explained: Explained) -> None:
    grants = [record["grant"] for record in _records(explained, ADK_SESSION, "grant")]
    answer = _answer(explained, ADK_SESSION, "under_what_authority")
    assert answer["grants"] == grants
    assert len(grants) == 4


def test_authority_revocations(explained: Explained) -> None:
    revocations = _records(explained, ADK_SESSION, "revocation")
    answer = _answer(explained, ADK_SESSION, "under_what_authority")
    assert answer["revocations"] == [
        {"grant_id": record["grant_id"], "revoked_at": record["revoked_at"]}
        for record in revocations
    ]


def test_entitlement_accounts(explained: Explained) -> None:
    answer = _answer(explained, ADK_SESSION, "against_what_entitlement")
    assert [account["account_id"] for account in answer["accounts"]] == [
        "conv:demo-session/quota/session-tokens"
    ]
    assert answer["accounts"][0]["posted_before"] == "0"


def test_route_names_model(explained: Explained) -> None:
    answer = _answer(explained, ADK_SESSION, "where_routed")
    models = [
        row for row in answer if row["target"] and row["target"]["type"] == "model"
    ]
    assert {(row["provider"], row["model"]) for row in models} == {
        ("google", "gemini-2.0-flash")
    }


def test_ledger_tokens_match_compute(explained: Explained) -> None:
    crossings = _records(explained, ADK_SESSION, "crossing")
    expected = {
        record["crossing"]["crossing_id"]: sum(
            record["ledgers"]["compute"]["usage"][field]
            for field in (
                "input_uncached_tokens",
                "cache_read_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
            )
        )
        for record in crossings
        if record["ledgers"]["compute"] is not None
    }
    answer = _answer(explained, ADK_SESSION, "which_ledger_changed")
    tokens = {
        row["crossing_id"]: row["ledgers"]["compute"]["tokens"]
        for row in answer
        if "compute" in row["ledgers"]
    }
    assert tokens == expected


def test_proof_answer_lists_leaves(explained: Explained) -> None:
    leaves = _leaves(explained, ADK_SESSION)
    answer = _answer(explained, ADK_SESSION, "which_record_proves_it")
    assert answer["records"] == [
        {
            "leaf_index": row[0],
            "type": row[1],
            "record_id": row[2],
            "leaf_hash": bytes(row[4]).hex(),
        }
        for row in leaves
    ]
    assert answer["tree_size"] == len(leaves)


def test_proof_answer_root(explained: Explained) -> None:
    _, _, merkle_root, _ = _settlement(explained, ADK_SESSION)
    answer = _answer(explained, ADK_SESSION, "which_record_proves_it")
    assert answer["merkle_root"] == merkle_root


def test_settled_matches_signed(explained: Explained) -> None:
    record, signature, _, key_id = _settlement(explained, AGENTS_SESSION)
    answer = _answer(explained, AGENTS_SESSION, "what_settled")
    assert answer["state"] == record["state"]
    assert answer["exceptions"] == record["exceptions"]
    assert answer["totals"] == record["totals"]
    assert answer["signed_by"] == key_id
    assert answer["signature"] == signature.hex()


def test_unknown_session_raises(explained: Explained) -> None:
    with pytest.raises(SessionError, match="'conv:no-such' is not stored"):
        _explain(explained, "conv:no-such")


def test_cli_unknown_session_exits_2(explained: Explained) -> None:
    result = invoke("explain", "conv:no-such", "--db", str(explained.db))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "session 'conv:no-such' is not stored" in " ".join(result.stderr.split())


@pytest.mark.parametrize("session_id", [ADK_SESSION, AGENTS_SESSION])
def test_cli_headings_in_order(explained: Explained, session_id: str) -> None:
    result = invoke("explain", session_id, "--db", str(explained.db))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    found = [line for line in lines if line in HEADINGS]
    assert found == list(HEADINGS)


@pytest.mark.parametrize("session_id", [ADK_SESSION, AGENTS_SESSION])
def test_cli_prints_full_ids(explained: Explained, session_id: str) -> None:
    """At 80 columns every id may wrap, but none is cut short.

    Rich wraps at spaces and folds longer words, so whitespace is removed from
    output and ids alike before comparing.
    """
    result = invoke("explain", session_id, "--db", str(explained.db))
    assert result.exit_code == 0
    printed = "".join(result.stdout.split())
    record, _, merkle_root, key_id = _settlement(explained, session_id)
    ids = [session_id, merkle_root, key_id]
    ids += [row[2] for row in _leaves(explained, session_id)]
    ids += [item["crossing_id"] for item in record["exceptions"]]
    missing = [item for item in ids if "".join(item.split()) not in printed]
    assert missing == []
