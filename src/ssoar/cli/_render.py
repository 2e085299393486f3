"""Human-readable output of reports and explanations."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ssoar.cli._terminal import terminal_safe, terminal_text
from ssoar.cli._words import counted
from ssoar.report._explain import QUESTIONS
from ssoar.report._ledger import LedgerReport

__all__ = ["render_explain", "render_report"]


def _table(*headers: str, title: str | None = None) -> Table:
    """Return a borderless table whose cells fold instead of being cut short,
    so ids always print in full."""
    table = Table(title=title, box=None, pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def render_report(
    console: Console, report: LedgerReport, *, list_sessions: bool
) -> None:
    """Print the reconciliation ledger."""
    sessions = report.sessions
    crossings = report.crossings
    console.print(Text("Reconciliation ledger", style="bold"))
    if not sessions.get("total"):
        console.print(
            "no settled session matches; run 'ssoar import' first, or check the "
            "--tenant and --session values against 'ssoar report --sessions'"
        )
        return
    console.print(
        f"sessions: {sessions.get('total', 0)} settled, {sessions.get('settled', 0)} "
        "clean, "
        f"{sessions.get('settled_unclean', 0)} unclean"
    )
    console.print(
        f"crossings: {crossings.get('total', 0)}, {crossings.get('reconciled', 0)} "
        "reconciled, "
        f"{crossings.get('unreconciled', 0)} not reconciled"
    )
    kinds = _table(
        "kind", "crossings", "reconciled", "not reconciled", title="Crossings by kind"
    )
    for kind, counts in sorted(report.by_kind.items()):
        kinds.add_row(
            terminal_text(kind),
            str(counts["total"]),
            str(counts["reconciled"]),
            str(counts["total"] - counts["reconciled"]),
        )
    console.print(kinds)
    reasons = _table(
        "reason",
        "exceptions",
        "money at risk",
        "review cost",
        title="Exceptions by reason",
    )
    for reason, entry in sorted(
        report.by_reason.items(), key=lambda item: -item[1]["exceptions"]
    ):
        reasons.add_row(
            terminal_text(reason),
            str(entry["exceptions"]),
            _money(entry["money_at_risk"]),
            _money(entry["review_cost"]),
        )
    if report.by_reason:
        console.print(reasons)
    currencies = sorted(set(report.billing) | set(report.exposure))
    money = _table("money", *currencies, title="Money")
    rows = (
        ("usage billed", report.billing, "usage"),
        ("usage of reconciled crossings", report.billing, "usage_reconciled"),
        ("tolls assessed", report.billing, "tolls_assessed"),
        ("tolls collected", report.billing, "tolls_collected"),
        ("tolls uncollectible", report.billing, "tolls_uncollectible"),
        ("money at risk", report.exposure, "money_at_risk"),
        ("review cost", report.exposure, "review_cost"),
        ("exposure", report.exposure, "total"),
    )
    for label, source, key in rows:
        values = [
            source[currency][key] if currency in source else 0
            for currency in currencies
        ]
        money.add_row(label, *(_amount(value) for value in values))
    if currencies:
        console.print(money)
        console.print("amounts print rounded to 6 decimal places; --json is exact")
        console.print(
            "usage is priced at list prices; review cost uses the [review_costs] "
            "rates; tolls of imported sessions are what the booth would have charged"
        )
    if report.crossings_with_unknown_price:
        console.print(
            "exposure leaves out the money at risk of "
            f"{counted(report.crossings_with_unknown_price, 'crossing')} whose "
            "price is unknown"
        )
    if report.crossings_without_money_at_risk:
        console.print(
            counted(report.crossings_without_money_at_risk, "unreconciled crossing")
            + " carry no money at risk: they meter no charge, or their charge "
            "is not known; 'ssoar explain SESSION' shows which"
        )
    flops = f"compute: {report.flops_known:.3e} FLOPs estimated"
    if report.crossings_with_unknown_flops:
        flops += (
            f"; {counted(report.crossings_with_unknown_flops, 'crossing')} "
            "name a model of unknown size"
        )
    console.print(flops)
    tokens = _table(
        "tokens", "token meter", "reconciled", title="Token meter beside reconciled"
    )
    for key, value in report.tokens.items():
        tokens.add_row(
            key.removesuffix("_tokens").replace("_", " "),
            str(value),
            str(report.tokens_reconciled[key]),
        )
    console.print(tokens)
    if list_sessions:
        sessions_table = _table(
            "session",
            "state",
            "crossings",
            "reconciled",
            "exceptions",
            "exposure",
            title="Sessions",
        )
        # Session ids print whole; the other columns wrap around them.
        sessions_table.columns[0].no_wrap = True
        for row in map(terminal_safe, report.session_rows):
            state = row["state"]
            if row["close_reason"] in ("error", "swept"):
                state = f"{state} ({row['close_reason']})"
            sessions_table.add_row(
                row["session_id"],
                state,
                str(row["crossings"]),
                str(row["reconciled"]),
                str(row["exceptions"]),
                ", ".join(
                    f"{_amount(Decimal(value))} {key}"
                    for key, value in row["exposure"].items()
                )
                or "0",
            )
        console.print(sessions_table)


def _amount(value: Decimal | int) -> str:
    """Return an amount with six decimal places, enough for token prices."""
    return f"{Decimal(value).quantize(_SIX_PLACES, ROUND_HALF_EVEN):,}"


_SIX_PLACES = Decimal("0.000001")


def _money(values: dict[str, Any]) -> str:
    return (
        ", ".join(
            f"{_amount(value)} {currency}" for currency, value in sorted(values.items())
        )
        or "0"
    )


def render_explain(console: Console, answer: dict[str, Any]) -> None:
    """Print the eight questions and their answers for one session."""
    answer = terminal_safe(answer)
    session = answer["session"]
    console.print(
        Text(f"Session {session['session_id']}", style="bold"),
        f"(tenant {session['tenant']}, template {session['template']}, "
        f"opened {session['opened_at']})",
    )
    questions = answer["questions"]
    for number, (key, text) in enumerate(QUESTIONS, start=1):
        console.print()
        console.print(Text(f"{number}. {text}", style="bold"))
        _RENDERERS[key](console, questions[key]["answer"])


def _line(console: Console, crossing_id: str, text: str) -> None:
    console.print(Text("  " + crossing_id, style="cyan") + Text(": " + text))


def _what(console: Console, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        behalf = f" on behalf of {row['on_behalf_of']}" if row["on_behalf_of"] else ""
        target = row["target"]
        on = f" on {target['type']}:{target['id']}" if target else ""
        _line(
            console,
            row["crossing_id"],
            f"{row['kind']} by {row['actor']}{behalf}{on}, {row['state']}, "
            f"started {row['started_at']}",
        )


def _who(console: Console, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ids = ", ".join(row["policy_ids"])
        if row["policies"] == "error":
            policies = "policies failed to evaluate: " + "; ".join(row["policy_errors"])
        elif row["policies"] == "deny":
            policies = f"policies deny ({ids})" if ids else "no policy permits it"
        else:
            policies = f"policies permit ({ids})"
        verdict = "admits it" if row["booth"] == "allowed" else "denies it"
        if row["retrospective"]:
            verdict = "would admit it" if row["booth"] == "allowed" else "would deny it"
        others = [
            reason["code"]
            for reason in row["reasons"]
            if reason["code"] not in ("policy_denied", "policy_error")
        ]
        because = (
            f" because of {', '.join(others)}"
            if others and row["booth"] == "denied"
            else ""
        )
        if row["admitted_by"] is None:
            admitted = f"{row['participant']} was never admitted"
        else:
            admitted = f"{row['participant']} was admitted by {row['admitted_by']}"
        _line(
            console,
            row["crossing_id"],
            f"{policies}; the booth {verdict}{because}; {admitted}",
        )


def _authority(console: Console, answer: dict[str, Any]) -> None:
    console.print(
        f"  grants issued: {len(answer['grants'])}, revoked at close: "
        f"{len(answer['revocations'])}"
    )
    for row in answer["crossings"]:
        grant = f" under {row['grant_id']}" if row["grant_id"] else ""
        chain = f" (chain {' <- '.join(row['chain'])})" if row["chain"] else ""
        _line(
            console,
            row["crossing_id"],
            f"{row['status']}{grant}{chain}: {row['message']}",
        )


def _entitlement(console: Console, answer: dict[str, Any]) -> None:
    if not answer["accounts"]:
        console.print("  no quota applied to this session")
    for account in answer["accounts"]:
        console.print(
            f"  account {account['account_id']}: {account['unit']} limit "
            f"{account['limit']} ({account['scope']}), posted before "
            f"{account['posted_before']}"
        )
    for row in answer["crossings"]:
        if row["postings"] or row["overdrafts"]:
            moves = [
                f"{item['account_id']}: reserved {item['reserved']}, posted "
                f"{item['posted']}, released {item['released']}"
                for item in row["postings"]
            ]
            moves += [
                f"{item['account_id']}: needed {item['requested']}, "
                f"had {item['available']}"
                for item in row["overdrafts"]
            ]
            _line(console, row["crossing_id"], ", ".join(moves))


def _route(console: Console, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        target = row["target"]
        parts = [f"{target['type']}:{target['id']}" if target else "the session"]
        for key in ("provider", "model", "region", "jurisdiction", "route"):
            if row[key]:
                parts.append(f"{key} {row[key]}")
        _line(console, row["crossing_id"], ", ".join(parts))
        for candidate in row.get("route_candidates", ()):
            console.print(Text(f"    considered {candidate}"))


def _ledgers(console: Console, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ledgers = row["ledgers"]
        parts: list[str] = []
        compute = ledgers.get("compute")
        if compute:
            parts.append(
                f"compute {compute['tokens']} tokens ({compute['usage_source']})"
            )
        billing = ledgers["billing"]
        charge = billing["usage_charge"]
        toll = billing["toll"]
        usage = (
            f"{charge['amount']} {charge['currency']}" if charge else billing["status"]
        )
        parts.append(f"billing {usage} + toll {toll['amount']} {toll['currency']}")
        if "entitlement" in ledgers:
            parts.append(
                "entitlement "
                + counted(len(ledgers["entitlement"]["postings"]), "posting")
            )
        parts.append(f"authority {ledgers['authority']['status']}")
        parts.extend(
            name for name in ("memory", "placement", "settlement") if name in ledgers
        )
        _line(console, row["crossing_id"], "; ".join(parts))


def _proof(console: Console, answer: dict[str, Any]) -> None:
    console.print(
        f"  Merkle root {answer['merkle_root']} over {answer['tree_size']} records"
    )
    for record in answer["records"]:
        console.print(
            f"  leaf {record['leaf_index']}: {record['type']} {record['record_id']}, "
            f"hash {record['leaf_hash']}"
        )
    console.print(f"  inclusion proof: {answer['prove_with']}")


def _settled(console: Console, answer: dict[str, Any]) -> None:
    if answer["state"] == "open":
        console.print(answer["note"])
        return
    crossings = answer["crossings"]
    console.print(
        f"{answer['state']} ({answer['close_reason']}) at {answer['closed_at']}, "
        "signed by "
        f"{answer['signed_by']}: {crossings['reconciled']} of {crossings['total']} "
        "crossings reconciled"
    )
    if answer.get("close_error"):
        console.print(Text(f"  closed because: {answer['close_error']}"))
    for currency, values in answer["totals"]["billing"].items():
        console.print(
            f"  billed {values['usage']} {currency}; tolls collected "
            f"{values['tolls_collected']}, "
            f"uncollectible {values['tolls_uncollectible']}"
        )
    for currency, values in answer["exposure"]["by_currency"].items():
        console.print(
            f"  exposure {values['total']} {currency} (at risk "
            f"{values['money_at_risk']}, review {values['review_cost']})"
        )
    for item in answer["exceptions"]:
        console.print(
            f"  exception {item['reason']}: {item['crossing_id']}: {item['message']}"
        )


_RENDERERS: dict[str, Callable[[Console, Any], None]] = {
    "what_crossed": _what,
    "who_admitted_it": _who,
    "under_what_authority": _authority,
    "against_what_entitlement": _entitlement,
    "where_routed": _route,
    "which_ledger_changed": _ledgers,
    "which_record_proves_it": _proof,
    "what_settled": _settled,
}
