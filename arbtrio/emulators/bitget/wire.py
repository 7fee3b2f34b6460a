"""What the emulator parses: the client's WebSocket requests and REST bodies and queries.

Each decoder takes the raw text/bytes and returns a typed value or raises
:class:`Malformed` (the caller answers with the venue's code). Field types are the
documented ones: every price, size and id is a JSON **string** (a number where a string is
documented is refused), ``reduceOnly`` included (``"YES"``/``"NO"``, not a boolean).
Unknown fields are ignored, as the venue does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec


class Malformed(Exception):
    """A request the emulator cannot parse; ``reason`` says why (safe to echo)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WsRequest(msgspec.Struct, frozen=True):
    """``{"op": ..., "args": [...]}`` (subscribe, unsubscribe, login, trade)."""

    op: str
    args: list[Any]


class Arg(msgspec.Struct, frozen=True, omit_defaults=True):
    """A channel argument: ``instType`` + ``channel`` + ``instId`` (or ``coin`` for
    ``account``). Re-encoded with only the fields given, for acks."""

    instType: str
    channel: str
    instId: str = ""
    coin: str = ""


class Login(msgspec.Struct, frozen=True):
    """The one arg of ``{"op": "login"}``: all four fields strings, ``apiKey`` spelled so."""

    apiKey: str
    passphrase: str
    timestamp: str
    sign: str


class PlaceOrder(msgspec.Struct, frozen=True):
    """``POST /api/v2/mix/order/place-order``: the documented body (absent = None)."""

    symbol: str
    productType: str
    marginMode: str
    marginCoin: str
    size: str
    side: str
    orderType: str
    price: str | None = None
    force: str | None = None
    tradeSide: str | None = None
    clientOid: str | None = None
    reduceOnly: str | None = None
    stpMode: str | None = None
    presetStopSurplusPrice: str | None = None
    presetStopLossPrice: str | None = None
    presetStopSurplusExecutePrice: str | None = None
    presetStopLossExecutePrice: str | None = None


class CancelOrder(msgspec.Struct, frozen=True):
    """``POST /api/v2/mix/order/cancel-order``: ``orderId`` or ``clientOid`` (orderId wins)."""

    symbol: str
    productType: str
    marginCoin: str | None = None
    orderId: str | None = None
    clientOid: str | None = None


class SetLeverage(msgspec.Struct, frozen=True):
    """``POST /api/v2/mix/account/set-leverage``: ``leverage`` and/or ``longLeverage`` /
    ``shortLeverage`` (strings), ``holdSide`` (``long``/``short``) optional."""

    symbol: str
    productType: str
    marginCoin: str
    leverage: str | None = None
    longLeverage: str | None = None
    shortLeverage: str | None = None
    holdSide: str | None = None


class SetMarginMode(msgspec.Struct, frozen=True):
    """``POST /api/v2/mix/account/set-margin-mode``: every field required."""

    symbol: str
    productType: str
    marginCoin: str
    marginMode: str


_ws_request = msgspec.json.Decoder(WsRequest)
_set_leverage = msgspec.json.Decoder(SetLeverage)
_set_margin_mode = msgspec.json.Decoder(SetMarginMode)
_place = msgspec.json.Decoder(PlaceOrder)
_cancel = msgspec.json.Decoder(CancelOrder)


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def decode_ws_request(text: str) -> WsRequest:
    try:
        return _ws_request.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(_reason(exc)) from None


def convert_arg(raw: Any) -> Arg:
    try:
        return msgspec.convert(raw, Arg)
    except msgspec.ValidationError as exc:
        raise Malformed(_reason(exc)) from None


def convert_login(raw: Any) -> Login:
    try:
        return msgspec.convert(raw, Login)
    except msgspec.ValidationError as exc:
        raise Malformed(_reason(exc)) from None


def decode_place(body: bytes) -> PlaceOrder:
    try:
        return _place.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(_reason(exc)) from None


def decode_cancel(body: bytes) -> CancelOrder:
    try:
        return _cancel.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(_reason(exc)) from None


def decode_set_leverage(body: bytes) -> SetLeverage:
    try:
        return _set_leverage.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(_reason(exc)) from None


def decode_set_margin_mode(body: bytes) -> SetMarginMode:
    try:
        return _set_margin_mode.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Malformed(_reason(exc)) from None


def loose_fields(body: bytes) -> dict[str, Any]:
    """Whatever a JSON-object body says, for the order record of a refused request
    (``{}`` when it is not a JSON object)."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def query_params(query: str) -> dict[str, str]:
    """The URL's query as a dict (blank values kept; a repeated key: the last one)."""
    return dict(parse_qsl(query, keep_blank_values=True))


encoder = msgspec.json.Encoder(decimal_format="string")


def encode(value: Any) -> str:
    return encoder.encode(value).decode()
