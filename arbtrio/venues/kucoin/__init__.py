"""KuCoin Futures (USDT-margined perpetuals): the venue client.

Modules: ``codecs`` (wire messages), ``sign`` and ``prepare`` (signed requests), ``convert``
(lots ⇄ base units), ``errors`` (the code table), ``books`` (level-2 sync), ``feed`` (the
two stream protocols), ``client`` (the thin client), ``bench``. The package contract
(``create_client``, default URLs) and the choices made are in ``specs/014-kucoin.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

from arbtrio.venues.base import Credentials
from arbtrio.venues.kucoin.bench import bench_rows
from arbtrio.venues.kucoin.client import DEFAULT_REST_URL, DEFAULT_WS_URL, KucoinClient
from arbtrio.venues.kucoin.prepare import KucoinAccount, prepare_order
from arbtrio.venues.kucoin.sign import KEY_VERSION

__all__ = [
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "KucoinAccount",
    "KucoinClient",
    "bench_rows",
    "create_client",
    "prepare_order",
]


def create_client(
    *,
    rest_url: str | None = None,
    ws_url: str | None = None,
    credentials: Credentials | None = None,
    symbols_hint: Sequence[str] = (),
    key_version: str = KEY_VERSION,
) -> KucoinClient:
    """A KuCoin Futures client; ``credentials=None`` gives public data only.

    KuCoin's stream URL comes from the bullet-token answer of the REST host, so ``ws_url``
    is only used as the REST base when ``rest_url`` is not given (emulators report both as
    the same base URL). ``key_version`` is the API key's version (``"2"``, or ``"3"`` for
    current keys): the venue refuses a ``KC-API-KEY-VERSION`` that is not the key's."""
    return KucoinClient(
        rest_url=rest_url or ws_url or DEFAULT_REST_URL,
        credentials=credentials,
        symbols_hint=symbols_hint,
        key_version=key_version,
    )
