"""Bitget V2 mix USDT-M perpetuals: client, wire codecs, signing and loopback emulator.

The package contract (briefs/venue_api.md): :data:`DEFAULT_REST_URL`, :data:`DEFAULT_WS_URL`,
:func:`create_client`, :func:`serve_emulator`, and :func:`bench_rows` for ``make bench``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from arbtrio.venues.base import Credentials, EmulatorEndpoints
from arbtrio.venues.bitget.client import DEFAULT_REST_URL, DEFAULT_WS_URL, BitgetClient

if TYPE_CHECKING:
    from arbtrio.sim.driver import MarketDriver
    from arbtrio.sim.market import SimMarket

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "BitgetClient",
    "bench_rows",
    "create_client",
    "serve_emulator",
]


def create_client(
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    credentials: Credentials | None = None,
    symbols_hint: Sequence[str] = (),
) -> BitgetClient:
    """A Bitget client; without credentials it serves public data only."""
    return BitgetClient(
        rest_url=rest_url or DEFAULT_REST_URL,
        ws_url=ws_url or DEFAULT_WS_URL,
        credentials=credentials,
        symbols_hint=symbols_hint,
    )


async def serve_emulator(
    market: SimMarket,
    driver: MarketDriver,
    *,
    credentials: Credentials,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[EmulatorEndpoints] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the Bitget emulator on loopback until cancelled (imports the simulator lazily)."""
    from arbtrio.venues.bitget.emulator import serve_emulator as serve

    await serve(market, driver, credentials=credentials, host=host, port=port,
                task_status=task_status)  # fmt: skip


def bench_rows() -> list[dict[str, Any]]:
    """Decode-and-apply throughput of the real book message format (``make bench``)."""
    from arbtrio.venues.bitget.bench import bench_rows as rows

    return rows()
