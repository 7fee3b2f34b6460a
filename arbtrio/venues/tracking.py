"""What every order-stream protocol does with the orders its client placed (pure, shared).

A venue's private stream can miss an event (a reconnect, a dropped frame, a fill pushed
before the venue acknowledged the order to us), and the REST answer of a placement carries
no fills. So each venue's order protocol keeps an :class:`OrderTracker`:

* the client posts a :class:`Placed` note for every order it placed (``Stream.post``), with
  the venue's order id when it has one;
* after every (re)subscription, after a malformed private frame, and every
  ``reconcile_every_s`` while any placed order is unfinished, the tracker asks for a REST
  re-query of each such order (:class:`Fetch` of a :class:`Requery`; the client answers with
  ``query_order``) and turns the answer into events: the fills not seen yet (de-duplicated
  by trade id) and the status;
* a fill that names only the venue's order id, before the :class:`Placed` note has told
  which client order it belongs to, waits (:meth:`OrderTracker.fill_for_venue_order`) —
  delivered as soon as the note arrives, or after ``fill_wait_s`` given to the runtime as an
  orphan-by-venue-id (its trade is not lost: the order's re-query finds it).

"Finished" means the stream (or a re-query) delivered the order's terminal status; a
placement's REST answer does not finish it, since it carries no fills. A terminal push can
arrive before the note; it is remembered and applied when the note comes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs
import structlog

from arbtrio.core.types import Fill, OrderEvent, OrderReport, OrderUpdate
from arbtrio.venues.base import AuthenticationFailed, OrderNotFound, VenueError
from arbtrio.venues.stream import NOTHING, Deliver, Fail, Fetch, Output
from arbtrio.venues.wire import RecentIds

__all__ = ["OrderTracker", "Placed", "Requery"]

log = structlog.get_logger("arbtrio.venues")


@attrs.frozen
class Placed:
    """A note: the client placed this order (the venue answered the placement)."""

    client_order_id: str
    symbol: str
    venue_order_id: str = ""
    sent_at: float = 0.0  # when the request went out (runtime clock)


@attrs.frozen
class Requery:
    """A fetch key: re-query this order over REST (answered with its ``OrderReport``)."""

    symbol: str
    client_order_id: str


@attrs.define
class _Waiting:
    fills: list[Callable[[str], Fill]]
    since: float


class OrderTracker:
    """The orders one client placed, for its order-stream protocol (module docstring)."""

    def __init__(
        self,
        venue: str,
        *,
        reconcile_every_s: float = 60.0,
        fill_wait_s: float = 5.0,
        limit: int = 10_000,
    ) -> None:
        self.venue = venue
        self.reconcile_every_s = reconcile_every_s
        self.fill_wait_s = fill_wait_s
        self.limit = limit
        self.trades = RecentIds(10 * limit)  # trade ids already delivered
        self._orders: OrderedDict[str, tuple[str, bool]] = OrderedDict()  # cid -> (sym, done)
        self._early = RecentIds(limit)  # finished before their note
        self._by_venue_id: OrderedDict[str, str] = OrderedDict()  # venue order id -> cid
        self._waiting: dict[str, _Waiting] = {}  # venue order id -> fills without a cid
        self._subscribed_at: float | None = None
        self._next_reconcile = 0.0
        self.requeries = 0
        self.fills_waited = 0

    # -- what the client tells ----------------------------------------------------------------
    def placed(self, note: Placed, now: float) -> list[Output]:
        """Track a placed order; deliver fills that were waiting for it; re-query it at once
        if it was sent before the current subscription began (its pushes may be lost)."""
        cid = note.client_order_id
        done = cid in self._early
        self._orders[cid] = (note.symbol, done)
        self._orders.move_to_end(cid)
        while len(self._orders) > self.limit:
            self._orders.popitem(last=False)
        out: list[Output] = []
        if note.venue_order_id:
            self._remember(note.venue_order_id, cid)
            waiting = self._waiting.pop(note.venue_order_id, None)
            if waiting is not None:
                out += [d for d in (self._deliver_fill(make(cid)) for make in waiting.fills) if d]
        subscribed = self._subscribed_at
        if not done and subscribed is not None and note.sent_at <= subscribed:
            out.append(Fetch(Requery(note.symbol, cid)))
        return out

    def client_order_id(self, venue_order_id: str) -> str | None:
        """The client order id of a venue order id this client placed, if known."""
        return self._by_venue_id.get(venue_order_id)

    def learn(self, venue_order_id: str, client_order_id: str) -> list[Output]:
        """The stream told which client order a venue order id is (e.g. an order push):
        remember it (the oldest of more than ``limit`` mappings is forgotten) and deliver the
        fills waiting for it."""
        self._remember(venue_order_id, client_order_id)
        waiting = self._waiting.pop(venue_order_id, None)
        if waiting is None:
            return []
        return [d for d in (self._deliver_fill(m(client_order_id)) for m in waiting.fills) if d]

    # -- what the stream says ------------------------------------------------------------------
    def fill(self, fill: Fill) -> Deliver | None:
        """A fill to deliver, or None when its trade id was already delivered."""
        return self._deliver_fill(fill)

    def fill_for_venue_order(
        self, venue_order_id: str, make: Callable[[str], Fill], now: float
    ) -> Output | None:
        """A fill that names only the venue's order id: delivered at once if the order is
        known, else held until :meth:`placed` or :meth:`learn` tells (``make(cid)`` builds it;
        at most ``limit`` venue order ids are held at once)."""
        cid = self._by_venue_id.get(venue_order_id)
        if cid is not None:
            return self._deliver_fill(make(cid))
        waiting = self._waiting.get(venue_order_id)
        if waiting is None:
            if len(self._waiting) >= self.limit:
                return None  # not held: the order's re-query finds the trade
            waiting = self._waiting[venue_order_id] = _Waiting([], now)
        waiting.fills.append(make)
        self.fills_waited += 1
        return None

    def finished(self, client_order_id: str) -> None:
        """The stream delivered the order's terminal status."""
        entry = self._orders.get(client_order_id)
        if entry is None:
            self._early.add(client_order_id)
        else:
            self._orders[client_order_id] = (entry[0], True)

    # -- when to re-query ----------------------------------------------------------------------
    def subscribed(self, now: float) -> list[Output]:
        """The private stream is (re)subscribed: re-query every unfinished order."""
        self._subscribed_at = now
        return self.requery(now)

    def unsubscribed(self) -> None:
        self._subscribed_at = None

    def unfinished(self) -> list[Requery]:
        """Every order placed and not yet seen finishing, oldest first."""
        return [Requery(sym, cid) for cid, (sym, done) in self._orders.items() if not done]

    def requery(self, now: float) -> list[Output]:
        """A REST re-query of every order not yet seen finishing, oldest first."""
        self._next_reconcile = now + self.reconcile_every_s
        keys = self.unfinished()
        self.requeries += len(keys)
        return [Fetch(key) for key in keys]

    def timer(self, now: float) -> list[Output]:
        """The periodic re-query (while subscribed), and fills that waited too long for their
        order's id: re-query instead of guessing."""
        out: list[Output] = []
        if self._subscribed_at is not None and now >= self._next_reconcile:
            out += self.requery(now)
        for venue_order_id, waiting in list(self._waiting.items()):
            if now - waiting.since >= self.fill_wait_s:
                del self._waiting[venue_order_id]
                log.warning("venue.fill_without_order", venue=self.venue,
                            venue_order_id=venue_order_id, fills=len(waiting.fills))  # fmt: skip
        return out

    # -- re-query answers -----------------------------------------------------------------------
    def fetched(self, key: Hashable, result: Any, now: float) -> Sequence[Output] | None:
        """A re-query's answer turned into events; None when ``key`` is not a re-query."""
        if not isinstance(key, Requery):
            return None
        cid = key.client_order_id
        if isinstance(result, OrderReport):
            out: list[Output] = [d for d in map(self._deliver_fill, result.fills) if d]
            update: OrderEvent = OrderUpdate(
                venue=self.venue, client_order_id=cid, status=result.status,
                filled_qty=result.filled_qty, avg_price=result.avg_price, ts=now,
                reason=result.reason,
            )  # fmt: skip
            out.append(Deliver(update))
            if result.status.is_terminal:
                self.finished(cid)
            return out
        if isinstance(result, OrderNotFound):
            return NOTHING  # not (yet) known to the venue: asked again next time
        if isinstance(result, VenueError) and not isinstance(result, AuthenticationFailed):
            log.warning("venue.reconcile_failed", venue=self.venue, order=cid, error=str(result))
            return NOTHING
        error = result if isinstance(result, Exception) else TypeError(f"re-query: {result!r}")
        return (Fail(error),)

    def _remember(self, venue_order_id: str, client_order_id: str) -> None:
        self._by_venue_id[venue_order_id] = client_order_id
        self._by_venue_id.move_to_end(venue_order_id)
        while len(self._by_venue_id) > self.limit:
            self._by_venue_id.popitem(last=False)

    def _deliver_fill(self, fill: Fill) -> Deliver | None:
        return Deliver(fill) if self.trades.add((fill.venue, fill.trade_id)) else None
