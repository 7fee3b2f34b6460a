"""Benchmark: decode + apply throughput of KuCoin's real ``/contractMarket/level2`` push.

``bench_rows()`` feeds a synced :class:`~arbtrio.venues.kucoin.books.KucoinBooks` a stream
of real-shaped pushes (one ``"price,side,size"`` change each, sequence +1) through the same
``on_frame`` the client uses, and reports messages per second on one core.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import VenueHealth
from arbtrio.venues.kucoin import codecs
from arbtrio.venues.kucoin.books import KucoinBooks

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


def bench_rows(n: int = 100_000) -> list[dict[str, Any]]:
    """One row: ``{"name", "value", "unit", "target", "ok", "detail"}`` for KuCoin decode+apply."""
    inst = _instrument()
    health = VenueHealth("kucoin")
    books = KucoinBooks({inst.symbol: inst}, health, lambda book: None)
    snap = codecs.snapshot_decoder.decode(
        b'{"code":"200000","data":{"sequence":1000,"symbol":"XBTUSDTM",'
        b'"bids":[[90630.7,5]],"asks":[[90631.2,5]],"ts":1}}'
    ).data
    books.resync(inst.symbol, "bench", 0.0)
    books.on_snapshot(inst.symbol, snap, 0.0)
    frames = _frames(n, 1000)
    on_frame = books.on_frame
    start = time.perf_counter()
    for frame in frames:
        on_frame(frame, 1.0)
    elapsed = time.perf_counter() - start
    if health.malformed or health.resyncs or not books.books[inst.symbol].tradable:
        raise RuntimeError(f"kucoin bench stream did not apply cleanly: {health}")
    rate = n / elapsed
    return [
        {
            "name": "kucoin level2 decode+apply",
            "value": round(rate),
            "unit": "msgs/s",
            "target": TARGET_MSGS_PER_S,
            "ok": rate >= TARGET_MSGS_PER_S,
            "detail": f"{n:,} real-shaped frames through the client's on_frame, one core",
        }
    ]
