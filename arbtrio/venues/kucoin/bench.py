"""Benchmark: decode + apply throughput of KuCoin's real ``/contractMarket/level2`` push.

``bench_rows()`` feeds a subscribed, synced :class:`~arbtrio.venues.kucoin.feed.KucoinBookFeed`
a stream of real-shaped pushes (one ``"price,side,size"`` change each, sequence +1) through
``frame()``, the call the client's stream makes for every frame, and reports messages per
second on one core.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import VenueHealth
from arbtrio.venues.kucoin import codecs
from arbtrio.venues.kucoin.feed import KucoinBookFeed
from arbtrio.venues.stream import Changed

TARGET_MSGS_PER_S = 200_000


def _instrument() -> Instrument:
    return Instrument(
        venue="kucoin", symbol="XBTUSDTM", asset="BTC", quote="USDT",
        tick_size=Decimal("0.1"), lot_size=Decimal("0.001"), min_size=Decimal("0.001"),
        min_notional=Decimal(0), taker_fee=Decimal("0.0006"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_multiplier=Decimal("0.001"),
    )  # fmt: skip


def _frames(n: int, first_seq: int) -> list[bytes]:
    """Pushes changing levels inside a 50-level window on both sides (sizes go to 0 and
    come back, as on the venue)."""
    frames = []
    for i in range(n):
        j = (i * 7) % 50
        if i % 2:
            change = f"{90631.2 + j * 0.5:.1f},sell,{i % 11}"
        else:
            change = f"{90630.7 - j * 0.5:.1f},buy,{(i * 3) % 13}"
        frames.append(
            (
                '{"topic":"/contractMarket/level2:XBTUSDTM","type":"message","subject":"level2",'
                f'"sn":{first_seq + i + 1},"data":{{"sequence":{first_seq + i + 1},'
                f'"change":"{change}","timestamp":1731897467182}}}}'
            ).encode()
        )
    return frames


def synced_feed() -> tuple[KucoinBookFeed, L2Book]:
    """A book feed for XBTUSDTM that is welcomed, subscribed and synced at sequence 1000."""
    inst = _instrument()
    books: dict[str, L2Book] = {}
    feed = KucoinBookFeed(books, {inst.symbol: inst}, VenueHealth("kucoin"))
    feed.connected(codecs.InstanceServer(endpoint="wss://bench/"), 0.0)
    feed.frame(b'{"id":"kucoin1","type":"welcome"}', 0.0)  # → the subscription
    snap = codecs.snapshot_decoder.decode(
        b'{"code":"200000","data":{"sequence":1000,"symbol":"XBTUSDTM",'
        b'"bids":[[90630.7,5]],"asks":[[90631.2,5]],"ts":1}}'
    ).data
    feed.fetched(inst.symbol, snap, 0.0)
    book = books[inst.symbol]
    if not book.tradable or feed.machine.pending:
        raise RuntimeError("kucoin bench feed did not sync")
    return feed, book


def bench_rows(n: int = 100_000) -> list[dict[str, Any]]:
    """One row: ``{"name", "value", "unit", "target", "ok", "detail"}`` for KuCoin decode+apply."""
    feed, book = synced_feed()
    frames = _frames(n, 1000)
    frame_in = feed.frame
    start = time.perf_counter()
    for frame in frames:
        frame_in(frame, 1.0)
    elapsed = time.perf_counter() - start
    health = feed.health
    last = feed.frame(_frames(1, 1000 + n)[0], 1.0)
    if (
        health.malformed
        or health.resyncs
        or not book.tradable
        or book.updates != n + 2
        or len(last) != 1
        or not isinstance(last[0], Changed)
    ):
        raise RuntimeError(f"kucoin bench stream did not apply cleanly: {health}")
    rate = n / elapsed
    return [
        {
            "name": "kucoin level2 decode+apply",
            "value": round(rate),
            "unit": "msgs/s",
            "target": TARGET_MSGS_PER_S,
            "ok": rate >= TARGET_MSGS_PER_S,
            "detail": f"{n:,} real-shaped frames through KucoinBookFeed.frame, one core",
        }
    ]
