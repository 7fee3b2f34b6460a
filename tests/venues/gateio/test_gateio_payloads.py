"""Gate.io's real payloads through the client's own decoding paths.

The fixtures (``fixtures/*.json``, each one's source in ``fixtures/sources.json``) are the
venue's documented examples and recorded answers, unchanged. REST answers reach a real
:class:`GateClient` through an httpx mock transport (so every test below goes through the
same call, decode and conversion the live client runs); stream frames go through the
sans-IO protocols. Each fixture is checked field by field, and mutated variants (null,
empty-string and extra fields, a foreign or malformed item among good ones) behave as
``specs/013-gateio.md`` says: accepted where the venue sends them, else that one item
skipped and counted in ``health.skipped``, never its neighbours.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Fill, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import BadRequest, Credentials, OrderNotFound, VenueHealth
from arbtrio.venues.gateio import GateClient, codecs, convert
from arbtrio.venues.gateio.errors import error_for
from arbtrio.venues.gateio.feed import GateBookFeed, GateOrderFeed, MarginInUse
from arbtrio.venues.stream import Changed, Deliver, Fetch, Output
from arbtrio.venues.tracking import Placed, Requery

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
WALL = 1_700_000_000.0
CREDS = Credentials(api_key="k", api_secret="s")


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def dump(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def test_every_fixture_names_its_source() -> None:
    sources = json.loads(raw("sources.json"))
    files = {p.name for p in FIXTURES.glob("*.json")} - {"sources.json"}
    assert set(sources) - {"_about"} == files
    assert all(isinstance(s, str) and len(s) > 20 for s in sources.values())


# -- REST: a GateClient whose HTTP answers are the fixtures -----------------------------------
class FakeGate:
    """Answers ``(method, endpoint)`` with a fixed status and body; records what was asked."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.asked: list[tuple[str, str, str]] = []
        self.bodies: list[bytes] = []

    def serve(self, method: str, endpoint: str, body: bytes, status: int = 200) -> None:
        self.routes[(method, endpoint)] = (status, body)

    def handler(self, request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.removeprefix("/api/v4")
        self.asked.append((request.method, endpoint, request.url.query.decode()))
        self.bodies.append(request.content)
        status, body = self.routes[(request.method, endpoint)]
        return httpx.Response(status, content=body, request=request)


def client_for(fake: FakeGate) -> GateClient:
    client = GateClient(rest_url="https://gate.test/api/v4", credentials=CREDS,
                        wall_clock=lambda: WALL)  # fmt: skip
    client.rest._http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handler))
    return client


async def loaded(fake: FakeGate, contracts: bytes | None = None) -> GateClient:
    fake.serve("GET", "/futures/usdt/contracts", contracts or raw("rest_contracts.json"))
    client = client_for(fake)
    await client.load_instruments()
    return client


async def test_contracts_decode_to_instruments_in_base_units() -> None:
    fake = FakeGate()
    client = await loaded(fake)
    (btc,) = client.instruments.values()
    assert (btc.symbol, btc.asset, btc.quote) == ("BTC_USDT", "BTC", "USDT")
    assert btc.contract_multiplier == D("0.0001") and btc.tick_size == D("0.1")
    assert btc.lot_size == btc.min_size == D("0.0001")  # one contract
    assert (btc.taker_fee, btc.maker_fee) == (D("0.00075"), D("-0.00025"))
    assert btc.funding_interval_hours == 8 and btc.max_leverage == 100
    decimal = await loaded(FakeGate(), raw("rest_contracts_decimal.json"))
    (lab,) = decimal.instruments.values()
    assert lab.contract_multiplier == D(100) and lab.tick_size == D("0.00001")
    assert lab.lot_size == lab.min_size == D(10)  # 0.1 contract × 100
    assert lab.max_leverage == 20
    assert client.health.skipped == decimal.health.skipped == 0


async def test_a_malformed_contract_never_takes_the_list_with_it() -> None:
    (good,) = load("rest_contracts.json")
    nulls = good | {"name": "DOGE_USDT", "mark_price": "", "leverage_max": None,
                    "order_size_max": None, "funding_interval": 14400.0,
                    "a_field_gate_adds_later": {"x": 1}}  # fmt: skip
    broken = good | {"name": "ETH_USDT", "quanto_multiplier": None}  # a field we need
    zero = good | {"name": "SOL_USDT", "order_price_round": "0"}  # no usable tick
    inverse = good | {"name": "BTC_USD", "type": "inverse"}  # not a USDT contract
    delisted = good | {"name": "XRP_USDT", "status": "delisted"}
    body = dump([broken, good, zero, inverse, nulls, delisted])
    client = await loaded(FakeGate(), body)
    assert sorted(client.instruments) == ["BTC_USDT", "DOGE_USDT"]
    doge = client.instruments["DOGE_USDT"]
    assert doge.max_leverage is None and doge.funding_interval_hours == 4  # 14400.0 s
    assert client.health.skipped == 2  # the undecodable ones; untradable ones are not listed


async def test_funding_reads_the_contract() -> None:
    fake = FakeGate()
    fake.serve("GET", "/futures/usdt/contracts/BTC_USDT", raw("rest_contract.json"))
    client = client_for(fake)
    (funding,) = await client.fetch_funding(["BTC_USDT"])
    assert funding.rate == D("0.002053") and funding.interval_hours == 8
    assert funding.next_funding_ts == pytest.approx(trio.current_time() + 1610035200 - WALL)


async def test_the_futures_account_is_the_usdt_balance() -> None:
    fake = FakeGate()
    fake.serve("GET", "/futures/usdt/accounts", raw("rest_accounts.json"))
    (balance,) = await client_for(fake).fetch_balances()
    assert balance.currency == "USDT"
    assert (balance.total, balance.available) == (D("9707.803567115145"), D("9669.091377934145"))
    null_currency = load("rest_accounts.json") | {"currency": None}
    fake.serve("GET", "/futures/usdt/accounts", dump(null_currency))
    (balance,) = await client_for(fake).fetch_balances()
    assert balance.currency == "USDT"  # null: the settle currency of the endpoint


@pytest.mark.parametrize("name", ["rest_positions.json", "rest_positions_integer_sizes.json"])
async def test_positions_convert_contracts_to_base_units(name: str) -> None:
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/positions", raw(name))
    (position,) = await client.fetch_positions()
    assert (position.symbol, position.qty) == ("BTC_USDT", D("-0.944"))  # -9440 × 0.0001
    assert position.entry_price == D("3779.55")
    assert (position.mark_price, position.liquidation_price) == (D("3780.32"), D("99999999"))


async def test_a_cross_position_reports_its_mark_and_liquidation_price() -> None:
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/positions", raw("rest_positions_cross.json"))
    (position,) = await client.fetch_positions()
    assert (position.qty, position.entry_price) == (D("0.0002"), D("62422.6"))
    assert (position.mark_price, position.liquidation_price) == (D("62377.86"), D("59058.58"))


@pytest.mark.parametrize("none", [None, "", "0", 0])
async def test_no_liquidation_price_is_none(none: Any) -> None:
    """Gate writes "no liquidation price" (and "no mark") as 0; null and "" are absent."""
    (cross,) = load("rest_positions_cross.json")
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/positions",
               dump([cross | {"liq_price": none, "mark_price": none}]))  # fmt: skip
    (position,) = await client.fetch_positions()
    assert position.liquidation_price is None and position.mark_price is None
    assert position.qty == D("0.0002") and client.health.skipped == 0


@pytest.mark.parametrize(
    ("answer", "setting"),
    [
        (load("rest_position_leverage.json"), (D(5), "isolated")),  # leverage > 0
        (load("rest_positions_cross.json")[0], (D(25), "cross")),  # 0: cross_leverage_limit
        (load("rest_positions.json")[0], (D(30), "isolated")),  # pos_margin_mode and lever
    ],
)
def test_position_answers_tell_the_margin_setting(
    answer: dict[str, Any], setting: tuple[Decimal, str]
) -> None:
    position = codecs.decode_object(codecs.Position, dump(answer), "position")
    assert convert.margin_setting(position) == setting


async def test_positions_in_contracts_arbtrio_does_not_trade_are_skipped_not_fatal() -> None:
    """The audit's defect: one inverse, delisted or unknown contract on the account made
    ``fetch_positions`` raise for the whole venue, so its reconciliation stopped exactly
    when a delisting makes it matter."""
    (btc,) = load("rest_positions.json")
    foreign = [btc | {"contract": "BTC_USD"}, btc | {"contract": "LUNA_USDT", "size": "12"}]
    flat = btc | {"contract": "SOL_USDT", "size": "0"}
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/positions", dump([*foreign, btc, flat]))
    positions = await client.fetch_positions()
    assert [(p.symbol, p.qty) for p in positions] == [("BTC_USDT", D("-0.944"))]
    assert client.health.skipped == 2  # the foreign contracts; a flat one is no position
    loads = [a for a in fake.asked if a[1] == "/futures/usdt/contracts"]
    assert len(loads) == 2  # the list reloaded once (a contract listed since), not per item


async def test_an_undecodable_position_is_skipped_and_its_neighbours_kept() -> None:
    (btc,) = load("rest_positions.json")
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/positions",
               dump([btc | {"size": None}, btc | {"entry_price": ""}]))  # fmt: skip
    (position,) = await client.fetch_positions()
    assert position.qty == D("-0.944") and position.entry_price is None  # "": none given
    assert client.health.skipped == 1


def request(cid: str = "t-arb1", symbol: str = "BTC_USDT") -> OrderRequest:
    return OrderRequest(venue="gateio", symbol=symbol, side=Side.BUY, qty=D("0.01"),
                        price=D("3765"), client_order_id=cid)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "venue_order_id"),
    [
        ("rest_order.json", "15675394"),
        ("rest_order_integer_sizes.json", "15675394"),
        ("rest_order_recorded_strings.json", "299207900263708423"),  # ids, times: strings
    ],
)
async def test_placement_answers_acknowledge_and_tell_the_stream_the_venue_id(
    name: str, venue_order_id: str
) -> None:
    fake = FakeGate()
    client = await loaded(fake)
    notes: list[Any] = []
    client.order_stream.post = notes.append  # type: ignore[method-assign]
    fake.serve("POST", "/futures/usdt/orders", raw(name), status=201)
    ack = await client.place_order(request())
    assert ack.venue_order_id == venue_order_id and ack.client_order_id == "t-arb1"
    (note,) = notes
    assert isinstance(note, Placed)
    assert (note.client_order_id, note.symbol, note.venue_order_id) == (
        "t-arb1", "BTC_USDT", venue_order_id
    )  # fmt: skip


async def test_a_cancelled_order_without_fills_is_queried_without_asking_for_trades() -> None:
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/orders/t-my-custom-id", raw("rest_order.json"))
    report = await client.query_order("BTC_USDT", "t-my-custom-id")
    assert report.status is OrderStatus.CANCELLED and report.reason == "cancelled"
    assert report.filled_qty == 0 and report.avg_price is None and report.fills == ()
    assert not [a for a in fake.asked if a[1] == "/futures/usdt/my_trades"]


@pytest.mark.parametrize("trades", ["rest_my_trades.json", "rest_my_trades_integer_sizes.json"])
async def test_a_filled_order_is_queried_with_its_trades(trades: str) -> None:
    order = load("rest_order.json") | {"id": 21893289839, "size": "100", "left": "0",
                                      "fill_price": "100.123", "finish_as": "filled",
                                      "text": "t-123456"}  # fmt: skip
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/orders/t-123456", dump(order))
    fake.serve("GET", "/futures/usdt/my_trades", raw(trades))
    report = await client.query_order("BTC_USDT", "t-123456")
    assert report.status is OrderStatus.FILLED and report.filled_qty == D("0.01")
    assert report.avg_price == D("100.123")
    (fill,) = report.fills
    assert (fill.client_order_id, fill.trade_id, fill.side) == ("t-123456", "121234231", Side.BUY)
    assert (fill.qty, fill.price, fill.fee, fill.fee_currency) == (
        D("0.01"), D("100.123"), D("0.01"), ""
    )  # fmt: skip
    assert ("GET", "/futures/usdt/my_trades", "contract=BTC_USDT&order=21893289839") in fake.asked


async def test_trades_with_point_fees_null_fees_or_of_another_order() -> None:
    (trade,) = load("rest_my_trades.json")
    order = load("rest_order.json") | {"id": 21893289839, "size": "300", "left": "0",
                                      "text": "t-123456"}  # fmt: skip
    points = trade | {"id": 2, "fee": "0", "point_fee": "0.02"}  # paid in points only
    null_fee = trade | {"id": 3, "fee": None, "point_fee": None}
    other = trade | {"id": 4, "order_id": "999"}  # not this order's trade
    no_price = trade | {"id": 5, "price": ""}  # a trade without a price is no trade
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/orders/t-123456", dump(order))
    fake.serve("GET", "/futures/usdt/my_trades", dump([trade, points, other, null_fee, no_price]))
    report = await client.query_order("BTC_USDT", "t-123456")
    fees = {f.trade_id: (f.fee, f.fee_currency) for f in report.fills}
    assert fees == {"121234231": (D("0.01"), ""), "2": (D("0.02"), "POINT"), "3": (D(0), "")}
    assert client.health.skipped == 2


async def test_a_restarted_client_finds_the_order_in_the_finished_list_despite_bad_items() -> None:
    (order,) = load("rest_orders.json")
    not_found = dump(load("rest_error.json") | {"label": "ORDER_NOT_FOUND"})
    listing = [{"id": "x"}, order | {"contract": "ETH_USDT", "text": "t-other"}, order]
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("GET", "/futures/usdt/orders/t-my-custom-id", not_found, status=404)
    fake.serve("GET", "/futures/usdt/orders", dump(listing))
    report = await client.query_order("BTC_USDT", "t-my-custom-id")
    assert report.status is OrderStatus.CANCELLED and report.client_order_id == "t-my-custom-id"
    assert client.health.skipped == 2  # undecodable; another contract's order
    fake.serve("GET", "/futures/usdt/orders", dump(listing[:2]))
    with pytest.raises(OrderNotFound):
        await client.query_order("BTC_USDT", "t-my-custom-id")


def test_the_error_body_maps_by_label() -> None:
    error = error_for(400, raw("rest_error.json"), "POST /futures/usdt/orders", placing=True)
    assert isinstance(error, BadRequest) and error.code == "INVALID_PARAM_VALUE"
    assert "Invalid parameter `text` with value: abc" in str(error)


async def test_the_account_detail_gives_the_uid_the_private_stream_names() -> None:
    fake = FakeGate()
    fake.serve("GET", "/account/detail", raw("rest_account_detail.json"))
    assert await client_for(fake)._user_id() == 1667201533


async def test_the_order_book_snapshot_with_string_sizes_becomes_the_book() -> None:
    fake = FakeGate()
    fake.serve("GET", "/futures/usdt/order_book", raw("rest_order_book.json"))
    client = await loaded(fake)
    snap = await client._fetch_snapshot("BTC_USDT")
    assert snap.id == 123456 and [(lv.p, lv.s) for lv in snap.bids] == [(1.17, 150), (1.16, 203)]
    feed = GateBookFeed({}, client.instruments, VenueHealth("gateio"), lambda: WALL)
    feed.connected(None, 0.0)
    (changed,) = feed.fetched("BTC_USDT", snap, 0.1)
    assert isinstance(changed, Changed) and changed.book.tradable
    assert changed.book.best_bid() == (1.17, pytest.approx(0.015))  # 150 × 0.0001
    assert changed.book.best_ask() == (1.52, pytest.approx(0.01))


# -- the streams --------------------------------------------------------------------------------
def inst(symbol: str, mult: str = "0.0001") -> Instrument:
    return Instrument(
        venue="gateio", symbol=symbol, asset=symbol.split("_")[0], quote="USDT",
        tick_size=D("0.1"), lot_size=D(mult), min_size=D(mult), min_notional=D(0),
        taker_fee=D("0.0005"), maker_fee=D("0.0002"), funding_interval_hours=8,
        contract_multiplier=D(mult),
    )  # fmt: skip


DOCS = {"BTC_USD": inst("BTC_USD")}  # the documentation's examples name this contract
USDT = {"BTC_USDT": inst("BTC_USDT")}  # what arbtrio trades: the examples are foreign here


def ack(channel: str, req_id: int) -> str:
    return json.dumps({"time": 1, "channel": channel, "event": "subscribe", "error": None,
                       "result": {"status": "success"}, "id": req_id})  # fmt: skip


def order_feed(instruments: dict[str, Instrument]) -> GateOrderFeed:
    f = GateOrderFeed(CREDS, instruments, VenueHealth("gateio"), lambda: WALL)
    f.connected(10001, 0.5)
    for i, channel in enumerate(("futures.orders", "futures.usertrades",
                                 "futures.positions", "futures.balances"), 1):  # fmt: skip
        f.frame(ack(channel, i), 1.0)
    return f


def events(outputs: Any) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


def requeries(outputs: Any) -> list[Any]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def mutate(name: str, change: Callable[[dict[str, Any]], Any]) -> bytes:
    frame = copy.deepcopy(load(name))
    change(frame)
    return dump(frame)


def test_the_book_update_example_applies_in_base_units() -> None:
    feed = GateBookFeed({}, DOCS, VenueHealth("gateio"), lambda: WALL, depth=100)
    feed.connected(None, 0.0)
    feed.frame(ack("futures.order_book_update", 1), 0.1)
    snap = {"id": 2517661100, "asks": [{"p": "54743.6", "s": 3}, {"p": "54750", "s": 5}],
            "bids": [{"p": "54672.1", "s": 7}, {"p": "54600", "s": 9}]}  # fmt: skip
    feed.fetched("BTC_USD", codecs.snapshot_decoder.decode(dump(snap)), 0.2)
    (changed,) = feed.frame(raw("ws_order_book_update.json"), 0.3)
    book = changed.book
    assert book.tradable and book.seq == 2517661113 and feed.health.malformed == 0
    assert [p for p, _ in book.levels(Side.BUY)] == [54664.5, 54600.0]  # 54672.1 deleted
    assert book.best_bid() == (54664.5, pytest.approx(5.8794))  # 58794 × 0.0001
    assert book.best_ask() == (54742.0, pytest.approx(0.0095))


@pytest.mark.parametrize(
    "name", ["ws_subscribe_ack.json", "ws_subscribe_ack_extra_fields.json", "ws_pong.json"]
)
def test_acks_and_pongs_decode_quietly(name: str) -> None:
    f = GateOrderFeed(CREDS, USDT, VenueHealth("gateio"), lambda: WALL)
    f.connected(10001, 0.0)
    assert f.frame(raw(name), 0.1) == ()  # no id of ours: not one of this session's acks
    assert f.health.malformed == 0
    ours = mutate(name, lambda m: m.update(id=1))
    assert f.frame(ours, 0.2) == () and f.health.malformed == 0


def test_an_order_push_of_an_order_placed_here_is_an_update() -> None:
    f = order_feed(DOCS)
    f.note(Placed("t-mine", "BTC_USD", venue_order_id="4872460", sent_at=1.5), 2.0)
    (update,) = events(f.frame(raw("ws_orders.json"), 2.1))  # its text is "-": the id tells
    assert isinstance(update, OrderUpdate) and update.client_order_id == "t-mine"
    assert update.status is OrderStatus.FILLED and update.filled_qty == D("0.0001")
    assert update.avg_price == D("40000.4") and update.reason == "filled"
    assert f.tracker.unfinished() == [] and f.health.skipped == 0


def test_an_order_push_names_its_client_id_in_text_or_is_foreign() -> None:
    f = order_feed(DOCS)
    assert f.frame(raw("ws_orders.json"), 2.0) == ()  # "-": an order not placed here
    assert f.health.skipped == 1
    ours = mutate("ws_orders.json", lambda m: m["result"][0].update(text="t-abc", price=""))
    (update,) = events(f.frame(ours, 2.1))  # "" price (a market order): accepted
    assert update.client_order_id == "t-abc" and update.status is OrderStatus.FILLED
    g = order_feed(USDT)
    assert g.frame(ours, 2.2) == () and g.health.skipped == 1  # BTC_USD: not traded here


def test_the_decimal_order_push_reports_the_filled_part() -> None:
    f = order_feed(DOCS)
    f.note(Placed("t-mine", "BTC_USD", venue_order_id="4872460"), 2.0)
    (update,) = events(f.frame(raw("ws_orders_decimal.json"), 2.1))
    assert update.filled_qty == D("0.0001") and update.status is OrderStatus.CANCELLED  # 1 of 1.5


def test_a_fill_naming_only_its_order_id_waits_for_the_placement_note() -> None:
    f = order_feed(DOCS)
    assert f.frame(raw("ws_usertrades.json"), 2.0) == ()  # text "api": the order id must tell
    out = f.note(Placed("t-mine", "BTC_USD", venue_order_id="4872460", sent_at=1.9), 2.1)
    (fill,) = events(out)
    assert isinstance(fill, Fill) and fill.client_order_id == "t-mine"
    assert (fill.trade_id, fill.side, fill.qty) == ("3335259", Side.BUY, D("0.0001"))
    assert (fill.price, fill.fee, fill.fee_currency) == (D("40000.4"), D("0.0009290592"), "")
    assert f.frame(raw("ws_usertrades.json"), 2.2) == ()  # the same trade again: once
    assert f.health.skipped == 0


def test_a_fill_with_its_client_id_is_delivered_at_once_and_points_keep_their_currency() -> None:
    f = order_feed(DOCS)
    mine = mutate("ws_usertrades.json", lambda m: m["result"][0].update(
        text="t-mine", fee=0, point_fee=0.25))  # fmt: skip
    (fill,) = events(f.frame(mine, 2.0))
    assert fill.client_order_id == "t-mine"
    assert (fill.fee, fill.fee_currency) == (D("0.25"), "POINT")  # never booked as USDT
    null_fee = mutate("ws_usertrades.json", lambda m: m["result"][0].update(
        id="3335260", text="t-mine", fee=None, point_fee=None))  # fmt: skip
    (fill,) = events(f.frame(null_fee, 2.1))
    assert (fill.fee, fill.fee_currency) == (D(0), "")


def test_a_bad_item_among_good_ones_is_skipped_counted_and_reconciled() -> None:
    def items(m: dict[str, Any]) -> None:
        (good,) = m["result"]
        good.update(text="t-mine")
        m["result"] = [
            good | {"id": "1", "price": ""},  # no price: not a trade
            good | {"id": "2", "contract": "XRP_USDT"},  # a contract arbtrio does not trade
            good,
            "garbage",
            good | {"id": "3", "extra": [1, 2]},
        ]

    f = order_feed(DOCS)
    f.note(Placed("t-open", "BTC_USD", venue_order_id="77", sent_at=0.1), 1.2)
    out = f.frame(mutate("ws_usertrades.json", items), 2.0)
    assert [e.trade_id for e in events(out)] == ["3335259", "3"]
    assert f.health.skipped == 3 and f.health.malformed == 0
    assert requeries(out) == [Requery("BTC_USD", "t-open")]  # a lost fill may hide there


@pytest.mark.parametrize(("name", "qty"), [("ws_positions.json", "0.0003"),
                                           ("ws_positions_decimal.json", "0.00035")])  # fmt: skip
def test_position_pushes_are_kept_in_base_units(name: str, qty: str) -> None:
    f = order_feed(DOCS)
    assert f.frame(raw(name), 2.0) == ()
    position = f.positions["BTC_USD"]
    assert position.qty == D(qty) and position.entry_price == D("40000.36666661111")
    assert position.liquidation_price == D("0.1")  # pushed as a number
    assert position.mark_price is None  # the push documents none
    g = order_feed(USDT)
    g.frame(raw(name), 2.0)
    assert g.positions == {} and g.health.skipped == 1


def test_balance_pushes_of_the_settle_currency_are_kept() -> None:
    f = order_feed(USDT)
    assert f.frame(raw("ws_balances.json"), 2.0) == ()  # "btc": another settle currency
    assert f.balance is None and f.health.skipped == 1
    usdt = mutate("ws_balances.json", lambda m: m["result"][0].update(currency="usdt"))
    f.frame(usdt, 2.1)
    assert f.balance is not None and f.balance.currency == "USDT"
    assert f.balance.total == f.balance.available == D("9.998739899488")
    assert f.balances == {"USDT": f.balance}
    f.note(MarginInUse("USDT", D("2.5")), 2.2)  # the last REST answer's margin in use
    f.frame(usdt, 2.3)
    assert (f.balances["USDT"].total, f.balances["USDT"].available) == (
        D("9.998739899488"), D("7.498739899488"),
    )  # fmt: skip
    f.note(MarginInUse("USDT", D("20")), 2.4)
    f.frame(usdt, 2.5)
    assert f.balances["USDT"].available == 0  # never negative


def test_the_client_shows_the_order_streams_pushes() -> None:
    client = GateClient(credentials=CREDS, wall_clock=lambda: WALL)
    assert client.pushed_balances is client.orders.balances
    assert client.pushed_positions is client.orders.positions
    assert client.pushed_balances == {} and client.pushed_positions == {}


# -- leverage and margin mode, against the documented answers ---------------------------------
async def test_configure_instrument_sends_the_documented_requests() -> None:
    fake = FakeGate()
    client = await loaded(fake)
    fake.serve("POST", "/futures/usdt/positions/cross_mode", raw("rest_position_leverage.json"))
    fake.serve("POST", "/futures/usdt/positions/BTC_USDT/leverage",
               dump(load("rest_positions_cross.json")[0]))  # fmt: skip
    await client.configure_instrument("BTC_USDT", leverage=25, margin_mode="cross")
    mode, leverage = fake.asked[-2:]
    assert mode == ("POST", "/futures/usdt/positions/cross_mode", "")
    assert json.loads(fake.bodies[-2]) == {"mode": "CROSS", "contract": "BTC_USDT"}
    assert leverage == ("POST", "/futures/usdt/positions/BTC_USDT/leverage",
                        "leverage=0&cross_leverage_limit=25")  # fmt: skip
    assert fake.bodies[-1] == b""
    fake.serve(
        "POST", "/futures/usdt/positions/BTC_USDT/leverage", raw("rest_position_leverage.json")
    )
    await client.configure_instrument("BTC_USDT", leverage=5, margin_mode="isolated")
    assert fake.asked[-1][2] == "leverage=5"
    assert json.loads(fake.bodies[-2])["mode"] == "ISOLATED"


async def test_configure_instrument_no_change_is_success_and_a_contradiction_is_not() -> None:
    fake = FakeGate()
    client = await loaded(fake)
    no_change = dump({"label": "NO_CHANGE", "message": "no change"})
    fake.serve("POST", "/futures/usdt/positions/cross_mode", no_change, status=400)
    fake.serve("POST", "/futures/usdt/positions/BTC_USDT/leverage", no_change, status=400)
    await client.configure_instrument("BTC_USDT", leverage=5, margin_mode="isolated")
    fake.serve(
        "POST", "/futures/usdt/positions/BTC_USDT/leverage", raw("rest_position_leverage.json")
    )
    with pytest.raises(BadRequest, match="reports isolated leverage 5"):  # 7 asked
        await client.configure_instrument("BTC_USDT", leverage=7, margin_mode="isolated")
    dual = dump({"label": "POSITION_DUAL_MODE", "message": "dual mode"})
    fake.serve("POST", "/futures/usdt/positions/cross_mode", dual, status=400)
    with pytest.raises(BadRequest, match="margin mode cross refused") as info:
        await client.configure_instrument("BTC_USDT", leverage=5, margin_mode="cross")
    assert info.value.code == "POSITION_DUAL_MODE"


def test_the_order_examples_are_foreign_to_a_usdt_client() -> None:
    f = order_feed(USDT)
    outputs: list[Output] = []
    for name in ("ws_orders.json", "ws_usertrades.json"):
        outputs += f.frame(raw(name), 2.0)
    assert events(outputs) == [] and f.health.skipped == 2 and f.health.malformed == 0
