"""Bybit V5 USDT linear perpetuals: client, wire codecs and signing.

The package contract (briefs/venue_api.md): :data:`DEFAULT_REST_URL`, :data:`DEFAULT_WS_URL`,
:func:`create_client`, and :func:`bench_rows` for ``make bench``
(built by :mod:`arbtrio.venues.package`; the benchmark is imported lazily).
"""

from __future__ import annotations

from arbtrio.venues.bybit.client import DEFAULT_REST_URL, DEFAULT_WS_URL, BybitClient
from arbtrio.venues.bybit.prepare import BybitAccount, prepare_order
from arbtrio.venues.package import client_factory, lazy_bench_rows

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "BybitAccount",
    "BybitClient",
    "bench_rows",
    "create_client",
    "prepare_order",
]

create_client = client_factory(BybitClient, DEFAULT_REST_URL, DEFAULT_WS_URL, "Bybit")
bench_rows = lazy_bench_rows("arbtrio.venues.bybit.bench", "Bybit")
