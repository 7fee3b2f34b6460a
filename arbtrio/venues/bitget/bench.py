"""Throughput of Bitget's real ``books`` messages through the client's path: the public-stream
protocol's ``frame()`` (decode, apply, checksum, the prebuilt ``Changed``), as the stream
shell calls it for every frame."""

from __future__ import annotations

import random
import time
from typing import Any

import msgspec

from arbtrio.venues.base import VenueHealth
from arbtrio.venues.bitget.book import checksum
from arbtrio.venues.bitget.feed import BitgetBookFeed

TARGET_MSGS_PER_S = 200_000


def book_messages(n: int, *, seed: int = 7, levels: int = 50) -> list[bytes]:
    """A snapshot then ``n`` updates of 1–4 changed levels, each with its true checksum."""
    rng = random.Random(seed)
    bids = {round(65_000.0 - 0.1 * (i + 1), 1): rng.randint(1, 900) / 100 for i in range(levels)}
    asks = {round(65_000.0 + 0.1 * i, 1): rng.randint(1, 900) / 100 for i in range(levels)}

    def raw(book: dict[float, float], desc: bool) -> list[tuple[str, str]]:
        return [(f"{p:.1f}", f"{s:.2f}") for p, s in sorted(book.items(), reverse=desc)]

    def frame(action: str, b: list[tuple[str, str]], a: list[tuple[str, str]], seq: int) -> bytes:
        crc = checksum(raw(bids, True), raw(asks, False))
        arg = {"instType": "USDT-FUTURES", "channel": "books", "instId": "BTCUSDT"}
        data = {"asks": a, "bids": b, "checksum": crc, "seq": seq, "ts": str(1695716059516 + seq)}
        return msgspec.json.encode({"action": action, "arg": arg, "data": [data],
                                    "ts": 1695716059516 + seq})  # fmt: skip

    out = [frame("snapshot", raw(bids, True), raw(asks, False), 1000)]
    for seq in range(1001, 1001 + n):
        db: dict[float, float] = {}
        da: dict[float, float] = {}
        for _ in range(rng.randint(1, 4)):
            side, book = (db, bids) if rng.random() < 0.5 else (da, asks)
            price = rng.choice(list(book))
            size = 0.0 if rng.random() < 0.2 and len(book) > 30 else rng.randint(1, 900) / 100
            side[price] = size
            if size:
                book[price] = size
            else:
                del book[price]
        out.append(frame("update", [(f"{p:.1f}", f"{s:.2f}") for p, s in db.items()],
                         [(f"{p:.1f}", f"{s:.2f}") for p, s in da.items()], seq))  # fmt: skip
    return out


def run(messages: list[bytes]) -> float:
    """Seconds to feed ``messages`` to a subscribed book protocol (every one must apply)."""
    health = VenueHealth("bitget")
    feed = BitgetBookFeed({}, ["BTCUSDT"], "books", health)
    feed.connected(None, 0.0)
    frame = feed.frame
    start = time.perf_counter()
    for raw in messages:
        frame(raw, 0.0)
    elapsed = time.perf_counter() - start
    book = feed.trackers["BTCUSDT"].book
    if health.resyncs or health.malformed or book.updates != len(messages) or not book.tradable:
        raise AssertionError(f"bench messages not all applied: {book.invalid_reason}")
    return elapsed


def bench_rows(n: int = 50_000) -> list[dict[str, Any]]:
    messages = book_messages(n)
    run(messages[:1000])
    elapsed = min(run(messages) for _ in range(3))
    rate = len(messages) / elapsed
    return [{
        "name": "bitget.books decode+apply+checksum",
        "value": round(rate), "unit": "msg/s", "target": TARGET_MSGS_PER_S,
        "ok": rate >= TARGET_MSGS_PER_S,
        "detail": f"{len(messages)} msgs (1 snapshot, updates of 1-4 levels, CRC32 of top 25 "
                  "verified on each) through BitgetBookFeed.frame, best of 3",
    }]  # fmt: skip


if __name__ == "__main__":
    for row in bench_rows():
        print(row)
