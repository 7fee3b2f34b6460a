"""The venue package contract, written once.

Every ``arbtrio.venues.<venue>`` package exports ``create_client`` (the CLI and the wire
simulation call it) and ``bench_rows`` (``make bench``). The packages build them here from
their own client class, default URLs and module names (the emulators are not part of the
venue packages: they live in :mod:`arbtrio.emulators`, independent of the clients):

* :func:`client_factory` — ``create_client(*, rest_url, ws_url, credentials,
  symbols_hint)`` with the venue's default URLs filled in.
* :func:`lazy_bench_rows` — a forwarder that imports the benchmark module only when
  called, so using a client never imports the simulator.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from arbtrio.venues.base import Credentials

__all__ = ["CreateClient", "client_factory", "lazy_bench_rows"]

C_co = TypeVar("C_co", covariant=True)


class CreateClient(Protocol[C_co]):
    """A package's ``create_client``: None/empty URLs mean the venue's production URLs."""

    def __call__(
        self,
        *,
        rest_url: str | None = None,
        ws_url: str | None = None,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
    ) -> C_co: ...


class _ClientClass(Protocol[C_co]):
    def __call__(
        self,
        *,
        rest_url: str,
        ws_url: str,
        credentials: Credentials | None,
        symbols_hint: Sequence[str],
    ) -> C_co: ...


def client_factory(
    cls: _ClientClass[C_co], default_rest_url: str, default_ws_url: str, venue: str
) -> CreateClient[C_co]:
    """``create_client`` for a client class taking ``rest_url``/``ws_url``/``credentials``/
    ``symbols_hint``; without credentials the client serves public data only."""

    def create_client(
        *,
        rest_url: str | None = None,
        ws_url: str | None = None,
        credentials: Credentials | None = None,
        symbols_hint: Sequence[str] = (),
    ) -> C_co:
        return cls(
            rest_url=rest_url or default_rest_url,
            ws_url=ws_url or default_ws_url,
            credentials=credentials,
            symbols_hint=symbols_hint,
        )

    create_client.__doc__ = (
        f"A {venue} client; without credentials it serves public data only (order calls "
        "then raise AuthenticationFailed)."
    )
    return create_client


def lazy_bench_rows(module: str, venue: str) -> Callable[..., list[dict[str, Any]]]:
    """``bench_rows`` forwarding to ``<module>.bench_rows``, imported on first call."""

    def bench_rows(**kwargs: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = importlib.import_module(module).bench_rows(**kwargs)
        return rows

    bench_rows.__doc__ = f"{venue} benchmark rows for ``make bench`` (see :mod:`{module}`)."
    return bench_rows
