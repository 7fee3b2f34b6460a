"""Benchmark: decode + apply throughput of Gate.io's real ``futures.order_book_update`` frame.

``bench_rows()`` feeds a synced :class:`~arbtrio.venues.gateio.feed.GateBookFeed` a stream
of real-shaped frames (2 bid + 2 ask changes each, ids consecutive) through ``frame()`` —
the call the client's stream shell makes for every frame — and reports messages per second
on one core.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import VenueHealth
from arbtrio.venues.gateio import codecs
from arbtrio.venues.gateio.feed import GateBookFeed
from arbtrio.venues.stream import Changed

TARGET_MSGS_PER_S = 200_000


def _instrument() -> Instrument:
    return Instrument(
        venue="gateio", symbol="BTC_USDT", asset="BTC", quote="USDT",
        tick_size=Decimal("0.1"), lot_size=Decimal("0.0001"), min_size=Decimal("0.0001"),
        min_notional=Decimal(0), taker_fee=Decimal("0.0005"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_multiplier=Decimal("0.0001"),
    )  # fmt: skip


def _frames(n: int, first_id: int) -> list[bytes]:
    """Frames changing two bid and two ask levels inside a 50-level window (a level's size
    goes to 0 and comes back, as on the venue)."""
    frames = []
    uid = first_id
    for i in range(n):
        j, k = i % 50, (i * 7 + 3) % 50
        frames.append(
            (
                '{"time":1615366381,"time_ms":1615366381123,"channel":"futures.order_book_update",'
                '"event":"update","result":{"t":1615366381417,"s":"BTC_USDT",'
                f'"U":{uid + 1},"u":{uid + 4},'
                f'"b":[{{"p":"{54600 - j * 0.5:.1f}","s":{i % 9}}},'
                f'{{"p":"{54600 - k * 0.5:.1f}","s":{1000 + i % 500}}}],'
                f'"a":[{{"p":"{54600.5 + k * 0.5:.1f}","s":{(i + 3) % 9}}},'
                f'{{"p":"{54600.5 + j * 0.5:.1f}","s":{2000 + i % 300}}}],"l":"50"}}}}'
            ).encode()
        )
        uid += 4
    return frames


def bench_rows(n: int = 100_000) -> list[dict[str, Any]]:
    """One row: ``{"name", "value", "unit", "target", "ok", "detail"}`` for Gate.io decode+apply."""
    inst = _instrument()
    health = VenueHealth("gateio")
    books: dict[str, L2Book] = {}
    feed = GateBookFeed(books, {inst.symbol: inst}, health, lambda: 1_615_366_381.0, depth=50)
    feed.connected(None, 0.0)
    snap = codecs.snapshot_decoder.decode(
        b'{"id":1000,"asks":[{"p":"54600.5","s":100}],"bids":[{"p":"54600","s":100}]}'
    )
    feed.fetched(inst.symbol, snap, 0.0)
    frames = _frames(n, 1000)
    frame = feed.frame
    start = time.perf_counter()
    for raw in frames:
        frame(raw, 1.0)
    elapsed = time.perf_counter() - start
    book = books[inst.symbol]
    out = frame(_frames(1, 1000 + 4 * n)[0], 1.0)
    if health.malformed or health.resyncs or not book.tradable or not isinstance(out[0], Changed):
        raise RuntimeError(f"gateio bench stream did not apply cleanly: {health}")
    rate = n / elapsed
    return [
        {
            "name": "gateio futures.order_book_update decode+apply",
            "value": round(rate),
            "unit": "msgs/s",
            "target": TARGET_MSGS_PER_S,
            "ok": rate >= TARGET_MSGS_PER_S,
            "detail": f"{n:,} real-shaped frames through the book protocol's frame(), one core",
        }
    ]
