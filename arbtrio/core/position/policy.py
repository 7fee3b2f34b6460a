"""What to open and how to execute it: :class:`ExecutionPolicy` and :class:`PositionSpec`.

Both are frozen and validated when built, so the machine never meets a policy or a spec it
cannot act on (every client order id it will derive is encodable, the entry quantity is
tradable on both venues, no slippage reaches half the price).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import attrs

from arbtrio.core.events import LegRole
from arbtrio.core.ids import encode_client_order_id
from arbtrio.core.instruments import Instrument, floor_qty

_BPS = Decimal(10_000)
_ZERO = Decimal(0)


def _dec_ge0(inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"ExecutionPolicy.{attribute.name} must be a Decimal >= 0, got {value!r}")


def _dec_gt0(inst: object, attribute: attrs.Attribute[Decimal], value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"ExecutionPolicy.{attribute.name} must be a Decimal > 0, got {value!r}")


def _float_gt0(inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:  # also refuses NaN
        raise ValueError(f"ExecutionPolicy.{attribute.name} must be > 0, got {value!r}")


def _int_ge(minimum: int) -> Any:
    def check(inst: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"ExecutionPolicy.{attribute.name} must be an int >= {minimum}, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class ExecutionPolicy:
    """Single-leg and closing policy. Slippages are bps of the reference price.

    * entry: limit = reference ± ``entry_slippage_bps``.
    * chase (lagging leg, more of the entry side): ± ``entry_slippage_bps +
      chase_extra_slippage_bps`` around the latest quote; at most ``chase_attempts`` orders,
      none sent later than ``chase_ttl_s`` after the first chase.
    * reverse (leading leg, reduce-only): attempt k (0-based) at ``reverse_slippage_bps +
      k·close_slippage_step_bps``; at most ``reverse_attempts`` orders.
    * close (each leg, reduce-only): attempt k at ``close_slippage_bps +
      k·close_slippage_step_bps``.
    * bounds (spec 001, "Bounded limits"): an entry limit is at most half the position's
      edge from its reference (``PositionSpec.edge_bps``); a chase keeps the pair within
      ``unwind_loss_budget_bps`` of the leading leg's average fill; a reverse or close is
      never more than ``max_exit_slippage_bps`` from the current quote.
    * pacing of exits (reverse, close): after an IOC that expired, the next attempt goes at
      once while the fast budget lasts (``reverse_attempts``, ``close_attempts``); after a
      rejection, or once the fast budget is spent, attempts are retried without end, the
      n-th after ``min(retry_backoff_s·2ⁿ, retry_backoff_max_s)`` and only while the venue
      quotes; a venue that quotes again after a gap is retried at once.
    * ``query_after_s``: a live order with no news for this long is queried by client id
      (and again every ``query_after_s``); an unknown outcome is queried at once.
    """

    entry_slippage_bps: Decimal = attrs.field(default=Decimal(10), validator=_dec_ge0)
    chase_attempts: int = attrs.field(default=2, validator=_int_ge(0))
    chase_ttl_s: float = attrs.field(default=5.0, validator=_float_gt0)
    chase_extra_slippage_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    reverse_attempts: int = attrs.field(default=3, validator=_int_ge(1))
    reverse_slippage_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    close_slippage_bps: Decimal = attrs.field(default=Decimal(10), validator=_dec_ge0)
    close_slippage_step_bps: Decimal = attrs.field(default=Decimal(20), validator=_dec_ge0)
    close_attempts: int = attrs.field(default=5, validator=_int_ge(1))
    query_after_s: float = attrs.field(default=2.0, validator=_float_gt0)
    max_exit_slippage_bps: Decimal = attrs.field(default=Decimal(60), validator=_dec_gt0)
    unwind_loss_budget_bps: Decimal = attrs.field(default=Decimal(15), validator=_dec_ge0)
    retry_backoff_s: float = attrs.field(default=2.0, validator=_float_gt0)
    retry_backoff_max_s: float = attrs.field(default=60.0, validator=_float_gt0)

    def __attrs_post_init__(self) -> None:
        if self.retry_backoff_max_s < self.retry_backoff_s:
            raise ValueError(
                f"ExecutionPolicy.retry_backoff_max_s ({self.retry_backoff_max_s}) must be >= "
                f"retry_backoff_s ({self.retry_backoff_s})"
            )
        widest = {
            "entry_slippage_bps + chase_extra_slippage_bps": self.entry_slippage_bps
            + self.chase_extra_slippage_bps,
            "reverse_slippage_bps + (reverse_attempts - 1)·close_slippage_step_bps": (
                self.reverse_slippage_bps
                + (self.reverse_attempts - 1) * self.close_slippage_step_bps
            ),
            "close_slippage_bps + (close_attempts - 1)·close_slippage_step_bps": (
                self.close_slippage_bps + (self.close_attempts - 1) * self.close_slippage_step_bps
            ),
        }
        widest["max_exit_slippage_bps"] = self.max_exit_slippage_bps
        for name, bps in widest.items():
            if bps >= _BPS / 2:
                raise ValueError(f"ExecutionPolicy: {name} = {bps} bps must stay below 5000")

    def retry_delay(self, retries: int) -> float:
        """Seconds before the slow exit retry that follows ``retries`` earlier ones."""
        return min(self.retry_backoff_s * 2.0 ** min(retries, 30), self.retry_backoff_max_s)


@attrs.frozen(kw_only=True)
class PositionSpec:
    """What to open: buy ``qty`` on ``long.venue`` and sell ``qty`` on ``short.venue``.

    ``long_price``/``short_price`` are the reference prices at detection (VWAP ask on the long
    venue, VWAP bid on the short venue); entry limits are derived from them, and they stand in
    for quotes until the first :class:`Tick` carries some. ``edge_bps``: the round-trip edge
    the detector saw (net of every cost); it bounds the entry limits (None: the policy's
    ``entry_slippage_bps`` alone, as for a position journaled before the bound existed).
    """

    position_id: str
    asset: str
    long: Instrument
    short: Instrument
    qty: Decimal
    long_price: Decimal
    short_price: Decimal
    policy: ExecutionPolicy = attrs.field(factory=ExecutionPolicy)
    created_ts: float = 0.0
    edge_bps: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        # Every order id must be encodable before the first order is placed: the position id
        # and each venue are checked here, so ids.client_order_id cannot fail later.
        if not _valid_position_id(self.position_id):
            raise ValueError(f"PositionSpec.position_id is invalid: {self.position_id!r}")
        if self.long.venue == self.short.venue:
            raise ValueError(f"PositionSpec.short: same venue as long ({self.long.venue})")
        for name, inst in (("long", self.long), ("short", self.short)):
            problem = _venue_id_problem(inst.venue)
            if problem is not None:
                raise ValueError(f"PositionSpec.{name}.venue: {problem}")
        for name, inst in (("long", self.long), ("short", self.short)):
            if inst.asset != self.asset:
                raise ValueError(f"PositionSpec.{name}.asset {inst.asset!r} != {self.asset!r}")
        for name in ("long_price", "short_price"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"PositionSpec.{name} must be a Decimal > 0, got {value!r}")
        if self.edge_bps is not None and (
            not isinstance(self.edge_bps, Decimal) or not self.edge_bps.is_finite()
        ):
            raise ValueError(
                f"PositionSpec.edge_bps must be a finite Decimal, got {self.edge_bps!r}"
            )
        if not isinstance(self.qty, Decimal) or not self.qty.is_finite() or self.qty <= 0:
            raise ValueError(f"PositionSpec.qty must be a Decimal > 0, got {self.qty!r}")
        for name, inst, price in (
            ("long", self.long, self.long_price),
            ("short", self.short, self.short_price),
        ):
            if floor_qty(inst, self.qty) != self.qty or not _clears_minimums(inst, self.qty, price):
                raise ValueError(
                    f"PositionSpec.qty {self.qty} is not tradable on {name} venue "
                    f"{inst.venue}:{inst.symbol} (lot {inst.lot_size}, min {inst.min_size}, "
                    f"min notional {inst.min_notional})"
                )

    def instrument(self, leg: LegRole) -> Instrument:
        return self.long if leg == "long" else self.short

    def entry_slippage_bps(self) -> Decimal:
        """How far from its reference each entry limit may go: the policy's slippage, bounded
        by half the edge (both legs filled at their limits still break even, costs paid)."""
        bps = self.policy.entry_slippage_bps
        if self.edge_bps is None:
            return bps
        return max(_ZERO, min(bps, self.edge_bps / 2))


def _valid_position_id(position_id: str) -> bool:
    """Non-empty, without the id separator, and encodable (the client order id hashes it)."""
    if not position_id or "\x1f" in position_id:
        return False
    try:
        position_id.encode()
    except UnicodeEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _venue_id_problem(venue: str) -> str | None:
    """Why ``venue`` has no client order id encoding (ids.encode_client_order_id), or None."""
    try:
        encode_client_order_id(venue, 0)
    except ValueError as exc:
        return str(exc)
    return None


def _clears_minimums(inst: Instrument, qty: Decimal, price: Decimal) -> bool:
    return qty > 0 and qty >= inst.min_size and qty * price >= inst.min_notional
