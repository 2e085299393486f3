"""Tests for exact decimal money and decimal parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.model import Money, parse_decimal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.50", Decimal("12.50")),
        ("0.0000001", Decimal("0.0000001")),
        (7, Decimal(7)),
        (Decimal("-3.25"), Decimal("-3.25")),
        ("1e-3", Decimal("0.001")),
    ],
)
def test_parse_decimal_exact(value: object, expected: Decimal) -> None:
    assert parse_decimal(value, field="price") == expected


@pytest.mark.parametrize("value", [0.1, 1.0, True, False])
def test_parse_decimal_float_bool_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="price="):
        parse_decimal(value, field="price")


@pytest.mark.parametrize("value", ["twelve", "", "1,50"])
def test_parse_decimal_text_rejected(value: str) -> None:
    with pytest.raises(ValueError, match="not a decimal number"):
        parse_decimal(value, field="price")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", Decimal("sNaN")])
def test_parse_decimal_non_finite_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="not finite"):
        parse_decimal(value, field="price")


@pytest.mark.parametrize("value", [None, [1], {"amount": "1"}])
def test_parse_decimal_other_types_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="has type"):
        parse_decimal(value, field="price")


def test_money_add_same_currency() -> None:
    total = Money(Decimal("0.10"), "USD") + Money(Decimal("0.20"), "USD")
    assert total == Money(Decimal("0.30"), "USD")


def test_money_subtract_same_currency() -> None:
    difference = Money(Decimal("1.00"), "EUR") - Money(Decimal("0.25"), "EUR")
    assert difference == Money(Decimal("0.75"), "EUR")


@pytest.mark.parametrize("operation", ["add", "subtract"])
def test_money_mixed_currency_rejected(operation: str) -> None:
    usd = Money(Decimal(1), "USD")
    eur = Money(Decimal(1), "EUR")
    with pytest.raises(ValueError, match="USD and EUR"):
        if operation == "add":
            usd + eur
        else:
            usd - eur


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "", "U$D"])
def test_money_invalid_currency_rejected(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(Decimal(1), currency)


def test_money_float_amount_rejected() -> None:
    with pytest.raises(TypeError):
        Money(0.1, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "Infinity"])
def test_money_non_finite_rejected(amount: str) -> None:
    with pytest.raises(ValueError, match="finite"):
        Money(Decimal(amount), "USD")


def test_money_zero_amount() -> None:
    assert Money.zero("JPY") == Money(Decimal(0), "JPY")


def test_money_parse_text() -> None:
    assert Money.parse("0.0125", "USD") == Money(Decimal("0.0125"), "USD")


def test_money_parse_float_rejected() -> None:
    with pytest.raises(ValueError, match="cost="):
        Money.parse(0.5, "USD", field="cost")


def test_money_text_forms() -> None:
    money = Money(Decimal("0.0250"), "USD")
    assert str(money) == "0.0250 USD"
    assert money.to_json() == {"amount": "0.0250", "currency": "USD"}


_AMOUNTS = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=6
)


@settings(max_examples=200)
@given(st.lists(_AMOUNTS, min_size=1, max_size=20))
def test_money_sum_exact_property(amounts: list[Decimal]) -> None:
    """Adding Money gives the exact decimal sum, whatever the order."""
    total = Money.zero("USD")
    for amount in amounts:
        total = total + Money(amount, "USD")
    reverse = Money.zero("USD")
    for amount in reversed(amounts):
        reverse = reverse + Money(amount, "USD")
    assert total.amount == sum(amounts, Decimal(0))
    assert reverse == total


@settings(max_examples=200)
@given(_AMOUNTS)
def test_money_json_round_trip(amount: Decimal) -> None:
    money = Money(amount, "USD")
    data = money.to_json()
    assert Money.parse(data["amount"], data["currency"]) == money
