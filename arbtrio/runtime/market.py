"""The market view: what the strategy, the positions and the views read of the venues' books.

Books are owned by each venue client's feed (spec 006); this view only reads them, through
the instruments the venue supervisor loaded. It also carries the strategy's conflated
wake-up: :meth:`MarketView.on_book` (the feed callback, after every applied message) marks
the book's asset dirty and wakes :meth:`wait_dirty`, so the strategy evaluates each changed
asset once on current books and never works through a backlog.

A book whose mid leaves ``detector.sanity_band_bps`` around the other venues' mids for the
same asset (:func:`~arbtrio.core.detector.band_outliers`) is treated as corrupt: it is
neither offered to the detector nor quoted to positions, and entering and leaving the band
are logged (``market.outside_band`` / ``market.inside_band``) and counted per venue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal

import structlog
import trio

from arbtrio.config import Config
from arbtrio.core import events as ev
from arbtrio.core.book import L2Book
from arbtrio.core.detector import band_outliers, book_problem
from arbtrio.core.instruments import Instrument
from arbtrio.core.position import PositionSpec
from arbtrio.core.types import FundingRate
from arbtrio.runtime.venues import VenueSupervisor
from arbtrio.venues.base import VenueClient

__all__ = ["MarketView", "decimal_of"]

log = structlog.get_logger("arbtrio.runtime")


def decimal_of(value: float) -> Decimal:
    """A float market price as the shortest Decimal that reads back as it."""
    return Decimal(repr(value))


class MarketView:
    """Books, tradable quotes, funding rates and venue health, read-only."""

    def __init__(
        self, config: Config, clients: Mapping[str, VenueClient], venues: VenueSupervisor
    ) -> None:
        self.config = config
        self.clients = clients
        self.venues = venues
        self._dirty: set[str] = set()
        self._wake = trio.Event()
        self.outside_band: dict[str, set[str]] = {}  # asset -> venues outside the band now
        self.band_exclusions: Counter[str] = Counter()  # venue -> times entered the state

    # -- the strategy's wake-up ---------------------------------------------------------------
    def on_book(self, book: L2Book) -> None:
        """Feed callback: the book's asset changed (conflated; never blocks)."""
        asset = self.venues.symbol_asset.get((book.venue, book.symbol))
        if asset is None:
            return
        self._dirty.add(asset)
        self._wake.set()

    async def wait_dirty(self) -> list[str]:
        """Wait until some book changed; the changed assets, sorted (and cleared)."""
        await self._wake.wait()
        self._wake = trio.Event()
        dirty, self._dirty = self._dirty, set()
        return sorted(dirty)

    # -- reading ---------------------------------------------------------------------------
    def venue_up(self, venue: str) -> bool:
        return self.venues.venue_up(venue)

    def book_for(self, venue: str, asset: str) -> tuple[Instrument, L2Book] | None:
        inst = self.venues.instrument(venue, asset)
        if inst is None:
            return None
        book = self.clients[venue].books.get(inst.symbol)
        return None if book is None else (inst, book)

    def tradable_quotes(self, asset: str) -> dict[str, tuple[Instrument, L2Book]]:
        """The asset's instrument and book on every venue that is up and inside the band."""
        out = {}
        for venue in self.clients:
            if not self.venue_up(venue):
                continue
            pair = self.book_for(venue, asset)
            if pair is not None:
                out[venue] = pair
        for venue in self.band_check(asset):
            out.pop(venue, None)
        return out

    def band_check(self, asset: str) -> set[str]:
        """The venues whose book of ``asset`` is outside the sanity band now (logged and
        counted when that changes)."""
        mids = {}
        for venue in self.clients:
            mid = self._mid(venue, asset)
            if mid is not None:
                mids[venue] = mid
        now = band_outliers(mids, self.config.detector.sanity_band_bps)
        before = self.outside_band.get(asset, set())
        if now != before:
            for venue in sorted(now - before):
                self.band_exclusions[venue] += 1
                log.error("market.outside_band", venue=venue, asset=asset,
                          mids={v: round(m, 8) for v, m in sorted(mids.items())},
                          band_bps=self.config.detector.sanity_band_bps)  # fmt: skip
            for venue in sorted(before - now):
                log.info("market.inside_band", venue=venue, asset=asset)
            self.outside_band[asset] = now
        return now

    def _mid(self, venue: str, asset: str) -> float | None:
        """The mid of a tradable, uncrossed book with positive prices, else None."""
        pair = self.book_for(venue, asset)
        if pair is None:
            return None
        book = pair[1]
        if not book.tradable:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None or not 0 < bid[0] < ask[0]:
            return None
        return (bid[0] + ask[0]) / 2

    def mark(self, venue: str, symbol: str) -> Decimal | None:
        """The mid of a venue's book (its quote currency) to value a leg at, or None when the
        book is not tradable, crossed, empty or outside the sanity band."""
        asset = self.venues.symbol_asset.get((venue, symbol))
        if asset is None:
            return None
        mid = self._mid(venue, asset)
        if mid is None or venue in self.outside_band.get(asset, ()):
            return None
        return decimal_of(mid)

    def funding_for(self, asset: str) -> dict[str, FundingRate]:
        return {v: s.funding[asset] for v, s in self.venues.venues.items() if asset in s.funding}

    def unrefreshed(self, asset: str, traded: Mapping[tuple[str, str], float]) -> list[str]:
        """Venues whose book of ``asset`` has not updated since our last order event there
        (``traded``: (venue, asset) → time), so it does not show our own fills yet."""
        out = []
        for venue in self.clients:
            ts = traded.get((venue, asset))
            if ts is None:
                continue
            pair = self.book_for(venue, asset)
            if pair is None or pair[1].last_update_ts <= ts:
                out.append(venue)
        return out

    def quote(self, venue: str, symbol: str, now: float) -> ev.Quote | None:
        """Best bid and ask of a tradable, fresh, uncrossed book; None otherwise."""
        client = self.clients.get(venue)
        if client is None:
            return None
        book = client.books.get(symbol)
        if book is None or not book.tradable or book.is_crossed():
            return None
        detector = self.config.detector
        if book_problem(book, now, detector.max_quote_age_ms, detector.max_feed_lag_ms):
            return None
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None or bid[0] <= 0 or ask[0] <= 0:
            return None
        asset = self.venues.symbol_asset.get((venue, symbol))
        if asset is not None and venue in self.band_check(asset):
            return None  # a corrupt book does not price a close
        return ev.Quote(bid=decimal_of(bid[0]), ask=decimal_of(ask[0]))

    def exit_blocker(self, spec: PositionSpec, now: float) -> str | None:
        """Why closing ``spec``'s pair now could leave a leg naked, or None: one of its venues
        is ``venue_down`` (supervision), ``refusing`` orders (the router), or its book is
        missing, not tradable (a gap or resync), stale, crossed, or ``outside_band``. The
        reason names the venue: ``"bybit: stale"``."""
        for inst in (spec.long, spec.short):
            venue = inst.venue
            if not self.venue_up(venue):
                return f"{venue}: venue_down"
            health = self.venues.router.health.get(venue)
            if health is not None and health.refusing(now):
                return f"{venue}: refusing"
            book = self.clients[venue].books.get(inst.symbol)
            if book is None:
                return f"{venue}: no_book"
            detector = self.config.detector
            problem = book_problem(book, now, detector.max_quote_age_ms, detector.max_feed_lag_ms)
            if problem is not None:
                return f"{venue}: {problem}"
            if venue in self.band_check(spec.asset):
                return f"{venue}: outside_band"
        return None

    def quotes_for(self, spec: PositionSpec) -> dict[str, ev.Quote]:
        """The latest usable quote of each of a position's venues (now)."""
        now = trio.current_time()
        out = {}
        for inst in (spec.long, spec.short):
            q = self.quote(inst.venue, inst.symbol, now)
            if q is not None:
                out[inst.venue] = q
        return out

    def symbols(self) -> Iterable[tuple[str, str, L2Book]]:
        """(venue, symbol, book) of every book, venues and symbols sorted."""
        for venue in sorted(self.clients):
            for symbol, book in sorted(self.clients[venue].books.items()):
                yield venue, symbol, book
