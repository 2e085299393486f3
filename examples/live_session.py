"""A support agent's session run through the booth, in this process.

The agent works on a refund ticket: it calls a model twice, looks an order
up, and tries to issue a refund. The booth admits the people and the agent,
reserves each model call's worst case against the session's budget before
it runs, refuses the refund (the agent holds no grant to change state), and
settles the session into a signed record when the block ends.

Run it with ``make live-demo``, or:
``.venv/bin/python examples/live_session.py --db demo-output/live.db``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ssoar

AGENT = "agent:refund-bot"


def fake_model_call(prompt: str) -> ssoar.UsageReport:
    """Stand in for a provider call: return the usage the provider reports."""
    return ssoar.UsageReport(
        input_tokens=len(prompt) // 4 + 900, output_tokens=180, cache_read_tokens=512
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("demo-output/live.db"))
    arguments = parser.parse_args()
    booth = ssoar.connect(db=arguments.db, tenant="acme")
    with booth.session(
        session_id="ticket-4713",
        participants=["human:analyst-bob", AGENT],
        grants=[
            ssoar.GrantSpec(
                AGENT,
                ["model_invocation", "tool_call"],
                targets=["model:openai/*", "tool:lookup_order"],
            ),
        ],
        quotas=[
            ssoar.QuotaSpec("budget", "money", "0.50", currency="USD"),
            ssoar.QuotaSpec("crossings", "crossings", "50"),
        ],
    ) as session:

        @session.tool(invoker=AGENT)
        def lookup_order(order_id: str) -> str:
            return f"order {order_id}: 2 items, paid"

        for prompt in ("Summarise ticket 4713.", "Draft the reply to the customer."):
            with session.invoke_model(
                "openai",
                "gpt-4.1",
                input_tokens=1200,
                max_output_tokens=400,
                invoker=AGENT,
            ) as call:
                call.complete(usage=fake_model_call(prompt))
            charge = call.answer.charge or {}
            print(
                f"model call {call.key}: charged {charge.get('amount')} "
                f"{charge.get('currency')}"
            )
        print(lookup_order("A-1001"))
        try:
            session.call_tool("issue_refund", invoker=AGENT, mutates_state=True)
        except ssoar.CrossingDenied as denied:
            # Refused before it ran, the crossing still reconciles.
            print(f"refund refused in time: {', '.join(denied.codes)}")
    record = session.settlement
    assert record is not None
    crossings = record["crossings"]
    print(
        f"session {record['session_id']}: {record['state']}, "
        f"{crossings['reconciled']} of {crossings['total']} crossings reconciled, "
        f"billed {record['totals']['billing']['USD']['usage']} USD"
    )
    booth.close()


if __name__ == "__main__":
    main()
