"""Bitget V2 requests built and signed, as pure functions (no I/O, no clock reads).

:func:`prepare_order` turns an :class:`OrderRequest` into the exact ``POST
/api/v2/mix/order/place-order`` the venue receives; :func:`prepare_request` builds any other
REST request. The client adds the timestamp (taken after any rate-limit wait) and sends it.
"""

from __future__ import annotations

import attrs

from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.types import OrderRequest
from arbtrio.venues.base import BadRequest, Credentials, PreparedRequest
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.signing import rest_headers

__all__ = ["FORCE", "ORDER_PATH", "BitgetAccount", "order_body", "prepare_order",
           "prepare_request", "validate_order"]  # fmt: skip

VENUE = "bitget"
ORDER_PATH = "/api/v2/mix/order/place-order"
FORCE = {"IOC": "ioc", "GTC": "gtc", "FOK": "fok", "POSTONLY": "post_only"}
MARGIN_MODES = ("crossed", "isolated")
_CLIENT_OID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+_#")
_UNSIGNED: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"), ("locale", "en-US"))


@attrs.frozen
class BitgetAccount:
    """What signs and shapes Bitget orders: key, secret, passphrase, the margin mode
    (``crossed``/``isolated``) and whether the account is in hedge (two-way) mode."""

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    passphrase: str = attrs.field(repr=False)
    margin_mode: str = "crossed"
    hedge_mode: bool = False

    @classmethod
    def from_credentials(
        cls, creds: Credentials, margin_mode: str = "crossed", hedge_mode: bool = False
    ) -> BitgetAccount:
        return cls(creds.api_key, creds.api_secret, creds.passphrase, margin_mode, hedge_mode)


def prepare_request(
    account: BitgetAccount | None,
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    ts_ms: int,
) -> PreparedRequest:
    """``method path[?query]`` with ``body`` (None: no body), signed when ``account`` is
    given (the pre-hash covers method, path, query and the exact body)."""
    if account is None:
        headers = _UNSIGNED
    else:
        text = body.decode() if body is not None else ""
        headers = tuple(
            rest_headers(account.api_key, account.api_secret, account.passphrase, ts_ms,
                         method, path, query, text).items()
        )  # fmt: skip
    return PreparedRequest(method, path + (f"?{query}" if query else ""), body or b"", headers)


def validate_order(request: OrderRequest) -> None:
    """BadRequest naming the field when Bitget would refuse ``request``'s shape."""
    cid = request.client_order_id
    if not cid or len(cid) >= 50 or not set(cid) <= _CLIENT_OID_CHARS:
        raise BadRequest(VENUE, f"client_order_id {cid!r}: need < 50 of [0-9a-zA-Z-+_#]")
    if not (request.qty > 0 and request.qty.is_finite()):
        raise BadRequest(VENUE, f"qty must be > 0, got {request.qty}")
    if not (request.price > 0 and request.price.is_finite()):
        raise BadRequest(VENUE, f"price must be > 0, got {request.price}")
    if request.time_in_force.upper() not in FORCE:
        raise BadRequest(VENUE, f"time_in_force {request.time_in_force!r} not supported")


def order_body(request: OrderRequest, margin_mode: str, hedge_mode: bool) -> c.PlaceOrder:
    """The place-order body; one-way mode uses reduceOnly, hedge mode tradeSide."""
    validate_order(request)
    side = request.side
    trade_side = ""
    reduce_only = "YES" if request.reduce_only else "NO"
    if hedge_mode:
        # Hedge mode names the *position's* side: closing a long is buy/close (spec 012).
        trade_side = "close" if request.reduce_only else "open"
        side = side.opposite if request.reduce_only else side
        reduce_only = ""
    return c.PlaceOrder(
        symbol=request.symbol,
        productType=c.PRODUCT_TYPE,
        marginMode=margin_mode,
        marginCoin="USDT",
        size=format_decimal(request.qty),
        side=side.value,
        orderType="limit",
        price=format_decimal(request.price),
        force=FORCE[request.time_in_force.upper()],
        clientOid=request.client_order_id,
        reduceOnly=reduce_only,
        tradeSide=trade_side,
    )


def prepare_order(
    request: OrderRequest, inst: Instrument | None, account: BitgetAccount, ts_ms: int
) -> PreparedRequest:
    """The signed place-order request of a limit order (``clientOid`` = client order id).
    Sizes are base units on Bitget, so ``inst`` is optional (checked against the request's
    symbol when given). ``ts_ms`` is the wall-clock signature timestamp."""
    if inst is not None and inst.symbol != request.symbol:
        raise BadRequest(VENUE, f"symbol {request.symbol!r} is not instrument {inst.symbol!r}")
    body = order_body(request, account.margin_mode, account.hedge_mode)
    return prepare_request(account, "POST", ORDER_PATH, "", c.encoder.encode(body), ts_ms)
