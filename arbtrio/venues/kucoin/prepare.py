"""KuCoin Futures requests built and signed, as pure functions (no I/O, no clock reads).

:func:`prepare_order` turns an :class:`OrderRequest` into the exact ``POST /api/v1/orders``
the venue receives (size in lots); :func:`prepare_request` builds any other REST request.
The client adds the timestamp and sends the result unchanged.
"""

from __future__ import annotations

import attrs

from arbtrio.core.instruments import Instrument, format_decimal
from arbtrio.core.types import OrderRequest, Side
from arbtrio.venues.base import BadRequest, Credentials, PreparedRequest
from arbtrio.venues.kucoin import codecs, convert, sign
from arbtrio.venues.kucoin.codecs import VENUE

__all__ = ["MARGIN_MODES", "ORDER_ENDPOINT", "KucoinAccount", "prepare_order",
           "prepare_request", "validate_order"]  # fmt: skip

ORDER_ENDPOINT = "/api/v1/orders"
MARGIN_MODES = ("ISOLATED", "CROSS")
_OID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
_ACCEPT = ("Accept", "application/json")
_JSON = ("Content-Type", "application/json")


@attrs.frozen
class KucoinAccount:
    """What signs and shapes KuCoin orders: key, secret, passphrase, the key's version
    (``sign.KEY_VERSIONS``), the margin mode and leverage of opening orders, and the
    deployment's path prefix ("")."""

    api_key: str = attrs.field(repr=False)
    api_secret: str = attrs.field(repr=False)
    passphrase: str = attrs.field(repr=False)
    margin_mode: str = "ISOLATED"
    leverage: int = 5
    path_prefix: str = ""
    key_version: str = attrs.field(default=sign.KEY_VERSION)

    @key_version.validator
    def _known_version(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in sign.KEY_VERSIONS:
            raise ValueError(f"kucoin: key_version must be one of {sign.KEY_VERSIONS}: {value!r}")

    @classmethod
    def from_credentials(
        cls, creds: Credentials, margin_mode: str = "ISOLATED", leverage: int = 5,
        path_prefix: str = "", key_version: str = sign.KEY_VERSION,
    ) -> KucoinAccount:  # fmt: skip
        return cls(creds.api_key, creds.api_secret, creds.passphrase, margin_mode, leverage,
                   path_prefix, key_version)  # fmt: skip


def prepare_request(
    method: str,
    path: str,
    body: bytes | None,
    *,
    account: KucoinAccount | None = None,
    ts_ms: int = 0,
) -> PreparedRequest:
    """``method path`` (``path`` with any prefix and the query string exactly as sent) with
    ``body`` (None: no body); signed when ``account`` is given."""
    content = body if body is not None else b""
    headers = [_ACCEPT, _JSON] if body is not None else [_ACCEPT]
    if account is not None:
        headers += sign.rest_headers(
            account.api_key, account.api_secret, account.passphrase, str(ts_ms), method,
            path, content.decode(), account.key_version,
        ).items()  # fmt: skip
    return PreparedRequest(method, path, content, tuple(headers))


def validate_order(request: OrderRequest) -> str:
    """KuCoin's ``timeInForce`` for ``request``, or BadRequest naming the refused field."""
    cid = request.client_order_id
    if not 0 < len(cid) <= 40 or not set(cid) <= _OID_CHARS:
        raise BadRequest(VENUE, f"clientOid must be 1..40 of [0-9A-Za-z_-], got {cid!r}")
    tif = convert.TIF.get(request.time_in_force.upper())
    if tif is None:
        raise BadRequest(VENUE, f"unsupported time_in_force {request.time_in_force!r}")
    return tif


def prepare_order(
    request: OrderRequest, inst: Instrument, account: KucoinAccount, ts_ms: int
) -> PreparedRequest:
    """The signed ``POST /api/v1/orders`` of a limit order: ``size`` in whole lots of
    ``inst`` (BadRequest otherwise), ``clientOid`` = client order id; opening orders carry
    the account's margin mode and leverage. ``ts_ms`` is the wall-clock signature time."""
    tif = validate_order(request)
    if inst.symbol != request.symbol:
        raise BadRequest(VENUE, f"symbol {request.symbol!r} is not instrument {inst.symbol!r}")
    body = codecs.OrderCreate(
        clientOid=request.client_order_id,
        side="buy" if request.side is Side.BUY else "sell",
        symbol=inst.symbol,
        price=format_decimal(request.price),
        size=convert.lots_for(inst, request.qty),
        type="limit",
        timeInForce=tif,
        reduceOnly=request.reduce_only,
        marginMode=account.margin_mode,
        leverage=None if request.reduce_only else account.leverage,
    )
    return prepare_request(
        "POST", account.path_prefix + ORDER_ENDPOINT, codecs.encode(body), account=account,
        ts_ms=ts_ms,
    )  # fmt: skip
