"""Limit-IOC matching and per-venue account keeping: pure, exact, shared by sim and paper mode.

:func:`match_ioc` walks a ladder; :class:`Account` validates an order against an instrument,
matches it against *any* ladder (the simulator's own, or a live book in paper mode), books
fills, fees, positions and funding, and remembers every order by client order id.

Money is exact: fills, fees and funding are ``Decimal``; positions are kept as FIFO lots so
realised PnL is an exact sum of products (no division). The balance identity, exact at all
times, is::

    balance.total = starting + realised − fees + funding
    realised      = Σ fills (−side × qty × price) + Σ open lots (side × qty × price)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument, is_valid_price
from arbtrio.core.types import (
    Balance,
    Fill,
    OrderReport,
    OrderStatus,
    Side,
    VenuePosition,
)

DecimalLevel = tuple[Decimal, Decimal]  # (price, size in base units)

_ZERO = Decimal(0)
_FUNDING_QUANTUM = Decimal("1e-8")
_AVG_QUANTUM = Decimal("1e-12")

DUPLICATE_CLIENT_ORDER_ID = "duplicate client order id"


@attrs.frozen(kw_only=True)
class Execution:
    """The outcome of one limit-IOC order.

    ``status`` is FILLED (all of ``qty``), CANCELLED (IOC remainder cancelled; ``filled_qty``
    may be 0) or REJECTED (nothing happened; ``reason`` says why).
    """

    venue: str
    symbol: str
    client_order_id: str
    status: OrderStatus
    venue_order_id: str
    fills: tuple[Fill, ...]
    filled_qty: Decimal
    avg_price: Decimal | None
    reason: str = ""


@attrs.frozen(kw_only=True)
class FundingPayment:
    """Funding booked on one position: ``amount`` is received (+) or paid (−), quote units."""

    venue: str
    symbol: str
    ts: float
    rate: Decimal
    mark_price: Decimal
    position: Decimal
    amount: Decimal


def match_ioc(
    levels: Sequence[DecimalLevel],
    side: Side,
    qty: Decimal,
    limit: Decimal,
    lot: Decimal,
    max_qty: Decimal | None = None,
) -> list[DecimalLevel]:
    """Walk ``levels`` (the *opposite* side: asks for a buy, bids for a sell) as a limit IOC.

    Returns the ``(price, qty)`` taken, best price first. Guarantees: the total never
    exceeds ``qty`` (nor ``max_qty``), every take is a positive multiple of ``lot``, and no
    price is worse than ``limit`` (above it for a buy, below it for a sell). The levels may
    come in any order; sizes that are not lot multiples are floored.
    """
    if qty <= 0 or lot <= 0:
        return []
    remaining = qty if max_qty is None else min(qty, max_qty)
    if side is Side.BUY:
        candidates = sorted(lv for lv in levels if lv[0] <= limit and lv[1] > 0)
    else:
        candidates = sorted((lv for lv in levels if lv[0] >= limit and lv[1] > 0), reverse=True)
    takes: list[DecimalLevel] = []
    for price, size in candidates:
        if remaining < lot:
            break
        take = (min(size, remaining) // lot) * lot
        if take > 0:
            takes.append((price, take))
            remaining -= take
    return takes


def book_levels_for(book: L2Book, taker_side: Side, depth: int | None = None) -> list[DecimalLevel]:
    """The levels a ``taker_side`` order would take from an external :class:`L2Book`
    (asks for a buy, bids for a sell), best first, as exact decimals — paper mode's ladder.

    Floats convert through their shortest repr (65000.1 → Decimal("65000.1")); sizes that
    are not lot multiples are floored by :func:`match_ioc`.
    """
    side = Side.SELL if taker_side is Side.BUY else Side.BUY  # L2Book: SELL = asks
    return [(Decimal(repr(p)), Decimal(repr(s))) for p, s in book.levels(side, depth)]


@attrs.define(eq=False)
class _Order:
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool
    venue_order_id: str
    status: OrderStatus
    fills: list[Fill]
    reason: str
    ts: float


class Account:
    """One venue account: orders by client id, FIFO positions per symbol, one quote balance.

    Owned by a single caller (the simulated market or a paper-trading venue); every method is
    synchronous and deterministic.
    """

    def __init__(
        self, venue: str, quote: str, starting_balance: Decimal, *, leverage: int = 10
    ) -> None:
        if leverage <= 0:
            raise ValueError(f"leverage must be > 0, got {leverage}")
        self.venue = venue
        self.quote = quote
        self.starting_balance = starting_balance
        self.leverage = leverage
        self.realized = _ZERO
        self.fees = _ZERO
        self.funding = _ZERO
        self._lots: dict[str, deque[list[Decimal]]] = {}  # symbol -> [[signed qty, price]]
        self._orders: dict[str, _Order] = {}
        self._instruments: dict[str, Instrument] = {}
        self.fills: list[Fill] = []
        self.funding_payments: list[FundingPayment] = []
        self._next_order = 0
        self._next_trade = 0

    # -- orders ------------------------------------------------------------------------
    def execute(
        self,
        inst: Instrument,
        levels: Sequence[DecimalLevel],
        *,
        side: Side,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        client_order_id: str,
        now: float,
        max_fill: Decimal | None = None,
    ) -> Execution:
        """Validate, match against ``levels`` (opposite side), and book one limit-IOC order.

        Rejections (status REJECTED, nothing booked): duplicate client order id (the first
        order is kept untouched), size not a positive lot multiple, price off the venue's
        tick, size below the minimum or notional below the minimum (not applied to
        reduce-only orders, which may close any remainder), reduce-only with no position to
        reduce or on the side that would increase it. Every order but a duplicate is
        remembered for :meth:`order`.

        Reduce-only orders are *clipped*: the quantity is cut to the open position, so a
        reduce-only order can never increase ``|position|`` or flip its sign.

        ``max_fill`` caps the fill (the simulator's partial-fill fault).
        """
        if client_order_id in self._orders:
            return self._rejection(inst, client_order_id, DUPLICATE_CLIENT_ORDER_ID, remember=False)
        self._instruments.setdefault(inst.symbol, inst)
        reason = self._check(inst, side, qty, price, reduce_only)
        if reason:
            return self._rejection(
                inst, client_order_id, reason, now=now, side=side, qty=qty, price=price,
                reduce_only=reduce_only,
            )  # fmt: skip
        target = qty
        if reduce_only:
            target = min(qty, abs(self.position(inst.symbol)))
        takes = match_ioc(levels, side, target, price, inst.lot_size, max_fill)
        order = self._new_order(inst.symbol, side, qty, price, reduce_only, now)
        self._orders[client_order_id] = order
        for fill_price, fill_qty in takes:
            self._next_trade += 1
            fill = Fill(
                venue=self.venue,
                client_order_id=client_order_id,
                trade_id=f"{self.venue}-t{self._next_trade}",
                side=side,
                qty=fill_qty,
                price=fill_price,
                fee=fill_qty * fill_price * inst.taker_fee,
                ts=now,
                symbol=inst.symbol,
            )
            self._book_fill(inst.symbol, fill)
            order.fills.append(fill)
        filled = sum((f.qty for f in order.fills), _ZERO)
        order.status = OrderStatus.FILLED if filled == qty else OrderStatus.CANCELLED
        if order.status is OrderStatus.CANCELLED:
            order.reason = "IOC remainder cancelled" if filled else "IOC: no liquidity at limit"
        return self._execution(client_order_id, order)

    def reject(
        self,
        inst: Instrument,
        client_order_id: str,
        reason: str,
        *,
        side: Side,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
        now: float,
    ) -> Execution:
        """Record an order the venue refused before matching (e.g. a simulated reject)."""
        if client_order_id in self._orders:
            return self._rejection(inst, client_order_id, DUPLICATE_CLIENT_ORDER_ID, remember=False)
        return self._rejection(
            inst, client_order_id, reason, now=now, side=side, qty=qty, price=price,
            reduce_only=reduce_only,
        )  # fmt: skip

    def order(self, client_order_id: str) -> OrderReport | None:
        """What a query by client order id finds; ``None`` when the id was never seen."""
        order = self._orders.get(client_order_id)
        if order is None:
            return None
        filled, avg = _fill_summary(order.fills)
        return OrderReport(
            venue=self.venue,
            client_order_id=client_order_id,
            status=order.status,
            filled_qty=filled,
            avg_price=avg,
            fills=tuple(order.fills),
            reason=order.reason,
        )

    def order_symbol(self, client_order_id: str) -> str | None:
        order = self._orders.get(client_order_id)
        return None if order is None else order.symbol

    # -- positions, balances, funding ----------------------------------------------------
    def position(self, symbol: str) -> Decimal:
        return sum((lot[0] for lot in self._lots.get(symbol, ())), _ZERO)

    def open_cost(self, symbol: str) -> Decimal:
        """Σ signed qty × entry price of the open FIFO lots (exact)."""
        return sum((lot[0] * lot[1] for lot in self._lots.get(symbol, ())), _ZERO)

    def positions(self) -> list[VenuePosition]:
        result = []
        for symbol in sorted(self._lots):
            qty = self.position(symbol)
            if qty == 0:
                continue
            entry = _tidy(self.open_cost(symbol) / qty)
            result.append(
                VenuePosition(venue=self.venue, symbol=symbol, qty=qty, entry_price=entry)
            )
        return result

    def balance_total(self) -> Decimal:
        return self.starting_balance + self.realized - self.fees + self.funding

    def balances(self) -> list[Balance]:
        """One balance in the quote currency; ``available`` is total less initial margin."""
        total = self.balance_total()
        margin = sum((abs(self.open_cost(s)) for s in self._lots), _ZERO) / self.leverage
        return [
            Balance(
                venue=self.venue,
                currency=self.quote,
                total=total,
                available=(total - margin).quantize(_FUNDING_QUANTUM),
            )
        ]

    def apply_funding(
        self, symbol: str, rate: Decimal, mark_price: Decimal, ts: float
    ) -> FundingPayment | None:
        """Book one funding settlement: longs pay ``position × mark × rate`` when rate > 0.

        The amount is rounded half-even to 1e-8 quote units. Returns ``None`` when flat.
        """
        qty = self.position(symbol)
        if qty == 0:
            return None
        amount = (-qty * mark_price * rate).quantize(_FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)
        self.funding += amount
        payment = FundingPayment(
            venue=self.venue,
            symbol=symbol,
            ts=ts,
            rate=rate,
            mark_price=mark_price,
            position=qty,
            amount=amount,
        )
        self.funding_payments.append(payment)
        return payment

    # -- internals ---------------------------------------------------------------------
    def _check(
        self, inst: Instrument, side: Side, qty: Decimal, price: Decimal, reduce_only: bool
    ) -> str:
        if qty <= 0 or (qty // inst.lot_size) * inst.lot_size != qty:
            return f"qty {qty} is not a positive multiple of the lot {inst.lot_size}"
        if not is_valid_price(inst, price):
            return f"price {price} is not a valid price for {inst.symbol}"
        if reduce_only:
            position = self.position(inst.symbol)
            if position == 0:
                return "reduce-only order with no open position"
            if (position > 0) == (side is Side.BUY):
                return "reduce-only order would increase the position"
            return ""
        if qty < inst.min_size:
            return f"qty {qty} is below the minimum size {inst.min_size}"
        if qty * price < inst.min_notional:
            return f"notional {qty * price} is below the minimum {inst.min_notional}"
        return ""

    def _new_order(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal, reduce_only: bool, ts: float
    ) -> _Order:
        self._next_order += 1
        return _Order(
            symbol=symbol,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            venue_order_id=f"{self.venue}-o{self._next_order}",
            status=OrderStatus.PENDING,
            fills=[],
            reason="",
            ts=ts,
        )

    def _rejection(
        self,
        inst: Instrument,
        client_order_id: str,
        reason: str,
        *,
        remember: bool = True,
        now: float = 0.0,
        side: Side = Side.BUY,
        qty: Decimal = _ZERO,
        price: Decimal = _ZERO,
        reduce_only: bool = False,
    ) -> Execution:
        venue_order_id = ""
        if remember:
            order = self._new_order(inst.symbol, side, qty, price, reduce_only, now)
            order.status = OrderStatus.REJECTED
            order.reason = reason
            self._orders[client_order_id] = order
            venue_order_id = order.venue_order_id
        return Execution(
            venue=self.venue,
            symbol=inst.symbol,
            client_order_id=client_order_id,
            status=OrderStatus.REJECTED,
            venue_order_id=venue_order_id,
            fills=(),
            filled_qty=_ZERO,
            avg_price=None,
            reason=reason,
        )

    def _execution(self, client_order_id: str, order: _Order) -> Execution:
        filled, avg = _fill_summary(order.fills)
        return Execution(
            venue=self.venue,
            symbol=order.symbol,
            client_order_id=client_order_id,
            status=order.status,
            venue_order_id=order.venue_order_id,
            fills=tuple(order.fills),
            filled_qty=filled,
            avg_price=avg,
            reason=order.reason,
        )

    def _book_fill(self, symbol: str, fill: Fill) -> None:
        """FIFO: a fill first closes opposite lots (realising PnL), then opens a new lot."""
        lots = self._lots.setdefault(symbol, deque())
        signed = fill.qty * fill.side.sign
        while signed != 0 and lots and (lots[0][0] > 0) != (signed > 0):
            head = lots[0]
            closed = min(abs(signed), abs(head[0]))
            direction = 1 if head[0] > 0 else -1  # +1 closing a long
            self.realized += closed * (fill.price - head[1]) * direction
            head[0] -= closed * direction
            signed += closed * direction
            if head[0] == 0:
                lots.popleft()
        if signed != 0:
            lots.append([signed, fill.price])
        self.fees += fill.fee
        self.fills.append(fill)


def _fill_summary(fills: Sequence[Fill]) -> tuple[Decimal, Decimal | None]:
    filled = sum((f.qty for f in fills), _ZERO)
    if not filled:
        return (_ZERO, None)
    cost = sum((f.qty * f.price for f in fills), _ZERO)
    return (filled, _tidy(cost / filled))


def _tidy(value: Decimal) -> Decimal:
    """An average price: 12 decimals at most, no trailing zeros, no exponent."""
    value = value.quantize(_AVG_QUANTUM)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
