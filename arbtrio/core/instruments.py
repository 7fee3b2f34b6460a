"""Instruments and exact quantisation of prices and sizes.

Sizes are base units everywhere in the core. A contract venue (Gate.io, KuCoin) reports its
multiplier, and ``lot_size`` here is already ``contracts_step × multiplier`` in base units,
so the core never sees a contract count. Venue adapters convert with :func:`to_contracts`
and :func:`from_contracts`.

Prices round to the instrument's tick, except where the venue uses significant figures
(Hyperliquid: at most 5 significant figures and at most ``6 − szDecimals`` decimals, an
integer price always allowed); then ``sig_figs`` and ``max_price_decimals`` are set and the
tick depends on the price.
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Literal

import attrs

Rounding = Literal["down", "up", "nearest"]
_MODES = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_EVEN}


@attrs.frozen(kw_only=True, cache_hash=True)  # hashed on every detector call (pair cache)
class Instrument:
    """One tradable perpetual on one venue, with everything sizing and pricing need."""

    venue: str
    symbol: str  # the venue's own symbol
    asset: str  # canonical base asset, e.g. "BTC" (KuCoin's XBT is "BTC" here)
    quote: str  # "USDC" on Hyperliquid, "USDT" on the CEXs
    tick_size: Decimal  # price step; for sig-fig venues the finest step allowed
    lot_size: Decimal  # size step in base units (contract multiplier included)
    min_size: Decimal  # minimum order size in base units
    min_notional: Decimal  # minimum order value in quote units (0 when none)
    taker_fee: Decimal  # fraction, e.g. Decimal("0.00045")
    maker_fee: Decimal
    funding_interval_hours: int
    contract_multiplier: Decimal = Decimal(1)  # base units per contract; 1 on coin venues
    sig_figs: int | None = None  # Hyperliquid: 5
    max_price_decimals: int | None = None  # Hyperliquid: 6 − szDecimals
    max_leverage: int | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "contract_multiplier"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{self.venue}:{self.symbol}: {name} must be > 0, got {value}")
        if self.min_size < 0 or self.min_notional < 0:
            raise ValueError(f"{self.venue}:{self.symbol}: minimums must be >= 0")

    @property
    def key(self) -> tuple[str, str]:
        return (self.venue, self.symbol)


def _quantize_to_step(value: Decimal, step: Decimal, rounding: Rounding) -> Decimal:
    units = (value / step).to_integral_value(rounding=_MODES[rounding])
    return _plain(units * step) if units else Decimal(0)


def step_multiple(step: Decimal, units: int) -> Decimal:
    """``units × step`` in the form every quantiser here returns (plain, no trailing zeros)."""
    return _plain(step * units) if units else Decimal(0)


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and without an exponent (1E+5 stays 100000)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def price_step(inst: Instrument, price: Decimal) -> Decimal:
    """The price increment allowed at ``price`` (constant for tick venues)."""
    if inst.sig_figs is None:
        return inst.tick_size
    if price <= 0:
        return inst.tick_size
    # Significant figures: step = 10^(exponent of leading digit − sig_figs + 1), but an
    # integer price is always allowed, so the step never exceeds 1 by this rule ... except
    # that integers are *allowed*, not required: prices ≥ 10^sig_figs step by 1.
    return _sig_fig_step(price.adjusted() - inst.sig_figs + 1, inst.max_price_decimals)


@functools.lru_cache(maxsize=256)  # a few exponents per instrument; every order prices here
def _sig_fig_step(exponent: int, max_price_decimals: int | None) -> Decimal:
    step = Decimal(1).scaleb(min(exponent, 0))
    if max_price_decimals is not None:
        step = max(step, Decimal(1).scaleb(-max_price_decimals))
    return step


def round_price(inst: Instrument, price: Decimal, rounding: Rounding = "nearest") -> Decimal:
    """Round ``price`` to a price the venue accepts.

    Use ``"down"`` for a buy limit and ``"up"`` for a sell limit when the price is a cap that
    must not be exceeded; ``"up"`` for a buy and ``"down"`` for a sell to be more aggressive.
    """
    step = price_step(inst, price)
    rounded = _quantize_to_step(price, step, rounding)
    if (
        inst.sig_figs is not None
        and rounded > 0
        and not (
            price > 0 and rounded.adjusted() == price.adjusted()  # same leading digit: same step
        )
    ):
        # Rounding can carry into a new leading digit (99999.5 -> 100000): re-check the step.
        step2 = price_step(inst, rounded)
        if step2 != step:
            rounded = _quantize_to_step(rounded, step2, rounding)
    return rounded


def is_valid_price(inst: Instrument, price: Decimal) -> bool:
    return price > 0 and round_price(inst, price, "down") == price


def floor_qty(inst: Instrument, qty: Decimal) -> Decimal:
    """The largest multiple of the lot not above ``qty`` (never negative)."""
    if qty <= 0:
        return Decimal(0)
    return _quantize_to_step(qty, inst.lot_size, "down")


def tradable_qty(inst: Instrument, qty: Decimal, price: Decimal) -> bool:
    """Whether ``qty`` at ``price`` is an exact lot multiple clearing both minimums."""
    return (
        qty > 0
        and floor_qty(inst, qty) == qty
        and qty >= inst.min_size
        and qty * price >= inst.min_notional
    )


@functools.lru_cache(maxsize=4096)  # the detector sizes every candidate pair on a book change
def _decimal_lcm(a: Decimal, b: Decimal) -> Decimal:
    exp = min(a.normalize().as_tuple().exponent, b.normalize().as_tuple().exponent)
    assert isinstance(exp, int)
    scale = Decimal(1).scaleb(-exp)
    ia, ib = int(a * scale), int(b * scale)
    return _plain(Decimal(math.lcm(ia, ib)) / scale)


def joint_step(a: Instrument, b: Instrument) -> Decimal:
    """The smallest base quantity that both instruments can trade exactly."""
    return _decimal_lcm(a.lot_size, b.lot_size)


def joint_size(
    a: Instrument, b: Instrument, target_qty: Decimal, price_a: Decimal, price_b: Decimal
) -> Decimal | None:
    """The largest base quantity ≤ ``target_qty`` tradable exactly on both venues.

    Returns ``None`` (no trade) when that quantity is zero or falls below either venue's
    minimum size or minimum notional at the given prices. Minimums only bound from below,
    so if the largest candidate fails, every smaller one fails too.
    """
    if target_qty <= 0:
        return None
    qty = _quantize_to_step(target_qty, joint_step(a, b), "down")
    if qty <= 0:
        return None
    if not (tradable_qty(a, qty, price_a) and tradable_qty(b, qty, price_b)):
        return None
    return qty


def to_contracts(inst: Instrument, qty: Decimal) -> Decimal:
    """Base units → the venue's contracts (or lots). Exact; raises if not a whole step."""
    contracts = qty / inst.contract_multiplier
    lot_contracts = inst.lot_size / inst.contract_multiplier
    if (contracts / lot_contracts) != (contracts / lot_contracts).to_integral_value():
        raise ValueError(f"{inst.venue}:{inst.symbol}: {qty} is not a multiple of the lot")
    return _plain(contracts)


def from_contracts(inst: Instrument, contracts: Decimal) -> Decimal:
    """The venue's contracts (or lots) → base units."""
    return _plain(contracts * inst.contract_multiplier)


def format_decimal(value: Decimal) -> str:
    """Plain decimal string with no exponent and no trailing zeros ("0.001", "65000")."""
    text = format(_plain(value), "f")
    return text if text != "-0" else "0"
