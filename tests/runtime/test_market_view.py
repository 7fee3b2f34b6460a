"""The market view: what the strategy and the positions may read of the venues' books."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
import structlog

from arbtrio.core.book import L2Book
from arbtrio.core.detector import band_outliers
from arbtrio.core.instruments import Instrument
from arbtrio.runtime.market import MarketView
from arbtrio.runtime.venues import VenueSupervisor
from arbtrio.venues.base import VenueHealth

VENUES = ("hyperliquid", "bybit", "bitget", "gateio")


class Booked:
    """What the market view reads of a client: its books and health."""

    def __init__(self, venue: str) -> None:
        self.name = venue
        self.books: dict[str, L2Book] = {}
        self.health = VenueHealth(venue)


def instrument(venue: str) -> Instrument:
    return Instrument(venue=venue, symbol=f"BTC-{venue}", asset="BTC", quote="USDT",
                      tick_size=Decimal("0.1"), lot_size=Decimal("0.001"),
                      min_size=Decimal("0.001"), min_notional=Decimal(0),
                      taker_fee=Decimal("0.0005"), maker_fee=Decimal(0),
                      funding_interval_hours=8)  # fmt: skip


def market(make_config: Any, mids: dict[str, float]) -> MarketView:
    clients: dict[str, Any] = {v: Booked(v) for v in VENUES}
    venues = VenueSupervisor(make_config(), clients, router=None, rng=random.Random(1))  # type: ignore[arg-type]
    for v in VENUES:
        inst = instrument(v)
        state = venues.venues[v]
        state.instruments["BTC"] = inst
        state.ready.set()
        state.running.update(books=True, orders=True)
        venues.symbol_asset[(v, inst.symbol)] = "BTC"
        book = clients[v].books[inst.symbol] = L2Book(v, inst.symbol)
        mid = mids[v]
        book.apply_snapshot([(mid - 0.5, 1.0)], [(mid + 0.5, 1.0)], 0.0)
    return MarketView(make_config(), clients, venues)


def test_band_outliers() -> None:
    assert band_outliers({}, 300) == set() and band_outliers({"a": 1.0}, 300) == set()
    assert band_outliers({"a": 100.0, "b": 100.5}, 300) == set()
    assert band_outliers({"a": 100.0, "b": 110.0}, 300) == {"a", "b"}  # two: trust neither
    mids = {"a": 100.0, "b": 100.2, "c": 99.9, "d": 104.0}
    assert band_outliers(mids, 300) == {"d"}  # 4 % from the median of the others
    assert band_outliers(mids, 500) == set()


def test_a_book_outside_the_band_is_neither_traded_nor_quoted(make_config: Any) -> None:
    view = market(make_config, {"hyperliquid": 72_000.0, "bybit": 65_000.0,
                                "bitget": 65_010.0, "gateio": 64_990.0})  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        assert set(view.tradable_quotes("BTC")) == {"bybit", "bitget", "gateio"}
        assert view.quote("hyperliquid", "BTC-hyperliquid", 0.0) is None
        assert view.quote("bybit", "BTC-bybit", 0.0) is not None
        view.tradable_quotes("BTC")  # still outside: logged once
    assert [e["venue"] for e in logs if e["event"] == "market.outside_band"] == ["hyperliquid"]
    assert view.band_exclusions["hyperliquid"] == 1
    hl = view.clients["hyperliquid"].books["BTC-hyperliquid"]
    hl.apply_snapshot([(65_004.5, 1.0)], [(65_005.5, 1.0)], 1.0)  # back to sanity
    with structlog.testing.capture_logs() as logs:
        assert "hyperliquid" in view.tradable_quotes("BTC")
    assert [e["event"] for e in logs] == ["market.inside_band"]


@pytest.mark.parametrize("band", [10.0, 1000.0])
def test_the_band_is_the_configured_one(make_config: Any, band: float) -> None:
    import attrs

    view = market(make_config, {"hyperliquid": 65_300.0, "bybit": 65_000.0,
                                "bitget": 65_010.0, "gateio": 64_990.0})  # fmt: skip
    view.config = attrs.evolve(view.config, detector=attrs.evolve(view.config.detector,
                                                                 sanity_band_bps=band))  # fmt: skip
    assert ("hyperliquid" in view.tradable_quotes("BTC")) is (band == 1000.0)
