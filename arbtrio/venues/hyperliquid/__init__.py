"""Hyperliquid perpetuals: wire codecs, L1 signing, stream protocols and the venue client.

The package contract (``specs/006-venue-clients.md``, :mod:`arbtrio.venues.package`):
``DEFAULT_REST_URL``, ``DEFAULT_WS_URL``, ``create_client``; plus ``sign_l1_action`` (the
official SDK's signature for the same inputs) and ``bench_rows`` (signing and book-decoding
benchmarks). The venue's rules and the module map: ``specs/010-hyperliquid.md``.
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
from arbtrio.venues.package import lazy_bench_rows

bench_rows = lazy_bench_rows("arbtrio.venues.hyperliquid.bench", "Hyperliquid")


__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "HyperliquidAccount",
    "HyperliquidClient",
    "bench_rows",
    "create_client",
    "prepare_order",
    "sign_l1_action",
]
