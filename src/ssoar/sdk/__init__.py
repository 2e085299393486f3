"""The Python SDK: put the booth in the path of running code.

Example::

    import ssoar

    booth = ssoar.connect(db="ssoar.db", tenant="acme")
    with booth.session(
        participants=["human:alice", "agent:refund-bot"],
        grants=[ssoar.GrantSpec("agent:refund-bot", ["model_invocation"])],
        quotas=[ssoar.QuotaSpec("budget", "money", "1.00", currency="USD")],
    ) as session:
        with session.invoke_model(
            "openai", "gpt-4.1", input_tokens=1200, max_output_tokens=400,
            invoker="agent:refund-bot",
        ) as call:
            ...  # the model call
            call.complete(usage=ssoar.UsageReport(input_tokens=1180, output_tokens=212))
"""

from ssoar.sdk._client import Client, connect
from ssoar.sdk._session import Crossing, Session
from ssoar.sdk._wrap import estimate_input_tokens, usage_from_openai, wrap_openai

__all__ = [
    "Client",
    "Crossing",
    "Session",
    "connect",
    "estimate_input_tokens",
    "usage_from_openai",
    "wrap_openai",
]
