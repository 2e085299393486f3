"""Tests for grants, delegation narrowing and authority checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ssoar.ledger._authority import (
    DELEGATION_DEPTH_MAX,
    AuthorityCheck,
    AuthorityLedger,
    AuthorityStatus,
    DelegationError,
    Grant,
    GrantScope,
)

T0 = datetime(2025, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
TENANT = "tenant:acme"
ROOTS = frozenset({TENANT})


def make_grant(
    grant_id: str,
    grantor: str,
    grantee: str,
    kinds: set[str],
    targets: tuple[str, ...] = ("*",),
    *,
    start: int = 0,
    end: int = 10,
    parent: str | None = None,
    session_id: str | None = "s-1",
) -> Grant:
    """A grant valid from ``start`` to ``end`` hours after T0."""
    return Grant(
        grant_id=grant_id,
        grantor=grantor,
        grantee=grantee,
        scope=GrantScope(frozenset(kinds), targets),
        not_before=T0 + start * HOUR,
        expires_at=T0 + end * HOUR,
        parent_grant_id=parent,
        session_id=session_id,
    )


ROOT = make_grant(
    "g-root",
    TENANT,
    "agent:a",
    {"tool_call", "model_invocation"},
    ("model:openai/*", "tool:*"),
)


def ledger_with_root() -> AuthorityLedger:
    ledger = AuthorityLedger()
    ledger.issue(ROOT)
    return ledger


def delegate(**changes: object) -> Grant:
    """A grant from agent:a to agent:b under ROOT, narrowed unless changed."""
    fields: dict[str, object] = {
        "grant_id": "g-child",
        "grantor": "agent:a",
        "grantee": "agent:b",
        "kinds": {"tool_call"},
        "targets": ("tool:search",),
        "start": 1,
        "end": 5,
        "parent": "g-root",
    }
    fields.update(changes)
    return make_grant(**fields)  # type: ignore[arg-type]


# Delegation


def test_issue_narrower_delegation() -> None:
    ledger = ledger_with_root()
    child = delegate()
    assert ledger.issue(child) == child
    assert ledger.grants["g-child"] == child


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("wider kinds", {"kinds": {"tool_call", "memory_write"}}),
        ("wider targets", {"targets": ("model:*",)}),
        ("every target", {"targets": ("*",)}),
        ("pattern beyond parent", {"targets": ("tool:search", "route:*")}),
        ("longer window", {"end": 11}),
        ("earlier start", {"start": -1}),
        ("grant not held", {"grantor": "agent:x"}),
        ("unknown parent", {"parent": "g-nope"}),
        ("ends before start", {"start": 3, "end": 3}),
    ],
)
def test_issue_widening_rejected(case: str, changes: dict[str, object]) -> None:
    ledger = ledger_with_root()
    with pytest.raises(DelegationError):
        ledger.issue(delegate(**changes))
    assert "g-child" not in ledger.grants


def test_issue_same_window_accepted() -> None:
    ledger = ledger_with_root()
    child = delegate(start=0, end=10, targets=("model:openai/gpt-4o", "tool:*"))
    assert ledger.issue(child) == child


def test_issue_differently_written_pattern_rejected() -> None:
    """A narrower pattern that differs in text is rejected, never accepted wrongly."""
    ledger = ledger_with_root()
    with pytest.raises(DelegationError):
        ledger.issue(delegate(targets=("tool:sea*",)))


def test_issue_same_grant_twice_noop() -> None:
    ledger = ledger_with_root()
    ledger.issue(ROOT)
    assert ledger.by_grantee["agent:a"] == [ROOT]


def test_issue_reused_id_rejected() -> None:
    ledger = ledger_with_root()
    with pytest.raises(DelegationError):
        ledger.issue(make_grant("g-root", TENANT, "agent:z", {"tool_call"}))


def test_scope_empty_targets_cover_none_only() -> None:
    scope = GrantScope(frozenset({"tool_call"}), ())
    assert scope.covers("tool_call", None) is True
    assert scope.covers("tool_call", "tool:search") is False


def test_scope_pattern_matching() -> None:
    scope = GrantScope(frozenset({"model_invocation"}), ("model:openai/*",))
    assert scope.covers("model_invocation", "model:openai/gpt-4o") is True
    assert scope.covers("model_invocation", "model:anthropic/claude") is False
    assert scope.covers("tool_call", "model:openai/gpt-4o") is False


# Checks


def check(
    ledger: AuthorityLedger,
    holder: str = "agent:a",
    kind: str = "tool_call",
    target: str | None = "tool:search",
    hours: float = 2,
    roots: frozenset[str] = ROOTS,
) -> AuthorityCheck:
    return ledger.check(holder, kind, target, T0 + hours * HOUR, roots)


def test_check_valid_grant() -> None:
    result = check(ledger_with_root())
    assert result.status is AuthorityStatus.VALID
    assert result.valid is True
    assert result.grant_id == "g-root"
    assert result.chain == ("agent:a", TENANT)


def test_check_missing_grant() -> None:
    result = check(ledger_with_root(), holder="agent:nobody")
    assert result.status is AuthorityStatus.MISSING
    assert result.grant_id is None
    assert result.message == "no grant names agent:nobody"


@pytest.mark.parametrize(
    ("kind", "target"),
    [("memory_write", "tool:search"), ("model_invocation", "model:anthropic/c")],
)
def test_check_out_of_scope(kind: str, target: str) -> None:
    result = check(ledger_with_root(), kind=kind, target=target)
    assert result.status is AuthorityStatus.OUT_OF_SCOPE
    assert result.grant_id == "g-root"


@pytest.mark.parametrize(
    ("hours", "status"),
    [
        (-0.5, AuthorityStatus.NOT_YET_VALID),
        (0, AuthorityStatus.VALID),
        (9.9, AuthorityStatus.VALID),
        (10, AuthorityStatus.EXPIRED),
        (12, AuthorityStatus.EXPIRED),
    ],
)
def test_check_window_bounds(hours: float, status: AuthorityStatus) -> None:
    """The window includes not_before and excludes expires_at."""
    assert check(ledger_with_root(), hours=hours).status is status


def test_check_revoked_from_revocation() -> None:
    ledger = ledger_with_root()
    ledger.revoke("g-root", T0 + 3 * HOUR)
    assert check(ledger, hours=2.9).status is AuthorityStatus.VALID
    assert check(ledger, hours=3).status is AuthorityStatus.REVOKED


def test_check_revoked_after_valid_check() -> None:
    ledger = ledger_with_root()
    assert check(ledger, hours=4).status is AuthorityStatus.VALID
    ledger.revoke("g-root", T0 + 3 * HOUR)
    assert check(ledger, hours=4).status is AuthorityStatus.REVOKED


def test_revoke_first_time_wins() -> None:
    ledger = ledger_with_root()
    ledger.revoke("g-root", T0 + 5 * HOUR)
    ledger.revoke("g-root", T0 + 3 * HOUR)
    assert ledger.revoked_at["g-root"] == T0 + 5 * HOUR
    assert check(ledger, hours=4).status is AuthorityStatus.VALID


def test_check_parent_revoked() -> None:
    ledger = ledger_with_root()
    ledger.issue(delegate())
    ledger.revoke("g-root", T0 + 2 * HOUR)
    result = check(ledger, holder="agent:b", hours=3)
    assert result.status is AuthorityStatus.REVOKED
    assert result.grant_id == "g-child"


def test_check_untraceable_root() -> None:
    result = check(ledger_with_root(), roots=frozenset({"tenant:other"}))
    assert result.status is AuthorityStatus.UNTRACEABLE
    assert result.chain == ("agent:a", TENANT)


def test_check_untraceable_after_valid_check() -> None:
    """A chain valid under one set of roots is still checked against the next set."""
    ledger = ledger_with_root()
    assert check(ledger).status is AuthorityStatus.VALID
    result = check(ledger, roots=frozenset({"tenant:other"}))
    assert result.status is AuthorityStatus.UNTRACEABLE


def test_check_valid_grant_among_expired() -> None:
    ledger = ledger_with_root()
    ledger.issue(make_grant("g-old", TENANT, "agent:a", {"tool_call"}, end=1))
    result = check(ledger, hours=2)
    assert result.status is AuthorityStatus.VALID
    assert result.grant_id == "g-root"


def chain_of(length: int) -> AuthorityLedger:
    """A ledger with ``length`` grants from the tenant to agent:1, ..., agent:length."""
    ledger = AuthorityLedger()
    grantor = TENANT
    parent = None
    for index in range(1, length + 1):
        grant = make_grant(
            f"g-{index}", grantor, f"agent:{index}", {"tool_call"}, parent=parent
        )
        ledger.issue(grant)
        grantor, parent = f"agent:{index}", grant.grant_id
    return ledger


def test_check_longest_chain_valid() -> None:
    ledger = chain_of(DELEGATION_DEPTH_MAX)
    result = check(ledger, holder=f"agent:{DELEGATION_DEPTH_MAX}")
    assert result.status is AuthorityStatus.VALID
    assert len(result.chain) == DELEGATION_DEPTH_MAX + 1


def test_check_too_long_chain_untraceable() -> None:
    ledger = chain_of(DELEGATION_DEPTH_MAX + 1)
    result = check(ledger, holder=f"agent:{DELEGATION_DEPTH_MAX + 1}")
    assert result.status is AuthorityStatus.UNTRACEABLE


def test_session_grants_in_issue_order() -> None:
    ledger = ledger_with_root()
    ledger.issue(delegate())
    ledger.issue(
        make_grant("g-other", TENANT, "agent:z", {"tool_call"}, session_id="s-2")
    )
    assert [grant.grant_id for grant in ledger.session_grants("s-1")] == [
        "g-root",
        "g-child",
    ]


# The RFC 8693 act claim


def three_level_check() -> AuthorityCheck:
    ledger = ledger_with_root()
    ledger.issue(delegate())
    ledger.issue(
        delegate(
            grant_id="g-grandchild",
            grantor="agent:b",
            grantee="agent:c",
            start=2,
            end=4,
            parent="g-child",
        )
    )
    return check(ledger, holder="agent:c", hours=3)


def test_chain_holder_to_first_grantor() -> None:
    result = three_level_check()
    assert result.status is AuthorityStatus.VALID
    assert result.chain == ("agent:c", "agent:b", "agent:a", TENANT)


def test_act_claim_holder_outermost() -> None:
    """The holder is the outermost actor and the first grantor the innermost."""
    assert three_level_check().act_claim() == {
        "sub": "agent:c",
        "act": {"sub": "agent:b", "act": {"sub": "agent:a", "act": {"sub": TENANT}}},
    }


def test_act_claim_empty_chain() -> None:
    result = AuthorityCheck(AuthorityStatus.MISSING, "agent:a", None, "none")
    assert result.act_claim() is None


def test_check_to_json() -> None:
    result = check(ledger_with_root())
    assert result.to_json() == {
        "status": "valid",
        "holder": "agent:a",
        "grant_id": "g-root",
        "message": f"grant g-root from {TENANT}",
        "chain": ["agent:a", TENANT],
        "act": result.act_claim(),
    }
