"""Gate.io API v4, USDT-settled perpetual futures: client and codecs.

The venue package contract (``create_client``, default URLs) is in
``arbtrio/venues/base.py``'s neighbours and ``specs/013-gateio.md``.
"""

from __future__ import annotations

from arbtrio.venues.gateio.bench import bench_rows
from arbtrio.venues.gateio.client import DEFAULT_REST_URL, DEFAULT_WS_URL, GateClient
from arbtrio.venues.gateio.prepare import GateAccount, prepare_order
from arbtrio.venues.package import client_factory

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "GateAccount",
    "GateClient",
    "bench_rows",
    "create_client",
    "prepare_order",
]

create_client = client_factory(GateClient, DEFAULT_REST_URL, DEFAULT_WS_URL, "Gate.io")
