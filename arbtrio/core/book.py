"""Level-2 order book for one symbol on one venue.

Market data is floats for speed (spec 008); order prices and sizes become exact decimals
only when the core quantises an order. Sizes are base units: adapters convert contracts or
lots before they touch a book.

A book is owned by exactly one feed task, which applies snapshots and deltas in place and
clears ``tradable`` while it resyncs. Readers (the strategy) read it between awaits, which
under Trio's cooperative scheduling always sees a whole update.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from arbtrio.core.types import Side

Level = tuple[float, float]  # (price, size)
LAG_FLOOR_DRIFT = 1e-4  # s/s: clocks drift well under 0.1 ms per second (NTP-kept)


class L2Book:
    """Price levels per side, best bid/ask, VWAP for a size, and a tradable flag.

    ``tradable`` is False until the first snapshot and whenever a feed calls
    :meth:`invalidate` (gap, bad checksum, disconnect, malformed message).

    ``last_update_ts`` is when the last message was applied (the runtime clock);
    ``exchange_ts`` is the venue's own time of it (epoch seconds, 0.0 when the feed gives
    none) and ``lag_s`` the feed's lag above its floor (:meth:`stamp`): a feed that keeps
    flowing but lags looks fresh by receipt time alone.
    """

    __slots__ = (
        "_ask_px",
        "_asks",
        "_bid_px",
        "_bids",
        "_lag_floor",
        "_lag_floor_ts",
        "exchange_ts",
        "invalid_reason",
        "lag_s",
        "last_update_ts",
        "seq",
        "symbol",
        "tradable",
        "updates",
        "venue",
    )

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        self._bid_px: list[float] = []  # ascending; best bid is last
        self._ask_px: list[float] = []  # ascending; best ask is first
        self.tradable = False
        self.invalid_reason = "no snapshot yet"
        self.last_update_ts = 0.0
        self.exchange_ts = 0.0
        self.lag_s = 0.0
        self._lag_floor: float | None = None
        self._lag_floor_ts = 0.0
        self.seq = 0  # the venue's sequence/update id of the last applied message
        self.updates = 0  # count of applied snapshots and deltas

    # -- writing (the feed task only) -------------------------------------------------
    def apply_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], ts: float, seq: int = 0
    ) -> None:
        """Replace the whole book and mark it tradable (zero-size levels are skipped)."""
        self._bids = {p: s for p, s in bids if s > 0}
        self._asks = {p: s for p, s in asks if s > 0}
        self._bid_px = sorted(self._bids)
        self._ask_px = sorted(self._asks)
        self.seq = seq
        self.last_update_ts = ts
        self.updates += 1
        self.tradable = True
        self.invalid_reason = ""

    def apply_sorted_snapshot(
        self,
        bid_prices: list[float],
        bid_sizes: list[float],
        ask_prices: list[float],
        ask_sizes: list[float],
        ts: float,
        seq: int = 0,
    ) -> None:
        """:meth:`apply_snapshot` from levels the caller has checked: each side's prices
        strictly ascending with their sizes (all > 0) at the same index. The book adopts
        the price lists (no copy, no sort): for venues that send whole sorted books."""
        self._bids = dict(zip(bid_prices, bid_sizes, strict=True))
        self._asks = dict(zip(ask_prices, ask_sizes, strict=True))
        self._bid_px = bid_prices
        self._ask_px = ask_prices
        self.seq = seq
        self.last_update_ts = ts
        self.updates += 1
        self.tradable = True
        self.invalid_reason = ""

    def apply_delta(
        self, bids: Iterable[Level], asks: Iterable[Level], ts: float, seq: int = 0
    ) -> None:
        """Set each given level's size; a size of 0 removes the level."""
        _apply_side(self._bids, self._bid_px, bids)
        _apply_side(self._asks, self._ask_px, asks)
        self.seq = seq
        self.last_update_ts = ts
        self.updates += 1

    def stamp(self, exchange_ts: float) -> None:
        """Record the venue's time of the message just applied (epoch seconds) and the feed's
        lag: receipt (``last_update_ts``) − ``exchange_ts``, above the lowest such lag this
        book has shown (the clocks' offset plus the network's floor). The floor follows a
        drifting clock upwards by at most ``LAG_FLOOR_DRIFT`` seconds per second, so a feed
        that falls behind and stays behind keeps showing its lag."""
        received = self.last_update_ts
        lag = received - exchange_ts
        floor = self._lag_floor
        if floor is None:
            floor = lag
        else:
            floor = min(floor + LAG_FLOOR_DRIFT * (received - self._lag_floor_ts), lag)
        self._lag_floor, self._lag_floor_ts = floor, received
        self.exchange_ts = exchange_ts
        self.lag_s = lag - floor

    def trim(self, depth: int) -> None:
        """Keep only the best ``depth`` levels per side (for feeds that maintain a top-N
        window and may never send deletes for levels pushed out of it)."""
        excess = len(self._bid_px) - depth
        if excess > 0:
            for price in self._bid_px[:excess]:
                del self._bids[price]
            del self._bid_px[:excess]
        if len(self._ask_px) > depth:
            for price in self._ask_px[depth:]:
                del self._asks[price]
            del self._ask_px[depth:]

    def invalidate(self, reason: str) -> None:
        """Mark the book untradable until the next snapshot (the feed is resyncing)."""
        self.tradable = False
        self.invalid_reason = reason

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_px.clear()
        self._ask_px.clear()

    # -- reading ------------------------------------------------------------------------
    def best_bid(self) -> Level | None:
        if not self._bid_px:
            return None
        p = self._bid_px[-1]
        return (p, self._bids[p])

    def best_ask(self) -> Level | None:
        if not self._ask_px:
            return None
        p = self._ask_px[0]
        return (p, self._asks[p])

    def mid(self) -> float | None:
        if not self._bid_px or not self._ask_px:
            return None
        return (self._bid_px[-1] + self._ask_px[0]) / 2

    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a corrupt or stale book)."""
        return bool(self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0])

    def levels(self, side: Side, depth: int | None = None) -> list[Level]:
        """Levels best first: ``Side.BUY`` gives bids, ``Side.SELL`` gives asks."""
        if side is Side.BUY:
            prices = self._bid_px[::-1] if depth is None else self._bid_px[: -depth - 1 : -1]
            return [(p, self._bids[p]) for p in prices]
        prices = self._ask_px if depth is None else self._ask_px[:depth]
        return [(p, self._asks[p]) for p in prices]

    def depth(self) -> tuple[int, int]:
        return (len(self._bid_px), len(self._ask_px))

    def vwap(self, taker_side: Side, qty: float) -> tuple[float | None, float]:
        """Average price to take ``qty`` base units, and how much the book can fill.

        A BUY takes asks (best first), a SELL takes bids. Returns ``(vwap, filled)``; when the
        book is too thin ``filled < qty`` and ``vwap`` is the average over what is there;
        ``(None, 0.0)`` when that side is empty or ``qty <= 0``.
        """
        if qty <= 0:
            return (None, 0.0)
        if taker_side is Side.BUY:
            book, prices, step = self._asks, self._ask_px, 1
            idx = 0
        else:
            book, prices, step = self._bids, self._bid_px, -1
            idx = len(prices) - 1
        remaining = qty
        cost = 0.0
        n = len(prices)
        while remaining > 0 and 0 <= idx < n:
            p = prices[idx]
            take = min(book[p], remaining)
            cost += take * p
            remaining -= take
            idx += step
        filled = qty - remaining
        if filled <= 0:
            return (None, 0.0)
        return (cost / filled, filled)

    def __repr__(self) -> str:
        return (
            f"L2Book({self.venue}:{self.symbol} bid={self.best_bid()} ask={self.best_ask()} "
            f"tradable={self.tradable})"
        )


def _apply_side(book: dict[float, float], prices: list[float], levels: Iterable[Level]) -> None:
    for price, size in levels:
        if size > 0:
            if price not in book:
                insort(prices, price)
            book[price] = size
        elif price in book:
            del book[price]
            del prices[bisect_left(prices, price)]
