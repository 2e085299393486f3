"""Money: an exact decimal amount in an ISO 4217 currency."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

__all__ = ["DECIMAL_DIGITS_MAX", "Money", "is_currency_code", "parse_decimal"]

_CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DECIMAL_DIGITS_MAX = 28
"""Maximum number of digits of an amount before, and after, the decimal point.

28 is the precision of Python's default decimal context. Sums and products of
a few such amounts stay far below the context's exponent limit (999999), so
they cannot raise ``decimal.Overflow``."""


def is_currency_code(value: object) -> bool:
    """Return whether a value has the shape of an ISO 4217 code: three ASCII
    capital letters."""
    return isinstance(value, str) and _CURRENCY_PATTERN.fullmatch(value) is not None


def parse_decimal(value: object, *, field: str) -> Decimal:
    """Parse an exact decimal from a string, int or Decimal; floats are rejected.

    Args:
        value: The value to parse.
        field: The name reported in the error when the value is invalid.

    Raises:
        ValueError: If the value is a float, a bool, not a finite decimal, or
            has more than ``DECIMAL_DIGITS_MAX`` digits before or after the
            decimal point.
    """
    if isinstance(value, bool | float):
        raise ValueError(
            f"{field}={value!r} is a {type(value).__name__}; money and quantities "
            'must be exact: write it as a string such as "0.10"'
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(
                f'{field}={value!r} is not a decimal number; write it like "12.50"'
            ) from None
    else:
        raise ValueError(
            f"{field}={value!r} has type {type(value).__name__}; expected a decimal "
            'string such as "12.50"'
        )
    if not result.is_finite():
        raise ValueError(f"{field}={value!r} is not finite; expected a decimal amount")
    if not result.is_zero() and result.adjusted() >= DECIMAL_DIGITS_MAX:
        raise ValueError(
            f"{field}={value!r} is too large; amounts have at most "
            f"{DECIMAL_DIGITS_MAX} digits before the decimal point"
        )
    if int(result.as_tuple().exponent) < -DECIMAL_DIGITS_MAX:
        raise ValueError(
            f"{field}={value!r} has too many decimal places; amounts have at most "
            f"{DECIMAL_DIGITS_MAX} digits after the decimal point"
        )
    return result


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of one currency.

    Arithmetic is only defined between amounts of the same currency, so a sum
    of USD and EUR raises instead of producing a meaningless number.
    """

    amount: Decimal
    currency: str
    _json: dict[str, str] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(
                f"Money.amount={self.amount!r} must be a Decimal, not "
                f"{type(self.amount).__name__}"
            )
        if not self.amount.is_finite():
            raise ValueError(f"Money.amount={self.amount!r} must be finite")
        if not is_currency_code(self.currency):
            raise ValueError(
                f"Money.currency={self.currency!r} is not an ISO 4217 code; "
                'expected three capital letters such as "USD"'
            )

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return zero in the given currency."""
        return cls(Decimal(0), currency)

    @classmethod
    def parse(cls, amount: object, currency: str, *, field: str = "amount") -> Money:
        """Build an amount from a decimal string, int or Decimal."""
        return cls(parse_decimal(amount, field=field), currency)

    def _check_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(
                f"cannot combine {self.currency} and {other.currency} amounts; "
                "keep one total per currency"
            )

    def __add__(self, other: Money) -> Money:
        self._check_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def to_json(self) -> dict[str, str]:
        """Return the amount as a JSON object with a decimal string.

        The object is built once and shared: callers must not change it.
        """
        if self._json is None:
            object.__setattr__(
                self, "_json", {"amount": str(self.amount), "currency": self.currency}
            )
        assert self._json is not None
        return self._json
