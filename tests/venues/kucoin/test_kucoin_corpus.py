"""Every payload of the corpus (``fixtures/*.json``: real payloads, each with its
``_source``) decodes to the values it carries, through the code the client runs; mutated
variants (null, blank and extra fields, a foreign or broken item among good ones) behave as
``specs/014-kucoin.md`` says. REST answers reach the client through a fake ``rest.call``
that still builds and signs each request, then decodes the corpus answer."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgspec
import pytest
import trio

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Balance, Fill, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    PreparedRequest,
    RateLimited,
    VenueHealth,
)
from arbtrio.venues.kucoin import codecs, convert
from arbtrio.venues.kucoin.books import KucoinBooks
from arbtrio.venues.kucoin.client import KucoinClient, KucoinRules
from arbtrio.venues.kucoin.errors import error_for
from arbtrio.venues.kucoin.feed import PRIVATE_TOPICS, KucoinOrderFeed, control_message
from arbtrio.venues.stream import Deliver, Fetch, Output, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

FIXTURES = Path(__file__).parent / "fixtures"
D = Decimal
CREDS = Credentials(api_key="k", api_secret="s", passphrase="p")
SERVER = codecs.InstanceServer(endpoint="wss://ws/")


def payload(name: str) -> Any:
    """The fixture's payload, its ``_source`` stripped."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data.pop("_source")
    return data


def raw(name: str) -> bytes:
    return json.dumps(payload(name)).encode()


def instrument(symbol: str, multiplier: str, asset: str = "X", quote: str = "USDT") -> Instrument:
    m = D(multiplier)
    return Instrument(
        venue="kucoin", symbol=symbol, asset=asset, quote=quote, tick_size=D("0.0001"),
        lot_size=m, min_size=m, min_notional=D(0), taker_fee=D("0.0006"),
        maker_fee=D("0.0002"), funding_interval_hours=8, contract_multiplier=m,
    )  # fmt: skip


BTC = instrument("XBTUSDTM", "0.001", "BTC")
LTC = instrument("LTCUSDTM", "0.1", "LTC")
XRP = instrument("XRPUSDTM", "10", "XRP")
INVERSE = instrument("XBTUSDM", "1", "BTC", quote="USD")  # only to read its payloads


def test_every_fixture_names_its_source_and_is_decoded_here() -> None:
    text = Path(__file__).read_text()
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 50
    for name in names:
        source = json.loads((FIXTURES / f"{name}.json").read_text())["_source"]
        assert ("github.com" in source or "/" in source) and len(source) > 20, name
        assert f'"{name}"' in text, f"fixture {name} is not decoded by any test"


# -- the client, with its REST calls answered from the corpus ------------------------------
class FakeRest:
    """``rest.call`` answering each route with corpus bodies, in turn (the last repeats);
    every request is still built (and signed), and kept in :attr:`sent`."""

    def __init__(self, answers: dict[str, Sequence[bytes]]) -> None:
        self.answers = {route: list(bodies) for route, bodies in answers.items()}
        self.sent: list[PreparedRequest] = []

    async def call(
        self, method: str, path: str, build: Callable[[], PreparedRequest],
        decode: Callable[[Any], Any], *, mutating: bool = False,
    ) -> Any:  # fmt: skip
        self.sent.append(build())
        bodies = self.answers[path]
        return decode(bodies.pop(0) if len(bodies) > 1 else bodies[0])


def client_with(answers: dict[str, Sequence[bytes]], *instruments: Instrument) -> KucoinClient:
    client = KucoinClient(credentials=CREDS, wall_clock=lambda: 1748462400.0)
    client.instruments.update({i.symbol: i for i in instruments})
    client.rest.call = FakeRest(answers).call  # type: ignore[method-assign]
    return client


def body(data: Any) -> bytes:
    return json.dumps({"code": "200000", "data": data}).encode()


CONTRACTS = "/api/v1/contracts/active"
POSITIONS = "/api/v1/positions"
ORDER = "/api/v1/orders/byClientOid"
FILLS = "/api/v1/fills"
ORDER_ROUTE = "/api/v1/orders"


# -- instruments -----------------------------------------------------------------------------
async def test_contracts_decode_to_instruments() -> None:
    client = client_with({CONTRACTS: [raw("rest_contracts_active")]})
    (btc,) = await client.load_instruments()
    assert (btc.symbol, btc.asset, btc.quote) == ("XBTUSDTM", "BTC", "USDT")
    assert (btc.tick_size, btc.lot_size, btc.contract_multiplier) == (
        D("0.1"),
        D("0.001"),
        D("0.001"),
    )
    assert (btc.taker_fee, btc.maker_fee, btc.funding_interval_hours) == (
        D("0.0006"),
        D("0.0002"),
        8,
    )
    assert btc.max_leverage == 125 and client.health.skipped == 0
    one = codecs.decode(codecs.contract_decoder, raw("rest_contract"), "contract").data
    assert one.makerFeeRate == D("0.0002") and one.takerFeeRate == D("0.0006")  # 2.0E-4
    assert convert.instrument_from_contract(one) == btc


async def test_foreign_and_broken_contracts_are_skipped_one_by_one() -> None:
    (real,) = payload("rest_contracts_active")["data"]
    absent = dict.fromkeys(
        ("makerFeeRate", "takerFeeRate", "fundingRateGranularity", "maxOrderQty",
         "predictedFundingFeeRate"),
    )  # fmt: skip
    lenient = {**real, **absent, "symbol": "ETHUSDTM", "baseCurrency": "ETH",
               "settlementFee": "", "brandNewField": [1]}  # fmt: skip
    items = [
        {**real, "symbol": "XBTUSDM", "isInverse": True, "settleCurrency": "XBT"},
        {**real, "symbol": "XBTUSDCM", "settleCurrency": "USDC", "quoteCurrency": "USDC"},
        {**real, "symbol": "XBTMZ25", "type": "FFICSX"},  # a dated future
        {**real, "symbol": "LUNAUSDTM", "status": "Paused"},
        {**real, "symbol": "BADUSDTM", "multiplier": None},  # undecodable
        {**real, "symbol": "ZEROUSDTM", "tickSize": 0},
        real,
        lenient,
    ]
    client = client_with({CONTRACTS: [body(items)]})
    loaded = {i.symbol: i for i in await client.load_instruments()}
    assert sorted(loaded) == ["ETHUSDTM", "XBTUSDTM"]
    assert client.health.skipped == 6
    eth = loaded["ETHUSDTM"]  # absent rates and granularity: the venue's defaults
    assert (eth.taker_fee, eth.maker_fee, eth.funding_interval_hours) == (
        D("0.0006"),
        D("0.0002"),
        8,
    )


# -- books ----------------------------------------------------------------------------------
def books_of(inst: Instrument) -> tuple[KucoinBooks, L2Book, VenueHealth]:
    health = VenueHealth("kucoin")
    books = KucoinBooks({inst.symbol: inst}, health, lambda book: None)
    books.resync(inst.symbol, "start", 0.0)
    return books, books.books[inst.symbol], health


def test_snapshots_decode_with_number_and_string_prices() -> None:
    snap = codecs.decode(codecs.snapshot_decoder, raw("rest_level2_snapshot"), "s").data
    assert snap.sequence == 1697895963339 and snap.symbol == "XBTUSDM"
    assert snap.bids == [(66968.0, 2.0), (66964.8, 25596.0)]
    assert snap.asks == [(66968.1, 13501.0), (66968.7, 2032.0)]
    legacy = codecs.decode(codecs.snapshot_decoder, raw("rest_level2_snapshot_string_prices"), "s")
    books, book, _ = books_of(INVERSE)
    assert books.on_snapshot("XBTUSDM", legacy.data, 1.0) and book.tradable
    assert book.best_bid() == (3200.0, 800.0) and book.best_ask() == (5000.0, 1000.0)


@pytest.mark.parametrize(("name", "inst"), [("ws_level2_increment", BTC),
                                            ("ws_level2_legacy", INVERSE)])  # fmt: skip
def test_level2_pushes_apply_after_their_snapshot(name: str, inst: Instrument) -> None:
    push = payload(name)
    seq = push["data"]["sequence"]
    books, book, health = books_of(inst)
    snap = codecs.Level2Snapshot(sequence=seq - 1, bids=[(1.0, 1.0)], asks=[(99999.0, 1.0)])
    books.on_snapshot(inst.symbol, snap, 1.0)
    assert books.on_frame(raw(name), 2.0) is None and health.malformed == 0
    price, _, lots = push["data"]["change"].split(",")
    assert book.seq == seq and book.best_ask() == (
        float(price),
        pytest.approx(float(lots) * float(inst.contract_multiplier)),
    )
    assert book.exchange_ts == push["data"]["timestamp"] / 1000  # epoch ms → seconds


# -- streams: tokens and control frames -------------------------------------------------------
@pytest.mark.parametrize(("name", "ping_ms"), [("rest_bullet_public", 18000),
                                               ("rest_bullet_private", 18000),
                                               ("rest_bullet_legacy", 50000)])  # fmt: skip
def test_bullet_answers_name_the_instance_server(name: str, ping_ms: int) -> None:
    bullet = codecs.decode(codecs.bullet_decoder, raw(name), "bullet").data
    server = bullet.instanceServers[0]
    assert bullet.token == payload(name)["data"]["token"] and len(bullet.token) > 50
    assert server.endpoint.startswith("wss://") and server.pingInterval == ping_ms
    assert server.pingTimeout == 10000


def test_control_frames_decode_and_the_token_error_ends_the_session() -> None:
    assert control_message(raw("ws_welcome")).id == "hQvf8jkno"
    assert control_message(raw("ws_ack")).type == "ack"
    assert control_message(raw("ws_pong")).id == "1545910590801"
    with pytest.raises(Disconnected, match='token rejected: "token is expired"'):
        control_message(raw("ws_error_token_expired"))


# -- funding, fees, placement, cancel ---------------------------------------------------------
async def test_funding_answers_decode_to_rates() -> None:
    route = "/api/v1/funding-rate/{symbol}/current"
    client = client_with({route: [raw("rest_funding_current"), raw("rest_funding_current_ccxt")]})
    now = trio.current_time()
    first, second = await client.fetch_funding(["XBTUSDTM", "XBTUSDTM"])
    assert (first.rate, first.interval_hours) == (D("0.000061"), 8)
    assert first.next_funding_ts == pytest.approx(now + 28_800)  # fundingTime − wall clock
    assert (second.rate, second.next_funding_ts) == (D("0.000136"), None)  # no fundingTime


def test_fee_placement_and_cancel_answers_decode() -> None:
    fees = codecs.decode(codecs.trade_fees_decoder, raw("rest_trade_fees"), "fees").data
    assert (fees.symbol, fees.takerFeeRate, fees.makerFeeRate) == (
        "XBTUSDTM",
        D("0.0006"),
        D("0.0002"),
    )
    created = codecs.decode(codecs.order_created_decoder, raw("rest_order_created"), "o").data
    assert (created.orderId, created.clientOid) == (
        "234125150956625920",
        "5c52e11203aa677f33e493fb",
    )
    legacy = codecs.decode(codecs.order_created_decoder, raw("rest_order_created_legacy"), "o").data
    assert (legacy.orderId, legacy.clientOid) == ("5bd6e9286d99522a52e458de", "")
    for name in ("rest_cancel_by_client_oid", "rest_success_without_data"):
        assert str(codecs.decode(codecs.cancelled_decoder, raw(name), "cancel").code) == "200000"


# -- orders and fills ---------------------------------------------------------------------------
def order_answer(name: str, **changes: Any) -> bytes:
    answer = payload(name)
    answer["data"].update(changes)
    return json.dumps(answer).encode()


async def test_an_open_order_query_reports_open_without_fills() -> None:
    client = client_with({ORDER: [raw("rest_order_by_client_oid")]}, XRP)
    report = await client.query_order("XRPUSDTM", "5c52e11203aa677f33e493fb")
    assert (report.status, report.filled_qty, report.avg_price, report.fills) == (
        OrderStatus.OPEN, D(0), None, ()
    )  # fmt: skip
    detail = codecs.decode(codecs.order_detail_decoder, raw("rest_order_by_id"), "o").data
    assert detail is not None and (detail.id, detail.status, detail.size) == (
        "236655147005071361",
        "open",
        D(1),
    )


async def test_a_filled_order_query_reports_its_own_fills_only() -> None:
    fills = payload("rest_fills_ccxt")
    mine = {**fills["data"]["items"][0], "orderId": "129888283827113984"}
    fills["data"]["items"] = [mine, fills["data"]["items"][0]]  # ccxt's fill is another order's
    client = client_with(
        {ORDER: [raw("rest_order_market_reduce_only_ccxt")], FILLS: [json.dumps(fills).encode()]},
        LTC,
    )
    report = await client.query_order("LTCUSDTM", "7bfd51c9-fef2-4f19-bfab-7191c24e1855")
    assert (report.status, report.filled_qty, report.avg_price) == (
        OrderStatus.FILLED,
        D("0.1"),
        D("74.7"),
    )
    (fill,) = report.fills
    assert (fill.trade_id, fill.side, fill.qty, fill.price) == (
        "1694909144276",
        Side.BUY,
        D("0.1"),
        D("72.5"),
    )
    assert (fill.fee, fill.fee_currency, fill.client_order_id) == (
        D("0.00435"),
        "",
        report.client_order_id,
    )
    assert client.health.skipped == 1


async def test_order_queries_accept_the_older_and_the_absent_field_names() -> None:
    older = order_answer("rest_order_market_reduce_only_ccxt", filledSize=None, filledValue=None)
    client = client_with({ORDER: [older], FILLS: [body({"items": []})]}, LTC)
    report = await client.query_order("LTCUSDTM", "c")
    assert (report.status, report.filled_qty, report.avg_price) == (
        OrderStatus.FILLED,
        D("0.1"),
        D("74.7"),
    )
    none = order_answer("rest_order_market_reduce_only_ccxt", filledSize=None, dealSize=None)
    with pytest.raises(MalformedMessage, match="neither filledSize nor dealSize"):
        await client_with({ORDER: [none]}, LTC).query_order("LTCUSDTM", "c")
    not_found = client_with({ORDER: [body(None)]}, LTC)
    with pytest.raises(OrderNotFound):
        await not_found.query_order("LTCUSDTM", "c")


def test_inverse_and_listed_orders_decode() -> None:
    done = codecs.decode(
        codecs.order_detail_decoder, raw("rest_order_detail_done_inverse"), "o"
    ).data
    assert done is not None
    report = convert.order_report(INVERSE, done, [], "5ce24c16b210233c36ee321d", 0.0)
    assert (report.status, report.filled_qty) == (OrderStatus.FILLED, D(20000))
    item = msgspec.json.Decoder(codecs.OrderDetail)
    for name, oid, size in (("rest_orders_list", "230181737576050688", D(10)),
                            ("rest_orders_open_ccxt", "114606863965757440", D(1))):  # fmt: skip
        page = codecs.decode(codecs.fills_decoder, raw(name), "orders").data  # the same page
        (order,), refused = codecs.decode_items(item, page.items, "orders")
        assert refused == [] and (order.id, order.status, order.size, order.filledSize) == (
            oid,
            "open",
            size,
            D(0),
        )


def fills_page(name: str, *extra: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    page = payload(name)
    items = page["data"]["items"]
    page["data"]["items"] = [*items, *extra]
    return json.dumps(page).encode(), items[0]


def order_of(fill: dict[str, Any], symbol: str = "XBTUSDTM") -> bytes:
    return body({"id": fill["orderId"], "symbol": symbol, "side": fill["side"],
                 "size": fill["size"], "status": "done", "filledSize": fill["size"],
                 "filledValue": fill["value"], "clientOid": "c1"})  # fmt: skip


async def test_fills_decode_with_their_fee_and_its_currency() -> None:
    page, item = fills_page("rest_fills")
    client = client_with({ORDER: [order_of(item)], FILLS: [page]}, BTC)
    (fill,) = (await client.query_order("XBTUSDTM", "c1")).fills
    assert (fill.trade_id, fill.side, fill.qty, fill.price) == (
        "1828954878212",
        Side.BUY,
        D("0.001"),
        D("86275.1"),
    )
    assert (fill.fee, fill.fee_currency) == (D("0.05176506"), "")
    page, item = fills_page("rest_fills_inverse_xbt_fee")  # fees of an inverse contract: XBT
    client = client_with({ORDER: [order_of(item, "XBTUSDM")], FILLS: [page]}, INVERSE)
    (fill,) = (await client.query_order("XBTUSDM", "c1")).fills
    assert (fill.fee, fill.fee_currency, fill.qty) == (D("0.0000012022"), "XBT", D(10))
    recent, refused = codecs.decode_items(
        codecs.trade_fill_item_decoder,
        [msgspec.Raw(json.dumps(f).encode()) for f in payload("rest_recent_fills_list")["data"]],
        "recent fills",
    )  # fmt: skip
    assert refused == [] and [f.fee for f in recent] == [D("0.04045854"), D("0.040467")]


async def test_fill_items_accept_null_fees_and_other_coins_and_skip_broken_neighbours() -> None:
    _, item = fills_page("rest_fills")
    null_fee = {**item, "tradeId": "t-null", "fee": None, "feeCurrency": None, "extra": {"x": 1}}
    kcs = {**item, "tradeId": "t-kcs", "fee": "0.01", "feeCurrency": "KCS"}
    broken = {**item, "tradeId": "t-broken", "price": ""}
    stranger = {**item, "tradeId": "t-other", "orderId": "someone-else"}
    page, _ = fills_page("rest_fills", null_fee, kcs, broken, stranger)
    client = client_with({ORDER: [order_of(item)], FILLS: [page]}, BTC)
    fills = {f.trade_id: f for f in (await client.query_order("XBTUSDTM", "c1")).fills}
    assert sorted(fills) == ["1828954878212", "t-kcs", "t-null"]
    assert fills["t-null"].fee == D("86.2751") * D("0.00060")  # value × feeRate
    assert (fills["t-null"].fee_currency, fills["t-kcs"].fee_currency) == ("", "KCS")
    assert client.health.skipped == 2


# -- positions and balances ---------------------------------------------------------------------
async def test_positions_keep_the_traded_contracts_and_count_the_others() -> None:
    # the documentation's own example: an inverse ETHUSDM position next to XBTUSDTM
    client = client_with(
        {POSITIONS: [raw("rest_positions")], CONTRACTS: [raw("rest_contracts_active")]}, BTC
    )
    (position,) = await client.fetch_positions()
    assert (position.symbol, position.qty, position.entry_price) == (
        "XBTUSDTM",
        D("0.001"),
        D("67430.9"),
    )
    assert (position.mark_price, position.liquidation_price) == (D("68323.06"), D("45704.44"))
    assert client.health.skipped == 1


@pytest.mark.parametrize("none", [None, "", 0, "0", "0.0"])
async def test_a_position_without_a_liquidation_price_reports_none(none: Any) -> None:
    real = payload("rest_positions")["data"][1]
    items = [{**real, "liquidationPrice": none, "markPrice": none}]
    client = client_with({POSITIONS: [body(items)]}, BTC)
    (position,) = await client.fetch_positions()
    assert (position.qty, position.mark_price, position.liquidation_price) == (
        D("0.001"), None, None
    )  # fmt: skip
    assert client.health.skipped == 0


async def test_a_position_with_a_broken_price_is_skipped_and_its_neighbours_kept() -> None:
    real = payload("rest_positions")["data"][1]
    items = [{**real, "symbol": "LTCUSDTM", "liquidationPrice": "n/a"},
             {**real, "markPrice": "Infinity"}, real]  # fmt: skip
    client = client_with({POSITIONS: [body(items)]}, BTC, LTC)
    (position,) = await client.fetch_positions()
    assert (position.symbol, position.liquidation_price) == ("XBTUSDTM", D("45704.44"))
    assert client.health.skipped == 2


async def test_position_items_accept_null_and_extra_fields() -> None:
    real = payload("rest_positions")["data"][1]
    items = [{**real, "avgEntryPrice": None, "isOpen": None, "whatever": "x"},
             {**real, "symbol": "ETHUSDTM", "currentQty": None},  # undecodable
             {**real, "symbol": "SOLUSDTM", "currentQty": 0}]  # flat: not a position  # fmt: skip
    client = client_with({POSITIONS: [body(items)], CONTRACTS: [raw("rest_contracts_active")]}, BTC)
    (position,) = await client.fetch_positions()
    assert (position.qty, position.entry_price, client.health.skipped) == (D("0.001"), None, 1)


@pytest.mark.parametrize(("name", "qty", "entry", "mark", "liquidation"), [
    ("rest_position", D(1), D("67430.9"), D("68900.7"), D("45314.33")),
    ("rest_position_legacy", D(1), D("40008.0"), D("40014.93"), D("32211.0")),
    ("rest_position_string_numbers", D(1), D("97302.00"), D("96939.98"), D("44269.81")),
])  # fmt: skip
def test_single_positions_decode(
    name: str, qty: Decimal, entry: Decimal, mark: Decimal, liquidation: Decimal
) -> None:
    p = codecs.decode(codecs.position_item_decoder, json.dumps(payload(name)["data"]), name)
    assert (p.symbol, p.currentQty, p.avgEntryPrice) == ("XBTUSDTM", qty, entry)
    position = convert.reported_position(BTC, p)
    assert (position.qty, position.entry_price) == (D("0.001"), entry)
    assert (position.mark_price, position.liquidation_price) == (mark, liquidation)


async def test_account_overviews_decode_to_balances() -> None:
    route = "/api/v1/account-overview"
    (usdt,) = await client_with({route: [raw("rest_account_overview")]}).fetch_balances()
    assert usdt == Balance(venue="kucoin", currency="USDT", total=D("394.439280806"),
                           available=D("290.326799096"))  # fmt: skip
    (xbt,) = await client_with({route: [raw("rest_account_overview_xbt")]}).fetch_balances()
    assert (xbt.currency, xbt.total) == ("XBT", D("99.8999305281"))


# -- leverage and margin mode ---------------------------------------------------------------------
MARGIN_MODE = "/api/v2/position/getMarginMode"
CHANGE_MODE = "/api/v2/position/changeMarginMode"
CROSS_LEVERAGE = "/api/v2/getCrossUserLeverage"
CHANGE_LEVERAGE = "/api/v2/changeCrossUserLeverage"
BTC_125 = attrs.evolve(BTC, max_leverage=125)


def configuring(answers: dict[str, Sequence[bytes]]) -> tuple[KucoinClient, FakeRest]:
    client = KucoinClient(credentials=CREDS, wall_clock=lambda: 1748462400.0)
    client.instruments[BTC.symbol] = BTC_125
    fake = FakeRest(answers)
    client.rest.call = fake.call  # type: ignore[method-assign]
    return client, fake


def sent(fake: FakeRest) -> list[tuple[str, str, Any]]:
    return [(p.method, p.path, json.loads(p.body) if p.body else None) for p in fake.sent]


def answer(name: str, **data: Any) -> bytes:
    """The fixture's answer, its ``data`` fields changed."""
    envelope = payload(name)
    envelope["data"].update(data)
    return json.dumps(envelope).encode()


async def test_settings_already_in_place_send_nothing_but_the_reads() -> None:
    # the documented answers: XBTUSDTM is ISOLATED; its cross leverage is "3"
    client, fake = configuring({MARGIN_MODE: [raw("rest_margin_mode")],
                                CROSS_LEVERAGE: [raw("rest_cross_leverage")]})  # fmt: skip
    await client.configure_instrument("XBTUSDTM", leverage=7, margin_mode="isolated")
    assert sent(fake) == [("GET", f"{MARGIN_MODE}?symbol=XBTUSDTM", None)]
    assert client.configured == {"XBTUSDTM": (7, "ISOLATED")}  # leverage: sent with orders
    fake.answers[MARGIN_MODE] = [answer("rest_margin_mode", marginMode="CROSS")]
    await client.configure_instrument("XBTUSDTM", leverage=3, margin_mode="cross")
    assert sent(fake)[1:] == [("GET", f"{MARGIN_MODE}?symbol=XBTUSDTM", None),
                              ("GET", f"{CROSS_LEVERAGE}?symbol=XBTUSDTM", None)]  # fmt: skip
    assert all(p.header("KC-API-SIGN") for p in fake.sent)


async def test_a_different_setting_is_changed_with_the_documented_bodies() -> None:
    client, fake = configuring({
        MARGIN_MODE: [raw("rest_margin_mode")],
        CHANGE_MODE: [answer("rest_change_margin_mode", marginMode="CROSS")],
        CROSS_LEVERAGE: [raw("rest_cross_leverage")],
        CHANGE_LEVERAGE: [raw("rest_change_cross_leverage")],  # data: true
    })  # fmt: skip
    await client.configure_instrument("XBTUSDTM", leverage=10, margin_mode="cross")
    assert sent(fake)[1::2] == [
        ("POST", CHANGE_MODE, {"symbol": "XBTUSDTM", "marginMode": "CROSS"}),
        ("POST", CHANGE_LEVERAGE, {"symbol": "XBTUSDTM", "leverage": "10"}),  # a string
    ]
    assert client.configured == {"XBTUSDTM": (10, "CROSS")}
    fake.answers[ORDER_ROUTE] = [raw("rest_order_created")]
    await client.place_order(OrderRequest(
        venue="kucoin", symbol="XBTUSDTM", client_order_id="cfg-1", side=Side.BUY,
        qty=D("0.002"), price=D("90000.1"),
    ))  # fmt: skip
    order = sent(fake)[-1][2]
    assert (order["marginMode"], order["leverage"]) == ("CROSS", 10)  # the symbol's, not 5


async def test_a_setting_the_venue_does_not_apply_is_a_bad_request() -> None:
    # the documented changeMarginMode answer reports ISOLATED: asked for CROSS, not applied
    client, _ = configuring({MARGIN_MODE: [raw("rest_margin_mode")],
                             CHANGE_MODE: [raw("rest_change_margin_mode")]})  # fmt: skip
    with pytest.raises(BadRequest, match="margin mode CROSS not applied"):
        await client.configure_instrument("XBTUSDTM", leverage=3, margin_mode="cross")
    client, _ = configuring({
        MARGIN_MODE: [answer("rest_margin_mode", marginMode="CROSS")],
        CROSS_LEVERAGE: [raw("rest_cross_leverage")],
        CHANGE_LEVERAGE: [body(False)],
    })  # fmt: skip
    with pytest.raises(BadRequest, match="cross leverage 20 not applied"):
        await client.configure_instrument("XBTUSDTM", leverage=20, margin_mode="cross")
    assert client.configured == {}  # nothing half-applied is used by orders


@pytest.mark.parametrize(("code", "msg"), [
    ("300000", "request parameter illegal"),
    ("100001", "There are invalid parameters"),
    ("330008", "margin limit"),  # a code the table maps to OrderRejected
])  # fmt: skip
async def test_a_refused_switch_is_a_bad_request_naming_the_value(code: str, msg: str) -> None:
    client, fake = configuring({MARGIN_MODE: [raw("rest_margin_mode")]})
    real_call = fake.call

    async def refuse(method: str, path: str, *args: Any, **kw: Any) -> Any:
        if path == CHANGE_MODE:
            raise error_for(code, msg, 200, f"{method} {path}", placing=False)
        return await real_call(method, path, *args, **kw)

    client.rest.call = refuse  # type: ignore[method-assign]
    with pytest.raises(BadRequest, match=f"margin mode CROSS refused.*{code}") as info:
        await client.configure_instrument("XBTUSDTM", leverage=3, margin_mode="cross")
    assert info.value.code == code


@pytest.mark.parametrize(("leverage", "mode", "why"), [
    (126, "isolated", "above maxLeverage 125"),  # isolated: checked here, sent with orders
    (0, "isolated", "whole number >= 1"),
    (2.5, "cross", "whole number >= 1"),
    (3, "portfolio", "unknown margin mode"),
])  # fmt: skip
async def test_settings_out_of_range_are_refused_before_any_request(
    leverage: Any, mode: Any, why: str
) -> None:
    client, fake = configuring({})
    with pytest.raises(BadRequest, match=why):
        await client.configure_instrument("XBTUSDTM", leverage=leverage, margin_mode=mode)
    assert fake.sent == [] and client.configured == {}


# -- error envelopes ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "status", "placing", "error", "code"), [
    ("rest_error_invalid_parameter", 400, False, BadRequest, "400100"),
    ("rest_error_invalid_parameter", 200, True, OrderRejected, "400100"),
    ("rest_error_order_not_exist", 200, False, OrderNotFound, "100001"),
    ("rest_error_margin_limit", 200, True, OrderRejected, "330008"),
    ("rest_error_key_not_exists", 401, False, AuthenticationFailed, "400003"),
    ("rest_error_too_many_requests", 200, True, RateLimited, "200002"),
    ("rest_error_pool_exhausted", 429, False, RateLimited, "429000"),
])  # fmt: skip
def test_error_envelopes_map_to_unified_errors(
    name: str, status: int, placing: bool, error: type[Exception], code: str
) -> None:
    path = "/api/v1/orders" if placing else "/api/v1/orders/byClientOid"
    method = "POST" if placing else "GET"
    resp = httpx.Response(
        status, content=raw(name), request=httpx.Request(method, f"https://x{path}")
    )
    with pytest.raises(error) as info:
        KucoinRules().unwrap(resp, path, placing)
    assert getattr(info.value, "code", None) == code
    if code == "200002":
        assert info.value.retry_after == 10.0  # type: ignore[attr-defined]


def test_a_repeated_client_oid_is_an_unknown_outcome_never_a_rejection() -> None:
    """300018 "clientOid parameter repeated" (the documented code table): the order with
    that clientOid exists, so the placement must be queried, never taken as refused."""
    error = error_for("300018", "clientOid parameter repeated", 200, "POST /api/v1/orders",
                      placing=True)  # fmt: skip
    assert isinstance(error, OutcomeUnknown)


# -- private pushes ----------------------------------------------------------------------------
def subscribed(*instruments: Instrument) -> KucoinOrderFeed:
    feed = KucoinOrderFeed({i.symbol: i for i in instruments}, VenueHealth("kucoin"))
    feed.connected(SERVER, 0.0)
    requests = [json.loads(o.text) for o in feed.frame('{"id":"c","type":"welcome"}', 0.1)
                if isinstance(o, Send)]  # fmt: skip
    assert [r["topic"] for r in requests] == list(PRIVATE_TOPICS)
    out: Sequence[Output] = ()
    for r in requests:
        out = feed.frame(json.dumps({"id": r["id"], "type": "ack"}), 0.2)
    assert any(isinstance(o, Ready) for o in out)
    return feed


def events(outputs: Sequence[Output]) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


def fetches(outputs: Sequence[Output]) -> list[Any]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def with_data(name: str, **changes: Any) -> str:
    push = payload(name)
    push["data"].update(changes)
    return json.dumps(push)


def test_an_order_push_without_client_oid_waits_for_its_note() -> None:
    feed = subscribed(BTC)
    assert feed.frame(raw("ws_order_change_open"), 1.0) == ()  # whose order is it? not known
    assert feed.health.malformed == 0
    out = feed.note(Placed("cid-9", "XBTUSDTM", "247899236673269761", sent_at=0.9), 1.1)
    assert fetches(out) == [Requery("XBTUSDTM", "cid-9")]  # its status: from the re-query
    (update,) = events(feed.frame(raw("ws_order_change_open"), 1.2))  # now mapped
    assert isinstance(update, OrderUpdate) and update.client_order_id == "cid-9"
    assert (update.status, update.filled_qty) == (OrderStatus.OPEN, D(0))


def test_a_match_without_its_trade_fields_is_left_to_the_requery() -> None:
    # the documentation's template: type "match" with blank matchSize/matchPrice
    feed = subscribed(INVERSE)
    out = feed.frame(raw("ws_trade_orders_template"), 1.0)
    (update,) = events(out)
    assert (update.client_order_id, update.status, update.filled_qty) == (
        "5ce24c16b210233c36ee321d", OrderStatus.OPEN, D(20000)
    )  # fmt: skip
    assert fetches(out) == [Requery("XBTUSDM", "5ce24c16b210233c36ee321d")]
    filled = with_data("ws_trade_orders_template", matchSize="5", matchPrice="3601")
    fill, _ = events(feed.frame(filled, 1.1))
    assert isinstance(fill, Fill) and (fill.qty, fill.price, fill.trade_id) == (
        D(5), D(3601), "5ce24c16b210233c36eexxxx"
    )  # fmt: skip
    assert fill.fee == D(5) * D(3601) * D("0.0002")  # liquidity maker: the maker rate
    assert feed.health.malformed == 0


def test_an_order_push_of_a_contract_not_traded_is_skipped_and_counted() -> None:
    feed = subscribed(BTC)
    assert feed.frame(raw("ws_trade_orders_template"), 1.0) == ()  # XBTUSDM: inverse
    assert (feed.health.skipped, feed.health.malformed) == (1, 0)


def test_a_bad_size_in_an_order_push_changes_nothing_before_it_is_refused() -> None:
    feed = subscribed(INVERSE)
    bad = with_data("ws_trade_orders_template", matchSize="5", matchPrice="3601", filledSize="x")
    assert fetches(feed.frame(bad, 1.0)) == [] and feed.health.malformed == 1
    good = with_data("ws_trade_orders_template", matchSize="5", matchPrice="3601")
    fill, _ = events(feed.frame(good, 1.1))  # the trade was not taken as seen
    assert isinstance(fill, Fill)


def test_wallet_pushes_keep_the_usdt_balance() -> None:
    feed = subscribed(BTC)
    feed.frame(raw("ws_available_balance_change"), 0.9)  # nothing to update yet
    assert feed.balances == {}
    assert feed.frame(raw("ws_wallet_balance_change"), 1.0) == ()
    # total: the equity (wallet 81.072921258 + unrealised 0.2007), as REST's accountEquity
    assert feed.balances == {"USDT": Balance(venue="kucoin", currency="USDT",
                                             total=D("81.273621258"),
                                             available=D("26.144281178"))}  # fmt: skip
    feed.frame(raw("ws_order_margin_change"), 1.1)  # order margin: not a balance
    feed.frame(raw("ws_available_balance_change"), 1.2)  # the older subject: available only
    usdt = feed.balances["USDT"]
    assert (usdt.total, usdt.available) == (D("81.273621258"), D(5923))
    feed.frame(with_data("ws_wallet_balance_change", currency="XBT", walletBalance="9"), 1.3)
    assert set(feed.balances) == {"USDT"} and feed.health.skipped == 1
    assert feed.balances["USDT"].total == D("81.273621258")
    feed.frame(with_data("ws_wallet_balance_change", equity=None), 1.4)  # no equity: wallet
    assert feed.balances["USDT"].total == D("81.072921258")
    assert feed.health.malformed == 0


def test_position_pushes_keep_traded_contracts_and_ignore_the_rest() -> None:
    feed = subscribed(BTC)
    for name in ("ws_position_change_mark_price", "ws_position_settlement",
                 "ws_position_adjust_risk_limit"):  # fmt: skip
        assert feed.frame(raw(name), 1.0) == ()  # nothing to keep, nothing malformed
    assert feed.positions == {} and (feed.health.malformed, feed.health.skipped) == (0, 0)
    feed.frame(raw("ws_position_change"), 1.1)
    position = feed.positions["XBTUSDTM"]
    assert (position.qty, position.entry_price) == (D("0.001"), D("91694.5"))
    feed.frame(raw("ws_position_change_inverse"), 1.2)  # XBTUSDM: counted, not kept
    assert set(feed.positions) == {"XBTUSDTM"} and feed.health.skipped == 1
    quiet = copy.deepcopy(payload("ws_position_change"))
    del quiet["data"]["symbol"]  # the symbol from the topic
    quiet["data"]["currentQty"] = -2
    feed.frame(json.dumps(quiet), 1.3)
    assert feed.positions["XBTUSDTM"].qty == D("-0.002")


def test_position_pushes_carry_mark_and_liquidation_and_mark_pushes_move_the_mark() -> None:
    feed = subscribed(BTC, INVERSE)
    feed.frame(raw("ws_position_change"), 1.0)
    btc = feed.positions["XBTUSDTM"]
    assert (btc.mark_price, btc.liquidation_price) == (D("91839.79"), D("73853.0426625"))
    feed.frame(raw("ws_position_change_inverse"), 1.1)  # XBTUSDM, here a traded contract
    xbt = feed.positions["XBTUSDM"]
    assert (xbt.qty, xbt.mark_price, xbt.liquidation_price) == (D(-20), D("7947.83"), D(1000000))
    moved = with_data("ws_position_change_mark_price", markPrice=7990.5)  # no qty, no symbol
    assert feed.frame(moved, 1.2) == ()
    assert feed.positions["XBTUSDM"] == attrs.evolve(xbt, mark_price=D("7990.5"))
    flat = with_data("ws_position_change", currentQty=0, liquidationPrice=0, avgEntryPrice=0)
    feed.frame(flat, 1.3)  # closed: kept as flat, with no liquidation price
    assert feed.positions["XBTUSDTM"].qty == 0
    assert feed.positions["XBTUSDTM"].liquidation_price is None
    broken = with_data("ws_position_change", liquidationPrice="soon")
    feed.frame(broken, 1.4)  # a malformed push: counted, the position kept
    assert feed.health.malformed == 1 and feed.positions["XBTUSDTM"].qty == 0


async def test_foreign_positions_reload_the_instruments_once_not_at_every_call() -> None:
    contracts = payload("rest_contracts_active")
    contracts["data"].append({**contracts["data"][0], "symbol": "ETHUSDM", "isInverse": True})
    fake = FakeRest(
        {POSITIONS: [raw("rest_positions")], CONTRACTS: [json.dumps(contracts).encode()]}
    )
    client = KucoinClient(credentials=CREDS)
    client.rest.call = fake.call  # type: ignore[method-assign]
    for _ in range(3):
        assert [p.symbol for p in await client.fetch_positions()] == ["XBTUSDTM"]
    assert [p.path.partition("?")[0] for p in fake.sent] == [
        POSITIONS,
        CONTRACTS,
        POSITIONS,
        POSITIONS,
    ]
    delisted = payload("rest_positions")
    delisted["data"].append({**delisted["data"][1], "symbol": "GONEUSDTM"})  # listed nowhere
    fake.answers[POSITIONS] = [json.dumps(delisted).encode()]
    for _ in range(2):
        await client.fetch_positions()
    assert [p.path.partition("?")[0] for p in fake.sent][4:] == [POSITIONS, CONTRACTS, POSITIONS]
