"""Small wire helpers shared by venue clients (Gate.io and KuCoin use all of them).

* :class:`Exact` — base Struct whose ``Decimal`` fields must be finite and of sane
  magnitude: msgspec accepts ``"NaN"``/``"Infinity"``/``1E+999999`` as Decimals, and none of
  those may reach order or PnL arithmetic. A violation is a decoding failure.
* :func:`decode_or_malformed` — decode with a prebuilt decoder, turning every decoding
  failure into :class:`~arbtrio.venues.base.MalformedMessage` naming the message and field.
* :func:`send_http` — one httpx request with transport failures mapped to the unified
  errors (``Disconnected`` before sending, ``OutcomeUnknown`` after).
* :func:`collapse_group`, :class:`RecentIds`, :class:`Wakeup` — small session helpers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from decimal import Decimal
from typing import TypeVar

import httpx
import msgspec
import trio

from arbtrio.venues.base import (
    AuthenticationFailed,
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
)

__all__ = [
    "MAX_DECIMAL",
    "Exact",
    "RecentIds",
    "Wakeup",
    "collapse_group",
    "decode_or_malformed",
    "send_http",
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


async def send_http(
    http: httpx.AsyncClient,
    venue: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    content: bytes = b"",
) -> httpx.Response:
    """Send one request. Not sent (connect failed) → Disconnected; sent but no complete
    answer (timeout, reset, protocol error) → OutcomeUnknown: the venue may have acted."""
    try:
        return await http.request(method, url, headers=headers, content=content or None)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Disconnected(venue, f"{method} {_path(url)}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        raise OutcomeUnknown(venue, f"{method} {_path(url)}: {type(exc).__name__}") from None


def _path(url: str) -> str:
    """The URL without scheme and host (errors never carry hosts' query secrets)."""
    return httpx.URL(url).path


def collapse_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception a session should raise for a nursery's group: an
    AuthenticationFailed leaf if any (it must stop the reconnect loop), else the first leaf
    that is not a cancellation, else the group itself."""
    leaves = list(_leaves(group))
    for leaf in leaves:
        if isinstance(leaf, AuthenticationFailed):
            return leaf
    for leaf in leaves:
        if not isinstance(leaf, trio.Cancelled):
            return leaf
    return group


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


class RecentIds:
    """A bounded set of recently seen ids (trade ids for fill de-duplication)."""

    __slots__ = ("_ids", "_limit")

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, key: str) -> bool:
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


class Wakeup:
    """A resettable event: ``set`` wakes ``wait``ers until ``clear``."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        if self._event.is_set():
            self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()
