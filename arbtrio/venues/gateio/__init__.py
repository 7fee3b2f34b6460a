"""Gate.io API v4, USDT-settled perpetual futures: client, emulator and codecs.

The venue package contract (``create_client``, ``serve_emulator``, default URLs) is in
``arbtrio/venues/base.py``'s neighbours and ``specs/013-gateio.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbtrio.venues.base import Credentials
from arbtrio.venues.gateio.bench import bench_rows
from arbtrio.venues.gateio.client import DEFAULT_REST_URL, DEFAULT_WS_URL, GateClient
from arbtrio.venues.gateio.emulator import GateEmulator, serve_emulator

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "GateClient",
    "GateEmulator",
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
) -> GateClient:
    """A Gate.io client; ``credentials=None`` gives public data only (order calls then raise
    AuthenticationFailed)."""
    return GateClient(
        rest_url=rest_url or DEFAULT_REST_URL,
        ws_url=ws_url or DEFAULT_WS_URL,
        credentials=credentials,
        symbols_hint=symbols_hint,
    )
