"""Hyperliquid perpetuals: wire codecs, L1 signing, the venue client and the wire emulator.

The package contract (briefs/venue_api.md): ``DEFAULT_REST_URL``, ``DEFAULT_WS_URL``,
``create_client``, ``serve_emulator``; plus ``sign_l1_action`` (the official SDK's signature
for the same inputs) and ``bench_rows`` (signing and book-decoding benchmarks).
"""

from __future__ import annotations

from arbtrio.venues.hyperliquid.client import (
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    HyperliquidClient,
    create_client,
)
from arbtrio.venues.hyperliquid.prepare import HyperliquidAccount, prepare_order
from arbtrio.venues.hyperliquid.signing import sign_l1_action
from arbtrio.venues.package import lazy_bench_rows, lazy_serve_emulator

serve_emulator = lazy_serve_emulator("arbtrio.venues.hyperliquid.emulator", "Hyperliquid")
bench_rows = lazy_bench_rows("arbtrio.venues.hyperliquid.bench", "Hyperliquid")


__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "HyperliquidAccount",
    "HyperliquidClient",
    "bench_rows",
    "create_client",
    "prepare_order",
    "serve_emulator",
    "sign_l1_action",
]
