"""Tests for the entitlement ledger's two-phase reservations and its invariants."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.ledger._entitlement import (
    Account,
    EntitlementError,
    EntitlementLedger,
    Overdraft,
    Quota,
    QuotaScope,
    QuotaUnit,
    Transfer,
    TransferPhase,
)

D = Decimal


def make_account(
    account_id: str, limit: str, kinds: frozenset[str] = frozenset()
) -> Account:
    quota = Quota(
        f"q-{account_id}", QuotaScope.SESSION, QuotaUnit.TOKENS, D(limit), kinds=kinds
    )
    return Account(account_id, quota, "s-1")


def ledger_with(**limits: str) -> EntitlementLedger:
    ledger = EntitlementLedger()
    for account_id, limit in limits.items():
        ledger.open(make_account(account_id, limit))
    return ledger


# Quotas and accounts


def test_quota_negative_limit_rejected() -> None:
    with pytest.raises(EntitlementError):
        Quota("q", QuotaScope.SESSION, QuotaUnit.TOKENS, D(-1))


@pytest.mark.parametrize(
    ("unit", "currency"),
    [(QuotaUnit.MONEY, None), (QuotaUnit.TOKENS, "USD"), (QuotaUnit.CROSSINGS, "USD")],
)
def test_quota_currency_mismatch_rejected(
    unit: QuotaUnit, currency: str | None
) -> None:
    with pytest.raises(EntitlementError):
        Quota("q", QuotaScope.SESSION, unit, D(1), currency=currency)


def test_quota_applies_to_kinds() -> None:
    every = Quota("q", QuotaScope.SESSION, QuotaUnit.CROSSINGS, D(1))
    only = Quota(
        "q",
        QuotaScope.SESSION,
        QuotaUnit.CROSSINGS,
        D(1),
        kinds=frozenset({"tool_call"}),
    )
    assert every.applies_to("memory_write") is True
    assert only.applies_to("tool_call") is True
    assert only.applies_to("memory_write") is False


def test_open_with_posted_before() -> None:
    ledger = EntitlementLedger()
    ledger.open(make_account("a", "10"), posted=D(4))
    assert ledger.balances["a"].posted == D(4)
    assert ledger.balances["a"].available == D(6)


def test_open_twice_keeps_balance() -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(3))])
    ledger.open(make_account("a", "10"))
    assert ledger.balances["a"].reserved == D(3)


# Two-phase transfers


def test_reserve_post_releases_rest() -> None:
    ledger = ledger_with(a="10")
    (reserve,) = ledger.reserve_all("c1", [("a", D(6))])
    assert reserve == Transfer(
        "c1/a/reserve", "a", "c1", TransferPhase.RESERVE, D(6), "c1/a/reserve"
    )
    transfers = ledger.post("c1/a/reserve", D(4))
    assert transfers == [
        Transfer("c1/a/post", "a", "c1", TransferPhase.POST, D(4), "c1/a/reserve"),
        Transfer(
            "c1/a/release", "a", "c1", TransferPhase.RELEASE, D(2), "c1/a/reserve"
        ),
    ]
    assert ledger.balances["a"].reserved == D(0)
    assert ledger.balances["a"].posted == D(4)


def test_post_exact_has_no_release() -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(6))])
    transfers = ledger.post("c1/a/reserve", D(6))
    assert [transfer.phase for transfer in transfers] == [TransferPhase.POST]


def test_release_whole_reservation() -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(6))])
    transfer = ledger.release("c1/a/reserve")
    assert transfer.phase is TransferPhase.RELEASE
    assert transfer.amount == D(6)
    assert ledger.balances["a"].available == D(10)


@pytest.mark.parametrize("amount", ["6.01", "-1"])
def test_post_outside_reservation_rejected(amount: str) -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(6))])
    with pytest.raises(EntitlementError):
        ledger.post("c1/a/reserve", D(amount))
    assert ledger.pending_for(["a"]) == ["c1/a/reserve"]
    assert ledger.balances["a"].reserved == D(6)


@pytest.mark.parametrize("second", ["post", "release"])
def test_resolve_twice_rejected(second: str) -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(6))])
    ledger.post("c1/a/reserve", D(1))
    with pytest.raises(EntitlementError):
        if second == "post":
            ledger.post("c1/a/reserve", D(1))
        else:
            ledger.release("c1/a/reserve")
    assert ledger.balances["a"].posted == D(1)
    assert ledger.balances["a"].reserved == D(0)


def test_resolve_unknown_rejected() -> None:
    ledger = ledger_with(a="10")
    with pytest.raises(EntitlementError):
        ledger.release("c9/a/reserve")


def test_reserve_twice_same_account_rejected() -> None:
    ledger = ledger_with(a="10")
    ledger.reserve_all("c1", [("a", D(1))])
    ledger.release("c1/a/reserve")
    with pytest.raises(EntitlementError):
        ledger.reserve_all("c1", [("a", D(1))])


def test_reserve_all_overdraft_reserves_nothing() -> None:
    ledger = ledger_with(a="10", b="3")
    result = ledger.reserve_all("c1", [("a", D(5)), ("b", D(4))])
    assert result == [Overdraft("b", "c1", D(4), D(3))]
    assert ledger.balances["a"].reserved == D(0)
    assert ledger.balances["b"].reserved == D(0)
    assert ledger.pending == {}


@pytest.mark.parametrize(
    "requests",
    [
        [("a", D(1)), ("b", D(-1))],
        [("a", D(1)), ("a", D(1))],
    ],
    ids=["negative amount", "account twice"],
)
def test_reserve_all_invalid_reserves_nothing(
    requests: list[tuple[str, Decimal]],
) -> None:
    """A rejected request list leaves every account as it was."""
    ledger = ledger_with(a="10", b="10")
    with pytest.raises(EntitlementError):
        ledger.reserve_all("c1", requests)
    assert ledger.balances["a"].reserved == D(0)
    assert ledger.pending == {}


def test_pending_for_oldest_first() -> None:
    ledger = ledger_with(a="10", b="10")
    ledger.reserve_all("c1", [("a", D(1))])
    ledger.reserve_all("c2", [("b", D(1))])
    ledger.reserve_all("c3", [("a", D(1))])
    assert ledger.pending_for(["a"]) == ["c1/a/reserve", "c3/a/reserve"]


# Posting imported usage


def test_post_within_limit_no_overdraft() -> None:
    ledger = ledger_with(a="10")
    transfers, overdrafts = ledger.post_within_limit("c1", [("a", D(4))])
    assert overdrafts == []
    assert [(t.phase, t.amount) for t in transfers] == [
        (TransferPhase.RESERVE, D(4)),
        (TransferPhase.POST, D(4)),
    ]
    assert ledger.balances["a"].posted == D(4)


def test_post_within_limit_exact_excess() -> None:
    ledger = ledger_with(a="10")
    ledger.post_within_limit("c1", [("a", D("7.5"))])
    transfers, overdrafts = ledger.post_within_limit("c2", [("a", D(4))])
    # 10 - 7.5 = 2.5 left, so 2.5 is posted and 4 - 2.5 = 1.5 is the excess.
    assert overdrafts == [Overdraft("a", "c2", D(4), D("2.5"))]
    assert overdrafts[0].excess == D("1.5")
    assert [t.amount for t in transfers] == [D("2.5"), D("2.5")]
    assert ledger.balances["a"].posted == D(10)
    assert ledger.balances["a"].available == D(0)


def test_post_within_limit_empty_account() -> None:
    ledger = ledger_with(a="0")
    transfers, overdrafts = ledger.post_within_limit("c1", [("a", D(3))])
    assert overdrafts[0].excess == D(3)
    assert [t.amount for t in transfers] == [D(0), D(0)]
    assert ledger.balances["a"].posted == D(0)


def test_post_within_limit_journals_transfers() -> None:
    """The ledger's transfer journal contains every transfer it returns."""
    ledger = ledger_with(a="10")
    transfers, _ = ledger.post_within_limit("c1", [("a", D(4))])
    assert ledger.transfers == transfers


def test_overdraft_to_json() -> None:
    overdraft = Overdraft("a", "c1", D("4"), D("2.5"))
    assert overdraft.to_json() == {
        "account_id": "a",
        "crossing_id": "c1",
        "requested": "4",
        "available": "2.5",
        "excess": "1.5",
    }


# Properties over random operation sequences

ACCOUNTS = ("a", "b", "c")
AMOUNTS = st.integers(min_value=0, max_value=2000).map(
    lambda cents: D(cents).scaleb(-2)
)


class Model:
    """An independent record of what each account should hold."""

    def __init__(self, limits: dict[str, Decimal]) -> None:
        self.limits = limits
        self.reserved: dict[str, Decimal] = defaultdict(Decimal)
        self.posted: dict[str, Decimal] = defaultdict(Decimal)
        self.pending: dict[str, tuple[str, Decimal]] = {}
        self.resolved: set[str] = set()

    def available(self, account_id: str) -> Decimal:
        return (
            self.limits[account_id]
            - self.reserved[account_id]
            - self.posted[account_id]
        )


def check_balances(ledger: EntitlementLedger, model: Model) -> None:
    for account_id in ACCOUNTS:
        balance = ledger.balances[account_id]
        assert balance.reserved >= 0
        assert balance.posted >= 0
        assert balance.reserved + balance.posted <= balance.limit
        assert balance.reserved == model.reserved[account_id]
        assert balance.posted == model.posted[account_id]


@settings(max_examples=200, deadline=None)
@given(
    limits=st.fixed_dictionaries({account: AMOUNTS for account in ACCOUNTS}),
    data=st.data(),
)
def test_ledger_invariants_property(
    limits: dict[str, Decimal], data: st.DataObject
) -> None:
    """Random reserve, post, release and import sequences keep every invariant."""
    ledger = EntitlementLedger()
    for account_id, limit in limits.items():
        ledger.open(make_account(account_id, str(limit)))
    model = Model(limits)
    returned: list[Transfer] = []
    steps = data.draw(st.integers(min_value=1, max_value=25))
    for step in range(steps):
        crossing_id = f"c{step}"
        operation = data.draw(st.sampled_from(["reserve", "post", "release", "import"]))
        known = sorted(model.pending) + sorted(model.resolved)
        if operation in ("post", "release") and known:
            reservation_id = data.draw(st.sampled_from(known))
            if reservation_id in model.resolved:
                with pytest.raises(EntitlementError):
                    if operation == "post":
                        ledger.post(reservation_id, D(0))
                    else:
                        ledger.release(reservation_id)
            else:
                account_id, reserved = model.pending.pop(reservation_id)
                amount = data.draw(
                    AMOUNTS.filter(lambda value, cap=reserved: value <= cap)
                )
                if operation == "post":
                    returned += ledger.post(reservation_id, amount)
                    model.posted[account_id] += amount
                else:
                    returned.append(ledger.release(reservation_id))
                model.reserved[account_id] -= reserved
                model.resolved.add(reservation_id)
        elif operation == "import":
            accounts = data.draw(
                st.lists(st.sampled_from(ACCOUNTS), unique=True, min_size=1)
            )
            requests = [(account, data.draw(AMOUNTS)) for account in accounts]
            before = {account: model.available(account) for account in accounts}
            transfers, overdrafts = ledger.post_within_limit(crossing_id, requests)
            returned += transfers
            expected_overdrafts = [
                Overdraft(account, crossing_id, amount, before[account])
                for account, amount in requests
                if amount > before[account]
            ]
            assert overdrafts == expected_overdrafts
            for account, amount in requests:
                model.posted[account] += min(amount, before[account])
                model.resolved.add(f"{crossing_id}/{account}/reserve")
        else:
            accounts = data.draw(
                st.lists(st.sampled_from(ACCOUNTS), unique=True, min_size=1)
            )
            requests = [(account, data.draw(AMOUNTS)) for account in accounts]
            lacking = [
                (account, amount)
                for account, amount in requests
                if amount > model.available(account)
            ]
            result = ledger.reserve_all(crossing_id, requests)
            if lacking:
                assert [(item.account_id, item.requested) for item in result] == lacking
            else:
                returned += result
                for account, amount in requests:
                    model.reserved[account] += amount
                    model.pending[f"{crossing_id}/{account}/reserve"] = (
                        account,
                        amount,
                    )
        check_balances(ledger, model)
    totals: dict[str, dict[TransferPhase, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for transfer in returned:
        totals[transfer.reservation_id][transfer.phase] += transfer.amount
    for reservation_id in model.resolved:
        phases = totals[reservation_id]
        assert phases[TransferPhase.RESERVE] == (
            phases[TransferPhase.POST] + phases[TransferPhase.RELEASE]
        )
    for reservation_id in model.pending:
        assert totals[reservation_id][TransferPhase.POST] == 0
        assert totals[reservation_id][TransferPhase.RELEASE] == 0
