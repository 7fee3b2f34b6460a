"""Benchmarks for ``make bench``: l2Book / bbo decode+apply and order signing.

Rows: ``{"name", "value", "unit", "target", "ok", "detail"}``. The book rows drive the
path the client runs: :meth:`HyperliquidBookFeed.frame` on the raw frame, then the shell's
dispatch of its outputs (one ``Changed`` → the ``on_change`` callback). Hyperliquid sends
*full* 20-level snapshots (never deltas), so the l2Book row decodes and applies 40 levels
per message; the bbo row is the venue's small top-of-book message. The official SDK's
``sign_l1_action`` is measured beside ours when the ``hyperliquid`` package is importable
(it is not a dependency).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from arbtrio.core.book import L2Book
from arbtrio.venues.base import VenueHealth
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.feed import HyperliquidBookFeed
from arbtrio.venues.hyperliquid.signing import sign_l1_action
from arbtrio.venues.stream import Changed

TARGET_MSGS_PER_S = 200_000
TARGET_SIGN_US = 100.0
KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ORDER_ACTION = {
    "type": "order",
    "orders": [
        {"a": 0, "b": False, "p": "95000", "s": "0.001", "r": False,
         "t": {"limit": {"tif": "Ioc"}}, "c": "0x0000000000000000000000000000abcd"}
    ],
    "grouping": "na",
}  # fmt: skip


def _l2book_messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 65_000 + (i % 50)
        bids = [
            {"px": f"{mid - 1 - k}.0", "sz": f"{0.1 + k / 100:.5f}", "n": 1 + k} for k in range(20)
        ]
        asks = [
            {"px": f"{mid + 1 + k}.0", "sz": f"{0.2 + k / 100:.5f}", "n": 1 + k} for k in range(20)
        ]
        data = {"coin": "BTC", "time": 1 + i, "levels": [bids, asks]}
        out.append(c.encode({"channel": "l2Book", "data": data}))
    return out


def _bbo_messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        mid = 65_000 + (i % 50)
        bbo = [
            {"px": f"{mid - 1}.0", "sz": "0.5", "n": 2},
            {"px": f"{mid + 1}.0", "sz": "0.7", "n": 3},
        ]
        out.append(
            c.encode({"channel": "bbo", "data": {"coin": "BTC", "time": 10**9 + i, "bbo": bbo}})
        )
    return out


def _feed() -> HyperliquidBookFeed:
    """A connected book feed for BTC (its first frame, READY included, is in the prime)."""
    feed = HyperliquidBookFeed({}, ["BTC"], VenueHealth("hyperliquid"))
    feed.connected(None, 0.0)
    return feed


def _on_change(_book: L2Book) -> None:
    pass


def _rate(messages: list[bytes], prime: list[bytes]) -> float:
    """Best of 3 runs, each on a fresh book (primed with ``prime``) so nothing is skipped
    as older than the book. Each message: ``frame()``, then the shell's output dispatch."""
    best = float("inf")
    for _ in range(3):
        feed = _feed()
        for raw in prime:
            feed.frame(raw, 0.0)
        frame, on_change = feed.frame, _on_change
        start = time.perf_counter()
        for raw in messages:
            for out in frame(raw, 0.0):
                if out.__class__ is Changed:
                    on_change(out.book)
        best = min(best, time.perf_counter() - start)
    return len(messages) / best


def _per_call_us(fn: Callable[[int], Any], n: int) -> float:
    for i in range(min(200, n)):
        fn(i)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(1_700_000_000_000 + i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def _sdk_signer() -> Callable[[int], Any] | None:
    try:
        import eth_account  # type: ignore[import-not-found]
        from hyperliquid.utils.signing import (  # type: ignore[import-not-found]
            sign_l1_action as sdk_sign,
        )
    except ImportError:
        return None
    wallet = eth_account.Account.from_key(KEY)

    def sign(nonce: int) -> Any:
        try:
            return sdk_sign(wallet, ORDER_ACTION, None, nonce, None, True)
        except TypeError:  # older SDKs: (wallet, action, active_pool, nonce, is_mainnet)
            return sdk_sign(wallet, ORDER_ACTION, None, nonce, True)

    return sign


def bench_rows(n: int = 20_000, n_sign: int = 3_000) -> list[dict[str, Any]]:
    snapshots = _l2book_messages(n + 1)
    l2 = _rate(snapshots[1:], prime=snapshots[:1])
    bbo = _rate(_bbo_messages(n), prime=snapshots[:1])
    ours = _per_call_us(lambda nonce: sign_l1_action(KEY, ORDER_ACTION, nonce, None, True), n_sign)
    rows: list[dict[str, Any]] = [
        {
            "name": "hyperliquid.l2Book decode+apply",
            "value": round(l2),
            "unit": "msg/s",
            "target": TARGET_MSGS_PER_S,
            "ok": l2 >= TARGET_MSGS_PER_S,
            "detail": f"{n} full snapshots of 20+20 levels (the venue sends no deltas), best of 3",
        },
        {
            "name": "hyperliquid.bbo decode+apply",
            "value": round(bbo),
            "unit": "msg/s",
            "target": TARGET_MSGS_PER_S,
            "ok": bbo >= TARGET_MSGS_PER_S,
            "detail": f"{n} top-of-book messages applied over a 20-level book, best of 3",
        },
        {
            "name": "hyperliquid.sign_l1_action order",
            "value": round(ours, 1),
            "unit": "us",
            "target": TARGET_SIGN_US,
            "ok": ours <= TARGET_SIGN_US,
            "detail": f"one IOC order with cloid, {n_sign} signatures, best of 3",
        },
    ]
    sdk = _sdk_signer()
    if sdk is not None:
        theirs = _per_call_us(sdk, max(200, n_sign // 5))
        rows.append(
            {
                "name": "hyperliquid.sign_l1_action order (official SDK)",
                "value": round(theirs, 1),
                "unit": "us",
                "target": None,
                "ok": True,
                "detail": f"same action; ours is {theirs / ours:.1f}x faster",
            }
        )
    return rows


if __name__ == "__main__":
    for row in bench_rows():
        print(row)
