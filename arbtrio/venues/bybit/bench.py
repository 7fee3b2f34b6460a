"""Throughput of decoding, applying and stamping Bybit's real ``orderbook.50`` messages."""

from __future__ import annotations

import random
import time
from typing import Any

import msgspec

from arbtrio.core.book import L2Book
from arbtrio.venues.bybit.book import BybitBook, Verdict
from arbtrio.venues.bybit.codecs import decode_public

TARGET_MSGS_PER_S = 200_000


def book_messages(n: int, *, seed: int = 7, levels: int = 50) -> list[bytes]:
    """A snapshot then ``n`` deltas of 1–4 changed levels, as Bybit sends them."""
    rng = random.Random(seed)
    mid = 65_000.0
    bids = {round(mid - 0.1 * (i + 1), 1): rng.randint(1, 900) / 1000 for i in range(levels)}
    asks = {round(mid + 0.1 * i, 1): rng.randint(1, 900) / 1000 for i in range(levels)}

    def frame(kind: str, b: dict[float, float], a: dict[float, float], u: int) -> bytes:
        return msgspec.json.encode({
            "topic": "orderbook.50.BTCUSDT", "type": kind, "ts": 1672304484978 + u,
            "data": {"s": "BTCUSDT", "b": [[f"{p:.2f}", f"{s:.3f}"] for p, s in b.items()],
                     "a": [[f"{p:.2f}", f"{s:.3f}"] for p, s in a.items()], "u": u,
                     "seq": 7961638724 + u},
            "cts": 1672304484976 + u,
        })  # fmt: skip

    out = [frame("snapshot", bids, asks, 1000)]
    for u in range(1001, 1001 + n):
        db: dict[float, float] = {}
        da: dict[float, float] = {}
        for _ in range(rng.randint(1, 4)):
            side, book = (db, bids) if rng.random() < 0.5 else (da, asks)
            price = rng.choice(list(book))
            size = 0.0 if rng.random() < 0.2 and len(book) > 10 else rng.randint(1, 900) / 1000
            side[price] = size
            if size:
                book[price] = size
            else:
                del book[price]
        out.append(frame("delta", db, da, u))
    return out


def run(messages: list[bytes]) -> float:
    """Seconds to decode and apply every message in order (asserting each applies)."""
    tracker = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    start = time.perf_counter()
    for raw in messages:
        frame = decode_public(raw)
        if tracker.apply(frame, 0.0) is not Verdict.APPLIED:
            raise AssertionError(f"bench message not applied: {tracker.reason}")
    return time.perf_counter() - start


def bench_rows(n: int = 100_000) -> list[dict[str, Any]]:
    messages = book_messages(n)
    run(messages[:1000])  # warm up
    elapsed = min(run(messages) for _ in range(3))
    rate = len(messages) / elapsed
    return [
        {
            "name": "bybit.orderbook.50 decode+apply",
            "value": round(rate),
            "unit": "msg/s",
            "target": TARGET_MSGS_PER_S,
            "ok": rate >= TARGET_MSGS_PER_S,
            "detail": f"{len(messages)} msgs (1 snapshot, deltas of 1-4 levels; each stamped "
            "with its ts), best of 3",
        }
    ]


if __name__ == "__main__":
    for row in bench_rows():
        print(row)
