"""What one position holds and has sent: its orders and fills, and what follows from them.

:class:`Ledger` is the part of a :class:`~arbtrio.core.position.machine.Position` that records
(orders by client order id, fills in arrival order, funding and counters per leg), answers
queries (holdings, exposure, fees, PnL) and turns an order the machine decided on into its
command (the leg's next attempt number gives the client order id). The machine decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from arbtrio.core.events import CancelOrder, Command, LegRole, PlaceOrder, QueryOrder
from arbtrio.core.ids import client_order_id
from arbtrio.core.position.orders import Order, Purpose
from arbtrio.core.position.policy import PositionSpec
from arbtrio.core.position.tables import LEGS
from arbtrio.core.types import Fill, OrderRequest, Side

_ZERO = Decimal(0)


@attrs.define(eq=False)
class _LegBook:
    """Per-leg counters: the next attempt number, the closes sent, and the slow exit retries
    (how many were sent, and when the next one is due; None when none is scheduled)."""

    next_attempt: int = 0
    closes: int = 0
    retries: int = 0
    retry_at: float | None = None


class Ledger:
    """One position's orders, fills and funding, the queries over them, and the sending of
    orders (each leg's attempt counter gives the next client order id)."""

    def __init__(self, spec: PositionSpec) -> None:
        self.spec = spec
        self._orders: dict[str, Order] = {}  # by client order id, in send order
        self._fills: list[Fill] = []  # in arrival order
        self._fill_index: dict[tuple[str, str], Fill] = {}  # (venue, trade_id) → fill
        self._funding: dict[LegRole, Decimal] = {leg: _ZERO for leg in LEGS}
        self._legs: dict[LegRole, _LegBook] = {leg: _LegBook() for leg in LEGS}

    # -- queries ----------------------------------------------------------------------------
    def held(self, leg: LegRole) -> Decimal:
        """Base quantity the leg holds in its own direction (long: bought − sold)."""
        venue = self.spec.instrument(leg).venue
        entry = Side.BUY if leg == "long" else Side.SELL
        total = _ZERO
        for fill in self._fills:
            if fill.venue == venue:
                total += fill.qty if fill.side is entry else -fill.qty
        return total

    def average_entry_price(self, leg: LegRole) -> Decimal | None:
        """The average price of the leg's fills on its entry side (None before any)."""
        venue = self.spec.instrument(leg).venue
        entry = Side.BUY if leg == "long" else Side.SELL
        qty = cash = _ZERO
        for fill in self._fills:
            if fill.venue == venue and fill.side is entry:
                qty += fill.qty
                cash += fill.qty * fill.price
        return cash / qty if qty else None

    def net_exposure(self) -> Decimal:
        """Long held − short held, in base units (0 when hedged exactly or flat)."""
        return self.held("long") - self.held("short")

    def orders(self) -> list[Order]:
        """Every order sent, in send order."""
        return list(self._orders.values())

    def live_orders(self) -> list[Order]:
        """Orders in flight: not closed, or closed with fills still owed."""
        return [o for o in self._orders.values() if o.is_live]

    def fills(self) -> list[Fill]:
        return list(self._fills)

    def client_order_ids(self) -> list[tuple[str, LegRole, str]]:
        """``(client_order_id, leg, venue)`` of every order sent, in send order."""
        return [(o.client_order_id, o.leg, o.venue) for o in self._orders.values()]

    def fees(self) -> Decimal:
        """Σ fees paid in the legs' quote currencies (see :meth:`fees_by_currency`)."""
        return sum((f.fee for f in self._fills if self._in_quote(f)), _ZERO)

    def fees_by_currency(self) -> dict[str, Decimal]:
        """Σ fees per currency they were paid in (a venue may take fees in its own coin)."""
        out: dict[str, Decimal] = {}
        for fill in self._fills:
            currency = self._fee_currency(fill)
            out[currency] = out.get(currency, _ZERO) + fill.fee
        return out

    def _fee_currency(self, fill: Fill) -> str:
        inst = self.spec.long if fill.venue == self.spec.long.venue else self.spec.short
        return fill.fee_currency or inst.quote

    def _in_quote(self, fill: Fill) -> bool:
        return self._fee_currency(fill) in (self.spec.long.quote, self.spec.short.quote)

    def funding(self) -> Decimal:
        return self._funding["long"] + self._funding["short"]

    def pnl_by_currency(self) -> dict[str, Decimal]:
        """Realised PnL per currency: Σ sell cash − Σ buy cash − fees + funding per leg in its
        quote currency, and fees paid in another coin (e.g. BGB) as that coin's entry."""
        out: dict[str, Decimal] = {}
        for leg in LEGS:
            inst = self.spec.instrument(leg)
            out[inst.quote] = out.get(inst.quote, _ZERO) + self._leg_pnl(leg)
        for fill in self._fills:
            currency = self._fee_currency(fill)
            if currency not in out:
                out[currency] = _ZERO
            if not self._in_quote(fill):
                out[currency] -= fill.fee
        return out

    def realized_pnl(self, quote_rates: Mapping[str, Decimal] | None = None) -> Decimal:
        """Σ sell cash − Σ buy cash − fees + funding over both legs, exact.

        Without ``quote_rates`` the legs' quote currencies are added at par (1 USDC = 1 USDT);
        that is exact for a pair with one quote currency and an approximation for a Hyperliquid
        pair. Pass ``quote_rates`` (reference value of one unit of each currency) to convert;
        a missing quote currency raises KeyError. A fee paid in another coin counts only when
        ``quote_rates`` prices that coin; otherwise it is left out (it has no value here) and
        shows in :meth:`pnl_by_currency` and :meth:`fees_by_currency`.
        """
        quotes = {self.spec.long.quote, self.spec.short.quote}
        total = _ZERO
        for currency, amount in self.pnl_by_currency().items():
            if quote_rates is None:
                total += amount if currency in quotes else _ZERO
            elif currency in quotes or currency in quote_rates:
                total += amount * quote_rates[currency]
        return total

    def _leg_pnl(self, leg: LegRole) -> Decimal:
        venue = self.spec.instrument(leg).venue
        cash = _ZERO
        for fill in self._fills:
            if fill.venue == venue:
                fee = fill.fee if self._in_quote(fill) else _ZERO
                cash += fill.qty * fill.price * (-fill.side.sign) - fee
        return cash + self._funding[leg]

    # -- sending orders ----------------------------------------------------------------------
    def _place(
        self, leg: LegRole, purpose: Purpose, side: Side, qty: Decimal, price: Decimal, ts: float
    ) -> PlaceOrder:
        inst = self.spec.instrument(leg)
        book = self._legs[leg]
        attempt = book.next_attempt
        book.next_attempt += 1
        coid = client_order_id(inst.venue, self.spec.position_id, leg, attempt)
        reduce_only = purpose in ("reverse", "close")
        self._orders[coid] = Order(
            client_order_id=coid,
            leg=leg,
            venue=inst.venue,
            symbol=inst.symbol,
            attempt=attempt,
            purpose=purpose,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            sent_ts=ts,
            query_due_ts=ts + self.spec.policy.query_after_s,
        )
        request = OrderRequest(
            venue=inst.venue,
            symbol=inst.symbol,
            client_order_id=coid,
            side=side,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            time_in_force="IOC",
        )
        return PlaceOrder(leg=leg, attempt=attempt, request=request)

    def _query(self, order: Order) -> QueryOrder:
        return QueryOrder(
            leg=order.leg,
            venue=order.venue,
            symbol=order.symbol,
            client_order_id=order.client_order_id,
        )

    def _cancel_live(self) -> list[Command]:
        """Cancel every order still working (IOC orders end on their own; this is belt and
        braces for a flatten or kill). Their outcomes still arrive as events."""
        return [
            CancelOrder(
                leg=o.leg, venue=o.venue, symbol=o.symbol, client_order_id=o.client_order_id
            )
            for o in self._orders.values()
            if not o.status.is_closed
        ]
