"""Small wire helpers shared by the venue clients.

* :class:`Exact` — base Struct whose ``Decimal`` fields must be finite and of sane
  magnitude: msgspec accepts ``"NaN"``/``"Infinity"``/``1E+999999`` as Decimals, and none of
  those may reach order or PnL arithmetic. A violation is a decoding failure.
* :func:`decode_or_malformed` — decode with a prebuilt decoder, turning every decoding
  failure into :class:`~arbtrio.venues.base.MalformedMessage` naming the message and field.
* :func:`open_websocket` — a WebSocket that never leaks its socket.
* :class:`RecentIds` — a bounded set of recently seen ids (fill de-duplication).
* :func:`private_url_for` — a private stream URL derived from the public one.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TypeVar

import msgspec
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from arbtrio.venues.base import MalformedMessage

__all__ = [
    "MAX_DECIMAL",
    "Exact",
    "RecentIds",
    "decode_or_malformed",
    "open_websocket",
    "private_url_for",
]

MAX_DECIMAL = Decimal("1e18")
T = TypeVar("T")


class Exact(msgspec.Struct):
    """A Struct whose Decimal fields (top level) are finite with ``|x| < 1e18``."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, Decimal) and not (
                value.is_finite() and -MAX_DECIMAL < value < MAX_DECIMAL
            ):
                raise ValueError(f"`{name}` must be a finite decimal, got {value}")


def decode_or_malformed(
    venue: str, decoder: msgspec.json.Decoder[T], data: bytes | str | msgspec.Raw, what: str
) -> T:
    """``decoder.decode(data)``, or MalformedMessage ``"<what>: <msgspec's reason>"``."""
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedMessage(venue, f"{what}: {exc}") from None


def private_url_for(ws_url: str, public_path: str, private_path: str) -> str:
    """The private stream URL on the same host as the public ``…{public_path}`` URL."""
    base = ws_url.rstrip("/")
    if base.endswith(public_path):
        return base[: -len(public_path)] + private_path
    raise ValueError(f"cannot derive the private stream URL from {ws_url!r}; pass it explicitly")


# -- connections -------------------------------------------------------------------------
@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    connect_timeout: float = 10.0,
    disconnect_timeout: float = 2.0,
    max_message_size: int = 2**20,
) -> AsyncIterator[WebSocketConnection]:
    """``trio_websocket.open_websocket_url`` that always closes its TCP stream on exit.

    trio-websocket 0.12 leaves the client's socket open when the *server* closes the
    WebSocket first (it waits for the server's TCP close, reads EOF, never closes its own
    stream, and ``aclose`` then returns early once a close reason is set): one leaked socket
    per venue-initiated disconnect. Venues close sockets routinely, so close it here.
    """
    async with open_websocket_url(
        url,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        max_message_size=max_message_size,
    ) as ws:
        try:
            yield ws
        finally:
            with contextlib.suppress(Exception), trio.CancelScope(shield=True):
                await ws._stream.aclose()


class RecentIds:
    """A bounded set of recently seen ids (trade ids for fill de-duplication): the oldest
    id is forgotten once more than ``limit`` are held."""

    __slots__ = ("_ids", "_limit")

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[Hashable, None] = OrderedDict()
        self._limit = limit

    def add(self, key: Hashable) -> bool:
        """Record ``key``; True if it was new."""
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)
