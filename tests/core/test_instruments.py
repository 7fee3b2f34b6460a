"""Instruments: joint sizing, Hyperliquid and tick price rounding, contracts, formatting."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from math import gcd, lcm

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.instruments import (
    Instrument,
    Rounding,
    floor_qty,
    format_decimal,
    from_contracts,
    is_valid_price,
    joint_size,
    joint_step,
    round_price,
    to_contracts,
)

D = Decimal


HL_MIN_NOTIONAL = D(10)  # venues/hyperliquid.md §2.5: $10 minimum order value


def hyperliquid(sz_decimals: int, min_notional: Decimal = HL_MIN_NOTIONAL) -> Instrument:
    return Instrument(
        venue="hyperliquid",
        symbol="X",
        asset="X",
        quote="USDC",
        tick_size=D(1).scaleb(-(6 - sz_decimals)),
        lot_size=D(1).scaleb(-sz_decimals),
        min_size=D(0),
        min_notional=min_notional,
        taker_fee=D("0.00045"),
        maker_fee=D("0.00015"),
        funding_interval_hours=1,
        sig_figs=5,
        max_price_decimals=6 - sz_decimals,
    )


def contract_venue(venue: str, multiplier: Decimal, contracts_step: int = 1) -> Instrument:
    lot = multiplier * contracts_step
    return Instrument(
        venue=venue,
        symbol="X_USDT",
        asset="X",
        quote="USDT",
        tick_size=D("0.1"),
        lot_size=lot,
        min_size=lot,
        min_notional=D(0),
        taker_fee=D("0.0005"),
        maker_fee=D("0.0002"),
        funding_interval_hours=8,
        contract_multiplier=multiplier,
    )


def coin_venue(lot: Decimal, min_size: Decimal, min_notional: Decimal) -> Instrument:
    return Instrument(
        venue="bybit",
        symbol="XUSDT",
        asset="X",
        quote="USDT",
        tick_size=D("0.01"),
        lot_size=lot,
        min_size=min_size,
        min_notional=min_notional,
        taker_fee=D("0.00055"),
        maker_fee=D("0.0002"),
        funding_interval_hours=8,
    )


# -- strategies -----------------------------------------------------------------------------
multipliers = st.sampled_from(["0.0001", "0.001", "0.01", "0.1", "1", "10"]).map(D)


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    kind = draw(st.sampled_from(["hyperliquid", "gateio", "kucoin", "coin"]))
    if kind == "hyperliquid":
        inst = hyperliquid(draw(st.integers(0, 5)), draw(st.sampled_from([D(0), D(10)])))
    elif kind in ("gateio", "kucoin"):  # Gate BTC 0.0001, KuCoin XBT 0.001 per contract
        inst = contract_venue(kind, draw(multipliers), draw(st.sampled_from([1, 1, 10])))
    else:
        mantissa = draw(st.sampled_from([1, 2, 5, 25]))
        lot = D(mantissa).scaleb(draw(st.integers(-5, 2)))
        inst = coin_venue(lot, lot, D(0))
    # Minimums: none, one lot, or a few lots; notionals of 0, 5, 10 or 100.
    return attrs.evolve(
        inst,
        min_size=inst.lot_size * draw(st.sampled_from([0, 1, 3, 20])),
        min_notional=draw(st.sampled_from([inst.min_notional, D(0), D(5), D(10), D(100)])),
    )


prices = st.decimals(min_value=D("0.01"), max_value=D(200_000), places=2)


def _lcm(a: Decimal, b: Decimal) -> Fraction:
    fa, fb = Fraction(a), Fraction(b)  # lowest terms
    return Fraction(lcm(fa.numerator, fb.numerator), gcd(fa.denominator, fb.denominator))


def _clears_minimums(inst: Instrument, qty: Fraction, price: Decimal) -> bool:
    return qty > 0 and qty >= Fraction(inst.min_size) and qty * Fraction(price) >= inst.min_notional


# -- joint sizing ---------------------------------------------------------------------------
@given(
    a=instruments(),
    b=instruments(),
    steps=st.integers(min_value=0, max_value=400),
    frac=st.decimals(min_value=0, max_value=D("0.999"), places=3),
    pa=prices,
    pb=prices,
)
def test_joint_size_is_an_exact_common_multiple_clearing_every_minimum(
    a: Instrument, b: Instrument, steps: int, frac: Decimal, pa: Decimal, pb: Decimal
) -> None:
    step = _lcm(a.lot_size, b.lot_size)
    # A target anywhere from below one joint step to a few hundred of them, off the grid.
    target = D(step.numerator) / D(step.denominator) * (steps + frac)
    qty = joint_size(a, b, target, pa, pb)
    assert Fraction(joint_step(a, b)) == step
    largest = (Fraction(target) // step) * step  # the largest common multiple <= target
    if qty is None:
        # No trade: the largest candidate fails, and minimums only bound from below, so
        # check a run of smaller multiples too.
        k = int(largest / step)
        for j in range(k, max(k - 200, 0), -1):
            q = step * j
            assert not (_clears_minimums(a, q, pa) and _clears_minimums(b, q, pb))
        return
    assert qty > 0 and qty <= target
    assert (Fraction(qty) / Fraction(a.lot_size)).denominator == 1
    assert (Fraction(qty) / Fraction(b.lot_size)).denominator == 1
    assert Fraction(qty) == largest
    assert _clears_minimums(a, Fraction(qty), pa)
    assert _clears_minimums(b, Fraction(qty), pb)
    # Exact and plain, so it formats for the wire without an exponent.
    assert "E" not in str(qty)


def test_joint_size_of_gate_contracts_and_hyperliquid() -> None:
    gate = contract_venue("gateio", D("0.0001"))  # BTC_USDT: 1 contract = 0.0001 BTC
    hl = hyperliquid(5)  # BTC szDecimals 5
    assert joint_step(gate, hl) == D("0.0001")
    assert joint_size(gate, hl, D("0.123456"), D(65000), D(65010)) == D("0.1234")


def test_joint_size_of_kucoin_contracts_and_bybit_lots() -> None:
    kucoin = contract_venue("kucoin", D("0.001"))  # XBTUSDTM: 1 contract = 0.001 BTC
    bybit = coin_venue(D("0.001"), D("0.001"), D(5))
    assert joint_size(kucoin, bybit, D("0.0199"), D(65000), D(65000)) == D("0.019")


def test_joint_step_is_the_least_common_multiple_not_the_larger_lot() -> None:
    a = coin_venue(D("0.25"), D(0), D(0))
    b = coin_venue(D("0.1"), D(0), D(0))
    assert joint_step(a, b) == D("0.5")
    assert joint_size(a, b, D("1.4"), D(1), D(1)) == D(1)


def test_no_trade_when_a_leg_would_round_to_zero() -> None:
    hl = hyperliquid(2)
    bybit = coin_venue(D("0.01"), D("0.01"), D(0))
    assert joint_size(hl, bybit, D("0.009"), D(3000), D(3000)) is None


def test_no_trade_below_hyperliquid_ten_dollar_minimum() -> None:
    hl = hyperliquid(3)
    bybit = coin_venue(D("0.001"), D("0.001"), D(5))
    assert joint_size(hl, bybit, D("0.003"), D(3000), D(3000)) is None  # $9
    assert joint_size(hl, bybit, D("0.004"), D(3000), D(3000)) == D("0.004")  # $12


def test_no_trade_for_a_non_positive_target() -> None:
    hl = hyperliquid(3)
    assert joint_size(hl, hl, D(0), D(1), D(1)) is None
    assert joint_size(hl, hl, D(-1), D(1), D(1)) is None


# -- Hyperliquid price rounding -------------------------------------------------------------
# venues/hyperliquid.md §2.5, verbatim: "Integer prices are always allowed regardless of
# significant figures (`123456` is valid, `12345.6` is not). Examples from the docs (perp):
# `1234.5` is valid and `1234.56` is not. `0.001234` is valid and `0.0012345` is not. With
# szDecimals = 1, `0.01234` is valid and `0.012345` is not."
@pytest.mark.parametrize(
    ("sz_decimals", "price", "valid"),
    [
        (0, "123456", True),
        (0, "12345.6", False),
        (0, "1234.5", True),
        (0, "1234.56", False),
        (0, "0.001234", True),
        (0, "0.0012345", False),
        (1, "0.01234", True),
        (1, "0.012345", False),
        # hummingbot PR #8356: ARB (szDecimals 1) 0.094605 has 6 decimals, more than 5.
        (1, "0.094605", False),
    ],
)
def test_hyperliquid_documented_price_validity(sz_decimals: int, price: str, valid: bool) -> None:
    assert is_valid_price(hyperliquid(sz_decimals), D(price)) is valid


# The same section's ccxt fixtures (input → wire string) and the SDK's ARB result.
@pytest.mark.parametrize(
    ("sz_decimals", "price", "wire"),
    [
        (5, "100000.42343243", "100000"),  # BTC
        (5, "70956.12312321", "70956"),  # BTC
        (4, "3500.12345", "3500.1"),  # ETH
        (0, "0.043423423434", "0.043423"),  # MEME
        (1, "0.094605", "0.0946"),  # ARB, the SDK recipe's answer
    ],
)
def test_hyperliquid_documented_rounding_examples(sz_decimals: int, price: str, wire: str) -> None:
    rounded = round_price(hyperliquid(sz_decimals), D(price), "nearest")
    assert format_decimal(rounded) == wire


def test_hyperliquid_rounding_carries_into_a_new_digit() -> None:
    hl = hyperliquid(0)
    assert format_decimal(round_price(hl, D("9.99996"), "nearest")) == "10"
    assert format_decimal(round_price(hl, D("99999.7"), "up")) == "100000"


def _decimals(p: Decimal) -> int:
    exponent = p.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _hl_valid(p: Decimal, sz_decimals: int) -> bool:
    """Independent statement of the rule: decimals ≤ 6 − szDecimals, and ≤ 5 significant
    figures unless the price is an integer."""
    if p <= 0 or _decimals(p) > 6 - sz_decimals:
        return False
    if p == p.to_integral_value():
        return True
    return len(p.normalize().as_tuple().digits) <= 5


def _reference(p: Decimal, sz_decimals: int, mode: str) -> Decimal:
    """Brute force: the closest valid price on the side ``mode`` asks for.

    The answer has some number d ≤ 6 − szDecimals of decimals, and is then the floor (or
    ceiling) of p to 10^−d (see the test for why), so trying every d is exhaustive.
    """
    rounding = ROUND_FLOOR if mode == "down" else ROUND_CEILING
    candidates = [
        p.quantize(D(1).scaleb(-d), rounding=rounding) for d in range(0, 6 - sz_decimals + 1)
    ]
    valid = [c for c in candidates if _hl_valid(c, sz_decimals)]
    return max(valid) if mode == "down" else min(valid)


hl_prices = st.builds(
    lambda mantissa, exp: D(mantissa).scaleb(exp),
    st.integers(min_value=1, max_value=10**9),
    st.integers(min_value=-12, max_value=0),
)


@given(sz=st.integers(0, 5), price=hl_prices, mode=st.sampled_from(["down", "up", "nearest"]))
def test_hyperliquid_rounding_is_valid_direction_correct_and_closest(
    sz: int, price: Decimal, mode: Rounding
) -> None:
    inst = hyperliquid(sz)
    if price < D(1).scaleb(-(6 - sz)):
        price += D(1).scaleb(-(6 - sz))  # below the finest step every "down" is zero
    rounded = round_price(inst, price, mode)
    assert _hl_valid(rounded, sz), rounded
    assert is_valid_price(inst, rounded)
    down, up = _reference(price, sz, "down"), _reference(price, sz, "up")
    if mode == "down":
        assert rounded == down
    elif mode == "up":
        assert rounded == up
    else:
        assert rounded in (down, up)
        assert abs(rounded - price) <= min(price - down, up - price)
    for again in ("down", "up", "nearest"):  # idempotent
        assert round_price(inst, rounded, again) == rounded


@given(
    tick=st.sampled_from(["0.1", "0.01", "0.5", "0.0001", "1", "0.25"]).map(D),
    price=st.decimals(min_value=D("0.001"), max_value=D(100_000), places=5),
)
def test_tick_venue_rounding_lands_on_the_tick_in_the_asked_direction(
    tick: Decimal, price: Decimal
) -> None:
    inst = attrs.evolve(coin_venue(D(1), D(0), D(0)), tick_size=tick)
    down, up = round_price(inst, price, "down"), round_price(inst, price, "up")
    nearest = round_price(inst, price, "nearest")
    for r in (down, up, nearest):
        assert (r / tick) == (r / tick).to_integral_value()
    assert down <= price <= up
    assert up - down in (D(0), tick)
    assert nearest in (down, up)


# -- sizes, contracts, formatting -----------------------------------------------------------
def test_hyperliquid_size_decimals_floor() -> None:
    # §2.5: "szDecimals = 3 → 1.001 is valid, 1.0001 is not"; arbtrio floors, never rounds up.
    hl = hyperliquid(3)
    assert floor_qty(hl, D("1.001")) == D("1.001")
    assert floor_qty(hl, D("1.0001")) == D(1)
    assert floor_qty(hl, D("0.0009")) == 0  # dust is zero, never a size of "0" sent on


def test_contracts_round_trip_for_gate_and_kucoin() -> None:
    gate = contract_venue("gateio", D("0.0001"))
    assert to_contracts(gate, D("0.0123")) == D(123)
    assert from_contracts(gate, D(123)) == D("0.0123")
    kucoin = contract_venue("kucoin", D("0.001"), contracts_step=1)
    assert to_contracts(kucoin, D("0.5")) == D(500)
    with pytest.raises(ValueError, match="multiple of the lot"):
        to_contracts(kucoin, D("0.0005"))


def test_format_decimal_has_no_exponent_and_no_trailing_zeros() -> None:
    assert format_decimal(D("100.0")) == "100"
    assert format_decimal(D("1E+5")) == "100000"
    assert format_decimal(D("1670.10")) == "1670.1"
    assert format_decimal(D("0.00010")) == "0.0001"
    assert format_decimal(D("-0")) == "0"


def test_instrument_rejects_non_positive_steps_by_name() -> None:
    with pytest.raises(ValueError, match="lot_size"):
        coin_venue(D(0), D(0), D(0))
