"""REST plumbing of the venues whose every answer is a JSON envelope with a status code
(Bybit ``retCode``/``result``, Bitget ``code``/``data``): one request path, with the
venue's rules — query string, signing, limit headers, envelope, error table, payload
decoding — supplied by the venue's client class.

:meth:`EnvelopeRest._request` acquires the IP-pool bucket and the endpoint's bucket, then
builds and signs the request (the signature's timestamp is taken after any bucket wait),
sends it, lets the venue :meth:`~EnvelopeRest._unwrap` the answer and decodes the payload.
Failures: not sent → ``Disconnected``; sent without a complete answer → ``OutcomeUnknown``
for order calls (``mutating``), ``Disconnected`` for reads; an undecodable payload of an
order call → ``OutcomeUnknown`` (the venue may have acted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import msgspec

from arbtrio.venues.base import (
    AuthenticationFailed,
    Credentials,
    Disconnected,
    MalformedMessage,
    OutcomeUnknown,
)
from arbtrio.venues.ratelimit import TokenBucket

__all__ = ["EnvelopeRest"]


class EnvelopeRest:
    """Base of the Bybit and Bitget clients: credentials, HTTP client, buckets, requests.

    Subclasses set ``name``, ``encoder`` and ``payload_field`` (for error messages) and
    implement :meth:`_query_string`, :meth:`_headers`, :meth:`_unwrap` and :meth:`_decode`.
    """

    name: ClassVar[str]
    encoder: ClassVar[msgspec.json.Encoder]
    payload_field: ClassVar[str]

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

    def _headers(
        self, creds: Credentials | None, method: str, path: str, query: str, body: str | None
    ) -> dict[str, str]:
        """The request headers; signed ones when ``creds`` is given (``body`` None: no body)."""
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
        creds = self._require_credentials() if signed else None
        bucket = self._buckets.get(path)
        await self._ip_bucket.acquire()
        if bucket is not None:
            await bucket.acquire()
        qs = self._query_string(params or {})
        url = f"{self.rest_url}{path}" + (f"?{qs}" if qs else "")
        content = self.encoder.encode(body) if body is not None else b""
        text = content.decode() if body is not None else None
        headers = self._headers(creds, method, path, qs, text)
        try:
            resp = await self._http.request(method, url, content=content or None, headers=headers)
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

    async def aclose(self) -> None:
        await self._http.aclose()
