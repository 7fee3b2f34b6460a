"""Bitget V2 mix USDT-M perpetuals: client, stream protocols, wire codecs and signing.

The package contract (``specs/012-bitget.md``, the same for every venue package):
:data:`DEFAULT_REST_URL`, :data:`DEFAULT_WS_URL`, :func:`create_client`, and
:func:`bench_rows` for ``make bench`` (built by :mod:`arbtrio.venues.package`; the benchmark
is imported lazily).
"""

from __future__ import annotations

from arbtrio.venues.bitget.client import DEFAULT_REST_URL, DEFAULT_WS_URL, BitgetClient
from arbtrio.venues.bitget.prepare import BitgetAccount, prepare_order
from arbtrio.venues.package import client_factory, lazy_bench_rows

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "BitgetAccount",
    "BitgetClient",
    "bench_rows",
    "create_client",
    "prepare_order",
]

create_client = client_factory(BitgetClient, DEFAULT_REST_URL, DEFAULT_WS_URL, "Bitget")
bench_rows = lazy_bench_rows("arbtrio.venues.bitget.bench", "Bitget")
