"""The shared skeleton of the Bybit and Bitget clients: REST whose every answer is a JSON
envelope with a status code (Bybit ``retCode``/``result``, Bitget ``code``/``data``), and a
public and a private WebSocket each run under :func:`run_reconnecting`. The venue's rules —
query string, signing, limit headers, envelope, error table, payload decoding, topics,
stream auth and messages — are supplied by the venue's client class.

:meth:`EnvelopeClient._request` acquires the IP-pool bucket and the endpoint's bucket, then
builds and signs the request with the venue's ``_prepare`` (the signature's timestamp is
taken after any bucket wait; order placement builds it with the venue's pure
``prepare_order`` instead); :meth:`EnvelopeClient._send` sends it, lets the venue
:meth:`~EnvelopeClient._unwrap` the answer and decodes the payload.
Failures: not sent → ``Disconnected``; sent without a complete answer → ``OutcomeUnknown``
for order calls (``mutating``), ``Disconnected`` for reads; an undecodable payload of an
order call → ``OutcomeUnknown`` (the venue may have acted).

:meth:`EnvelopeClient.run_books` and :meth:`EnvelopeClient.run_order_stream` run the venue's
``_books_session`` / ``_private_session`` forever with backoff; every book is invalidated
when a books session ends, and ``task_status.started()`` fires on the first subscription.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx
import msgspec
import trio

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderEvent
from arbtrio.venues.base import (
    AuthenticationFailed,
    BookCallback,
    Credentials,
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
    PreparedRequest,
    VenueHealth,
)
from arbtrio.venues.ratelimit import TokenBucket
from arbtrio.venues.reconnect import Backoff, Readiness, run_reconnecting
from arbtrio.venues.wire import private_url_for

__all__ = ["BookTracker", "EnvelopeClient", "private_url_for"]


class BookTracker(Protocol):
    """What the skeleton needs of a venue's per-subscription book keeper."""

    book: L2Book

    def invalidate(self, reason: str) -> None: ...


TrackerT = TypeVar("TrackerT", bound=BookTracker)


class EnvelopeClient(Generic[TrackerT]):
    """Base of the Bybit and Bitget clients: credentials, HTTP client, buckets, requests,
    and the reconnecting stream loops.

    Subclasses set ``name``, ``encoder`` and ``payload_field`` (for error messages) and
    implement :meth:`_query_string`, :meth:`_prepare`, :meth:`_unwrap`, :meth:`_decode`,
    :meth:`_trackers`, :meth:`_books_session` and :meth:`_private_session`; their
    ``__init__`` sets ``health``, ``private_health``, ``backoff`` and ``books``.
    """

    name: ClassVar[str]
    encoder: ClassVar[msgspec.json.Encoder]
    payload_field: ClassVar[str]
    health: VenueHealth
    private_health: VenueHealth
    backoff: Backoff
    books: dict[str, L2Book]

    def __init__(
        self,
        *,
        rest_url: str,
        credentials: Credentials | None,
        request_timeout: float,
        ip_limit: tuple[float, float],
        endpoint_limits: Mapping[str, float],
    ) -> None:
        """``ip_limit`` = (capacity, refill per second) of the IP pool; ``endpoint_limits``
        = requests per second by path (capacity = one second's worth)."""
        self.rest_url = rest_url.rstrip("/")
        self.credentials = credentials if credentials and credentials.api_key else None
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(request_timeout))
        capacity, rate = ip_limit
        self._ip_bucket = TokenBucket(f"{self.name}:ip", capacity=capacity, rate=rate)
        self._buckets = {
            path: TokenBucket(f"{self.name}:{path}", capacity=limit, rate=limit)
            for path, limit in endpoint_limits.items()
        }

    def _require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise AuthenticationFailed(
                self.name, "no API credentials: this client is public-data only"
            )
        return self.credentials

    # -- the venue's rules -------------------------------------------------------------------
    def _query_string(self, params: Mapping[str, str]) -> str:
        """The query string exactly as it goes in the URL (and the signature)."""
        raise NotImplementedError

    def _prepare(
        self, signed: bool, method: str, path: str, query: str, body: bytes | None
    ) -> PreparedRequest:
        """The request as sent: path (+ query), body and headers, signed when ``signed``
        (``body`` None: no body). Called after the bucket wait, so it may read the clock."""
        raise NotImplementedError

    def _unwrap(
        self, resp: httpx.Response, bucket: TokenBucket | None, path: str, mutating: bool
    ) -> Any:
        """The raw payload of a successful envelope, or raise the venue's mapped error
        (limit headers, undecodable envelopes and error codes are the venue's)."""
        raise NotImplementedError

    def _decode(self, result_type: Any, raw: Any, path: str) -> Any:
        """The payload as ``result_type`` (MalformedMessage if it does not decode)."""
        raise NotImplementedError

    # -- the one request path ------------------------------------------------------------------
    async def _acquire(self, path: str) -> TokenBucket | None:
        """Wait for the IP-pool bucket and ``path``'s bucket; returns the latter (if any)."""
        bucket = self._buckets.get(path)
        await self._ip_bucket.acquire()
        if bucket is not None:
            await bucket.acquire()
        return bucket

    async def _request(
        self,
        method: str,
        path: str,
        result_type: Any,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        signed: bool = False,
        mutating: bool = False,
    ) -> Any:
        """Send one request and return its decoded payload or raise the mapped error."""
        if signed:
            self._require_credentials()
        bucket = await self._acquire(path)
        qs = self._query_string(params or {})
        content = self.encoder.encode(body) if body is not None else None
        prepared = self._prepare(signed, method, path, qs, content)
        return await self._send(prepared, bucket, result_type, mutating=mutating)

    async def _send(
        self,
        prepared: PreparedRequest,
        bucket: TokenBucket | None,
        result_type: Any,
        *,
        mutating: bool,
    ) -> Any:
        """Send a built (and signed) request; its decoded payload or the mapped error."""
        method, path = prepared.method, prepared.path.partition("?")[0]
        try:
            resp = await self._http.request(
                method,
                self.rest_url + prepared.path,
                content=prepared.body or None,
                headers=list(prepared.headers),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Disconnected(self.name, f"{method} {path}: not sent: {exc!r}") from None
        except httpx.HTTPError as exc:  # sent, but no complete answer
            kind = OutcomeUnknown if mutating else Disconnected
            raise kind(self.name, f"{method} {path}: no answer: {type(exc).__name__}") from None
        raw = self._unwrap(resp, bucket, path, mutating)
        try:
            return self._decode(result_type, raw, path)
        except MalformedMessage:
            if mutating:
                raise OutcomeUnknown(
                    self.name, f"{path}: undecodable {self.payload_field}"
                ) from None
            raise

    # -- streams ---------------------------------------------------------------------------
    def _trackers(self, symbols: Sequence[str]) -> dict[str, TrackerT]:
        """One book keeper per subscription, keyed as the stream names it."""
        raise NotImplementedError

    async def _books_session(
        self, trackers: dict[str, TrackerT], on_update: BookCallback, subscribed: Readiness
    ) -> None:
        """Connect, subscribe every tracker (``subscribed()`` once all are), stream."""
        raise NotImplementedError

    async def _private_session(
        self,
        creds: Credentials,
        send: trio.MemorySendChannel[OrderEvent],
        subscribed: Readiness,
    ) -> None:
        """Connect, authenticate, subscribe (then ``subscribed()``), deliver events."""
        raise NotImplementedError

    async def run_books(
        self,
        symbols: Sequence[str],
        on_update: BookCallback,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Maintain the books of ``symbols`` until cancelled."""
        trackers = self._trackers(symbols)
        subscribed = Readiness(task_status, self.health)

        async def session() -> None:
            try:
                await self._books_session(trackers, on_update, subscribed)
            finally:
                for tracker in trackers.values():
                    tracker.invalidate("disconnected")
                    on_update(tracker.book)

        await run_reconnecting(session, self.health, what="books", backoff=self.backoff)

    async def run_order_stream(
        self,
        send: trio.MemorySendChannel[OrderEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Authenticate, subscribe the account's channels, deliver events until cancelled."""
        creds = self._require_credentials()
        subscribed = Readiness(task_status, self.private_health)

        async def session() -> None:
            await self._private_session(creds, send, subscribed)

        await run_reconnecting(
            session, self.private_health, what="order stream", backoff=self.backoff
        )

    async def aclose(self) -> None:
        await self._http.aclose()
