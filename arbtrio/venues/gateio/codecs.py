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
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, TypeVar

import msgspec

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
    contract: str
    size: Decimal
    entry_price: Decimal = Decimal(0)
    mode: str = "single"
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
    contract: str
    size: Decimal
    entry_price: Decimal = Decimal(0)
    mode: str = "single"
    user: Id = ""


class Account(Exact):
    total: Decimal
    available: Decimal
    currency: str = "USDT"
    unrealised_pnl: Decimal = Decimal(0)


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

envelope_decoder = msgspec.json.Decoder(WsEnvelope)
book_update_decoder = msgspec.json.Decoder(BookUpdate, strict=False)
book_frame_decoder = msgspec.json.Decoder(BookFrame, strict=False)
snapshot_decoder = msgspec.json.Decoder(OrderBookSnapshot, strict=False)
ws_request_decoder = msgspec.json.Decoder(WsRequest)
subscribe_status_decoder = msgspec.json.Decoder(SubscribeStatus)
ws_orders_decoder = msgspec.json.Decoder(list[WsOrder])
ws_usertrades_decoder = msgspec.json.Decoder(list[WsUserTrade])
ws_positions_decoder = msgspec.json.Decoder(list[WsPosition])
ws_balances_decoder = msgspec.json.Decoder(list[WsBalance])
contracts_decoder = msgspec.json.Decoder(list[Contract])
contract_decoder = msgspec.json.Decoder(Contract)
order_create_decoder = msgspec.json.Decoder(OrderCreate)
order_decoder = msgspec.json.Decoder(FuturesOrder)
orders_decoder = msgspec.json.Decoder(list[FuturesOrder])
my_trades_decoder = msgspec.json.Decoder(list[MyTrade])
positions_decoder = msgspec.json.Decoder(list[Position])
account_decoder = msgspec.json.Decoder(Account)
account_detail_decoder = msgspec.json.Decoder(AccountDetail)
server_time_decoder = msgspec.json.Decoder(ServerTime)
error_decoder = msgspec.json.Decoder(ErrorBody)

encoder = msgspec.json.Encoder(decimal_format="string")


def decode(decoder: msgspec.json.Decoder[T], data: bytes | str | msgspec.Raw, what: str) -> T:
    """Decode ``data`` or raise MalformedMessage naming ``what`` and the failing field."""
    return decode_or_malformed(VENUE, decoder, data, what)


def encode(obj: Any) -> bytes:
    return encoder.encode(obj)


def id_str(value: Id) -> str:
    return value if isinstance(value, str) else str(value)
