"""Gate.io API v4 (USDT perpetual futures) wire messages, both directions, as msgspec Structs.

One decoder per message type, built once at import. Shapes and field names are the venue's
(Gate's APIv4 REST and futures WebSocket v4 references; ``specs/013-gateio.md``); unknown
fields are ignored, so the venue adding fields never breaks decoding. Conventions:

* Money and sizes the runtime trades on are ``Decimal`` (msgspec reads JSON strings and
  numbers exactly); sizes are *contracts* (signed where the venue signs them) and may be
  integers or, on ``enable_decimal`` contracts, decimal strings.
* Book levels are floats with range constraints (the hot path; market data may be float):
  prices > 0, sizes >= 0, both finite. The book decoders run in lax mode, so ``"54672.1"``
  and ``58794`` both decode to floats.
* Structs carrying money derive from :class:`~arbtrio.venues.wire.Exact` (finite decimals
  only); :func:`decode` turns every decoding failure into
  :class:`~arbtrio.venues.base.MalformedMessage`.

Account and order messages (REST answers and private pushes) decode leniently, as Gate
sends them (``specs/013-gateio.md``, "Decoding"): :func:`decode_object` for one object,
:func:`decode_items` for a list, item by item.

* Numbers as the venue writes them: Gate documents that a number may come as an integer,
  a decimal or a string (``1596531048``, ``"1596531048.285"``), and with
  ``X-Gate-Size-Decimal`` sizes, ids and times come as strings. JSON numbers are read
  exactly (a float literal becomes a ``Decimal`` from its text, never through a binary
  float), then converted to the field's type.
* A ``null`` or ``""`` field is absent: its default applies (``"fee": null`` is no fee,
  ``"price": ""`` no price); absent and required is a decoding failure.
* Extra fields are ignored.
* A list decodes item by item: an item that fails is returned as an error (the caller
  counts it in ``health.skipped``), never taking its neighbours with it. Only a message
  that is not JSON or not a list at all is malformed as a whole.

Order-book frames keep their strict, one-pass decoders (the hot path): a book delta's
levels are not independent items, and a bad one resyncs the book.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import attrs
import msgspec

from arbtrio.venues.base import MalformedMessage
from arbtrio.venues.wire import Exact, decode_or_malformed

VENUE = "gateio"

Price = Annotated[float, msgspec.Meta(gt=0, lt=1e15)]
Size = Annotated[float, msgspec.Meta(ge=0, lt=1e15)]
Id = int | str  # Gate sends some ids as numbers and others as strings


# -- order books ---------------------------------------------------------------------------
class BookLevel(msgspec.Struct):
    """``{"p": "54672.1", "s": 58794}``: absolute size in contracts at price ``p``."""

    p: Price
    s: Size


class OrderBookSnapshot(msgspec.Struct):
    """``GET /futures/usdt/order_book?...&with_id=true``: bids high→low, asks low→high."""

    id: int
    asks: list[BookLevel]
    bids: list[BookLevel]
    current: float = 0.0
    update: float = 0.0


class BookUpdate(msgspec.Struct):
    """``futures.order_book_update`` result: changes for ids ``U..u`` (``full``: a snapshot)."""

    s: str
    U: int
    u: int
    t: int = 0
    b: list[BookLevel] = []
    a: list[BookLevel] = []
    l: str = ""  # noqa: E741 - the venue's field name (subscribed depth)
    full: bool = False


class BookFrame(msgspec.Struct, tag_field="channel", tag="futures.order_book_update"):
    """A whole ``futures.order_book_update`` frame, decoded in one pass (the hot path)."""

    event: str
    result: BookUpdate
    time: int = 0
    time_ms: int = 0


# -- WebSocket envelope --------------------------------------------------------------------
class WsError(msgspec.Struct):
    code: int
    message: str = ""


class WsEnvelope(msgspec.Struct):
    """Every server message: ``result`` stays raw until the channel says what it is."""

    channel: str = ""
    event: str = ""
    time: int = 0
    time_ms: int = 0
    error: WsError | None = None
    result: msgspec.Raw = msgspec.Raw()
    id: int | None = None


class WsAuth(msgspec.Struct):
    KEY: str
    SIGN: str
    method: str = "api_key"


class WsRequest(msgspec.Struct, omit_defaults=True):
    """Client → server: subscribe / unsubscribe / ``futures.ping``."""

    time: int
    channel: str
    event: str = ""
    payload: list[str] = []
    auth: WsAuth | None = None
    id: int | None = None


class SubscribeStatus(msgspec.Struct):
    status: str = ""


# -- private channels ----------------------------------------------------------------------
class WsOrder(Exact):
    """One ``futures.orders`` item (WS prices are floats; read exactly as Decimal)."""

    contract: str
    id: int
    size: Decimal
    left: Decimal
    status: str
    price: Decimal = Decimal(0)
    fill_price: Decimal = Decimal(0)
    finish_as: str = ""
    text: str = ""
    tif: str = ""
    is_reduce_only: bool = False
    create_time_ms: int = 0
    finish_time_ms: int = 0
    update_time: int = 0
    user: Id = ""


class WsUserTrade(Exact):
    """One ``futures.usertrades`` item: a fill (``size`` signed contracts, ``fee`` amount)."""

    id: Id
    contract: str
    order_id: Id
    size: Decimal
    price: Decimal
    create_time_ms: int = 0
    create_time: int = 0
    role: str = ""
    text: str = ""
    fee: Decimal = Decimal(0)
    point_fee: Decimal = Decimal(0)


class WsPosition(Exact):
    """One ``futures.positions`` item: ``leverage`` 0 is cross (then ``cross_leverage_limit``
    is its leverage); ``liq_price`` 0 or absent is none. Gate's push documents no
    ``mark_price``; one that comes is read."""

    contract: str
    size: Decimal
    entry_price: Decimal = Decimal(0)
    mode: str = "single"
    leverage: Decimal = Decimal(0)
    cross_leverage_limit: Decimal = Decimal(0)
    liq_price: Decimal = Decimal(0)
    mark_price: Decimal = Decimal(0)
    pos_margin_mode: str = ""
    lever: Decimal = Decimal(0)
    time_ms: int = 0
    user: Id = ""


class WsBalance(Exact):
    balance: Decimal
    change: Decimal = Decimal(0)
    text: str = ""
    type: str = ""
    time_ms: int = 0
    user: Id = ""
    currency: str = "usdt"


# -- REST ----------------------------------------------------------------------------------
class Contract(Exact):
    """``GET /futures/usdt/contracts`` item (the fields the bot uses)."""

    name: str
    quanto_multiplier: Decimal
    order_price_round: Decimal
    order_size_min: Decimal
    type: str = "direct"
    order_size_max: Decimal | None = None
    maker_fee_rate: Decimal = Decimal(0)
    taker_fee_rate: Decimal = Decimal(0)
    funding_rate: Decimal = Decimal(0)
    funding_interval: int = 28800
    funding_next_apply: float = 0.0
    leverage_max: Decimal | None = None
    mark_price: Decimal | None = None
    status: str = "trading"
    in_delisting: bool = False
    enable_decimal: bool = False


class OrderCreate(msgspec.Struct, omit_defaults=True):
    """``POST /futures/usdt/orders`` body: ``size`` signed contracts (> 0 buy, < 0 sell)."""

    contract: str
    size: int | str
    price: str
    tif: str = "gtc"
    text: str = ""
    reduce_only: bool = False


class FuturesOrder(Exact):
    """REST order object (create / query / cancel answer)."""

    id: int
    contract: str
    size: Decimal
    left: Decimal
    status: str
    price: Decimal = Decimal(0)
    fill_price: Decimal = Decimal(0)
    finish_as: str = ""
    text: str = ""
    tif: str = "gtc"
    is_reduce_only: bool = False
    create_time: float = 0.0
    finish_time: float | None = None
    tkfr: Decimal | None = None
    mkfr: Decimal | None = None
    user: Id = ""


class MyTrade(Exact):
    """``GET /futures/usdt/my_trades`` item."""

    id: Id
    contract: str
    order_id: Id
    size: Decimal
    price: Decimal
    create_time: float = 0.0
    role: str = ""
    text: str = ""
    fee: Decimal = Decimal(0)
    point_fee: Decimal = Decimal(0)


class Position(Exact):
    """A REST position (``GET /futures/usdt/positions``, and the answer of the leverage and
    margin-mode calls). ``leverage`` 0 is cross with ``cross_leverage_limit``; newer answers
    also carry ``pos_margin_mode`` (``isolated``/``cross``) and ``lever``, which then decide.
    ``liq_price``/``mark_price`` 0 or absent are none."""

    contract: str
    size: Decimal
    entry_price: Decimal = Decimal(0)
    mode: str = "single"
    leverage: Decimal = Decimal(0)
    cross_leverage_limit: Decimal = Decimal(0)
    leverage_max: Decimal = Decimal(0)
    maintenance_rate: Decimal = Decimal(0)
    liq_price: Decimal = Decimal(0)
    mark_price: Decimal = Decimal(0)
    pos_margin_mode: str = ""
    lever: Decimal = Decimal(0)
    user: Id = ""


class Account(Exact):
    total: Decimal
    available: Decimal
    currency: str = "USDT"
    unrealised_pnl: Decimal = Decimal(0)
    in_dual_mode: bool = False


class CrossModeRequest(msgspec.Struct):
    """``POST /futures/usdt/positions/cross_mode`` body: ``mode`` ``"CROSS"``|``"ISOLATED"``."""

    mode: str
    contract: str


class AccountDetail(msgspec.Struct):
    user_id: int


class ServerTime(msgspec.Struct):
    server_time: int


class ErrorBody(msgspec.Struct):
    """Non-2xx body: program against ``label`` only."""

    label: str
    message: str = ""
    detail: str = ""


# -- decoders (built once) -----------------------------------------------------------------
T = TypeVar("T")

envelope_decoder = msgspec.json.Decoder(WsEnvelope, strict=False)
book_update_decoder = msgspec.json.Decoder(BookUpdate, strict=False)
book_frame_decoder = msgspec.json.Decoder(BookFrame, strict=False)
snapshot_decoder = msgspec.json.Decoder(OrderBookSnapshot, strict=False)
ws_request_decoder = msgspec.json.Decoder(WsRequest)
subscribe_status_decoder = msgspec.json.Decoder(SubscribeStatus)
order_create_decoder = msgspec.json.Decoder(OrderCreate)
server_time_decoder = msgspec.json.Decoder(ServerTime)
error_decoder = msgspec.json.Decoder(ErrorBody)
_untyped = msgspec.json.Decoder(float_hook=Decimal)  # JSON floats read exactly, from their text
_ITEM_ERRORS = (msgspec.ValidationError, ValueError, TypeError)
_INT_MAX = Decimal(2**63)

encoder = msgspec.json.Encoder(decimal_format="string")


def decode(decoder: msgspec.json.Decoder[T], data: bytes | str | msgspec.Raw, what: str) -> T:
    """Decode ``data`` or raise MalformedMessage naming ``what`` and the failing field."""
    return decode_or_malformed(VENUE, decoder, data, what)


@attrs.frozen
class Items(Generic[T]):
    """A list decoded item by item: the items that decoded, and why each other one did not
    (``"<what>[<index>]: <reason>"``), in list order."""

    items: list[T]
    errors: list[str]


def _untyped_json(data: bytes | str | msgspec.Raw, what: str) -> Any:
    try:
        return _untyped.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedMessage(VENUE, f"{what}: {exc}") from None


def _lenient(obj: Any, into: type[T]) -> T:
    """One decoded JSON object as ``into``: null and "" fields absent, numbers converted
    from whatever JSON type carried them. Raises msgspec.ValidationError (or ValueError)."""
    if not isinstance(obj, dict):
        raise msgspec.ValidationError(f"expected an object, got {type(obj).__name__}")
    present = {k: _integral(v) for k, v in obj.items() if v is not None and v != ""}
    return msgspec.convert(present, into, strict=False)


def _integral(value: Any) -> Any:
    """A float literal with an integral value (``28800.0``, ``1.6e12``) as an int, so that
    integer fields take it (exact either way for decimal and float fields)."""
    if isinstance(value, Decimal) and value.is_finite() and abs(value) < _INT_MAX:
        integral = value.to_integral_value()
        if integral == value:
            return int(integral)
    return value


def decode_object(into: type[T], data: bytes | str | msgspec.Raw, what: str) -> T:
    """One account or order object, leniently (module docstring); MalformedMessage when
    it is not JSON, not an object, or lacks a field ``into`` needs."""
    try:
        return _lenient(_untyped_json(data, what), into)
    except _ITEM_ERRORS as exc:
        raise MalformedMessage(VENUE, f"{what}: {exc}") from None


def decode_items(into: type[T], data: bytes | str | msgspec.Raw, what: str) -> Items[T]:
    """A JSON array of ``into`` objects, item by item (module docstring). MalformedMessage
    only when ``data`` is not JSON or not an array."""
    items = _untyped_json(data, what)
    if not isinstance(items, list):
        raise MalformedMessage(VENUE, f"{what}: expected an array, got {type(items).__name__}")
    good: list[T] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        try:
            good.append(_lenient(item, into))
        except _ITEM_ERRORS as exc:
            errors.append(f"{what}[{i}]: {exc}")
    return Items(good, errors)


def encode(obj: Any) -> bytes:
    return encoder.encode(obj)


def id_str(value: Id) -> str:
    return value if isinstance(value, str) else str(value)
