"""Gate.io API v4, USDT-settled perpetual futures: client, emulator and codecs.

The venue package contract (``create_client``, ``serve_emulator``, default URLs) is in
``arbtrio/venues/base.py``'s neighbours and ``specs/013-gateio.md``.
"""

from __future__ import annotations

from arbtrio.venues.gateio.bench import bench_rows
from arbtrio.venues.gateio.client import DEFAULT_REST_URL, DEFAULT_WS_URL, GateClient
from arbtrio.venues.gateio.emulator import GateEmulator, serve_emulator
from arbtrio.venues.gateio.prepare import GateAccount, prepare_order
from arbtrio.venues.package import client_factory

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "GateAccount",
    "GateClient",
    "GateEmulator",
    "bench_rows",
    "create_client",
    "prepare_order",
    "serve_emulator",
]

create_client = client_factory(GateClient, DEFAULT_REST_URL, DEFAULT_WS_URL, "Gate.io")
