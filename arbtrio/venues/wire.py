"""Small wire helpers shared by venue clients (Gate.io and KuCoin use all of them).

* :class:`Exact` — base Struct whose ``Decimal`` fields must be finite and of sane
  magnitude: msgspec accepts ``"NaN"``/``"Infinity"``/``1E+999999`` as Decimals, and none of
  those may reach order or PnL arithmetic. A violation is a decoding failure.
* :func:`decode_or_malformed` — decode with a prebuilt decoder, turning every decoding
  failure into :class:`~arbtrio.venues.base.MalformedMessage` naming the message and field.
* :func:`send_http` — one httpx request with transport failures mapped to the unified
  errors (``Disconnected`` before sending, ``OutcomeUnknown`` after).
* :func:`open_websocket` — a WebSocket that never leaks its socket; :func:`collapse_group`,
  :class:`RecentIds`, :class:`Wakeup` — small session helpers.
* :func:`run_snapshot_fetcher` — the REST-snapshot side of a buffer-and-snapshot book sync.
* :class:`PlacedOrders` + :func:`run_reconciler` — the private stream's REST fallback.
* :func:`read_private_pushes` — the read loop of an authenticated private stream.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Hashable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import httpx
import msgspec
import structlog
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from arbtrio.core.types import OrderEvent, OrderReport, OrderUpdate
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueHealth,
)

__all__ = [
    "MAX_DECIMAL",
    "Exact",
    "PlacedOrders",
    "RecentIds",
    "Wakeup",
    "collapse_group",
    "decode_or_malformed",
    "open_websocket",
    "private_url_for",
    "read_private_pushes",
    "run_reconciler",
    "run_snapshot_fetcher",
    "send_http",
]

MAX_DECIMAL = Decimal("1e18")
T = TypeVar("T")
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)
log = structlog.get_logger("arbtrio.venues")


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
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
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


def private_url_for(ws_url: str, public_path: str, private_path: str) -> str:
    """The private stream URL on the same host as the public ``…{public_path}`` URL."""
    base = ws_url.rstrip("/")
    if base.endswith(public_path):
        return base[: -len(public_path)] + private_path
    raise ValueError(f"cannot derive the private stream URL from {ws_url!r}; pass it explicitly")


def _path(url: str) -> str:
    """The URL without scheme and host (errors never carry hosts' query secrets)."""
    return httpx.URL(url).path


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


# -- session loops shared by the snapshot-synced venues ------------------------------------
class SnapshotMachine(Protocol[S_contra]):
    """What :func:`run_snapshot_fetcher` needs from a venue's sans-IO book machine."""

    pending: dict[str, float]
    health: VenueHealth

    def buffered(self, symbol: str) -> bool: ...

    def on_snapshot(self, symbol: str, snap: S_contra, now: float) -> bool: ...


async def run_snapshot_fetcher(
    venue: str,
    machine: SnapshotMachine[S],
    fetch: Callable[[str], Awaitable[S]],
    wake: Wakeup,
    *,
    retry_s: float,
    first_delta_wait_s: float,
    max_failures: int = 5,
) -> None:
    """Fetch REST snapshots for the machine's pending symbols whenever ``wake`` is set.

    A symbol waits up to ``first_delta_wait_s`` for its first buffered delta (so the
    snapshot is not older than the stream). Stale snapshots are fetched again after
    ``retry_s``; a malformed one is counted and retried; ``max_failures`` consecutive
    request failures end the session (raise) so it reconnects with backoff.
    """
    failures = 0
    while True:
        await wake.wait()
        for symbol, since in list(machine.pending.items()):
            if not machine.buffered(symbol) and trio.current_time() - since < first_delta_wait_s:
                continue
            try:
                snap = await fetch(symbol)
            except MalformedMessage as exc:
                machine.health.malformed += 1
                log.warning("venue.malformed", venue=venue, error=exc.message)
                continue
            except (RateLimited, Disconnected, OutcomeUnknown, BadRequest) as exc:
                failures += 1
                log.warning("venue.snapshot_failed", venue=venue, symbol=symbol, error=str(exc))
                if failures >= max_failures:
                    raise
                wait = retry_s * failures
                if isinstance(exc, RateLimited) and exc.retry_after:
                    wait = exc.retry_after
                await trio.sleep(wait)
                continue
            failures = 0
            if not machine.on_snapshot(symbol, snap, trio.current_time()):
                log.info("venue.snapshot_stale", venue=venue, symbol=symbol)
        if machine.pending:
            await trio.sleep(retry_s)
        else:
            wake.clear()


class PlacedOrders:
    """Orders this client placed: client id → (venue order id, symbol, seen finished).

    "Finished" means the *stream* (or a reconciliation) delivered the order's terminal
    state: a REST answer saying an IOC finished does not carry its fills, so such an order
    stays unfinished until its events arrive. A terminal event may beat the REST answer;
    it is remembered and applied when the order is.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._orders: OrderedDict[str, tuple[str, str, bool]] = OrderedDict()
        self._early = RecentIds(limit)
        self._limit = limit

    def remember(self, cid: str, venue_order_id: str, symbol: str) -> None:
        self._orders[cid] = (venue_order_id, symbol, cid in self._early)
        self._orders.move_to_end(cid)
        while len(self._orders) > self._limit:
            self._orders.popitem(last=False)

    def venue_order_id(self, cid: str) -> str | None:
        entry = self._orders.get(cid)
        return entry[0] if entry else None

    def finished(self, cid: str) -> None:
        entry = self._orders.get(cid)
        if entry is None:
            self._early.add(cid)
        else:
            self._orders[cid] = (entry[0], entry[1], True)

    def unfinished(self) -> list[tuple[str, str]]:
        """``(client id, symbol)`` of every order not yet seen finishing."""
        return [(cid, sym) for cid, (_, sym, done) in self._orders.items() if not done]


async def run_reconciler(
    venue: str,
    placed: PlacedOrders,
    query: Callable[[str, str], Awaitable[OrderReport]],
    send: trio.MemorySendChannel[OrderEvent],
    trades: RecentIds,
    wake: Wakeup,
) -> None:
    """The private stream's REST fallback: whenever ``wake`` is set (after each
    (re)subscription and each malformed private frame), re-query every order placed here
    and not yet seen finishing, and emit its new fills (de-duplicated) and its status."""
    while True:
        await wake.wait()
        wake.clear()
        for cid, symbol in placed.unfinished():
            try:
                report = await query(symbol, cid)
            except OrderNotFound:
                continue
            except AuthenticationFailed:
                raise
            except VenueError as exc:
                log.warning("venue.reconcile_failed", venue=venue, order=cid, error=str(exc))
                continue
            for fill in report.fills:
                if trades.add(fill.trade_id):
                    await send.send(fill)
            await send.send(
                OrderUpdate(
                    venue=venue,
                    client_order_id=cid,
                    status=report.status,
                    filled_qty=report.filled_qty,
                    avg_price=report.avg_price,
                    ts=trio.current_time(),
                    reason=report.reason,
                )
            )
            if report.status.is_terminal:
                placed.finished(cid)


async def read_private_pushes(
    ws: WebSocketConnection,
    health: VenueHealth,
    send: trio.MemorySendChannel[OrderEvent],
    events: Callable[[str | bytes, float], list[OrderEvent]],
    *,
    idle_timeout: float,
    logger: Any,
    skip: str | None = None,
) -> None:
    """Read an authenticated private stream until it fails: every frame counts as liveness
    (``skip``, e.g. a text pong, is otherwise ignored); ``events(raw, now)`` turns a frame
    into order events, sent in order; a malformed frame is counted in ``health`` and logged
    as ``<venue>.private.malformed``. ``idle_timeout`` seconds of silence raise
    ``trio.TooSlowError`` (the session ends and reconnects)."""
    while True:
        with trio.fail_after(idle_timeout):
            raw = await ws.get_message()
        now = trio.current_time()
        health.message_received(now)
        if skip is not None and raw == skip:
            continue
        try:
            for event in events(raw, now):
                await send.send(event)
        except MalformedMessage as exc:
            health.malformed += 1
            logger.warning(f"{health.venue}.private.malformed", error=exc.message)
