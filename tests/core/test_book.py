"""L2 book: equals a naive dict model under random snapshots and deltas; VWAP reference."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from arbtrio.core.book import L2Book, Level
from arbtrio.core.types import Side

# A coarse price grid so deltas hit existing levels often; sizes include 0 (remove).
prices = st.integers(min_value=1, max_value=40).map(lambda i: i * 0.5)
sizes = st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=50.0))
level_lists = st.lists(st.tuples(prices, sizes), max_size=12)
# Quantities to take: zero or at least 1e-9 (subnormal floats make cost underflow to 0).
quantities = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=500.0))


def naive_vwap(levels: dict[float, float], side: Side, qty: float) -> tuple[float | None, float]:
    """Reference: walk the levels best first, take what is needed, average the cost."""
    if qty <= 0:
        return (None, 0.0)
    ordered = sorted(levels.items(), reverse=side is Side.SELL)  # a SELL takes bids
    cost = filled = 0.0
    for price, size in ordered:
        take = min(size, qty - filled)
        if take <= 0:
            break
        cost += take * price
        filled += take
    return (cost / filled, filled) if filled > 0 else (None, 0.0)


class BookMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = L2Book("test", "X")
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.tradable = False
        self.ts = 0.0

    @rule(bids=level_lists, asks=level_lists, seq=st.integers(0, 10**6))
    def snapshot(self, bids: list[Level], asks: list[Level], seq: int) -> None:
        self.ts += 1
        self.book.apply_snapshot(bids, asks, ts=self.ts, seq=seq)
        self.bids = {p: s for p, s in bids if s > 0}
        self.asks = {p: s for p, s in asks if s > 0}
        self.tradable = True
        assert self.book.seq == seq

    @rule(bids=level_lists, asks=level_lists)
    def delta(self, bids: list[Level], asks: list[Level]) -> None:
        self.ts += 1
        self.book.apply_delta(bids, asks, ts=self.ts)
        for model, levels in ((self.bids, bids), (self.asks, asks)):
            for p, s in levels:
                if s > 0:
                    model[p] = s
                else:
                    model.pop(p, None)

    @rule()
    def invalidate(self) -> None:
        self.book.invalidate("gap")
        self.tradable = False

    @rule(qty=quantities, side=st.sampled_from(Side))
    def vwap_matches_reference(self, qty: float, side: Side) -> None:
        model = self.asks if side is Side.BUY else self.bids
        got, filled = self.book.vwap(side, qty)
        want, want_filled = naive_vwap(model, side, qty)
        assert math.isclose(filled, want_filled, rel_tol=1e-9, abs_tol=1e-12)
        if want is None:
            assert got is None
        else:
            assert got is not None
            assert math.isclose(got, want, rel_tol=1e-9)
            # An average of what was taken lies between the best and the worst level.
            taken = [p for p, _ in self.book.levels(side.opposite)]  # the side a taker eats
            assert min(taken) - 1e-9 <= got <= max(taken) + 1e-9

    @invariant()
    def levels_equal_the_model(self) -> None:
        assert self.book.levels(Side.BUY) == sorted(self.bids.items(), reverse=True)
        assert self.book.levels(Side.SELL) == sorted(self.asks.items())
        assert self.book.depth() == (len(self.bids), len(self.asks))
        assert self.book.levels(Side.BUY, depth=3) == sorted(self.bids.items(), reverse=True)[:3]
        assert self.book.levels(Side.SELL, depth=3) == sorted(self.asks.items())[:3]

    @invariant()
    def top_and_crossing_equal_the_model(self) -> None:
        best_bid = max(self.bids.items()) if self.bids else None
        best_ask = min(self.asks.items()) if self.asks else None
        assert self.book.best_bid() == best_bid
        assert self.book.best_ask() == best_ask
        crossed = best_bid is not None and best_ask is not None and best_bid[0] >= best_ask[0]
        assert self.book.is_crossed() is crossed

    @invariant()
    def tradable_only_after_a_snapshot_and_until_invalidated(self) -> None:
        assert self.book.tradable is self.tradable
        assert self.book.last_update_ts == self.ts


TestBookMatchesModel = BookMatchesModel.TestCase


@given(
    levels=st.dictionaries(prices, st.floats(min_value=0.001, max_value=50.0), max_size=15),
    qty=quantities,
    side=st.sampled_from(Side),
)
def test_vwap_equals_naive_reference(levels: dict[float, float], qty: float, side: Side) -> None:
    book = L2Book("test", "X")
    items = list(levels.items())
    if side is Side.BUY:
        book.apply_snapshot([], items, ts=1.0)
    else:
        book.apply_snapshot(items, [], ts=1.0)
    got, filled = book.vwap(side, qty)
    want, want_filled = naive_vwap(levels, side, qty)
    assert math.isclose(filled, want_filled, rel_tol=1e-9, abs_tol=1e-12)
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert math.isclose(got, want, rel_tol=1e-9)
    if qty > 0 and sum(levels.values()) >= qty:
        assert filled == qty  # a book deep enough fills exactly what was asked


def test_vwap_walks_levels_best_first() -> None:
    book = L2Book("test", "X")
    book.apply_snapshot([(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0), (102.0, 3.0)], ts=1.0)
    assert book.vwap(Side.BUY, 2.0) == (101.5, 2.0)
    assert book.vwap(Side.SELL, 3.0) == pytest.approx(((99.0 + 2 * 98.0) / 3, 3.0))


def test_vwap_reports_what_a_thin_book_can_fill() -> None:
    book = L2Book("test", "X")
    book.apply_snapshot([(99.0, 1.0)], [(101.0, 0.5), (103.0, 0.5)], ts=1.0)
    assert book.vwap(Side.BUY, 5.0) == (102.0, 1.0)
    assert book.vwap(Side.SELL, 0.0) == (None, 0.0)
    book.apply_delta([(99.0, 0.0)], [], ts=2.0)
    assert book.vwap(Side.SELL, 1.0) == (None, 0.0)


def test_a_delta_that_crosses_the_book_is_detected() -> None:
    book = L2Book("test", "X")
    book.apply_snapshot([(100.0, 1.0)], [(101.0, 1.0)], ts=1.0)
    assert not book.is_crossed()
    book.apply_delta([(101.0, 2.0)], [], ts=2.0)
    assert book.is_crossed()
    book.apply_delta([], [(101.0, 0.0)], ts=3.0)
    assert not book.is_crossed()


def test_new_book_is_untradable_until_its_first_snapshot() -> None:
    book = L2Book("test", "X")
    assert not book.tradable
    assert book.invalid_reason == "no snapshot yet"
    book.apply_delta([(100.0, 1.0)], [], ts=1.0)
    assert not book.tradable  # a delta never makes a book tradable
    book.apply_snapshot([(100.0, 1.0)], [(101.0, 1.0)], ts=2.0, seq=7)
    assert book.tradable and book.invalid_reason == ""


def test_invalidate_keeps_the_book_untradable_until_the_next_snapshot() -> None:
    book = L2Book("test", "X")
    book.apply_snapshot([(100.0, 1.0)], [(101.0, 1.0)], ts=1.0)
    book.invalidate("sequence gap 41 -> 43")
    assert not book.tradable
    assert book.invalid_reason == "sequence gap 41 -> 43"
    book.apply_delta([(100.5, 1.0)], [], ts=2.0)
    assert not book.tradable
    book.apply_snapshot([(100.0, 2.0)], [(101.0, 2.0)], ts=3.0)
    assert book.tradable


def test_a_snapshot_replaces_every_old_level() -> None:
    # ccxt#29210: a post-reconnect snapshot merged into the old book left ghost levels.
    book = L2Book("test", "X")
    book.apply_snapshot([(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0), (102.0, 1.0)], ts=1.0)
    book.apply_snapshot([(98.0, 1.0)], [(103.0, 1.0)], ts=2.0)
    assert book.levels(Side.BUY) == [(98.0, 1.0)]
    assert book.levels(Side.SELL) == [(103.0, 1.0)]


def test_stamp_measures_the_feed_lag_above_its_floor_and_follows_a_drifting_clock() -> None:
    book = L2Book("v", "S")
    lags = []
    # receipt − exchange time: 0.30 s of clock offset, a message 0.05 s late, one on time,
    # then a feed 0.8 s behind that keeps flowing.
    for received, exchanged in [(10.0, 9.70), (11.0, 10.65), (12.0, 11.70), (13.0, 11.90)]:
        book.apply_delta([], [], ts=received)
        book.stamp(exchanged)
        lags.append(round(book.lag_s, 6))
    assert lags == [0.0, 0.0499, 0.0, 0.7999]  # the floor drifts up 0.1 ms per second
    assert book.exchange_ts == 11.90
