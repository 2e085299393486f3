"""``ssoar report`` totals, checked against the signed records they add up.

Two tenants: ``acme`` imports the CrewAI and Google ADK traces with a profile
that admits everyone, ``beta`` imports the OpenAI Agents trace without one.
The expected figures are recomputed here from each session's signed
settlement record and its audit log, not from the report code.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.cli import app

ACME_TRACES = (
    "traces/langfuse/crewai-2025-07-11.trace.json",
    "traces/langfuse/google-adk-2025-08-28.trace.json",
)
BETA_TRACE = "traces/langfuse/openai-agents-2025-09-30.trace.json"
ACME_SESSIONS = ["conv:demo-session", "trace:a287bb31e317433610d8827617471140"]
BETA_SESSIONS = ["trace:fee618f96dc31e0ca38b2f7b26eb8b29"]
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
TOKEN_FIELDS = (
    "input_uncached_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


@dataclass(frozen=True)
class Ledger:
    """A database of two tenants' settled sessions."""

    db: Path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSOAR_DB", "SSOAR_KEY_FILE", "SSOAR_TENANT", "SSOAR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "80"})


@pytest.fixture
def ledger(real_data: Any, tmp_path: Path) -> Ledger:
    db = tmp_path / "ssoar.db"
    storage = ["--db", str(db), "--key-file", str(tmp_path / "ssoar.key")]
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    acme = [str(real_data.path(name)) for name in ACME_TRACES]
    first = invoke("import", *acme, "--profile", str(profile), *storage, "--json")
    assert first.exit_code == 0, first.stderr
    beta = str(real_data.path(BETA_TRACE))
    second = invoke("import", beta, "--tenant", "beta", *storage, "--json")
    assert second.exit_code == 0, second.stderr
    return Ledger(db)


def report(ledger: Ledger, *options: str) -> dict[str, Any]:
    result = invoke("report", "--db", str(ledger.db), "--json", *options)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _settlements(ledger: Ledger, session_ids: list[str]) -> list[dict[str, Any]]:
    with sqlite3.connect(ledger.db) as connection:
        rows = connection.execute("SELECT session_id, record FROM settlements")
        records = {row[0]: json.loads(row[1]) for row in rows}
    return [records[session_id] for session_id in session_ids]


def _crossing_records(ledger: Ledger, session_ids: list[str]) -> list[dict[str, Any]]:
    with sqlite3.connect(ledger.db) as connection:
        rows = connection.execute(
            "SELECT session_id, record FROM audit_leaves WHERE record_type = "
            "'crossing' ORDER BY session_id, leaf_index"
        ).fetchall()
    return [json.loads(row[1]) for row in rows if row[0] in session_ids]


def _unreconciled(settlements: list[dict[str, Any]]) -> set[str]:
    """Crossings with at least one signed exception."""
    return {
        item["crossing_id"] for record in settlements for item in record["exceptions"]
    }


def _decimals(table: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    return {
        outer: {inner: Decimal(value) for inner, value in values.items()}
        for outer, values in table.items()
    }


def test_sessions_by_state(ledger: Ledger) -> None:
    sessions = ACME_SESSIONS + BETA_SESSIONS
    states = Counter(record["state"] for record in _settlements(ledger, sessions))
    assert report(ledger)["sessions"] == {"total": 3, **states}


def test_sessions_literal(ledger: Ledger) -> None:
    """The admitting profile settles acme clean, and beta without one is unclean."""
    assert report(ledger)["sessions"] == {
        "total": 3,
        "settled": 2,
        "settled_unclean": 1,
    }


def test_crossings_total(ledger: Ledger) -> None:
    sessions = ACME_SESSIONS + BETA_SESSIONS
    crossings = _crossing_records(ledger, sessions)
    unreconciled = _unreconciled(_settlements(ledger, sessions))
    ids = [record["crossing"]["crossing_id"] for record in crossings]
    assert report(ledger)["crossings"] == {
        "total": len(ids),
        "reconciled": len([item for item in ids if item not in unreconciled]),
        "unreconciled": len([item for item in ids if item in unreconciled]),
    }


def test_crossings_by_kind(ledger: Ledger) -> None:
    sessions = ACME_SESSIONS + BETA_SESSIONS
    unreconciled = _unreconciled(_settlements(ledger, sessions))
    expected: dict[str, dict[str, int]] = defaultdict(
        lambda: {"total": 0, "reconciled": 0}
    )
    for record in _crossing_records(ledger, sessions):
        crossing = record["crossing"]
        expected[crossing["kind"]]["total"] += 1
        expected[crossing["kind"]]["reconciled"] += (
            crossing["crossing_id"] not in unreconciled
        )
    assert report(ledger)["crossings_by_kind"] == dict(expected)


def test_exceptions_by_reason(ledger: Ledger) -> None:
    settlements = _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS)
    counts = Counter(
        item["reason"] for record in settlements for item in record["exceptions"]
    )
    by_reason = report(ledger)["exceptions_by_reason"]
    assert {reason: entry["exceptions"] for reason, entry in by_reason.items()} == (
        dict(counts)
    )


def test_exception_money_by_reason(ledger: Ledger) -> None:
    """Money at risk and review cost per reason equal the signed exceptions' sums."""
    settlements = _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS)
    at_risk: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    review: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in settlements:
        for item in record["exceptions"]:
            money = item["money_at_risk"]
            if money is not None:
                at_risk[item["reason"]][money["currency"]] += Decimal(money["amount"])
            cost = item["review_cost"]
            review[item["reason"]][cost["currency"]] += Decimal(cost["amount"])
    by_reason = report(ledger)["exceptions_by_reason"]
    reported_risk = {
        reason: entry["money_at_risk"] for reason, entry in by_reason.items()
    }
    reported_review = {
        reason: entry["review_cost"] for reason, entry in by_reason.items()
    }
    assert _decimals(reported_risk) == {
        reason: dict(values) for reason, values in at_risk.items()
    } | {reason: {} for reason in by_reason if reason not in at_risk}
    assert _decimals(reported_review) == {
        reason: dict(values) for reason, values in review.items()
    }


def test_tolls_collected(ledger: Ledger) -> None:
    """Tolls of reconciled crossings are collected, the rest uncollectible."""
    sessions = ACME_SESSIONS + BETA_SESSIONS
    unreconciled = _unreconciled(_settlements(ledger, sessions))
    collected: dict[str, Decimal] = defaultdict(Decimal)
    uncollectible: dict[str, Decimal] = defaultdict(Decimal)
    for record in _crossing_records(ledger, sessions):
        toll = record["ledgers"]["billing"]["toll"]
        target = (
            uncollectible
            if record["crossing"]["crossing_id"] in unreconciled
            else collected
        )
        target[toll["currency"]] += Decimal(toll["amount"])
    billing = _decimals(report(ledger)["billing"])
    assert {
        currency: values["tolls_collected"] for currency, values in billing.items()
    } == dict(collected)
    assert {
        currency: values["tolls_uncollectible"] for currency, values in billing.items()
    } == dict(uncollectible)


def test_tolls_match_signed_totals(ledger: Ledger) -> None:
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for record in _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS):
        for currency, values in record["totals"]["billing"].items():
            for key, value in values.items():
                sums[currency][key] += Decimal(value)
    assert _decimals(report(ledger)["billing"]) == {
        currency: dict(values) for currency, values in sums.items()
    }


def test_token_meter(ledger: Ledger) -> None:
    """The meter adds up every crossing's metered usage, reconciled or not."""
    sessions = ACME_SESSIONS + BETA_SESSIONS
    unreconciled = _unreconciled(_settlements(ledger, sessions))
    every = dict.fromkeys(TOKEN_FIELDS, 0)
    reconciled = dict.fromkeys(TOKEN_FIELDS, 0)
    for record in _crossing_records(ledger, sessions):
        compute = record["ledgers"]["compute"]
        if compute is None:
            continue
        for field in TOKEN_FIELDS:
            every[field] += compute["usage"][field]
            if record["crossing"]["crossing_id"] not in unreconciled:
                reconciled[field] += compute["usage"][field]
    every["total_tokens"] = sum(every.values())
    reconciled["total_tokens"] = sum(reconciled.values())
    meter = report(ledger)["token_meter"]
    assert meter["all_crossings"] == every
    assert meter["reconciled_crossings"] == reconciled


def test_token_meter_not_empty(ledger: Ledger) -> None:
    """The traces carry usage, so the meter and the reconciled column differ."""
    meter = report(ledger)["token_meter"]
    assert meter["all_crossings"]["total_tokens"] > 0
    assert (
        meter["reconciled_crossings"]["total_tokens"]
        < meter["all_crossings"]["total_tokens"]
    )


def test_session_list(ledger: Ledger) -> None:
    settlements = _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS)
    expected = sorted(
        (
            record["session_id"],
            record["state"],
            record["crossings"]["total"],
            len(record["exceptions"]),
        )
        for record in settlements
    )
    listed = report(ledger)["session_list"]
    assert (
        sorted(
            (row["session_id"], row["state"], row["crossings"], row["exceptions"])
            for row in listed
        )
        == expected
    )


@pytest.mark.parametrize(
    ("tenant", "sessions"), [("acme", ACME_SESSIONS), ("beta", BETA_SESSIONS)]
)
def test_tenant_filter(ledger: Ledger, tenant: str, sessions: list[str]) -> None:
    result = report(ledger, "--tenant", tenant)
    assert sorted(row["session_id"] for row in result["session_list"]) == sessions
    assert result["sessions"]["total"] == len(sessions)


def test_tenant_filter_crossings(ledger: Ledger) -> None:
    crossings = _crossing_records(ledger, BETA_SESSIONS)
    assert report(ledger, "--tenant", "beta")["crossings"]["total"] == len(crossings)


def test_unknown_tenant_empty(ledger: Ledger) -> None:
    result = report(ledger, "--tenant", "nobody")
    assert result["sessions"] == {}
    assert result["session_list"] == []


def test_session_filter(ledger: Ledger) -> None:
    result = report(ledger, "--session", ACME_SESSIONS[0])
    assert [row["session_id"] for row in result["session_list"]] == ACME_SESSIONS[:1]
    assert result["sessions"]["total"] == 1


def test_session_filter_repeated(ledger: Ledger) -> None:
    result = report(
        ledger, "--session", ACME_SESSIONS[1], "--session", BETA_SESSIONS[0]
    )
    listed = sorted(row["session_id"] for row in result["session_list"])
    assert listed == sorted([ACME_SESSIONS[1], BETA_SESSIONS[0]])


def test_session_filter_with_tenant(ledger: Ledger) -> None:
    """A session outside the requested tenant is left out."""
    result = report(ledger, "--tenant", "acme", "--session", BETA_SESSIONS[0])
    assert result["session_list"] == []


def test_human_report_counts(ledger: Ledger) -> None:
    result = invoke("report", "--db", str(ledger.db))
    assert result.exit_code == 0
    figures = report(ledger)
    crossings = figures["crossings"]
    assert "sessions: 3 settled, 2 clean, 1 unclean" in result.stdout
    assert (
        f"crossings: {crossings['total']}, {crossings['reconciled']} reconciled, "
        f"{crossings['unreconciled']} not reconciled"
    ) in result.stdout


def test_human_report_lists_full_ids(ledger: Ledger) -> None:
    """``--sessions`` prints every session id whole."""
    result = invoke("report", "--db", str(ledger.db), "--sessions")
    assert result.exit_code == 0
    text = "".join(result.stdout.split())
    for session_id in ACME_SESSIONS + BETA_SESSIONS:
        assert session_id in text


def test_crossings_without_money_at_risk(ledger: Ledger) -> None:
    """Unreconciled crossings none of whose exceptions carries money at risk."""
    settlements = _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS)
    flagged: set[str] = set()
    priced: set[str] = set()
    for record in settlements:
        for item in record["exceptions"]:
            flagged.add(item["crossing_id"])
            if item["money_at_risk"] is not None:
                priced.add(item["crossing_id"])
    result = report(ledger)
    assert result["crossings_without_money_at_risk"] == len(flagged - priced)
    assert len(flagged - priced) > 0


def test_flops_add_up_signed_totals(ledger: Ledger) -> None:
    settlements = _settlements(ledger, ACME_SESSIONS + BETA_SESSIONS)
    known = sum(
        int(record["totals"]["compute"]["flops_known"]) for record in settlements
    )
    unknown = sum(
        record["totals"]["compute"]["crossings_with_unknown_flops"]
        for record in settlements
    )
    result = report(ledger)
    assert result["flops_known"] == str(known)
    assert result["crossings_with_unknown_flops"] == unknown


def test_human_report_rounds_money_to_six_places(ledger: Ledger) -> None:
    """The table shows six decimal places; the JSON keeps every digit."""
    figures = _decimals(report(ledger)["exposure"])
    result = invoke("report", "--db", str(ledger.db))
    assert result.exit_code == 0
    for currency, values in figures.items():
        total = values["total"].quantize(Decimal("0.000001"))
        assert f"{total:,}" in result.stdout, currency
    assert "--json is exact" in result.stdout


def test_human_report_names_empty_match(ledger: Ledger) -> None:
    result = invoke("report", "--db", str(ledger.db), "--tenant", "nobody")
    assert result.exit_code == 0
    assert "no settled session matches" in " ".join(result.stdout.split())
