"""What the Gate.io and KuCoin clients share: both size orders in contracts (lots), load
instruments on demand and open their HTTP client lazily.

:class:`ContractClient` is their base: the lazy ``httpx.AsyncClient``, the credentials
check, the instrument cache lookup and ``aclose``, and the state every such client keeps
(set up by ``ContractClient.__init__``: health, books, REST base, credentials, clocks).
Subclasses set ``name``, call ``super().__init__`` and implement ``load_instruments``
(which fills ``_instruments``). :func:`contract_position` converts a
signed contract count to a base-unit :class:`VenuePosition`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import ClassVar

import httpx

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument, from_contracts
from arbtrio.core.types import VenuePosition
from arbtrio.venues.base import AuthenticationFailed, BadRequest, Credentials, VenueHealth

__all__ = ["ContractClient", "contract_position"]


class ContractClient:
    """Base of the Gate.io and KuCoin clients (see the module docstring)."""

    name: ClassVar[str]

    def __init__(
        self,
        *,
        rest_url: str,
        credentials: Credentials | None,
        symbols_hint: Sequence[str],
        wall_clock: Callable[[], float] = time.time,
        request_timeout: float = 5.0,
    ) -> None:
        self.health = VenueHealth(self.name)
        self.books: dict[str, L2Book] = {}
        self.rest_url = rest_url.rstrip("/")
        self._prefix = httpx.URL(self.rest_url).path.rstrip("/")
        self._origin = self.rest_url[: len(self.rest_url) - len(self._prefix)]
        self._creds = credentials if credentials and credentials.api_key else None
        self.symbols_hint = tuple(symbols_hint)
        self._wall = wall_clock
        self._timeout = request_timeout
        self._http: httpx.AsyncClient | None = None
        self._instruments: dict[str, Instrument] = {}

    async def load_instruments(self) -> list[Instrument]:
        raise NotImplementedError

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout))
        return self._http

    def _require_credentials(self) -> Credentials:
        if self._creds is None:
            raise AuthenticationFailed(
                self.name, "no API credentials configured (public data only)"
            )
        return self._creds

    async def _instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol`` (reloading the list once if unknown); BadRequest if
        the venue has no such tradable contract."""
        if symbol not in self._instruments:
            await self.load_instruments()
        inst = self._instruments.get(symbol)
        if inst is None:
            raise BadRequest(self.name, f"unknown or untradable contract {symbol!r}")
        return inst

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


def contract_position(
    venue: str, inst: Instrument, contracts: Decimal, entry: Decimal
) -> VenuePosition:
    """A position of ``contracts`` (signed) in base units; no entry price when flat or 0."""
    qty = from_contracts(inst, contracts)
    return VenuePosition(
        venue=venue, symbol=inst.symbol, qty=qty, entry_price=entry if qty and entry else None
    )
