"""Bybit V5 requests built and signed, as pure functions (no I/O, no clock reads).

:func:`prepare_order` turns an :class:`OrderRequest` into the exact ``POST /v5/order/create``
the venue receives; :func:`prepare_request` builds any other REST request. The client adds
the timestamp (taken after any rate-limit wait) and sends the result unchanged.
"""

from __future__ import annotations

import attrs

from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.types import OrderRequest, Side
from arbtrio.venues.base import BadRequest, Credentials, PreparedRequest
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.signing import DEFAULT_RECV_WINDOW, rest_headers

__all__ = ["ORDER_PATH", "TIME_IN_FORCE", "BybitAccount", "prepare_order", "prepare_request",
           "validate_order"]  # fmt: skip

VENUE = "bybit"
ORDER_PATH = "/v5/order/create"
TIME_IN_FORCE = {"IOC": "IOC", "GTC": "GTC", "FOK": "FOK", "POSTONLY": "PostOnly"}
_LINK_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
_JSON = ("Content-Type", "application/json")


@attrs.frozen
class BybitAccount:
    """What signs Bybit requests: the API key and secret and the ``recv_window`` (ms)."""

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    recv_window: int = DEFAULT_RECV_WINDOW

    @classmethod
    def from_credentials(
        cls, creds: Credentials, recv_window: int = DEFAULT_RECV_WINDOW
    ) -> BybitAccount:
        return cls(creds.api_key, creds.api_secret, recv_window)


def prepare_request(
    account: BybitAccount | None,
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    ts_ms: int,
) -> PreparedRequest:
    """``method path[?query]`` with ``body`` (None: no body), signed when ``account`` is
    given: the signed payload is the body for a POST, the query string otherwise."""
    headers: list[tuple[str, str]] = [_JSON] if body is not None else []
    if account is not None:
        payload = body.decode() if body is not None else query
        headers += rest_headers(
            account.api_key, account.api_secret, ts_ms, payload, account.recv_window
        ).items()
    return PreparedRequest(
        method, path + (f"?{query}" if query else ""), body or b"", tuple(headers)
    )


def validate_order(request: OrderRequest) -> None:
    """BadRequest naming the field when Bybit would refuse ``request``'s shape."""
    cid = request.client_order_id
    if not cid or len(cid) > 36 or not set(cid) <= _LINK_ID_CHARS:
        raise BadRequest(VENUE, f"client_order_id {cid!r}: need 1-36 of [0-9A-Za-z_-]")
    if not (request.qty > 0 and request.qty.is_finite()):
        raise BadRequest(VENUE, f"qty must be > 0, got {request.qty}")
    if not (request.price > 0 and request.price.is_finite()):
        raise BadRequest(VENUE, f"price must be > 0, got {request.price}")
    if request.time_in_force.upper() not in TIME_IN_FORCE:
        raise BadRequest(VENUE, f"time_in_force {request.time_in_force!r} not supported")


def prepare_order(
    request: OrderRequest, inst: Instrument | None, account: BybitAccount, ts_ms: int
) -> PreparedRequest:
    """The signed ``POST /v5/order/create`` of a limit order (``orderLinkId`` = client order
    id). Sizes are base units on Bybit, so ``inst`` is optional (checked against the
    request's symbol when given). ``ts_ms`` is the wall-clock signature timestamp."""
    validate_order(request)
    if inst is not None and inst.symbol != request.symbol:
        raise BadRequest(VENUE, f"symbol {request.symbol!r} is not instrument {inst.symbol!r}")
    body = c.CreateOrder(
        category="linear",
        symbol=request.symbol,
        side="Buy" if request.side is Side.BUY else "Sell",
        orderType="Limit",
        qty=format_decimal(request.qty),
        price=format_decimal(request.price),
        timeInForce=TIME_IN_FORCE[request.time_in_force.upper()],
        orderLinkId=request.client_order_id,
        reduceOnly=request.reduce_only,
    )
    return prepare_request(account, "POST", ORDER_PATH, "", c.encoder.encode(body), ts_ms)
