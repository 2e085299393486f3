"""The entitlement ledger: quotas with two-phase reservations.

Each quota becomes an account per session, participant or tenant. A
crossing first reserves an amount (pending), then posts what it really used
and releases the rest, or releases it all. Limits are checked when the
amount is reserved, so no later posting can overdraw an account: an
account's reserved plus posted amount never exceeds its limit, and no
balance ever goes negative. Transfers are never edited; each reservation is
resolved at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

_ZERO = Decimal(0)

__all__ = [
    "Account",
    "Balance",
    "EntitlementError",
    "EntitlementLedger",
    "Overdraft",
    "Quota",
    "QuotaScope",
    "QuotaUnit",
    "Transfer",
    "TransferPhase",
]


class EntitlementError(ValueError):
    """An entitlement operation that breaks the ledger's rules, such as posting
    more than was reserved or resolving a reservation twice."""


class QuotaScope(StrEnum):
    """Whom a quota limits."""

    SESSION = "session"
    PARTICIPANT = "participant"
    TENANT = "tenant"
    """The tenant's plan: shared by every session of the tenant."""
    GRANT = "grant"
    """A grant's own limit: shared by every crossing that acts under the grant."""


class QuotaUnit(StrEnum):
    """The unit a quota counts."""

    TOKENS = "tokens"
    CROSSINGS = "crossings"
    MONEY = "money"


@dataclass(frozen=True, slots=True)
class Quota:
    """A declared limit, before it is opened as accounts."""

    quota_id: str
    scope: QuotaScope
    unit: QuotaUnit
    limit: Decimal
    currency: str | None = None
    """The currency of a money quota; None for other units."""
    kinds: frozenset[str] = frozenset()
    """Crossing kinds the quota counts; empty counts every kind."""

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise EntitlementError(
                f"quota {self.quota_id!r} has limit {self.limit}; limits start at 0"
            )
        if (self.unit is QuotaUnit.MONEY) != (self.currency is not None):
            raise EntitlementError(
                f"quota {self.quota_id!r}: a money quota needs a currency, and "
                "other units must not have one"
            )

    def applies_to(self, kind: str) -> bool:
        """Check whether the quota counts crossings of ``kind``.

        A quota without kinds counts every kind but the session's closing
        crossing, which the booth makes itself; list ``session_closure`` to
        count it too.
        """
        if not self.kinds:
            return kind != "session_closure"
        return kind in self.kinds


@dataclass(frozen=True, slots=True)
class Account:
    """One quota opened for one session, participant or tenant."""

    account_id: str
    quota: Quota
    scope_key: str
    """The session id, participant id or tenant the account belongs to."""

    def to_json(self) -> dict[str, object]:
        """Return the account as a JSON object."""
        return {
            "account_id": self.account_id,
            "quota_id": self.quota.quota_id,
            "scope": self.quota.scope.value,
            "scope_key": self.scope_key,
            "unit": self.quota.unit.value,
            "currency": self.quota.currency,
            "limit": str(self.quota.limit),
            "kinds": sorted(self.quota.kinds),
        }


class TransferPhase(StrEnum):
    """The step of a two-phase transfer."""

    RESERVE = "reserve"
    POST = "post"
    RELEASE = "release"


@dataclass(slots=True)
class Transfer:
    """One immutable movement on an entitlement account.

    Built on the hot path, once or more per crossing, so it is a plain slots
    dataclass: frozen dataclasses cost about four times as much to build.
    Nothing changes it after it is made.
    """

    transfer_id: str
    account_id: str
    crossing_id: str
    phase: TransferPhase
    amount: Decimal
    reservation_id: str
    """The reserve transfer this one belongs to (its own id for a reservation)."""

    def to_json(self) -> dict[str, object]:
        """Return the transfer as a JSON object."""
        return {
            "transfer_id": self.transfer_id,
            "account_id": self.account_id,
            "crossing_id": self.crossing_id,
            "phase": self.phase.value,
            "amount": str(self.amount),
            "reservation_id": self.reservation_id,
        }


@dataclass(frozen=True, slots=True)
class Overdraft:
    """Usage that an account could not absorb: imported history that ran past
    its quota. The account is not charged the excess; the settlement reports it."""

    account_id: str
    crossing_id: str
    requested: Decimal
    available: Decimal

    @property
    def excess(self) -> Decimal:
        """How far the usage went past what the account had left."""
        return self.requested - self.available

    def to_json(self) -> dict[str, object]:
        """Return the overdraft as a JSON object."""
        return {
            "account_id": self.account_id,
            "crossing_id": self.crossing_id,
            "requested": str(self.requested),
            "available": str(self.available),
            "excess": str(self.excess),
        }


@dataclass
class Balance:
    """The running totals of one account."""

    limit: Decimal
    reserved: Decimal = Decimal(0)
    posted: Decimal = Decimal(0)

    @property
    def available(self) -> Decimal:
        """What the account can still reserve."""
        return self.limit - self.reserved - self.posted

    def check(self) -> None:
        """Assert the account invariants."""
        assert self.reserved >= 0, self
        assert self.posted >= 0, self
        assert self.reserved + self.posted <= self.limit, self


@dataclass
class _Pending:
    account_id: str
    crossing_id: str
    amount: Decimal


@dataclass
class EntitlementLedger:
    """Accounts, balances and transfers of the quotas one booth enforces."""

    accounts: dict[str, Account] = field(default_factory=dict)
    balances: dict[str, Balance] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)
    pending: dict[str, _Pending] = field(default_factory=dict)
    reservation_ids: set[str] = field(default_factory=set)

    def open(self, account: Account, *, posted: Decimal = Decimal(0)) -> None:
        """Open an account, optionally with usage already posted to it earlier."""
        existing = self.accounts.get(account.account_id)
        if existing is not None:
            assert existing == account, (existing, account)
            return
        self.accounts[account.account_id] = account
        # Earlier usage may already exceed the limit: live crossings post what
        # they really used, past their reservation if need be.
        balance = Balance(account.quota.limit, posted=posted)
        assert posted >= 0, (account.account_id, posted)
        self.balances[account.account_id] = balance

    def reserve_all(
        self, crossing_id: str, requests: Sequence[tuple[str, Decimal]]
    ) -> list[Transfer] | list[Overdraft]:
        """Reserve on every account at once, or on none of them.

        Returns:
            The reserve transfers, or, when any account lacks room, the
            overdrafts of the accounts that lack it (nothing is reserved).
        """
        accounts = [account_id for account_id, _ in requests]
        if len(set(accounts)) != len(accounts):
            raise EntitlementError(
                f"crossing {crossing_id} reserves on account "
                f"{next(a for a in accounts if accounts.count(a) > 1)!r} twice; "
                "reserve once per account"
            )
        for account_id, amount in requests:
            if amount < 0:
                raise EntitlementError(
                    f"cannot reserve a negative amount {amount} on {account_id!r}"
                )
            if f"{crossing_id}/{account_id}/reserve" in self.reservation_ids:
                raise EntitlementError(
                    f"crossing {crossing_id} already reserved on {account_id!r}; "
                    "a crossing reserves once per account"
                )
        overdrafts = [
            Overdraft(
                account_id, crossing_id, amount, self.balances[account_id].available
            )
            for account_id, amount in requests
            if amount > self.balances[account_id].available
        ]
        if overdrafts:
            return overdrafts
        return [
            self._reserve(crossing_id, account_id, amount)
            for account_id, amount in requests
        ]

    def _reserve(self, crossing_id: str, account_id: str, amount: Decimal) -> Transfer:
        if amount < 0:
            raise EntitlementError(f"cannot reserve a negative amount {amount}")
        transfer_id = f"{crossing_id}/{account_id}/reserve"
        if transfer_id in self.reservation_ids:
            raise EntitlementError(
                f"reservation {transfer_id!r} already exists; a crossing reserves "
                "once per account"
            )
        balance = self.balances[account_id]
        assert amount <= balance.available
        balance.reserved += amount
        balance.check()
        self.pending[transfer_id] = _Pending(account_id, crossing_id, amount)
        self.reservation_ids.add(transfer_id)
        transfer = Transfer(
            transfer_id,
            account_id,
            crossing_id,
            TransferPhase.RESERVE,
            amount,
            transfer_id,
        )
        self.transfers.append(transfer)
        return transfer

    def post(self, reservation_id: str, amount: Decimal) -> list[Transfer]:
        """Post ``amount`` of a reservation and release the rest.

        Raises:
            EntitlementError: If the reservation is unknown or already
                resolved, or ``amount`` exceeds what was reserved.
        """
        pending = self._take(reservation_id)
        if not Decimal(0) <= amount <= pending.amount:
            self.pending[reservation_id] = pending
            raise EntitlementError(
                f"cannot post {amount} of reservation {reservation_id!r}, which "
                f"reserved {pending.amount}; a posting cannot exceed its reservation"
            )
        balance = self.balances[pending.account_id]
        balance.reserved -= pending.amount
        balance.posted += amount
        balance.check()
        transfers = [
            Transfer(
                f"{reservation_id[: -len('/reserve')]}/post",
                pending.account_id,
                pending.crossing_id,
                TransferPhase.POST,
                amount,
                reservation_id,
            )
        ]
        if amount < pending.amount:
            transfers.append(
                self._release_transfer(reservation_id, pending, pending.amount - amount)
            )
        self.transfers.extend(transfers)
        return transfers

    def release(self, reservation_id: str) -> Transfer:
        """Release a whole reservation, such as at session close."""
        pending = self._take(reservation_id)
        balance = self.balances[pending.account_id]
        balance.reserved -= pending.amount
        balance.check()
        transfer = self._release_transfer(reservation_id, pending, pending.amount)
        self.transfers.append(transfer)
        return transfer

    def post_within_limit(
        self, crossing_id: str, requests: Iterable[tuple[str, Decimal]]
    ) -> tuple[list[Transfer], list[Overdraft]]:
        """Record imported usage: post what each account has room for.

        Imported history already happened, so it cannot be refused. Each
        account is charged up to what it has left; the excess is returned as
        an overdraft instead of driving the balance negative.
        """
        transfers: list[Transfer] = []
        overdrafts: list[Overdraft] = []
        for account_id, amount in requests:
            if amount < 0:
                raise EntitlementError(f"cannot post a negative amount {amount}")
            balance = self.balances[account_id]
            available = max(balance.available, _ZERO)
            charged = amount
            if amount > available:
                overdrafts.append(Overdraft(account_id, crossing_id, amount, available))
                charged = available
            # Reserve and post at once: the reservation is resolved in the
            # same step, so it never shows as pending.
            reservation_id = f"{crossing_id}/{account_id}/reserve"
            if reservation_id in self.reservation_ids:
                raise EntitlementError(
                    f"reservation {reservation_id!r} already exists; a crossing "
                    "reserves once per account"
                )
            self.reservation_ids.add(reservation_id)
            balance.posted += charged
            if charged:
                # An account opened already overdrawn takes nothing more, so
                # only a posting that charged something can break the limit.
                balance.check()
            posted = [
                Transfer(
                    reservation_id,
                    account_id,
                    crossing_id,
                    TransferPhase.RESERVE,
                    charged,
                    reservation_id,
                ),
                Transfer(
                    f"{crossing_id}/{account_id}/post",
                    account_id,
                    crossing_id,
                    TransferPhase.POST,
                    charged,
                    reservation_id,
                ),
            ]
            transfers.extend(posted)
            self.transfers.extend(posted)
        return transfers, overdrafts

    def restore(self, transfers: Iterable[Transfer]) -> None:
        """Add transfers another ledger already made and checked, such as the
        live booth's, so the settlement can add them up.

        Limits are not checked again: the live ledger checked them when each
        reservation was made, against the balance every session shares.
        A reservation that the transfers leave unresolved stays pending.
        """
        for transfer in transfers:
            self.transfers.append(transfer)
            balance = self.balances.get(transfer.account_id)
            if transfer.phase is TransferPhase.RESERVE:
                self.reservation_ids.add(transfer.reservation_id)
                self.pending[transfer.reservation_id] = _Pending(
                    transfer.account_id, transfer.crossing_id, transfer.amount
                )
                if balance is not None:
                    balance.reserved += transfer.amount
                continue
            pending = self.pending.get(transfer.reservation_id)
            if pending is not None:
                pending.amount -= transfer.amount
                if pending.amount <= 0:
                    del self.pending[transfer.reservation_id]
            if balance is not None:
                balance.reserved -= transfer.amount
                if transfer.phase is TransferPhase.POST:
                    balance.posted += transfer.amount

    def pending_for(self, account_ids: Iterable[str]) -> list[str]:
        """Return the open reservations on the given accounts, oldest first."""
        wanted = set(account_ids)
        return [key for key, item in self.pending.items() if item.account_id in wanted]

    def _take(self, reservation_id: str) -> _Pending:
        pending = self.pending.pop(reservation_id, None)
        if pending is None:
            raise EntitlementError(
                f"reservation {reservation_id!r} is unknown or already posted or "
                "released; each reservation is resolved once"
            )
        return pending

    @staticmethod
    def _release_transfer(
        reservation_id: str, pending: _Pending, amount: Decimal
    ) -> Transfer:
        return Transfer(
            f"{reservation_id[: -len('/reserve')]}/release",
            pending.account_id,
            pending.crossing_id,
            TransferPhase.RELEASE,
            amount,
            reservation_id,
        )
