"""Every payload of the fixture corpus (the venue's documented examples and recorded SDK
answers, ``fixtures/*.json``) decoded by the client, field by field; then mutated variants:
null, empty and extra fields, and foreign or malformed items among good ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from bitget_fixtures import load, names, text

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Fill, OrderRequest, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import (
    BadRequest,
    Credentials,
    Disconnected,
    OrderRejected,
    OutcomeUnknown,
    VenueHealth,
)
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.book import checksum
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.bitget.feed import BitgetBookFeed, BitgetOrderFeed, fee_of
from arbtrio.venues.stream import Deliver, Fail, Output, Ready
from arbtrio.venues.tracking import Placed

D = Decimal
CREDS = Credentials(api_key="k", api_secret="s", passphrase="p")
WALL = 1_743_054_548.546  # the funding example's requestTime, in seconds


# -- REST: the client against a transport that answers with the fixtures ----------------------
Routes = dict[str, tuple[int, str]]  # path -> (HTTP status, body)


def client_with(routes: Routes, *, credentials: Credentials | None = CREDS) -> BitgetClient:
    """A client whose HTTP answers come from ``routes`` (unknown paths: HTTP 404)."""
    client = BitgetClient(rest_url="http://bitget.test", credentials=credentials,
                          wall_clock=lambda: WALL)  # fmt: skip

    def answer(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, "{}"))
        return httpx.Response(status, content=body.encode())

    client.rest._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return client


def ok(name: str, mutate: Callable[[Any], None] | None = None) -> tuple[int, str]:
    return 200, text(name, mutate)


CONTRACTS = "/api/v2/mix/market/contracts"
FUNDING = "/api/v2/mix/market/current-fund-rate"
TRADE_RATE = "/api/v2/common/trade-rate"
PLACE = "/api/v2/mix/order/place-order"
CANCEL = "/api/v2/mix/order/cancel-order"
DETAIL = "/api/v2/mix/order/detail"
FILLS = "/api/v2/mix/order/fills"
POSITIONS = "/api/v2/mix/position/all-position"
ACCOUNTS = "/api/v2/mix/account/accounts"
ACCOUNT = "/api/v2/mix/account/account"
SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
SET_MARGIN_MODE = "/api/v2/mix/account/set-margin-mode"


def test_every_fixture_names_its_source_and_is_exercised_here() -> None:
    corpus = names()
    assert len(corpus) >= 37 and all(load(n) for n in corpus)  # load() checks "_source"
    this = Path(__file__).read_text()
    assert [n for n in corpus if f'"{n}"' not in this] == []


@pytest.mark.parametrize("name", ["rest_contracts", "rest_contracts_sdk"])
async def test_contracts_decode_to_instruments(name: str) -> None:
    client = client_with({CONTRACTS: ok(name)}, credentials=None)
    (inst,) = await client.load_instruments()
    assert (inst.symbol, inst.asset, inst.quote) == ("BTCUSDT", "BTC", "USDT")
    assert (inst.tick_size, inst.lot_size, inst.min_size) == (D("0.1"), D("0.01"), D("0.01"))
    assert (inst.min_notional, inst.maker_fee, inst.taker_fee) == (D(5), D("0.0004"), D("0.0006"))
    assert (inst.funding_interval_hours, inst.max_leverage) == (8, 125)
    assert client.health.skipped == 0


async def test_the_account_fee_rate_replaces_the_contract_fees() -> None:
    client = client_with({CONTRACTS: ok("rest_contracts"), TRADE_RATE: ok("rest_trade_rate")})
    (inst,) = await client.load_instruments()
    assert (inst.maker_fee, inst.taker_fee) == (D("0.0002"), D("0.0006"))


async def test_contracts_decoded_one_by_one_skip_foreign_and_malformed_items() -> None:
    def mutate(doc: Any) -> None:
        good = doc["data"][0]
        delivery = good | {"symbol": "BTCUSDT0627", "symbolType": "delivery"}
        broken = good | {"symbol": "ETHUSDT", "minTradeNum": None}
        listed = good | {"symbol": "NEWUSDT", "symbolStatus": "listed"}
        empties = good | {"symbol": "SOLUSDT", "makerFeeRate": "", "takerFeeRate": None,
                          "minTradeUSDT": "", "maxLever": None, "fundInterval": "",
                          "volumePlace": None, "extra": {"x": 1}}  # fmt: skip
        doc["data"] = [delivery, broken, good, listed, empties]

    client = client_with({CONTRACTS: ok("rest_contracts", mutate)}, credentials=None)
    insts = {i.symbol: i for i in await client.load_instruments()}
    assert set(insts) == {"BTCUSDT", "SOLUSDT"}
    sol = insts["SOLUSDT"]  # empty optional fields: the defaults
    assert (sol.maker_fee, sol.taker_fee, sol.min_notional) == (D("0.0002"), D("0.0006"), D(0))
    assert (sol.funding_interval_hours, sol.max_leverage) == (8, None)
    assert client.health.skipped == 3  # the delivery contract, the broken one, the listed one


@pytest.mark.parametrize(
    ("name", "rate", "next_in_s"),
    [("rest_current_fund_rate", D("0.000068"), 7851.454), ("rest_current_fund_rate_sdk",
                                                          D("0.0005"), None)],
)  # fmt: skip
async def test_funding_rates_decode(name: str, rate: Decimal, next_in_s: float | None) -> None:
    client = client_with({FUNDING: ok(name)})
    (fr,) = await client.fetch_funding(["BTCUSDT"])
    assert (fr.symbol, fr.rate, fr.interval_hours) == ("BTCUSDT", rate, 8)
    if next_in_s is None:
        assert fr.next_funding_ts is None  # the older answer names no next settlement
    else:
        assert fr.next_funding_ts == pytest.approx(trio.current_time() + next_in_s, abs=1e-3)


async def test_a_malformed_funding_row_is_skipped_and_its_neighbours_kept() -> None:
    def mutate(doc: Any) -> None:
        row = doc["data"][0]
        doc["data"] = [row | {"symbol": "ETHUSDT", "fundingRate": "x"},
                       row | {"fundingRateInterval": None, "nextUpdate": ""}]  # fmt: skip

    client = client_with({FUNDING: ok("rest_current_fund_rate", mutate)})
    (fr,) = await client.fetch_funding(["BTCUSDT", "ETHUSDT"])
    assert (fr.symbol, fr.interval_hours, fr.next_funding_ts) == ("BTCUSDT", 8, None)
    assert client.health.skipped == 1


def order(cid: str = "121211212122") -> OrderRequest:
    return OrderRequest(venue="bitget", symbol="BTCUSDT", client_order_id=cid, side=Side.BUY,
                        qty=D("0.01"), price=D(100))  # fmt: skip


@pytest.mark.parametrize(
    ("name", "order_id"),
    [("rest_place_order", "121211212122"),
     ("rest_envelope_string_request_time", "1310832081358508032")],
)  # fmt: skip
async def test_place_order_answers_decode(name: str, order_id: str) -> None:
    """The documented answer, and a recorded one whose ``requestTime`` is a string (an
    undecodable placement answer would be OutcomeUnknown for an order that exists)."""
    client = client_with({PLACE: ok(name)})
    ack = await client.place_order(order())
    assert (ack.client_order_id, ack.venue_order_id) == ("121211212122", order_id)


async def test_cancel_answer_with_an_empty_client_oid_decodes() -> None:
    client = client_with({CANCEL: ok("rest_cancel_order")})
    await client.cancel_order("BTCUSDT", "c1")


@pytest.mark.parametrize(
    ("name", "mutating", "kind"),
    [("rest_error_40762", True, OrderRejected), ("rest_error_45001", True, OutcomeUnknown),
     ("rest_error_45001", False, Disconnected), ("rest_error_40725", True, OutcomeUnknown)],
)  # fmt: skip
async def test_error_envelopes_map_to_the_unified_errors(
    name: str, mutating: bool, kind: type[Exception]
) -> None:
    client = client_with({PLACE: (400, text(name)), ACCOUNTS: (400, text(name))})
    with pytest.raises(kind) as exc:
        if mutating:
            await client.place_order(order())
        else:
            await client.fetch_balances()
    assert getattr(exc.value, "code", None) == load(name)["code"]


def same_order(detail: str, fills: str) -> Callable[[Any], None]:
    """The two documented examples name different orders: give the fills the detail's."""
    order_id = load(detail)["data"]["orderId"]

    def mutate(doc: Any) -> None:
        for row in doc["data"]["fillList"]:
            row["orderId"] = order_id

    return mutate


@pytest.mark.parametrize("detail", ["rest_order_detail", "rest_order_detail_sdk"])
async def test_order_detail_and_fills_in_bgb_decode(detail: str) -> None:
    """The detail names its status ``state``, its symbol in lower case and an empty fee; the
    fill paid its fee in BGB: kept in BGB, never booked as USDT."""
    client = client_with({DETAIL: ok(detail),
                          FILLS: ok("rest_order_fills_bgb", same_order(detail, "x"))})  # fmt: skip
    report = await client.query_order("ETHUSDT", "77777")
    assert (report.status, report.filled_qty, report.avg_price) == (OrderStatus.FILLED, D(2),
                                                                    D(1900))  # fmt: skip
    (f,) = report.fills
    assert (f.client_order_id, f.trade_id, f.qty, f.price) == ("77777", "123", D(1), D(1900))
    assert (f.fee, f.fee_currency) == (D("0.017118519726"), "BGB")
    assert f.side is Side.SELL  # a hedge-mode close row names the position's side (long)
    assert client.health.skipped == 0


async def test_order_fills_with_a_null_deduction_fee_and_a_foreign_row() -> None:
    """``"totalDeductionFee": null`` used to fail the whole query; a row of another order (or
    malformed) is skipped and counted, its neighbours kept."""
    detail = "rest_order_detail"

    def mutate(doc: Any) -> None:
        same_order(detail, "x")(doc)
        row = doc["data"]["fillList"][0]
        null_fee = row | {
            "tradeId": "124",
            "feeDetail": [row["feeDetail"][0] | {"totalDeductionFee": None}],
        }
        other = row | {"tradeId": "125", "orderId": "999"}
        broken = row | {"tradeId": "126", "baseVolume": None}
        doc["data"]["fillList"] = [row, other, null_fee, broken]

    client = client_with({DETAIL: ok(detail), FILLS: ok("rest_order_fills_bgb", mutate)})
    report = await client.query_order("ETHUSDT", "77777")
    assert [f.trade_id for f in report.fills] == ["123", "124"]
    assert report.fills[1].fee == D("0.017118519726") and report.fills[1].fee_currency == "BGB"
    assert client.health.skipped == 2


@pytest.mark.parametrize("name", ["rest_all_position", "rest_all_position_sdk"])
async def test_positions_decode(name: str) -> None:
    client = client_with({POSITIONS: ok(name)})
    (pos,) = await client.fetch_positions()
    assert (pos.symbol, pos.qty, pos.entry_price) == ("BTCUSDT", D("0.01"), D(25000))
    assert (pos.mark_price, pos.liquidation_price) == (D(25100), D("24144.1124161806977798"))


@pytest.mark.parametrize(
    ("fields", "mark", "liquidation"),
    [({"liquidationPrice": ""}, D(25100), None),
     ({"liquidationPrice": None}, D(25100), None),
     ({"liquidationPrice": "0"}, D(25100), None),  # "<= 0: no liquidation price at this time"
     ({"liquidationPrice": "-5025939.4855934659933227"}, D(25100), None),  # liq-price example
     ({"markPrice": "", "liquidationPrice": "24144.1"}, None, D("24144.1")),
     ({"markPrice": None}, None, D("24144.1124161806977798"))],
)  # fmt: skip
async def test_positions_without_a_liquidation_price_or_mark(
    fields: dict[str, Any], mark: Decimal | None, liquidation: Decimal | None
) -> None:
    def mutate(doc: Any) -> None:
        row = doc["data"][0]
        doc["data"] = [row | fields, row | {"symbol": "ETHUSDT", "liquidationPrice": "abc"}]

    client = client_with({POSITIONS: ok("rest_all_position", mutate)})
    (pos,) = await client.fetch_positions()  # the undecimal neighbour skipped, counted
    assert (pos.mark_price, pos.liquidation_price) == (mark, liquidation)
    assert client.health.skipped == 1


def recording(routes: Routes) -> tuple[BitgetClient, list[httpx.Request]]:
    """:func:`client_with`, keeping every request sent."""
    client = client_with(routes)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = routes.get(request.url.path, (404, "{}"))
        return httpx.Response(status, content=body.encode())

    client.rest._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return client, seen


SETTINGS_OK: Routes = {SET_MARGIN_MODE: ok("rest_set_margin_mode"),
                       SET_LEVERAGE: ok("rest_set_leverage")}  # fmt: skip


async def test_configure_instrument_sends_the_documented_bodies_signed() -> None:
    client, seen = recording(SETTINGS_OK)
    await client.configure_instrument("BTCUSDT", leverage=5, margin_mode="isolated")
    mode, lev = seen
    assert (mode.method, mode.url.path, json.loads(mode.content)) == ("POST", SET_MARGIN_MODE, {
        "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT",
        "marginMode": "isolated"})  # fmt: skip
    assert json.loads(lev.content) == {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                       "marginCoin": "USDT", "leverage": "5"}  # fmt: skip
    assert all(r.headers["ACCESS-KEY"] == "k" and r.headers["ACCESS-SIGN"] for r in seen)
    assert client.margin_modes == {"BTCUSDT": "isolated"}
    assert client.order_body(order()).marginMode == "isolated"  # orders follow the setting
    hedged, seen = recording(SETTINGS_OK)
    hedged.hedge_mode = True
    await hedged.configure_instrument("BTCUSDT", leverage=5, margin_mode="isolated")
    assert json.loads(seen[1].content) | {"leverage": None} == {
        "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT",
        "longLeverage": "5", "shortLeverage": "5", "leverage": None}  # fmt: skip


@pytest.mark.parametrize("unchanged", ["rest_error_40814", "rest_error_45054"])
async def test_an_unchanged_leverage_is_success(unchanged: str) -> None:
    client = client_with(SETTINGS_OK | {SET_LEVERAGE: (400, text(unchanged))})
    await client.configure_instrument("BTCUSDT", leverage=20, margin_mode="cross")
    assert client.margin_modes == {"BTCUSDT": "crossed"}


async def test_a_locked_margin_mode_already_in_place_is_success() -> None:
    """45117 (positions or orders open) for the mode the account already has: success,
    checked on the symbol's account (the example says crossed); for another mode: refused."""
    routes = SETTINGS_OK | {SET_MARGIN_MODE: (400, text("rest_error_45117")),
                            ACCOUNT: ok("rest_single_account")}  # fmt: skip
    client, seen = recording(routes)
    await client.configure_instrument("BTCUSDT", leverage=20, margin_mode="cross")
    assert [r.url.path for r in seen] == [SET_MARGIN_MODE, ACCOUNT, SET_LEVERAGE]
    assert dict(seen[1].url.params) == {"marginCoin": "USDT", "productType": "USDT-FUTURES",
                                        "symbol": "BTCUSDT"}  # fmt: skip
    client, seen = recording(routes)
    with pytest.raises(BadRequest, match="margin mode isolated") as exc:
        await client.configure_instrument("BTCUSDT", leverage=20, margin_mode="isolated")
    assert exc.value.code == "45117" and client.margin_modes == {}
    assert [r.url.path for r in seen] == [SET_MARGIN_MODE, ACCOUNT]  # no leverage set


@pytest.mark.parametrize(
    ("routes", "leverage", "mode", "match", "code"),
    [({SET_LEVERAGE: (400, text("rest_error_45045"))}, 200, "cross", "leverage 200", "45045"),
     ({SET_LEVERAGE: (400, text("rest_error_40762"))}, 5, "cross", "leverage 5", "40762"),
     ({}, 0, "cross", "leverage 0", None),
     ({}, 5, "portfolio", "margin mode 'portfolio'", None)],
)  # fmt: skip
async def test_configure_instrument_refusals_name_the_value(
    routes: Routes, leverage: int, mode: Any, match: str, code: str | None
) -> None:
    client, seen = recording(SETTINGS_OK | routes)
    with pytest.raises(BadRequest, match=match) as exc:
        await client.configure_instrument("BTCUSDT", leverage=leverage, margin_mode=mode)
    assert exc.value.code == code
    assert len(seen) == (2 if code else 0)  # a value the venue cannot take is not sent


async def test_configure_instrument_passes_transport_and_rate_errors_through() -> None:
    client = client_with(SETTINGS_OK | {SET_LEVERAGE: (400, text("rest_error_45001"))})
    with pytest.raises(Disconnected):  # the release window: retry later, not a refusal
        await client.configure_instrument("BTCUSDT", leverage=5, margin_mode="cross")


async def test_balances_decode_and_skip_a_malformed_row() -> None:
    client = client_with({ACCOUNTS: ok("rest_accounts")})
    (bal,) = await client.fetch_balances()
    assert (bal.currency, bal.total, bal.available) == ("USDT", D("10582.90265771"),
                                                        D("10575.26735771"))  # fmt: skip

    def mutate(doc: Any) -> None:
        row = doc["data"][0]
        doc["data"] = [row | {"marginCoin": None}, row | {"available": None}]

    client = client_with({ACCOUNTS: ok("rest_accounts", mutate)})
    (bal,) = await client.fetch_balances()
    assert (bal.total, bal.available) == (D("10582.90265771"), D(0))
    assert client.health.skipped == 1


# -- streams: the protocols fed the fixtures --------------------------------------------------
def instruments(*symbols: str) -> dict[str, Instrument]:
    return {s: Instrument(venue="bitget", symbol=s, asset=s[:-4], quote="USDT",
                          tick_size=D("0.1"), lot_size=D("0.001"), min_size=D("0.001"),
                          min_notional=D(5), taker_fee=D("0.0006"), maker_fee=D("0.0002"),
                          funding_interval_hours=8)
            for s in symbols}  # fmt: skip


def order_feed(*symbols: str) -> BitgetOrderFeed:
    """A logged-in, subscribed private protocol (``symbols``: the client's contracts)."""
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: WALL,
                        instruments=instruments(*symbols))  # fmt: skip
    f.connected(None, 0.0)
    f.frame(text("ws_login_ok"), 0.1)
    out: Sequence[Output] = ()
    for channel in ("orders", "fill", "positions", "account"):
        field = "coin" if channel == "account" else "instId"
        out = f.frame(
            text(
                "ws_subscribe_ack",
                lambda d, ch=channel, fd=field: d.update(
                    arg={"instType": "USDT-FUTURES", "channel": ch, fd: "default"}
                ),
            ),
            0.2,
        )
    assert [type(o) for o in out] == [Ready]
    return f


def delivered(outputs: Sequence[Output]) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


@pytest.mark.parametrize("name", ["ws_books5_snapshot", "ws_books5_snapshot_sdk"])
def test_book_snapshots_decode(name: str) -> None:
    books: dict[str, Any] = {}
    feed = BitgetBookFeed(books, ["BTCUSDT"], "books5", VenueHealth("bitget"))
    feed.connected(None, 0.0)
    out = feed.frame(text(name), 1.0)
    assert any(isinstance(o, Ready) for o in out)
    book = books["BTCUSDT"]
    assert (
        book.tradable and book.best_bid() == (27000.0, 2.71) and book.best_ask() == (27000.5, 8.76)
    )
    assert book.levels(Side.SELL) == [(27000.5, 8.76), (27001.0, 0.4)]
    data = load(name)["data"][0]
    assert checksum(data["bids"], data["asks"]) != 0  # raw strings kept: computable


def test_the_documented_login_answers() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: WALL)
    f.connected(None, 0.0)
    (fail,) = f.frame(text("ws_login_error"), 0.1)
    assert isinstance(fail, Fail) and "30005" in str(fail.error)
    f.connected(None, 1.0)
    assert not any(isinstance(o, Fail) for o in f.frame(text("ws_login_ok"), 1.1))


def test_order_pushes_decode() -> None:
    f = order_feed("ETHUSDT", "BTCUSDT")
    (live,) = delivered(f.frame(text("ws_orders_live"), 1.0))
    assert isinstance(live, OrderUpdate)
    assert (live.client_order_id, live.status, live.filled_qty, live.avg_price) == (
        "12354678990111", OrderStatus.OPEN, D(0), None)  # fmt: skip
    (filled,) = delivered(f.frame(text("ws_orders_filled_sdk"), 1.1))
    assert (filled.client_order_id, filled.status, filled.filled_qty, filled.avg_price) == (
        "1", OrderStatus.FILLED, D("0.01"), D("27000.5"))  # fmt: skip
    assert f.client_order_id("1") == "1" and f.health.skipped == 0


def test_the_documented_fill_push_decodes() -> None:
    f = order_feed("BTCUSDT")
    (fill,) = delivered(f.frame(text("ws_fill"), 1.0))
    assert isinstance(fill, Fill)
    assert (fill.client_order_id, fill.trade_id, fill.side, fill.qty, fill.price) == (
        "111", "222", Side.BUY, D("0.01"), D("51000.5"))  # fmt: skip
    assert (fill.fee, fill.fee_currency) == (D("0.183717"), "")


def test_a_fill_without_client_oid_waits_for_its_placement() -> None:
    """The recorded push (before the venue added ``clientOid``) names only the order id:
    held until the placement's note (or an orders push) maps it, never an orphan."""
    f = order_feed("BTCUSDT")
    assert delivered(f.frame(text("ws_fill_without_client_oid_sdk"), 1.0)) == []
    (fill,) = delivered(f.note(Placed("c-111", "BTCUSDT", venue_order_id="111"), 1.2))
    assert (fill.client_order_id, fill.trade_id, fill.fee) == ("c-111", "222", D("0.183717"))


def test_position_and_account_pushes_decode() -> None:
    f = order_feed("ETHUSDT")
    for name, mark in (("ws_positions", D(2500)), ("ws_positions_sdk", None)):
        assert delivered(f.frame(text(name), 1.0)) == []
        p = f.positions[("ETHUSDT", "short")]
        assert (p.total, p.openPriceAvg) == (D("0.1"), "1900")
        pos = f.pushed_positions["ETHUSDT"]
        assert (pos.qty, pos.entry_price, pos.mark_price, pos.liquidation_price) == (
            D("-0.1"), D(1900), mark, D("5788.108475905242"))  # fmt: skip
    assert delivered(f.frame(text("ws_account"), 1.1)) == []
    assert f.accounts["USDT"].available == "11.98545761"
    bal = f.pushed_balances["USDT"]
    assert (bal.currency, bal.total, bal.available) == ("USDT", D("11.98545761"),
                                                        D("11.98545761"))  # fmt: skip
    f.frame(text("ws_account_sdk"), 1.2)
    assert f.accounts["USDT"].available == "11490.16841069"
    bal = f.pushed_balances["USDT"]
    assert (bal.total, bal.available) == (D("11489.96841069"), D("11490.16841069"))
    assert f.health.skipped == 0


def positions_push(*rows: dict[str, Any]) -> str:
    return text("ws_positions", lambda doc: doc.update(data=list(rows)))


POS: dict[str, Any] = load("ws_positions")["data"][0]


def test_a_positions_push_is_the_snapshot_of_the_open_positions() -> None:
    """A traded symbol the push leaves out is flat; a foreign item is skipped and counted;
    while an item fails to decode nothing is taken for flat; hedge-mode sides are netted."""
    f = order_feed("ETHUSDT", "BTCUSDT")
    btc = POS | {"instId": "BTCUSDT", "holdSide": "long", "total": "0.5", "markPrice": "60000",
                 "liquidationPrice": "50000", "openPriceAvg": "59000"}  # fmt: skip
    f.frame(positions_push(POS, btc, POS | {"instId": "XRPUSDT"}), 1.0)
    assert {s: p.qty for s, p in f.pushed_positions.items()} == {
        "ETHUSDT": D("-0.1"),
        "BTCUSDT": D("0.5"),
    }
    assert f.health.skipped == 1  # XRPUSDT: not traded
    f.frame(positions_push(btc, POS | {"holdSide": "flat"}), 1.1)  # ETH's item is malformed
    assert f.pushed_positions["ETHUSDT"].qty == D("-0.1") and f.health.skipped == 2
    f.frame(positions_push(btc), 1.2)  # ETH closed
    eth = f.pushed_positions["ETHUSDT"]
    assert (eth.qty, eth.entry_price, eth.liquidation_price) == (D(0), None, None)
    hedge = [btc, btc | {"holdSide": "short", "total": "0.2", "liquidationPrice": "70000"}]
    f.frame(positions_push(*hedge), 1.3)
    net = f.pushed_positions["BTCUSDT"]
    assert (net.qty, net.entry_price, net.mark_price, net.liquidation_price) == (
        D("0.3"), None, D(60000), D(50000))  # the nearer to the mark  # fmt: skip
    f.frame(positions_push(), 1.4)  # nothing open
    assert {p.qty for p in f.pushed_positions.values()} == {D(0)}
    assert f.positions == {}
    assert f.health.skipped == 2


def test_book_pushes_stamp_the_exchange_time() -> None:
    books: dict[str, Any] = {}
    feed = BitgetBookFeed(books, ["BTCUSDT"], "books5", VenueHealth("bitget"))
    feed.connected(None, 0.0)
    feed.frame(text("ws_books5_snapshot"), 1.0)
    ts = int(load("ws_books5_snapshot")["data"][0]["ts"])
    assert books["BTCUSDT"].exchange_ts == ts / 1000
    feed.frame(text("ws_books5_snapshot", lambda d: d["data"][0].update(ts="")), 2.0)
    assert books["BTCUSDT"].exchange_ts == load("ws_books5_snapshot")["ts"] / 1000


# -- mutated pushes ---------------------------------------------------------------------------
def fill_push(*rows: dict[str, Any], inst_type: str = "USDT-FUTURES") -> str:
    def mutate(doc: Any) -> None:
        doc["arg"]["instType"] = inst_type
        doc["data"] = list(rows)

    return text("ws_fill", mutate)


ROW: dict[str, Any] = load("ws_fill")["data"][0]


def with_fee(**fields: Any) -> dict[str, Any]:
    return ROW | {"tradeId": "fee", "feeDetail": [ROW["feeDetail"][0] | fields]}


@pytest.mark.parametrize(
    ("row", "fee", "currency"),
    [
        (with_fee(totalDeductionFee=None), D("0.183717"), ""),
        (with_fee(totalFee=None), D(0), ""),
        (with_fee(totalFee=""), D(0), ""),
        (ROW | {"tradeId": "fee", "feeDetail": None}, D(0), ""),
        (ROW | {"tradeId": "fee", "feeDetail": []}, D(0), ""),
        (with_fee(feeCoin="BGB", deduction="yes", totalDeductionFee="-0.0041",
                  totalFee="-0.0041"), D("0.0041"), "BGB"),
        (with_fee(feeCoin=None), D("0.183717"), ""),
        (with_fee(totalFee="0.01"), D("-0.01"), ""),  # a maker rebate
        (ROW | {"tradeId": "fee", "somethingNew": {"a": [1]}, "profit": None,
                "quoteVolume": ""}, D("0.183717"), ""),
    ],
)  # fmt: skip
def test_fill_fee_fields_null_empty_extra_and_in_another_coin(
    row: dict[str, Any], fee: Decimal, currency: str
) -> None:
    f = order_feed("BTCUSDT")
    (fill,) = delivered(f.frame(fill_push(row), 1.0))
    assert (fill.trade_id, fill.fee, fill.fee_currency) == ("fee", fee, currency)
    assert f.health.skipped == 0 and f.health.malformed == 0


def test_fees_in_two_coins_keep_the_quote_currency_one() -> None:
    details = [c.FeeDetail(feeCoin="BGB", totalFee="-0.01"),
               c.FeeDetail(feeCoin="USDT", totalFee="-0.2")]  # fmt: skip
    assert fee_of(details, "t") == (D("0.2"), "")
    assert fee_of([c.FeeDetail(feeCoin="bgb", totalFee="-0.01")], "t") == (D("0.01"), "BGB")


def test_foreign_and_malformed_fill_items_are_skipped_and_their_neighbours_kept() -> None:
    f = order_feed("BTCUSDT")
    rows = [ROW | {"tradeId": "a"},
            ROW | {"tradeId": "b", "symbol": "DOGEUSDT"},  # a contract this client lacks
            ROW | {"tradeId": "c", "baseVolume": "abc"},  # malformed
            ROW | {"tradeId": "d", "side": "sideways"},  # malformed
            ROW | {"tradeId": "e", "symbol": "btcusdt"},  # lower case: the same contract
            ROW | {"tradeId": "f", "clientOid": ""}]  # fmt: skip
    out = f.frame(fill_push(*rows), 1.0)
    assert [e.trade_id for e in delivered(out)] == ["a", "e", "f"]
    assert [e.client_order_id for e in delivered(out)] == ["111", "111", "111"]
    assert f.health.skipped == 3 and f.health.malformed == 0


def test_a_push_of_another_product_is_skipped_whole() -> None:
    f = order_feed("BTCUSDT")
    assert delivered(f.frame(fill_push(ROW, ROW | {"tradeId": "x"}, inst_type="COIN-FUTURES"),
                             1.0)) == []  # fmt: skip
    assert f.health.skipped == 2
    assert [e.trade_id for e in delivered(f.frame(fill_push(ROW), 1.1))] == ["222"]


def test_order_items_null_and_empty_fields_and_foreign_neighbours() -> None:
    base = load("ws_orders_filled_sdk")["data"][0]
    rows = [base | {"priceAvg": "", "accBaseVolume": None, "cancelReason": None, "new": 1},
            base | {"clientOid": "2", "instId": "XRPUSDT"},  # untraded contract
            base | {"clientOid": "3", "status": "exploded"},  # malformed
            base | {"clientOid": None, "orderId": "unknown"},  # nobody's: cannot be attributed
            base | {"clientOid": "5", "status": "canceled", "priceAvg": None}]  # fmt: skip

    def mutate(doc: Any) -> None:
        doc["data"] = rows

    f = order_feed("BTCUSDT")
    updates = delivered(f.frame(text("ws_orders_filled_sdk", mutate), 1.0))
    assert [(u.client_order_id, u.status, u.filled_qty, u.avg_price) for u in updates] == [
        ("1", OrderStatus.FILLED, D("0.01"), None),  # accBaseVolume absent: a filled size
        ("5", OrderStatus.CANCELLED, D("0.01"), None),
    ]
    assert f.health.skipped == 3


def test_an_undecodable_push_is_malformed_not_skipped() -> None:
    f = order_feed("BTCUSDT")
    assert delivered(f.frame(json.dumps({"action": "snapshot", "arg": {"channel": "fill"},
                                         "data": {"not": "a list"}}), 1.0)) == []  # fmt: skip
    assert (f.health.malformed, f.health.skipped) == (1, 0)
