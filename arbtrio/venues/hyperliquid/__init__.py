"""Hyperliquid perpetuals: wire codecs, L1 signing, the venue client and the wire emulator.

The package contract (briefs/venue_api.md): ``DEFAULT_REST_URL``, ``DEFAULT_WS_URL``,
``create_client``, ``serve_emulator``; plus ``sign_l1_action`` (the official SDK's signature
for the same inputs) and ``bench_rows`` (signing and book-decoding benchmarks).
"""

from __future__ import annotations

from typing import Any

from arbtrio.venues.hyperliquid.client import (
    DEFAULT_REST_URL,
    DEFAULT_WS_URL,
    HyperliquidClient,
    create_client,
)
from arbtrio.venues.hyperliquid.signing import sign_l1_action


async def serve_emulator(*args: Any, **kwargs: Any) -> None:
    """Serve the emulator (see :mod:`arbtrio.venues.hyperliquid.emulator`); imported lazily
    so that using the client never imports the simulator."""
    from arbtrio.venues.hyperliquid.emulator import serve_emulator as serve

    await serve(*args, **kwargs)


def bench_rows(**kwargs: Any) -> list[dict[str, Any]]:
    """Benchmark rows (see :mod:`arbtrio.venues.hyperliquid.bench`)."""
    from arbtrio.venues.hyperliquid.bench import bench_rows as rows

    return rows(**kwargs)


__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "HyperliquidClient",
    "bench_rows",
    "create_client",
    "serve_emulator",
    "sign_l1_action",
]
