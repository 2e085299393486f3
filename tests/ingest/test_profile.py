"""Import profiles: declared participants, grants and quotas change the settlement.

Every case imports the real Google ADK trace, one session ``conv:demo-session``:
the user demo-user, the agent span "agent_run [hello_agent]", two gemini
calls (28 + 3 = 31 tokens, then 39 + 6 = 45 tokens) and one tool call.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ssoar.errors import ProfileError
from ssoar.ingest._profile import load_profile

ADK = "langfuse/google-adk-2025-08-28.trace.json"
SESSION = "conv:demo-session"
ADMIT_USER = f"{SESSION}/admit/human:demo-user"
ADMIT_AGENT = f"{SESSION}/admit/agent:agent_run [hello_agent]"
FIRST_CALL = "b82a0bdc1994fc5d1c8576ca032543f7/f6e4c65297e40c96"
SECOND_CALL = "b82a0bdc1994fc5d1c8576ca032543f7/bded677884f031ce"
TOOL_CALL = "b82a0bdc1994fc5d1c8576ca032543f7/04290e4d82aba1bc"

GRANT_USER = """
[[participant]]
match = "human:demo-user"
kinds = ["model_invocation", "tool_call"]
"""
GRANT_AGENT = """
[[participant]]
match = "agent:*"
kinds = ["model_invocation", "tool_call"]
"""
GRANT_AGENT_TOOLS_ONLY = """
[[participant]]
match = "agent:*"
kinds = ["model_invocation", "tool_call"]
targets = ["tool:*"]
"""
ADMISSION_QUOTA = """
[[quota]]
id = "admissions"
unit = "crossings"
limit = "2"
kinds = ["participant_admission"]
"""
# The session uses 31 + 45 = 76 tokens.
TOKEN_QUOTA = """
[[quota]]
id = "session-tokens"
scope = "session"
unit = "tokens"
limit = "50"
kinds = ["model_invocation"]
"""


def _sorted(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted(pairs)


# (profile text, every exception of the session as (crossing, reason))
PROFILES = [
    pytest.param(
        None,
        # No participant is declared: both admissions are denied and unauthorised, and
        # every crossing the agent invokes lacks admission and a grant.
        _sorted(
            [
                (ADMIT_USER, "policy_denied"),
                (ADMIT_USER, "authority_missing"),
                (ADMIT_USER, "entitlement_missing"),
                (ADMIT_AGENT, "policy_denied"),
                (ADMIT_AGENT, "authority_missing"),
                (ADMIT_AGENT, "entitlement_missing"),
                (FIRST_CALL, "admission_missing"),
                (FIRST_CALL, "authority_missing"),
                (SECOND_CALL, "admission_missing"),
                (SECOND_CALL, "authority_missing"),
                (TOOL_CALL, "admission_missing"),
                (TOOL_CALL, "authority_missing"),
            ]
        ),
        id="no-profile",
    ),
    pytest.param(
        GRANT_USER + GRANT_AGENT,
        # Admissions draw on an entitlement, and no quota covers them.
        _sorted(
            [
                (ADMIT_USER, "entitlement_missing"),
                (ADMIT_AGENT, "entitlement_missing"),
            ]
        ),
        id="user-and-agent-granted",
    ),
    pytest.param(GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA, [], id="clean"),
    pytest.param(
        GRANT_USER + ADMISSION_QUOTA,
        # The agent is undeclared, so it is not admitted and has no grant.
        _sorted(
            [
                (ADMIT_AGENT, "policy_denied"),
                (ADMIT_AGENT, "authority_missing"),
                (FIRST_CALL, "admission_missing"),
                (FIRST_CALL, "authority_missing"),
                (SECOND_CALL, "admission_missing"),
                (SECOND_CALL, "authority_missing"),
                (TOOL_CALL, "admission_missing"),
                (TOOL_CALL, "authority_missing"),
            ]
        ),
        id="agent-undeclared",
    ),
    pytest.param(
        GRANT_USER + GRANT_AGENT_TOOLS_ONLY + ADMISSION_QUOTA,
        # The agent's grant covers tool targets only, not model targets.
        _sorted(
            [
                (FIRST_CALL, "authority_out_of_scope"),
                (SECOND_CALL, "authority_out_of_scope"),
            ]
        ),
        id="grant-tools-only",
    ),
    pytest.param(
        GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA + TOKEN_QUOTA,
        # 50 tokens: the first call posts 31, leaving 19 for the second's 45.
        [(SECOND_CALL, "entitlement_overdrawn")],
        id="token-quota",
    ),
]


@pytest.fixture
def import_with_profile(tmp_path: Path, importer: Any) -> Any:
    """Import the ADK trace with a profile written from TOML text, or none."""

    def run(text: str | None) -> Any:
        profile = None
        if text is not None:
            profile = tmp_path / "profile.toml"
            profile.write_text(text, encoding="utf-8")
        return importer(ADK, profile=profile)

    return run


@pytest.mark.parametrize(("profile", "expected"), PROFILES)
def test_profile_exceptions(
    import_with_profile: Any, profile: str | None, expected: list[tuple[str, str]]
) -> None:
    _, db = import_with_profile(profile)
    assert sorted(db.exceptions(SESSION)) == expected


def test_profile_clean_settles(import_with_profile: Any) -> None:
    _, db = import_with_profile(GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA)
    assert db.settlement(SESSION)["state"] == "settled"


def test_profile_unclean_without_quota(import_with_profile: Any) -> None:
    _, db = import_with_profile(GRANT_USER + GRANT_AGENT)
    assert db.settlement(SESSION)["state"] == "settled_unclean"


def test_profile_grants_issued(import_with_profile: Any) -> None:
    """One grant for the user and one for the agent, both revoked at close."""
    _, db = import_with_profile(GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA)
    authority = db.settlement(SESSION)["totals"]["authority"]
    assert authority["grants_issued"] == 2
    assert authority["grants_revoked"] == 2


def _token_account(import_with_profile: Any) -> dict[str, Any]:
    _, db = import_with_profile(
        GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA + TOKEN_QUOTA
    )
    entitlement = db.settlement(SESSION)["totals"]["entitlement"]
    account: dict[str, Any] = entitlement[f"{SESSION}/quota/session-tokens"]
    return account


def test_token_quota_overdraft_excess(import_with_profile: Any) -> None:
    # 76 tokens used against a limit of 50: 45 - (50 - 31) = 26 past the limit.
    account = _token_account(import_with_profile)
    assert Decimal(account["overdrawn"]) == Decimal(26)


def test_token_quota_posts_to_limit(import_with_profile: Any) -> None:
    account = _token_account(import_with_profile)
    assert Decimal(account["posted"]) == Decimal(50)


def test_token_quota_message_names_amounts(import_with_profile: Any) -> None:
    _, db = import_with_profile(
        GRANT_USER + GRANT_AGENT + ADMISSION_QUOTA + TOKEN_QUOTA
    )
    (row,) = db.rows(
        "SELECT message FROM settlement_exceptions WHERE reason = ?",
        "entitlement_overdrawn",
    )
    assert "has 19 left; the crossing needs 45" in row["message"]


# --- Invalid profiles ------------------------------------------------------

# (profile text, text the error must contain besides the file name)
INVALID_PROFILES = [
    pytest.param(
        'tenant = "acme"\nquotas = []\n', ["unknown key 'quotas'"], id="unknown-key"
    ),
    pytest.param(
        '[[participant]]\nmatch = "agent:*"\nkind = ["tool_call"]\n',
        ["participant[0]", "'kind'"],
        id="unknown-participant-key",
    ),
    pytest.param(
        '[[quota]]\nid = "q"\nunit = "tokens"\nlimit = "5"\nkind = ["tool_call"]\n',
        ["quota[0]", "'kind'"],
        id="unknown-quota-key",
    ),
    pytest.param(
        '[[quota]]\nid = "q"\nunit = "tokens"\nlimit = "-100"\n',
        ["quota[0]", "-100", "negative"],
        id="negative-limit",
    ),
    pytest.param(
        '[[quota]]\nid = "q"\nunit = "dollars"\nlimit = "5"\n',
        ["quota[0]", "'dollars'"],
        id="bad-unit",
    ),
    pytest.param(
        '[[quota]]\nid = "q"\nunit = "tokens"\nlimit = "5"\n'
        '[[quota]]\nid = "q"\nunit = "tokens"\nlimit = "6"\n',
        ["quota[1]", "'q'"],
        id="duplicate-quota-id",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), INVALID_PROFILES)
def test_invalid_profile_rejected(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = tmp_path / "team.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_invalid_profile_imports_nothing(tmp_path: Path, cli: Any) -> None:
    """``ssoar import`` exits 2 on an invalid profile, before any database exists."""
    profile = tmp_path / "team.toml"
    profile.write_text('[[quota]]\nid = "q"\nunit = "dollars"\nlimit = "5"\n')
    db = tmp_path / "ssoar.db"
    outcome = cli("import", tmp_path / "unused.json", "--db", db, "--profile", profile)
    assert outcome.exit_code == 2
    assert not db.exists()
