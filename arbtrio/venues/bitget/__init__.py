"""Bitget V2 mix USDT-M perpetuals: client, wire codecs, signing and loopback emulator.

The package contract (briefs/venue_api.md): :data:`DEFAULT_REST_URL`, :data:`DEFAULT_WS_URL`,
:func:`create_client`, :func:`serve_emulator`, and :func:`bench_rows` for ``make bench``
(built by :mod:`arbtrio.venues.package`; the emulator and benchmark are imported lazily).
"""

from __future__ import annotations

from arbtrio.venues.bitget.client import DEFAULT_REST_URL, DEFAULT_WS_URL, BitgetClient
from arbtrio.venues.bitget.prepare import BitgetAccount, prepare_order
from arbtrio.venues.package import client_factory, lazy_bench_rows, lazy_serve_emulator

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "BitgetAccount",
    "BitgetClient",
    "bench_rows",
    "create_client",
    "prepare_order",
    "serve_emulator",
]

create_client = client_factory(BitgetClient, DEFAULT_REST_URL, DEFAULT_WS_URL, "Bitget")
serve_emulator = lazy_serve_emulator("arbtrio.venues.bitget.emulator", "Bitget")
bench_rows = lazy_bench_rows("arbtrio.venues.bitget.bench", "Bitget")
