"""The unified venue interface: what every venue client, simulated or real, gives the runtime.

Contract in brief:

* Quantities are base units and prices quote units at this boundary; a client converts
  contracts/lots and venue strings at its own edge (see ``arbtrio.core.instruments``).
* ``run_books`` runs until cancelled. It owns one :class:`~arbtrio.core.book.L2Book` per
  symbol, applies every update in place and calls ``on_update(book)`` after each applied
  message (and after :meth:`L2Book.invalidate`). Expected failures — disconnects, gaps, bad
  checksums, malformed messages — are handled inside: the book is invalidated, the failure is
  counted in :class:`VenueHealth`, and the client resyncs or reconnects with backoff
  (``arbtrio.venues.reconnect``). It calls ``task_status.started()`` once subscribed.
* ``run_order_stream`` runs until cancelled and sends every order event (acks, fills,
  status updates) into ``send`` — a lossless, bounded channel. Fills may repeat: the
  receiver de-duplicates by ``trade_id``. Reconnects like ``run_books``.
* Order calls raise the typed errors below and nothing else for venue-side outcomes.
  ``OutcomeUnknown`` means the order may or may not exist: never re-send, query instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import attrs
import trio

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    FundingRate,
    OrderAck,
    OrderEvent,
    OrderReport,
    OrderRequest,
    VenuePosition,
)

BookCallback = Callable[[L2Book], None]


# -- errors ------------------------------------------------------------------------------
class VenueError(Exception):
    """Base of every error a venue client raises for a venue-side outcome."""

    def __init__(self, venue: str, message: str, *, code: str | None = None) -> None:
        super().__init__(f"{venue}: {message}" + (f" (code {code})" if code else ""))
        self.venue = venue
        self.message = message
        self.code = code


class OrderRejected(VenueError):
    """The venue refused the order; it does not exist. ``message`` is the venue's reason."""


class OrderNotFound(VenueError):
    """A query or cancel by client order id found no such order on the venue."""


class RateLimited(VenueError):
    """The venue (or our own budget) refused for rate; nothing was done. Retry later."""

    def __init__(
        self, venue: str, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(venue, message, code=code)
        self.retry_after = retry_after


class OutcomeUnknown(VenueError):
    """Timeout, dropped connection or 5xx after sending: the order may exist. Query it."""


class Disconnected(VenueError):
    """The connection is down; the request was not sent."""


class AuthenticationFailed(VenueError):
    """Bad key, signature, passphrase or timestamp. Not retried automatically."""


class BadRequest(VenueError):
    """The request was malformed by the venue's rules (a bug on our side); not sent again."""


class MalformedMessage(VenueError):
    """A venue message failed to decode or broke the protocol (counted; triggers resync)."""


# -- health ------------------------------------------------------------------------------
@attrs.define(eq=False)
class VenueHealth:
    """Mutable health counters owned by one client; :meth:`snapshot` for readers.

    ``skipped`` counts the items of a venue list (REST answers and stream pushes: positions,
    orders, trades, balances, order and fill pushes) a client decoded one by one and
    dropped, without dropping their neighbours: an item that failed to decode, or one
    foreign to what arbtrio trades (another product category, a contract it does not
    trade, an order it did not place). ``malformed`` counts whole messages that failed.
    """

    venue: str
    connected: bool = False
    down: bool = False  # set after repeated consecutive failures; cleared on success
    last_message_ts: float | None = None
    resyncs: int = 0
    reconnects: int = 0
    malformed: int = 0
    skipped: int = 0  # list items decoded one by one and left out (foreign or malformed)
    consecutive_failures: int = 0
    last_error: str = ""

    def message_received(self, now: float) -> None:
        self.last_message_ts = now

    def snapshot(self, now: float) -> dict[str, Any]:
        age = None if self.last_message_ts is None else max(0.0, now - self.last_message_ts)
        return {
            "venue": self.venue,
            "connected": self.connected,
            "down": self.down,
            "last_message_age_s": age,
            "resyncs": self.resyncs,
            "reconnects": self.reconnects,
            "malformed": self.malformed,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }


# -- the interface -----------------------------------------------------------------------
MarginMode = Literal["cross", "isolated"]


class VenueClient(Protocol):
    """Every venue client implements exactly this."""

    name: str  # "hyperliquid", "bybit", "bitget", "gateio", "kucoin"
    health: VenueHealth
    books: dict[str, L2Book]  # venue symbol -> book, owned by run_books
    # What the private stream last pushed (empty where the venue pushes none); written only
    # by run_order_stream, read by the runtime's account tracker between awaits.
    pushed_balances: dict[str, Balance]  # settle currency -> balance
    pushed_positions: dict[str, VenuePosition]  # venue symbol -> position

    async def load_instruments(self) -> list[Instrument]:
        """All tradable USDT/USDC perps with tick, lot (base units), minimums, fees, funding."""
        ...

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Stream and maintain the books of ``symbols`` until cancelled."""
        ...

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver every order event of the account into ``send`` until cancelled."""
        ...

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Place one limit order. Raises OrderRejected, RateLimited, OutcomeUnknown, ..."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        """Cancel by client order id. Raises OrderNotFound if the venue has no such order."""
        ...

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        """Status, cumulative fill and fills of one order. Raises OrderNotFound."""
        ...

    async def configure_instrument(
        self, symbol: str, *, leverage: int, margin_mode: MarginMode
    ) -> None:
        """Set the account's leverage and margin mode for ``symbol`` (at start-up, before
        any order). Idempotent: a setting already in place is success. Raises VenueError
        (BadRequest naming the value) when the venue refuses it."""
        ...

    async def fetch_balances(self) -> list[Balance]: ...

    async def fetch_positions(self) -> list[VenuePosition]: ...

    async def fetch_funding(self, symbols: Sequence[str]) -> list[FundingRate]: ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...


# -- a built, signed request -------------------------------------------------------------
@attrs.frozen
class PreparedRequest:
    """One HTTP request exactly as the venue receives it, built and signed by a venue's pure
    ``prepare_order`` (or request builder); the client only sends it.

    ``path`` is the URL path with its query string (``/api/v4/futures/usdt/orders``), as
    signed; the client puts its origin in front. ``body`` is the exact bytes signed and sent
    (``b""`` for none); ``headers`` are in send order and include the signature. ``repr``
    hides headers and body (they carry the key and the signature).
    """

    method: str
    path: str
    body: bytes = attrs.field(repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=False)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), None when absent."""
        lower = name.lower()
        return next((v for k, v in self.headers if k.lower() == lower), None)


# -- credentials ---------------------------------------------------------------------------
def _hidden(_: object) -> str:
    return "'***'"


@attrs.frozen(kw_only=True)
class Credentials:
    """API secrets for one venue. ``repr``/``str`` never show a secret value.

    Hyperliquid uses ``private_key`` (hex, the API wallet) and ``account_address`` (the
    master account); the CEXs use ``api_key`` and ``api_secret`` (+ ``passphrase`` on Bitget
    and KuCoin).
    """

    api_key: str = attrs.field(default="", repr=_hidden)
    api_secret: str = attrs.field(default="", repr=_hidden)
    passphrase: str = attrs.field(default="", repr=_hidden)
    private_key: str = attrs.field(default="", repr=_hidden)
    account_address: str = ""

    def secrets(self) -> tuple[str, ...]:
        """Every non-empty secret value, for log redaction."""
        return tuple(
            s for s in (self.api_key, self.api_secret, self.passphrase, self.private_key) if s
        )
