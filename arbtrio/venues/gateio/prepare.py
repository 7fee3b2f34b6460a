"""Gate.io API v4 requests built and signed, as pure functions (no I/O, no clock reads).

:func:`prepare_order` turns an :class:`OrderRequest` into the exact ``POST
/api/v4/futures/usdt/orders`` the venue receives (size in signed contracts);
:func:`prepare_request` builds any other REST request. The client adds the timestamp and
sends the result unchanged.
"""

from __future__ import annotations

import attrs

from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.types import OrderRequest
from arbtrio.venues.base import BadRequest, Credentials, PreparedRequest
from arbtrio.venues.gateio import codecs, convert, sign
from arbtrio.venues.gateio.codecs import VENUE

__all__ = ["API_PREFIX", "ORDER_ENDPOINT", "GateAccount", "prepare_order", "prepare_request",
           "validate_order"]  # fmt: skip

API_PREFIX = "/api/v4"
ORDER_ENDPOINT = "/futures/usdt/orders"
_ACCEPT = ("Accept", "application/json")
_JSON = ("Content-Type", "application/json")
_DECIMAL = ("X-Gate-Size-Decimal", "1")


@attrs.frozen
class GateAccount:
    """What signs and shapes Gate.io requests: key and secret, the deployment's path prefix
    (``/api/v4``) and whether sizes may be decimal (``X-Gate-Size-Decimal: 1``)."""

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    path_prefix: str = API_PREFIX
    decimal_sizes: bool = True

    @classmethod
    def from_credentials(
        cls, creds: Credentials, path_prefix: str = API_PREFIX, decimal_sizes: bool = True
    ) -> GateAccount:
        return cls(creds.api_key, creds.api_secret, path_prefix, decimal_sizes)


def prepare_request(
    method: str,
    path: str,
    query: str,
    body: bytes | None,
    *,
    decimal_sizes: bool,
    account: GateAccount | None = None,
    ts_ms: int = 0,
) -> PreparedRequest:
    """``method path[?query]`` (``path`` with the ``/api/v4`` prefix) with ``body`` (None:
    no body); signed when ``account`` is given, with ``Timestamp`` = ``ts_ms`` in seconds."""
    content = body if body is not None else b""
    headers = [_ACCEPT]
    if body is not None:
        headers.append(_JSON)
    if decimal_sizes:
        headers.append(_DECIMAL)
    if account is not None:
        ts = str(ts_ms // 1000)
        headers += sign.rest_headers(
            account.api_key, account.api_secret, method, path, query, content, ts
        ).items()
    return PreparedRequest(method, path + (f"?{query}" if query else ""), content, tuple(headers))


def validate_order(request: OrderRequest) -> str:
    """Gate's ``tif`` for ``request``, or BadRequest naming the field it would refuse."""
    cid = request.client_order_id
    if not (cid.startswith("t-") and 2 < len(cid.encode()) <= 30):
        raise BadRequest(VENUE, f"client order id must be 't-' + 1..28 chars, got {cid!r}")
    tif = convert.TIF.get(request.time_in_force.upper())
    if tif is None:
        raise BadRequest(VENUE, f"unsupported time_in_force {request.time_in_force!r}")
    return tif


def prepare_order(
    request: OrderRequest, inst: Instrument, account: GateAccount, ts_ms: int
) -> PreparedRequest:
    """The signed ``POST …/futures/usdt/orders`` of a limit order: ``size`` = signed
    contracts of ``inst`` (BadRequest if ``qty`` is not a lot multiple), ``text`` = client
    order id. ``ts_ms`` is the wall-clock signature time (sent in seconds)."""
    tif = validate_order(request)
    if inst.symbol != request.symbol:
        raise BadRequest(VENUE, f"symbol {request.symbol!r} is not instrument {inst.symbol!r}")
    contracts = convert.contracts_for(inst, request.side, request.qty)
    body = codecs.OrderCreate(
        contract=inst.symbol,
        size=convert.wire_size(contracts),
        price=format_decimal(request.price),
        tif=tif,
        text=request.client_order_id,
        reduce_only=request.reduce_only,
    )
    return prepare_request(
        "POST",
        account.path_prefix + ORDER_ENDPOINT,
        "",
        codecs.encode(body),
        decimal_sizes=account.decimal_sizes,
        account=account,
        ts_ms=ts_ms,
    )
