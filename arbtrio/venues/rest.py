"""One REST client shape for every venue: budget, build, send, unwrap, decode.

A venue supplies its :class:`RestRules` — which rate budgets a request spends and how its
answers are read (the envelope, error codes, limit headers) — and pure request builders
(``prepare_order`` / ``prepare_request``, returning a signed
:class:`~arbtrio.venues.base.PreparedRequest`). :meth:`RestClient.call` is the one path
every request takes:

1. wait for every budget the request spends (``rules.budget``);
2. build and sign it (``build()``, called *after* the wait, so a signature's timestamp is
   fresh);
3. send it; a request that was never sent raises ``Disconnected``; one sent without a
   complete answer raises ``OutcomeUnknown`` when it could have changed something
   (``mutating``: order placement and cancels) and ``Disconnected`` otherwise;
4. let the venue read the answer (``rules.unwrap``: the payload, or the mapped
   :class:`~arbtrio.venues.base.VenueError`; a ``RateLimited`` empties the budgets spent);
5. decode the payload; an undecodable answer to a mutating request is ``OutcomeUnknown``
   (the venue may have acted), otherwise ``MalformedMessage``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import httpx
import trio

from arbtrio.venues.base import (
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
)
from arbtrio.venues.ratelimit import TokenBucket

__all__ = ["Budget", "RestClient", "RestRules", "origin_of"]

T = TypeVar("T")
Budget = Sequence[tuple[TokenBucket, float]]  # (bucket, weight) spent by one request


class RestRules(Protocol):
    """A venue's REST rules."""

    def budget(self, method: str, path: str) -> Budget:
        """The buckets (and weights) a request to ``path`` spends, in acquisition order."""
        ...

    def unwrap(self, resp: httpx.Response, path: str, mutating: bool) -> Any:
        """The payload of a successful answer, or raise the venue's mapped error."""
        ...

    def observe(self, resp: httpx.Response, path: str, budget: Budget) -> None:
        """Learn from an answer's headers (e.g. adopt the venue's remaining limit)."""
        ...


class RestClient:
    """One venue's HTTP client and the request path of the module docstring.

    Args:
        venue: the venue's name (errors).
        base_url: ``https://host[/prefix]``; requests go to its origin + the prepared path
            (which carries the prefix, as signed).
        rules: the venue's :class:`RestRules`.
        timeout: seconds for one request (connect, write, read).
    """

    def __init__(self, venue: str, base_url: str, rules: RestRules, *, timeout: float) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.prefix = self.base_url[len(self.origin) :]
        self.rules = rules
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout))
        return self._http

    async def acquire(self, method: str, path: str) -> Budget:
        """Wait for (and spend) the budgets of one request; returns them."""
        budget = self.rules.budget(method, path)
        for bucket, weight in budget:
            await bucket.acquire(weight)
        return budget

    async def call(
        self,
        method: str,
        path: str,
        build: Callable[[], PreparedRequest],
        decode: Callable[[Any], T],
        *,
        mutating: bool = False,
    ) -> T:
        """Spend the budget, build, send, unwrap, decode (see the module docstring).

        ``path`` is the endpoint (without prefix or query) that budgets and errors name."""
        budget = await self.acquire(method, path)
        return await self.send(build(), path, decode, budget=budget, mutating=mutating)

    async def send(
        self,
        prepared: PreparedRequest,
        path: str,
        decode: Callable[[Any], T],
        *,
        budget: Budget = (),
        mutating: bool = False,
    ) -> T:
        """Steps 3–5 for a request already built (its budget already spent)."""
        method = prepared.method
        try:
            resp = await self._client().request(
                method,
                self.origin + prepared.path,
                content=prepared.body or None,
                headers=list(prepared.headers),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Disconnected(self.venue, f"{method} {path}: not sent: {exc!r}") from None
        except httpx.HTTPError as exc:  # sent, but no complete answer
            kind = OutcomeUnknown if mutating else Disconnected
            raise kind(self.venue, f"{method} {path}: no answer: {type(exc).__name__}") from None
        self.rules.observe(resp, path, budget)
        try:
            payload = self.rules.unwrap(resp, path, mutating)
        except RateLimited as exc:
            now = trio.current_time()
            for bucket, _ in budget:
                bucket.penalize(exc.retry_after or 1.0, now)
            raise
        try:
            return decode(payload)
        except MalformedMessage as exc:
            if mutating:
                raise OutcomeUnknown(
                    self.venue, f"{method} {path}: undecodable answer: {exc.message}"
                ) from None
            raise

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent; a later call opens a new one)."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
