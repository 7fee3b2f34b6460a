"""The order router: client order id → position inbox, and command execution on venues.

Two directions, both lossless:

* **Venue → position.** Each venue's private stream task sends :data:`OrderEvent` values into
  a bounded channel; :meth:`OrderRouter.run_stream` translates each into a position event
  (:func:`to_position_event`) and sends it to the inbox of the position that owns the client
  order id (awaiting: backpressure, never a drop). Events for ids no live position owns
  (late after a position ended, or not ours) are counted, logged and journaled as ``orphan``.
* **Position → venue.** :meth:`OrderRouter.execute` runs one command on the right venue
  client and turns the outcome into the event the machine expects:

  ============================  ===============================================
  outcome of ``place_order``     event fed back
  ============================  ===============================================
  ack                            ``LegAcked``
  ``OrderRejected``              ``LegRejected`` (the venue's reason)
  ``RateLimited``,               ``LegRejected`` (nothing was sent or done)
  ``Disconnected``, ``BadRequest``, ``AuthenticationFailed``
  ``OutcomeUnknown``, no ack     ``LegOutcomeUnknown`` (never re-sent: queried)
  within ``ack_timeout_s``, any
  unexpected exception
  ============================  ===============================================

  ``QueryOrder`` → ``query_order`` → ``OutcomeResolved(report)``; ``OrderNotFound`` →
  ``OutcomeResolved(report=None)``; any other failure leaves the order unresolved (the
  machine queries again after its ``query_after_s``). ``CancelOrder`` → ``cancel_order``;
  the result arrives on the stream.

Orphan fills — executions no live position claims, whose trade id no position was given —
are exposure nobody hedges: the router keeps them per (venue, symbol) (``orphan_fills``),
the accounts view counts them in the net exposure, and the reconciler forgets them once a
venue poll taken after them agrees with the positions (the fill was offset, or never
changed what the venue holds).

Per venue it keeps how placements were answered lately (:class:`VenueOrderHealth`): the
latency from sending to the ack (a moving average, for the detector's latency buffer) and
the placements in a row that were not acknowledged (a venue that is *refusing* orders: the
strategy does not start a close there, spec 008).

Timestamps of events are the runtime clock at receipt (``trio.current_time()``): the machine
compares them with its own deadlines, so they must all come from one clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal

import attrs
import structlog
import trio

from arbtrio.core import events as ev
from arbtrio.core.types import Fill, OrderAck, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.runtime import codec
from arbtrio.runtime.journal import Journal, Record
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Disconnected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueClient,
)
from arbtrio.venues.wire import RecentIds

log = structlog.get_logger("arbtrio.router")

Inbox = trio.MemorySendChannel[ev.Event]
OrphanHook = Callable[[str, OrderEvent], Awaitable[None]]


def journal_orphans(journal: Journal) -> OrphanHook:
    """The orphan hook that journals each orphan event (kind ``orphan``) with its venue."""

    async def on_orphan(venue: str, event: OrderEvent) -> None:
        await journal.append(
            Record(
                ts=trio.current_time(),
                kind="orphan",
                type=type(event).__name__,
                client_order_id=event.client_order_id,
                body={"venue": venue, **codec.encode(event)},
            )
        )

    return on_orphan


def to_position_event(event: OrderEvent, now: float) -> ev.Event | None:
    """The position event for one venue order event, or None when it carries no news.

    ``OrderUpdate`` with status FILLED or CANCELLED closes the order (``LegExpired`` with the
    venue's cumulative fill); REJECTED is ``LegRejected``; OPEN/PENDING is implied by the
    ack and dropped.
    """
    if isinstance(event, OrderAck):
        return ev.LegAcked(
            client_order_id=event.client_order_id, venue_order_id=event.venue_order_id, ts=now
        )
    if isinstance(event, Fill):
        return ev.LegFilled(
            client_order_id=event.client_order_id,
            trade_id=event.trade_id,
            qty=event.qty,
            price=event.price,
            fee=event.fee,
            ts=now,
            fee_currency=event.fee_currency,
        )
    if isinstance(event, OrderUpdate):
        if event.status in (OrderStatus.FILLED, OrderStatus.CANCELLED):
            return ev.LegExpired(
                client_order_id=event.client_order_id, filled_qty=event.filled_qty, ts=now
            )
        if event.status is OrderStatus.REJECTED:
            return ev.LegRejected(
                client_order_id=event.client_order_id,
                reason=event.reason or "rejected",
                ts=now,
            )
        return None
    raise TypeError(f"not an order event: {event!r}")


REFUSING_AFTER = 2  # placements in a row not acknowledged
REFUSING_WINDOW_S = 30.0  # ... the last of them this recently
_LATENCY_WEIGHT = 0.2  # of each new ack in the moving average


@attrs.define
class VenueOrderHealth:
    """How one venue answered our placements lately (owned by the router)."""

    failures: int = 0  # placements in a row not acknowledged (rejected, unknown, no ack)
    last_failure_ts: float | None = None
    latency_s: float | None = None  # moving average of send → ack, seconds
    acks: int = 0

    def refusing(self, now: float) -> bool:
        """At least ``REFUSING_AFTER`` placements in a row failed, the last one recently."""
        return (
            self.failures >= REFUSING_AFTER
            and self.last_failure_ts is not None
            and now - self.last_failure_ts < REFUSING_WINDOW_S
        )

    def record(self, acked: bool, started: float, now: float) -> None:
        if acked:
            self.failures = 0
            self.acks += 1
            rtt = now - started
            prev = self.latency_s
            self.latency_s = rtt if prev is None else prev + _LATENCY_WEIGHT * (rtt - prev)
        else:
            self.failures += 1
            self.last_failure_ts = now


@attrs.frozen
class OrphanFill:
    """An execution no live position claimed: ``qty`` signed (a buy > 0), at ``ts``."""

    venue: str
    symbol: str
    trade_id: str
    qty: Decimal
    price: Decimal
    ts: float


@attrs.define(eq=False)
class Route:
    position_id: str
    inbox: Inbox


@attrs.define
class RouterStatistics:
    routed: int = 0
    orphans: int = 0
    placed: int = 0
    rejected: int = 0
    unknown: int = 0
    queries: int = 0
    cancels: int = 0


class OrderRouter:
    """Owns the client-order-id routing table; executes commands on venue clients."""

    def __init__(
        self,
        clients: Mapping[str, VenueClient],
        *,
        ack_timeout_s: float,
        query_timeout_s: float,
        on_orphan: OrphanHook | None = None,
    ) -> None:
        self.clients = clients
        self.ack_timeout_s = ack_timeout_s
        self.query_timeout_s = query_timeout_s
        self._routes: dict[str, Route] = {}
        self._by_position: dict[str, set[str]] = {}
        self._on_orphan = on_orphan
        self.stats = RouterStatistics()
        self.health: dict[str, VenueOrderHealth] = {name: VenueOrderHealth() for name in clients}
        self.orphan_fills: dict[tuple[str, str], list[OrphanFill]] = {}  # (venue, symbol)
        self._delivered_trades = RecentIds(50_000)  # (venue, trade id) given to a position

    # -- the routing table ---------------------------------------------------------------
    def register(self, client_order_id: str, position_id: str, inbox: Inbox) -> None:
        """Route events of ``client_order_id`` to ``inbox`` (call before the order is sent)."""
        self._routes[client_order_id] = Route(position_id, inbox)
        self._by_position.setdefault(position_id, set()).add(client_order_id)

    def release(self, position_id: str) -> None:
        """Forget every id of a position that has ended."""
        for cid in self._by_position.pop(position_id, ()):
            self._routes.pop(cid, None)

    def owner(self, client_order_id: str) -> str | None:
        route = self._routes.get(client_order_id)
        return None if route is None else route.position_id

    # -- venue → position ----------------------------------------------------------------
    async def deliver(self, event: OrderEvent) -> bool:
        """Send one venue order event to its position; False if no live position owns it."""
        route = self._routes.get(event.client_order_id)
        if route is None:
            self._note_orphan_fill(event)
            self.stats.orphans += 1
            log.info(
                "order.orphan_event",
                venue=event.venue,
                client_order_id=event.client_order_id,
                kind=type(event).__name__,
            )
            if self._on_orphan is not None:
                await self._on_orphan(event.venue, event)
            return False
        pev = to_position_event(event, trio.current_time())
        if pev is None:
            return True
        if isinstance(event, Fill):
            self._delivered_trades.add((event.venue, event.trade_id))
        try:
            await route.inbox.send(pev)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The actor ended between lookup and send: same as an orphan.
            self.stats.orphans += 1
            if self._on_orphan is not None:
                await self._on_orphan(event.venue, event)
            return False
        self.stats.routed += 1
        return True

    def _note_orphan_fill(self, event: OrderEvent) -> None:
        """Keep an orphan execution as exposure, unless its trade was already given to a
        position (a late repeat) or its symbol is unknown."""
        if not isinstance(event, Fill) or not event.symbol:
            return
        if not self._delivered_trades.add((event.venue, event.trade_id)):
            return  # given to a position before (a late repeat), or already counted
        signed = event.qty if event.side is Side.BUY else -event.qty
        orphan = OrphanFill(event.venue, event.symbol, event.trade_id, signed, event.price,
                            trio.current_time())  # fmt: skip
        self.orphan_fills.setdefault((event.venue, event.symbol), []).append(orphan)
        log.warning("order.orphan_fill", venue=event.venue, symbol=event.symbol,
                    trade_id=event.trade_id, qty=str(signed), price=str(event.price),
                    note="counted in net exposure until a venue poll agrees")  # fmt: skip

    def forget_orphans(self, venue: str, symbol: str, before: float) -> None:
        """Drop the orphan fills of (venue, symbol) older than ``before`` (a venue poll at
        ``before`` agreed with the positions)."""
        kept = [o for o in self.orphan_fills.get((venue, symbol), ()) if o.ts >= before]
        if kept:
            self.orphan_fills[(venue, symbol)] = kept
        else:
            self.orphan_fills.pop((venue, symbol), None)

    async def run_stream(self, receive: trio.MemoryReceiveChannel[OrderEvent]) -> None:
        """Route every event from one venue's order stream channel until it closes."""
        async with receive:
            async for event in receive:
                await self.deliver(event)

    # -- position → venue ----------------------------------------------------------------
    async def execute(self, command: ev.Command, inbox: Inbox) -> None:
        """Run one command on its venue and send the resulting event (if any) to ``inbox``."""
        result: ev.Event | None
        if isinstance(command, ev.PlaceOrder):
            result = await self._place(command)
        elif isinstance(command, ev.QueryOrder):
            result = await self._query(command)
        elif isinstance(command, ev.CancelOrder):
            await self._cancel(command)
            result = None
        else:
            raise TypeError(f"the router does not execute {type(command).__name__}")
        if result is not None:
            try:
                await inbox.send(result)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                log.warning(
                    "order.outcome_undelivered",
                    event=type(result).__name__,
                    client_order_id=getattr(result, "client_order_id", None),
                )

    async def _place(self, command: ev.PlaceOrder) -> ev.Event:
        request = command.request
        cid = request.client_order_id
        client = self.clients[request.venue]
        self.stats.placed += 1
        started = trio.current_time()
        result: ev.Event | None = None
        with trio.move_on_after(self.ack_timeout_s) as scope:
            try:
                ack = await client.place_order(request)
            except OrderRejected as exc:
                result = ev.LegRejected(
                    client_order_id=cid, reason=exc.message, ts=trio.current_time()
                )
            except (RateLimited, Disconnected, BadRequest, AuthenticationFailed) as exc:
                result = ev.LegRejected(
                    client_order_id=cid,
                    reason=f"not placed: {type(exc).__name__}: {exc.message}",
                    ts=trio.current_time(),
                )
            except OutcomeUnknown as exc:
                result = ev.LegOutcomeUnknown(
                    client_order_id=cid, reason=exc.message, ts=trio.current_time()
                )
            except Exception as exc:  # a client bug or raw network error: outcome unknown
                log.exception("order.place_failed", venue=request.venue, client_order_id=cid)
                result = ev.LegOutcomeUnknown(
                    client_order_id=cid,
                    reason=f"unexpected {type(exc).__name__}",
                    ts=trio.current_time(),
                )
            else:
                result = ev.LegAcked(
                    client_order_id=cid,
                    venue_order_id=ack.venue_order_id,
                    ts=trio.current_time(),
                )
        if scope.cancelled_caught or result is None:
            result = ev.LegOutcomeUnknown(
                client_order_id=cid,
                reason=f"no ack within {self.ack_timeout_s:g}s",
                ts=trio.current_time(),
            )
        if isinstance(result, ev.LegRejected):
            self.stats.rejected += 1
        elif isinstance(result, ev.LegOutcomeUnknown):
            self.stats.unknown += 1
        health = self.health.setdefault(request.venue, VenueOrderHealth())
        health.record(isinstance(result, ev.LegAcked), started, trio.current_time())
        return result

    async def _query(self, command: ev.QueryOrder) -> ev.Event | None:
        client = self.clients[command.venue]
        self.stats.queries += 1
        with trio.move_on_after(self.query_timeout_s):
            try:
                report = await client.query_order(command.symbol, command.client_order_id)
            except OrderNotFound:
                return ev.OutcomeResolved(
                    client_order_id=command.client_order_id, report=None, ts=trio.current_time()
                )
            except Exception as exc:
                log.warning(
                    "order.query_failed",
                    venue=command.venue,
                    client_order_id=command.client_order_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return None
            return ev.OutcomeResolved(
                client_order_id=command.client_order_id, report=report, ts=trio.current_time()
            )
        log.warning(
            "order.query_timeout", venue=command.venue, client_order_id=command.client_order_id
        )
        return None

    async def _cancel(self, command: ev.CancelOrder) -> None:
        client = self.clients[command.venue]
        self.stats.cancels += 1
        with trio.move_on_after(self.query_timeout_s):
            try:
                await client.cancel_order(command.symbol, command.client_order_id)
            except OrderNotFound:
                log.info(
                    "order.cancel_not_found",
                    venue=command.venue,
                    client_order_id=command.client_order_id,
                )
            except Exception as exc:
                log.warning(
                    "order.cancel_failed",
                    venue=command.venue,
                    client_order_id=command.client_order_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
