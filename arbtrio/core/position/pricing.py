"""Execution pricing and sizing: pure functions of the spec and the latest quotes.

The reference price is what a side would trade at now; a limit is the reference worsened by
a slippage and rounded in the cap direction; a quantity is tradable if the venue would take
an IOC for it; the correction of an imbalance is the chase and reverse quantities.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from arbtrio.core.events import LegRole, Quote
from arbtrio.core.instruments import floor_qty, round_price
from arbtrio.core.position.policy import PositionSpec
from arbtrio.core.types import Side

_ZERO = Decimal(0)
_BPS = Decimal(10_000)


def entry_side(leg: LegRole) -> Side:
    return Side.BUY if leg == "long" else Side.SELL


def exit_side(leg: LegRole) -> Side:
    return Side.SELL if leg == "long" else Side.BUY


def reference_price(
    spec: PositionSpec, quotes: Mapping[str, Quote], leg: LegRole, side: Side
) -> Decimal:
    """The price ``side`` would trade at now on ``leg``'s venue: the latest quote's ask for a
    buy, bid for a sell; the spec's reference price until a quote arrives."""
    quote = quotes.get(spec.instrument(leg).venue)
    if quote is not None:
        return quote.ask if side is Side.BUY else quote.bid
    return spec.long_price if leg == "long" else spec.short_price


def capped_limit(
    spec: PositionSpec, leg: LegRole, side: Side, bps: Decimal, reference: Decimal
) -> Decimal:
    """``reference`` worsened by ``bps`` and rounded in the cap direction (a buy down, a sell
    up), so the cap is never exceeded."""
    inst = spec.instrument(leg)
    if side is Side.BUY:
        return round_price(inst, reference * (1 + bps / _BPS), "down")
    return round_price(inst, reference * (1 - bps / _BPS), "up")


def tradable_qty(
    spec: PositionSpec,
    quotes: Mapping[str, Quote],
    leg: LegRole,
    qty: Decimal,
    reduce_only: bool,
) -> Decimal:
    """``qty`` floored to the leg's lot if the venue would take it, else 0.

    An opening order (entry, chase) must clear the minimum size and the minimum notional
    at the current reference price; a reduce-only order (reverse, close) only the minimum
    size, so that a price move never makes a position it opened uncloseable in the
    machine's eyes (a venue that still refuses it is bounded by the retry budget).
    """
    inst = spec.instrument(leg)
    q = floor_qty(inst, qty)
    if q <= 0 or q < inst.min_size:
        return _ZERO
    if not reduce_only:
        reference = reference_price(spec, quotes, leg, entry_side(leg))
        if q * reference < inst.min_notional:
            return _ZERO
    return q


def close_qty(
    spec: PositionSpec, quotes: Mapping[str, Quote], leg: LegRole, held: Decimal
) -> Decimal:
    """What a reduce-only order can close of ``held`` (0 when nothing is held)."""
    return tradable_qty(spec, quotes, leg, held, reduce_only=True) if held > 0 else _ZERO


def correction(
    spec: PositionSpec, quotes: Mapping[str, Quote], d: Decimal
) -> tuple[Decimal, Decimal] | None:
    """For imbalance ``d`` (long held − short held): (chase qty on the lagging leg, reverse
    qty on the leading leg), or None if neither can trade."""
    if d == 0:
        return None
    lagging: LegRole = "short" if d > 0 else "long"
    leading: LegRole = "long" if d > 0 else "short"
    chase = tradable_qty(spec, quotes, lagging, abs(d), reduce_only=False)
    reverse = tradable_qty(spec, quotes, leading, abs(d), reduce_only=True)
    if chase == 0 and reverse == 0:
        return None
    return chase, reverse
