"""Bybit's decoders on the corpus of real payloads (``fixtures/``, see its README) and on
variants built from them: every fixture decodes to the values it holds; a null, an empty
string or an extra field is accepted where the venue sends one; an item of another category
or a malformed item is skipped and counted without taking its neighbours with it; a fee
paid in another coin keeps its currency.

The private stream is driven sans-IO (:class:`BybitOrderFeed`); REST payloads go through
the real client (``BybitClient``: its RestClient, rules, envelope and conversions) over an
in-memory HTTP transport answering with the fixtures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import (
    Balance,
    Fill,
    OrderReport,
    OrderStatus,
    OrderUpdate,
    Side,
    VenuePosition,
)
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    RateLimited,
    VenueHealth,
)
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.book import BybitBook, Verdict
from arbtrio.venues.bybit.client import BybitClient
from arbtrio.venues.bybit.feed import FILL_EXEC_TYPES, BybitBookFeed, BybitOrderFeed, fill_of
from arbtrio.venues.bybit.feed import order_update_of as update_of
from arbtrio.venues.stream import Deliver, Fetch, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
CREDS = Credentials(api_key="k", api_secret="s")


def fixture(name: str) -> dict[str, Any]:
    """A fixture's payload without its ``_source`` (a fresh copy each call)."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    doc.pop("_source")
    return doc  # type: ignore[no-any-return]


def raw(payload: dict[str, Any] | str) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload)


def items_of(name: str) -> list[dict[str, Any]]:
    """The ``data`` of a push fixture, or the ``result.list`` of a REST page fixture."""
    doc = fixture(name)
    return doc["data"] if "data" in doc else doc["result"]["list"]  # type: ignore[no-any-return]


def test_every_fixture_names_its_source() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 40
    for name in names:
        source = json.loads((FIXTURES / f"{name}.json").read_text())["_source"]
        assert source.get("url") or (source.get("repository") and source.get("path")), name
        if "repository" in source:
            assert len(source["commit"]) == 40, name


def test_every_fixture_is_checked_here() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(CHECKED)


# -- the private stream, sans-IO -------------------------------------------------------------
def live_feed(
    instruments: dict[str, Instrument] | None = None, **kw: Any
) -> tuple[BybitOrderFeed, VenueHealth]:
    """A private-stream protocol authenticated and subscribed at t=0."""
    health = VenueHealth("bybit")
    feed = BybitOrderFeed(CREDS, health, lambda: 1_700_000_000.0, instruments=instruments, **kw)
    feed.connected(None, 0.0)
    (sub,) = feed.frame(raw(fixture("ws_private_auth_ok")), 0.0)
    assert isinstance(sub, Send)
    req_id = json.loads(sub.text)["req_id"]
    ack = fixture("ws_subscribe_ack_req_id") | {"req_id": req_id}
    assert [type(o) for o in feed.frame(raw(ack), 0.0)] == [Ready]
    return feed, health


def push(topic: str, data: list[Any]) -> str:
    return json.dumps({"id": "x", "topic": topic, "creationTime": 1, "data": data})


def delivered(outputs: Any) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


def fetches(outputs: Any) -> list[Any]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def as_pushed(row: dict[str, Any], category: str = "linear") -> dict[str, Any]:
    """A REST order/execution row as the stream pushes it (stream items carry a category)."""
    return {"category": category, **row}


def check_ws_order_option(name: str) -> None:
    feed, health = live_feed()
    assert delivered(feed.frame(raw(fixture(name)), 1.0)) == []
    assert health.skipped == 1 and health.malformed == 0  # foreign, not malformed


def check_ws_execution_linear(name: str) -> None:
    """The documented push names only the venue's order id: held until the note comes."""
    feed, health = live_feed()
    assert delivered(feed.frame(raw(fixture(name)), 1.0)) == []
    out = feed.note(
        Placed("c1", "BTCUSDT", venue_order_id="9aac161b-8ed6-450d-9cab-c5cc67c21784"), 1.5
    )
    (fill,) = delivered(out)
    assert fill == Fill(
        venue="bybit", client_order_id="c1", trade_id="0ab1bdf7-4219-438b-b30a-32ec863018f7",
        side=Side.SELL, qty=D("0.5"), price=D("95900.1"), fee=D("26.3725275"), ts=1.0,
        fee_currency="USDT",
    )  # fmt: skip
    assert health.skipped == 0


def check_ws_execution_linear_2023(name: str) -> None:
    (e,) = c.decode_push_items(
        c.decode_private(raw(fixture(name))).data, c.ExecutionInfo, "e"
    ).items
    fill = fill_of(e, 2.0)
    assert (fill.client_order_id, fill.trade_id) == ("", "7e2ae69c-4edf-5800-a352-893d52b446aa")
    assert (fill.side, fill.qty, fill.price, fill.fee) == (
        Side.SELL,
        D(25),
        D("0.3374"),
        D("0.005061"),
    )
    assert fill.fee_currency == ""  # no feeCurrency: the settle coin


def check_ws_position_linear_flat(name: str) -> None:
    """Flat: ``side`` "", ``entryPrice`` "0", ``liqPrice`` "0" (no liquidation price)."""
    feed, health = live_feed()
    assert feed.frame(raw(fixture(name)), 1.0) == ()
    assert feed.pushed_positions == {
        "BTCUSDT": VenuePosition(venue="bybit", symbol="BTCUSDT", qty=D(0), entry_price=None,
                                 mark_price=D("28184.5"), liquidation_price=None)
    }  # fmt: skip
    assert health.skipped == 0


def check_ws_position_linear_2023(name: str) -> None:
    """An open long pushed with its mark and ``liqPrice`` "" (none: beyond the price band)."""
    feed, health = live_feed()
    assert feed.frame(raw(fixture(name)), 1.0) == ()
    assert feed.pushed_positions == {
        "XRPUSDT": VenuePosition(venue="bybit", symbol="XRPUSDT", qty=D(75),
                                 entry_price=D("0.3615"), mark_price=D("0.3374"),
                                 liquidation_price=None)
    }  # fmt: skip
    assert health.skipped == 0


def check_ws_wallet(name: str) -> None:
    feed, health = live_feed()
    assert feed.frame(raw(fixture(name)), 1.0) == ()
    assert feed.pushed_balances == {
        "BTC": Balance(venue="bybit", currency="BTC", total=D("0.00102964"),
                       available=D("0.00102964"))
    }  # fmt: skip
    assert health.skipped == 0


def check_ws_private_auth_ok(name: str) -> None:
    live_feed()  # authenticates with it


def check_ws_private_pong(name: str) -> None:
    feed, health = live_feed()
    assert feed.frame(raw(fixture(name)), 1.0) == ()
    assert health.malformed == 0 and health.skipped == 0
    frame = c.decode_private(raw(fixture(name)))
    assert frame.op == "pong" and frame.args and frame.args[0].isdigit()


def check_ws_subscribe_ack(name: str) -> None:
    frame = c.decode_public(raw(fixture(name)))
    assert (frame.op, frame.success, frame.data) == ("subscribe", True, None)
    private = c.decode_private(raw(fixture(name)))
    assert (private.op, private.success) == ("subscribe", True)


# -- the public stream ------------------------------------------------------------------------
def book_feed() -> tuple[BybitBookFeed, dict[str, L2Book]]:
    books: dict[str, L2Book] = {}
    feed = BybitBookFeed(books, ("BTCUSDT",), 50, VenueHealth("bybit"))
    feed.connected(None, 0.0)
    return feed, books


def check_ws_public_orderbook50_snapshot_testnet(name: str) -> None:
    frame = c.decode_public(raw(fixture(name)))
    assert frame.type == "snapshot" and frame.data is not None and frame.cts == 0  # no cts sent
    assert (len(frame.data.b), len(frame.data.a), frame.data.u) == (50, 50, 3545397)
    assert frame.data.b[0] == (26368.5, 217.017) and frame.data.a[-1] == (26448.1, 0.006)
    feed, books = book_feed()
    feed.frame(raw(fixture(name)), 1.0)
    book = books["BTCUSDT"]
    assert book.tradable and book.best_bid() == (26368.5, 217.017)
    assert book.best_ask() == (26368.7, 2.159) and book.depth() == (50, 50)
    assert (book.exchange_ts, book.lag_s) == (1685082877.414, 0.0)  # its ts, the first: floor
    delta = fixture("ws_public_orderbook50_delta_testnet")  # the next frame sent
    sent_after = delta["ts"] / 1000 - 1685082877.414
    feed.frame(raw(delta), 1.0 + sent_after + 0.25)  # received 0.25 s later than the first
    assert book.seq == 3545398 and book.best_bid() == (26368.5, 205.017)
    assert book.best_ask() == (26368.7, 2.159) and feed.health.resyncs == 0
    assert book.exchange_ts == delta["ts"] / 1000
    assert book.lag_s == pytest.approx(0.25, abs=1e-3)


def check_ws_public_orderbook50_delta_testnet(name: str) -> None:
    frame = c.decode_public(raw(fixture(name)))
    assert frame.type == "delta" and frame.data is not None
    assert frame.data.b == [(26368.5, 205.017)] and frame.data.a == []  # an empty side


def check_ws_public_orderbook50_delta(name: str) -> None:
    frame = c.decode_public(raw(fixture(name)))
    assert frame.data is not None and (frame.data.u, frame.data.seq) == (177400507, 66544703342)
    assert frame.data.b[0] == (30247.2, 30.028) and frame.data.b[-1] == (30240.0, 0.0)
    assert frame.data.a[0] == (30248.7, 0.0) and frame.cts == 1687940967464
    tracker = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    data = {"s": "BTCUSDT", "b": [["30240.00", "1"]], "a": [["30248.70", "1"]], "u": 177400506}
    snapshot = {"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1, "data": data}
    tracker.apply(c.decode_public(raw(snapshot)), 0.0)
    assert tracker.apply(frame, 1.0) is Verdict.APPLIED  # "0" removes the two touched levels
    assert tracker.book.best_bid() == (30247.2, 30.028)
    assert tracker.book.best_ask() == (30249.3, 0.892)


def check_ws_public_pong(name: str) -> None:
    frame = c.decode_public(raw(fixture(name)))
    assert (frame.op, frame.ret_msg, frame.success) == ("ping", "pong", True)
    feed, _ = book_feed()
    assert feed.frame(raw(fixture(name)), 1.0) == () and feed.health.malformed == 0


def check_ws_pong_bare(name: str) -> None:
    assert c.decode_public(raw(fixture(name))).op == "pong"
    check_ws_private_pong(name)


# -- REST, through the client ---------------------------------------------------------------------
Route = dict[str, Any]


def serve(client: BybitClient, routes: dict[str, Any]) -> list[httpx.Request]:
    """Answer the client's requests from ``routes`` (path → payload, or a list of payloads
    answered in turn); returns the requests seen. The in-memory transport replaces the
    RestClient's HTTP client (everything above it is the real path)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = routes[request.url.path]
        if isinstance(answer, list):
            answer = answer.pop(0)
        return httpx.Response(200, json=answer)

    client.rest._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return seen


def rest_client(**kw: Any) -> BybitClient:
    return BybitClient(rest_url="http://bybit.test", wall_clock=lambda: 1_700_000_000.0, **kw)


def page(items: list[dict[str, Any]], category: str = "linear") -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": items,
            "nextPageCursor": ""}, "retExtInfo": {}, "time": 1}  # fmt: skip


async def check_rest_instruments_linear(name: str) -> None:
    client = rest_client()
    serve(client, {"/v5/market/instruments-info": fixture(name)})
    (inst,) = await client.load_instruments()
    assert (inst.symbol, inst.asset, inst.quote) == ("BTCUSDT", "BTC", "USDT")
    assert (inst.tick_size, inst.lot_size, inst.min_size) == (D("0.10"), D("0.001"), D("0.001"))
    assert (inst.min_notional, inst.funding_interval_hours, inst.max_leverage) == (D(5), 8, 100)
    assert client.health.skipped == 0


async def check_rest_instruments_prelaunch(name: str) -> None:
    client = rest_client()
    serve(client, {"/v5/market/instruments-info": fixture(name)})
    assert await client.load_instruments() == []  # PreLaunch: not tradable yet
    assert client.health.skipped == 0  # filtered, not skipped: it decoded
    (info,) = c.page_items(c.decode_page(json.dumps(fixture(name)["result"]).encode(), "i"),
                           c.InstrumentInfo, "i").items  # fmt: skip
    assert (info.symbol, info.status, info.priceFilter.tickSize) == (
        "BIOUSDT",
        "PreLaunch",
        D("0.0001"),
    )


async def check_rest_instruments_foreign(name: str) -> None:
    """A page of another category (an option, a spot pair): every item foreign."""
    client = rest_client()
    serve(client, {"/v5/market/instruments-info": fixture(name)})
    assert await client.load_instruments() == []
    assert client.health.skipped == 1


async def check_rest_tickers_linear(name: str) -> None:
    client = rest_client()
    serve(client, {"/v5/market/tickers": fixture(name)})
    (rate,) = await client.fetch_funding(["BTCUSDT", "ETHUSDT"])
    want = {"rest_tickers_linear": (D("-0.00046295"), 1707926400000),
            "rest_tickers_linear_2024": (D("0.0001"), 1730736000000)}[name]  # fmt: skip
    assert (rate.symbol, rate.rate, rate.interval_hours) == ("BTCUSDT", want[0], 8)
    assert rate.next_funding_ts is not None
    assert rate.next_funding_ts - trio_now() == pytest.approx(want[1] / 1000 - 1_700_000_000.0)
    assert client.health.skipped == 0


def trio_now() -> float:
    import trio

    return trio.current_time()


async def check_rest_tickers_foreign(name: str) -> None:
    client = rest_client()
    serve(client, {"/v5/market/tickers": fixture(name)})
    symbol = items_of(name)[0]["symbol"]
    assert await client.fetch_funding([symbol]) == []
    assert client.health.skipped == 1


async def check_rest_wallet_balance(name: str) -> None:
    client = rest_client(credentials=CREDS)
    serve(client, {"/v5/account/wallet-balance": fixture(name)})
    balances = {b.currency: b for b in await client.fetch_balances()}
    if name == "rest_wallet_balance":
        assert [(b.currency, b.total, b.available) for b in balances.values()] == [
            ("BTC", D(0), D(0))
        ]
    else:
        assert list(balances) == ["USDC", "BTC", "ETH", "ADA", "XRP", "USDT", "LTC"]
        usdt = balances["USDT"]  # the account's available balance, not the coin's
        assert (usdt.total, usdt.available) == (D("3304.29766609"), D("89987.9688149"))
        xrp = balances["XRP"]  # equity; available = walletBalance - locked
        assert (xrp.total, xrp.available) == (D("38.47905187"), D("40.05245888"))
    assert client.health.skipped == 0


async def check_rest_position_list(name: str) -> None:
    client = rest_client(credentials=CREDS)
    serve(client, {"/v5/position/list": fixture(name)})
    got = [(p.symbol, p.qty, p.entry_price, p.mark_price, p.liquidation_price)
           for p in await client.fetch_positions()]  # fmt: skip
    want = {
        # liqPrice "": none (the docs: beyond the price band)
        "rest_position_list_linear": [("LTCUSDT", D("1.2"), D("64.59947917"), D("71.1"), None)],
        "rest_position_list_linear_2023": [
            ("XRPUSDT", D(100), D("0.3615"), D("0.3432"), D("0.0001"))
        ],
        "rest_position_list_linear_flat": [],  # flat: left out
        "rest_position_list_inverse": [],  # inverse BTCUSD: foreign
    }[name]
    assert got == want
    assert client.health.skipped == (1 if name.endswith("inverse") else 0)


async def check_rest_order_create(name: str) -> None:
    client = rest_client(credentials=CREDS)
    serve(client, {"/v5/order/create": fixture(name)})
    from arbtrio.core.types import OrderRequest

    request = OrderRequest(venue="bybit", symbol="BTCUSDT", client_order_id="spot-test-postonly",
                           side=Side.BUY, qty=D("0.001"), price=D("30000"))  # fmt: skip
    ack = await client.place_order(request)
    assert ack.venue_order_id == fixture(name)["result"]["orderId"]
    assert ack.client_order_id == "spot-test-postonly"


async def check_rest_order_cancel(name: str) -> None:
    client = rest_client(credentials=CREDS)
    seen = serve(client, {"/v5/order/cancel": fixture(name)})
    await client.cancel_order("BTCUSDT", "linear-004")
    assert json.loads(seen[0].content)["orderLinkId"] == "linear-004"


async def check_rest_order_realtime(name: str) -> None:
    """``/v5/order/realtime`` finds it (New, nothing filled: no execution query)."""
    client = rest_client(credentials=CREDS)
    seen = serve(client, {"/v5/order/realtime": fixture(name)})
    report = await client.query_order("ETHUSDT", "test-000005")
    want = OrderReport(venue="bybit", client_order_id="test-000005", status=OrderStatus.OPEN,
                       filled_qty=D(0), avg_price=None)  # fmt: skip
    assert report == want
    assert [r.url.path for r in seen] == ["/v5/order/realtime"]


async def check_rest_order_history(name: str) -> None:
    """Not in realtime (either form), found in the history: a PostOnly order cancelled."""
    client = rest_client(credentials=CREDS)
    empty = page([])
    serve(client, {"/v5/order/realtime": [empty, copy.deepcopy(empty)],
                   "/v5/order/history": fixture(name)})  # fmt: skip
    report = await client.query_order("BTCUSDT", "YLxaWKMiHU")
    assert (report.status, report.filled_qty, report.avg_price, report.fills) == (
        OrderStatus.CANCELLED,
        D(0),
        None,
        (),
    )
    assert report.reason == "EC_PostOnlyWillTakeLiquidity"


async def check_rest_errors(name: str) -> None:
    client = rest_client(credentials=CREDS)
    serve(client, {"/v5/position/list": fixture(name)})
    want: dict[str, tuple[type[Exception], str]] = {
        "rest_error_rate_limit": (RateLimited, "10006"),
        "rest_error_timestamp": (AuthenticationFailed, "10002"),
        "rest_error_no_result": (BadRequest, "182120"),
        "rest_error_with_result": (BadRequest, "3400045"),
    }
    kind, code = want[name]
    with pytest.raises(kind) as info:
        await client.fetch_positions()
    assert info.value.code == code  # type: ignore[attr-defined]


async def check_rest_set_leverage(name: str) -> None:
    """The documented answer (``result`` {}), and 110043 "leverage not modified" (the answer
    to the leverage in place): both success. The margin mode is already cross (account
    info): nothing is switched."""
    client = rest_client(credentials=CREDS)
    seen = serve(client, {"/v5/account/info": fixture("rest_account_info"),
                          "/v5/position/set-leverage": fixture(name)})  # fmt: skip
    await client.configure_instrument("BTCUSDT", leverage=6, margin_mode="cross")
    assert [r.url.path for r in seen] == ["/v5/account/info", "/v5/position/set-leverage"]
    assert json.loads(seen[1].content) == {"category": "linear", "symbol": "BTCUSDT",
                                           "buyLeverage": "6", "sellLeverage": "6"}  # fmt: skip
    assert (client.margin_mode, client.leverage) == ("cross", {"BTCUSDT": 6})


async def check_rest_account_info(name: str) -> None:
    """REGULAR_MARGIN (cross) in place: asking isolated switches it (the testnet's answer,
    ``reasons`` []) before the leverage."""
    client = rest_client(credentials=CREDS)
    seen = serve(client, {"/v5/account/info": fixture(name),
                          "/v5/account/set-margin-mode": fixture("rest_set_margin_mode"),
                          "/v5/position/set-leverage": fixture("rest_set_leverage")})  # fmt: skip
    await client.configure_instrument("BTCUSDT", leverage=3, margin_mode="isolated")
    assert [r.url.path for r in seen] == [
        "/v5/account/info", "/v5/account/set-margin-mode", "/v5/position/set-leverage"]  # fmt: skip
    assert json.loads(seen[1].content) == {"setMarginMode": "ISOLATED_MARGIN"}
    assert client.margin_mode == "isolated"


async def check_rest_set_margin_mode(name: str) -> None:
    """``reasons`` []: accepted. The same answer with a reason is a refusal."""
    await check_rest_account_info("rest_account_info")
    client = rest_client(credentials=CREDS)
    refused = fixture(name)
    refused["result"]["reasons"] = fixture("rest_error_with_result")["result"]["reasons"]
    serve(client, {"/v5/account/info": fixture("rest_account_info"),
                   "/v5/account/set-margin-mode": refused})  # fmt: skip
    with pytest.raises(BadRequest, match=r"margin mode isolated .*3400000 Equity needs"):
        await client.configure_instrument("BTCUSDT", leverage=3, margin_mode="isolated")
    assert client.margin_mode is None and client.leverage == {}


# -- REST, decoders alone -----------------------------------------------------------------------
def rest_page(name: str) -> c.Page:
    env = c.decode_envelope(raw(fixture(name)))
    assert env.retCode == 0
    return c.decode_page(env.result, name)


def check_rest_server_time(name: str) -> None:
    t = c.decode_result(c.ServerTime, c.decode_envelope(raw(fixture(name))).result)
    assert (t.timeSecond, t.timeNano) == ("1688639403", "1688639403423213947")


def check_rest_orderbook(name: str) -> None:
    book = c.decode_result(c.OrderbookResult, c.decode_envelope(raw(fixture(name))).result)
    if name == "rest_orderbook":
        assert (book.b, book.a) == ([(65485.47, 47.081829)], [(65557.7, 16.606555)])
        assert (book.u, book.seq) == (230704, 1432604333)
    else:  # every number a string: still numbers
        assert book.b[0] == (42544.7, 172.404) and book.a[1] == (42548.2, 75.008)
        assert (book.ts, book.u, book.seq) == (1706803948569, 342690, 429272667)


def check_rest_envelope_ext_info_string(name: str) -> None:
    env = c.decode_envelope(raw(fixture(name)))
    assert (env.retCode, env.retExtInfo) == (0, "{}")


def check_rest_order_create_spot(name: str) -> None:
    env = c.decode_envelope(raw(fixture(name)))  # retCode "0", a string
    result = c.decode_result(c.OrderIdResult, env.result)
    assert (env.retCode, result.orderId) == (0, "1609920528435648000")


def check_rest_fee_rate(name: str) -> None:
    (rate,) = c.page_items(rest_page(name), c.FeeRate, name, category=None).items
    assert (rate.symbol, rate.takerFeeRate, rate.makerFeeRate) == (
        "ETHUSDT",
        D("0.0006"),
        D("0.0001"),
    )


def check_rest_execution_list(name: str) -> None:
    items = c.page_items(rest_page(name), c.ExecutionInfo, name)
    assert items.skipped == ()
    want = {
        "rest_execution_list": ("ETHPERP", D("0.1"), D("1190.15"), D("0.071409")),
        "rest_execution_list_linear_trade": ("LTCUSDT", D("0.1"), D("85.11"), D("0.00468105")),
    }[name]
    (e,) = items.items
    fill = fill_of(e, 0.0)
    assert (e.symbol, fill.qty, fill.price, fill.fee, fill.side) == (*want, Side.BUY)
    assert fill.fee_currency == "" and e.execType in FILL_EXEC_TYPES


def check_rest_execution_list_linear_funding(name: str) -> None:
    (e,) = c.page_items(rest_page(name), c.ExecutionInfo, name).items
    assert e.execType == "Funding" and e.execType not in FILL_EXEC_TYPES  # not a trade


def check_rest_execution_list_spot_fee_in_base(name: str) -> None:
    items = c.page_items(rest_page(name), c.ExecutionInfo, name)
    assert items.items == [] and [s.foreign for s in items.skipped] == [True]  # a spot trade
    (e,) = c.page_items(rest_page(name), c.ExecutionInfo, name, category=None).items
    fill = fill_of(e, 0.0)  # the fee was paid in ETH: kept in ETH, never booked as USDT
    assert (fill.fee, fill.fee_currency) == (D("0.000001"), "ETH")


def check_rest_order_rows(name: str) -> None:
    items = c.page_items(rest_page(name), c.OrderInfo, name)
    updates = [update_of(o, 0.0) for o in items.items]
    if name == "rest_order_realtime_open_linear":
        (u,) = updates  # avgPrice "" before any fill
        assert (u.status, u.filled_qty, u.avg_price, u.reason) == (OrderStatus.OPEN, D(0), None, "")
    elif name == "rest_order_history_linear_filled":
        assert [(u.status, u.filled_qty, u.avg_price) for u in updates] == [
            (OrderStatus.FILLED, D("0.001"), D("122529.9")),
            (OrderStatus.FILLED, D("0.001"), D("123498")),
        ]
    else:  # a spot order: foreign
        assert updates == [] and [s.foreign for s in items.skipped] == [True]


CHECKED: dict[str, Callable[[str], Any]] = {
    "ws_order_option": check_ws_order_option,
    "ws_execution_linear": check_ws_execution_linear,
    "ws_execution_linear_2023": check_ws_execution_linear_2023,
    "ws_position_linear_flat": check_ws_position_linear_flat,
    "ws_position_linear_2023": check_ws_position_linear_2023,
    "ws_wallet": check_ws_wallet,
    "ws_private_auth_ok": check_ws_private_auth_ok,
    "ws_private_pong": check_ws_private_pong,
    "ws_pong_bare": check_ws_pong_bare,
    "ws_subscribe_ack": check_ws_subscribe_ack,
    "ws_subscribe_ack_req_id": check_ws_subscribe_ack,
    "ws_public_subscribe_ack_testnet": check_ws_subscribe_ack,
    "ws_public_orderbook50_snapshot_testnet": check_ws_public_orderbook50_snapshot_testnet,
    "ws_public_orderbook50_delta_testnet": check_ws_public_orderbook50_delta_testnet,
    "ws_public_orderbook50_delta": check_ws_public_orderbook50_delta,
    "ws_public_pong": check_ws_public_pong,
    "ws_public_pong_no_req_id": check_ws_public_pong,
    "rest_instruments_linear": check_rest_instruments_linear,
    "rest_instruments_prelaunch": check_rest_instruments_prelaunch,
    "rest_instruments_option": check_rest_instruments_foreign,
    "rest_instruments_spot": check_rest_instruments_foreign,
    "rest_tickers_linear": check_rest_tickers_linear,
    "rest_tickers_linear_2024": check_rest_tickers_linear,
    "rest_tickers_inverse": check_rest_tickers_foreign,
    "rest_tickers_option": check_rest_tickers_foreign,
    "rest_wallet_balance": check_rest_wallet_balance,
    "rest_wallet_balance_multi_coin": check_rest_wallet_balance,
    "rest_position_list_linear": check_rest_position_list,
    "rest_position_list_linear_2023": check_rest_position_list,
    "rest_position_list_linear_flat": check_rest_position_list,
    "rest_position_list_inverse": check_rest_position_list,
    "rest_set_leverage": check_rest_set_leverage,
    "rest_error_leverage_not_modified": check_rest_set_leverage,
    "rest_account_info": check_rest_account_info,
    "rest_set_margin_mode": check_rest_set_margin_mode,
    "rest_order_create": check_rest_order_create,
    "rest_order_cancel": check_rest_order_cancel,
    "rest_order_realtime": check_rest_order_realtime,
    "rest_order_history": check_rest_order_history,
    "rest_error_rate_limit": check_rest_errors,
    "rest_error_timestamp": check_rest_errors,
    "rest_error_no_result": check_rest_errors,
    "rest_error_with_result": check_rest_errors,
    "rest_server_time": check_rest_server_time,
    "rest_orderbook": check_rest_orderbook,
    "rest_orderbook_linear": check_rest_orderbook,
    "rest_envelope_ext_info_string": check_rest_envelope_ext_info_string,
    "rest_order_create_spot": check_rest_order_create_spot,
    "rest_fee_rate": check_rest_fee_rate,
    "rest_execution_list": check_rest_execution_list,
    "rest_execution_list_linear_trade": check_rest_execution_list,
    "rest_execution_list_linear_funding": check_rest_execution_list_linear_funding,
    "rest_execution_list_spot_fee_in_base": check_rest_execution_list_spot_fee_in_base,
    "rest_order_realtime_open_linear": check_rest_order_rows,
    "rest_order_history_linear_filled": check_rest_order_rows,
    "rest_order_history_spot": check_rest_order_rows,
}


@pytest.mark.parametrize("name", sorted(CHECKED))
async def test_fixture_decodes_to_its_values(name: str) -> None:
    result = CHECKED[name](name)
    if result is not None:
        await result


# -- defects of the audit: one foreign item took the whole push with it ------------------------
def linear_order(cid: str, status: str, cum: str, avg: str) -> dict[str, Any]:
    """The documented realtime row (ETHUSDT) as the stream pushes it, for order ``cid``."""
    (row,) = items_of("rest_order_realtime")
    return as_pushed(row | {"orderLinkId": cid, "orderStatus": status, "cumExecQty": cum,
                            "avgPrice": avg, "orderId": f"id-{cid}"})  # fmt: skip


def test_an_option_order_in_the_order_push_never_drops_the_linear_orders() -> None:
    """The all-in-one ``order`` topic carries every category: the documented option order
    (``"leavesQty": ""``) and a spot order sit in the same push as two linear ones."""
    feed, health = live_feed()
    (option,) = items_of("ws_order_option")
    (spot,) = items_of("rest_order_history_spot")
    data = [linear_order("a1", "Filled", "0.10", "1600.5"), option, as_pushed(spot, "spot"),
            linear_order("a2", "New", "0", "")]  # fmt: skip
    updates = delivered(feed.frame(push("order", data), 1.0))
    assert [(u.client_order_id, u.status, u.filled_qty, u.avg_price) for u in updates] == [
        ("a1", OrderStatus.FILLED, D("0.10"), D("1600.5")),
        ("a2", OrderStatus.OPEN, D(0), None),
    ]
    assert health.skipped == 2 and health.malformed == 0


def option_execution() -> dict[str, Any]:
    """The documented linear execution as an option's (its empty option-only fields set,
    ``leavesQty`` "" as on the documented option order)."""
    (e,) = items_of("ws_execution_linear")
    return e | {"category": "option", "symbol": "ETH-30DEC22-1400-C", "leavesQty": "",
                "orderPrice": "", "tradeIv": "0.5", "markIv": "0.6", "execId": "opt-1"}  # fmt: skip


def test_an_option_execution_in_the_execution_push_never_drops_the_linear_fills() -> None:
    feed, health = live_feed()
    (linear,) = items_of("ws_execution_linear")
    (old,) = items_of("ws_execution_linear_2023")
    ours = [linear | {"orderLinkId": "c1"}, old | {"orderLinkId": "c2"}]
    fills = delivered(feed.frame(push("execution", [ours[0], option_execution(), ours[1]]), 1.0))
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [
        ("c1", D("0.5"), D("95900.1")),
        ("c2", D(25), D("0.3374")),
    ]
    assert health.skipped == 1 and health.malformed == 0


def test_a_position_push_keeps_the_linear_positions_only() -> None:
    """An inverse position beside linear ones; a linear symbol never traded, whose ``seq``
    the docs say is the string "-1"."""
    feed, health = live_feed()
    (linear,) = items_of("ws_position_linear_flat")
    (inverse,) = items_of("rest_position_list_inverse")
    untraded = linear | {"symbol": "ETHUSDT", "seq": "-1", "positionIdx": 0}
    data = [as_pushed(inverse, "inverse"), linear, untraded]
    assert feed.frame(push("position", data), 1.0) == ()
    assert sorted(feed.pushed_positions) == ["BTCUSDT", "ETHUSDT"]  # not BTCUSD
    assert health.skipped == 1 and health.malformed == 0


# -- variants: null, empty, extra -----------------------------------------------------------------
def test_null_empty_and_extra_fields_are_accepted_where_the_venue_sends_them() -> None:
    feed, health = live_feed()
    (e,) = items_of("ws_execution_linear")
    null_fee = e | {"orderLinkId": "c1", "execFee": None, "feeCurrency": None, "isMaker": None,
                    "surprise": {"new": [1]}}  # fmt: skip
    empty_fee = e | {"orderLinkId": "c2", "execId": "e2", "execFee": "", "feeCurrency": ""}
    f1, f2 = delivered(feed.frame(push("execution", [null_fee, empty_fee]), 1.0))
    # an unknown fee is the venue's own execValue x feeRate (47950.05 x 0.00055)
    assert f1.fee == f2.fee == D("26.3725275") and f1.fee_currency == f2.fee_currency == ""
    assert f1.client_order_id == "c1" and f1.qty == D("0.5")
    # a null execType is not guessed (a trade, or a funding payment?): skipped and counted
    assert delivered(feed.frame(push("execution", [e | {"execType": None}]), 1.5)) == []
    assert health.skipped == 1
    health.skipped = 0
    order = linear_order("c3", "Filled", "0.10", "1600")
    order |= {"avgPrice": None, "rejectReason": None, "cancelType": None, "leavesQty": "",
              "price": "", "extra": None}  # fmt: skip
    (u,) = delivered(feed.frame(push("order", [order]), 2.0))
    assert (u.status, u.filled_qty, u.avg_price, u.reason) == (
        OrderStatus.FILLED,
        D("0.10"),
        None,
        "",
    )
    (p,) = items_of("ws_position_linear_flat")
    p |= {"side": None, "entryPrice": None, "markPrice": "", "seq": None, "positionIdx": None}
    feed.frame(push("position", [p]), 3.0)
    assert feed.pushed_positions["BTCUSDT"].qty == 0
    assert feed.pushed_positions["BTCUSDT"].mark_price is None  # ""
    frame = json.loads(push("wallet", items_of("ws_wallet")))
    frame |= {"creationTime": None, "id": None}
    frame["data"][0]["coin"][0] |= {"locked": None, "unrealisedPnl": None}
    feed.frame(json.dumps(frame), 4.0)
    assert feed.pushed_balances["BTC"].available == D("0.00102964")  # locked null: 0
    assert health.skipped == 0 and health.malformed == 0


def test_a_malformed_item_is_skipped_counted_and_its_orders_requeried() -> None:
    feed, health = live_feed()
    feed.note(Placed("c9", "BTCUSDT", venue_order_id="v9", sent_at=1.0), 1.0)
    (e,) = items_of("ws_execution_linear")
    good = e | {"orderLinkId": "c1"}
    bad_qty = e | {"orderLinkId": "c9", "execId": "bad", "execQty": "lots"}
    not_an_object = ["execution", 1]
    no_side = e | {"orderLinkId": "c9", "execId": "e3", "side": "Both"}
    out = feed.frame(push("execution", [bad_qty, good, not_an_object, no_side]), 2.0)
    assert [f.client_order_id for f in delivered(out)] == ["c1"]
    assert fetches(out) == [Requery("BTCUSDT", "c9")]  # its fill may be the lost one
    assert health.skipped == 3 and health.malformed == 0
    # a push whose data is not a list is a malformed frame: counted, and re-queried too
    out = feed.frame(json.dumps({"topic": "order", "data": {"not": "a list"}}), 3.0)
    assert health.malformed == 1 and fetches(out) == [Requery("BTCUSDT", "c9")]


def test_fees_paid_in_another_coin_keep_their_currency() -> None:
    """The docs show linear fees deducted in MNT (``cumFeeDetail``); an execution's
    ``feeCurrency`` is the coin paid."""
    feed, _ = live_feed()
    (e,) = items_of("ws_execution_linear")
    mnt = e | {"orderLinkId": "c1", "execFee": "0.00242968", "feeCurrency": "MNT"}
    (fill,) = delivered(feed.frame(push("execution", [mnt]), 1.0))
    assert (fill.fee, fill.fee_currency) == (D("0.00242968"), "MNT")


def test_items_of_untraded_symbols_are_skipped_once_instruments_are_known() -> None:
    inst = Instrument(venue="bybit", symbol="BTCUSDT", asset="BTC", quote="USDT",
                      tick_size=D("0.1"), lot_size=D("0.001"), min_size=D("0.001"),
                      min_notional=D(5), taker_fee=D("0.00055"), maker_fee=D("0.0002"),
                      funding_interval_hours=8)  # fmt: skip
    feed, health = live_feed({"BTCUSDT": inst})
    (e,) = items_of("ws_execution_linear_2023")  # XRPUSDT
    (ours,) = items_of("ws_execution_linear")  # BTCUSDT
    data = [e | {"orderLinkId": "x"}, ours | {"orderLinkId": "c1"}]
    fills = delivered(feed.frame(push("execution", data), 1.0))
    assert [f.client_order_id for f in fills] == ["c1"] and health.skipped == 1
    (p,) = items_of("ws_position_linear_flat")
    feed.frame(push("position", [p | {"symbol": "XRPUSDT"}, p]), 2.0)
    assert list(feed.pushed_positions) == ["BTCUSDT"] and health.skipped == 2


async def test_rest_lists_skip_foreign_and_malformed_items_and_keep_the_rest() -> None:
    client = rest_client(credentials=CREDS)
    (btc,) = items_of("rest_instruments_linear")
    (option,) = items_of("rest_instruments_option")
    bad_tick = btc | {"symbol": "ETHUSDT", "priceFilter": {"tickSize": "a dime"}}
    zero_lot = btc | {"symbol": "SOLUSDT", "lotSizeFilter": btc["lotSizeFilter"] | {"qtyStep": "0"}}
    instruments = page([as_pushed(option, "option"), bad_tick, btc, zero_lot])
    (ltc,) = items_of("rest_position_list_linear")
    odd = ltc | {"symbol": "DOGEUSDT", "side": "Both"}
    positions = page([odd, ltc])
    (ticker,) = items_of("rest_tickers_linear")
    bad_rate = ticker | {"symbol": "ETHUSDT", "fundingRate": "high"}
    no_interval = ticker | {"symbol": "XRPUSDT", "fundingIntervalHour": None, "extra": [1]}
    tickers = page([bad_rate, ticker, no_interval])
    serve(client, {"/v5/market/instruments-info": instruments, "/v5/account/fee-rate": page([]),
                   "/v5/position/list": positions, "/v5/market/tickers": tickers})  # fmt: skip
    assert [i.symbol for i in await client.load_instruments()] == ["BTCUSDT"]
    assert client.health.skipped == 3  # the option, the bad tick, the zero lot
    assert [p.symbol for p in await client.fetch_positions()] == ["LTCUSDT"]
    assert client.health.skipped == 4
    rates = await client.fetch_funding(["BTCUSDT", "ETHUSDT", "XRPUSDT"])
    assert [r.symbol for r in rates] == ["BTCUSDT", "XRPUSDT"] and client.health.skipped == 5


async def test_query_order_skips_a_malformed_execution_and_keeps_the_others() -> None:
    client = rest_client(credentials=CREDS)
    (row,) = items_of("rest_order_realtime")
    filled = row | {"orderStatus": "Filled", "cumExecQty": "0.10", "avgPrice": "1600"}
    (e,) = items_of("rest_execution_list_linear_trade")
    ours = e | {"orderId": row["orderId"], "symbol": "ETHUSDT"}
    bad = ours | {"execId": "bad", "execPrice": ""}
    funding = ours | {"execId": "f1", "execType": "Funding"}
    other_order = ours | {"execId": "o1", "orderId": "someone-else"}
    serve(client, {"/v5/order/realtime": page([filled]),
                   "/v5/execution/list": page([bad, ours, funding, other_order])})  # fmt: skip
    report = await client.query_order("ETHUSDT", "test-000005")
    assert report.status is OrderStatus.FILLED
    assert [(f.trade_id, f.client_order_id, f.qty) for f in report.fills] == [
        (e["execId"], "test-000005", D("0.1"))
    ]
    assert client.health.skipped == 1


def test_arbitrary_item_mutations_never_raise_and_never_lose_a_good_neighbour() -> None:
    """Each field of each documented item dropped, nulled, emptied or garbled in turn,
    next to an intact item: the intact one always survives."""
    cases = [("execution", items_of("ws_execution_linear")[0] | {"orderLinkId": "good"}, "execId"),
             ("order", linear_order("good", "New", "0", ""), "orderId"),
             ("position", items_of("ws_position_linear_flat")[0], "symbol")]  # fmt: skip
    for topic, item, key in cases:
        for field, mutation in _mutations(item):
            feed, _ = live_feed()
            broken = dict(item) | {key: "broken-" + str(item[key])}
            if mutation is _DROP:
                del broken[field]
            else:
                broken[field] = mutation
            if topic == "position":
                broken["symbol"] = "XRPUSDT" if field != "symbol" else broken.get("symbol")
            out = feed.frame(push(topic, [broken, item]), 1.0)
            if topic == "position":
                assert "BTCUSDT" in feed.pushed_positions, (field, mutation)
            else:
                events = delivered(out)
                assert events and events[-1].client_order_id == "good", (topic, field, mutation)
                assert isinstance(events[-1], Fill if topic == "execution" else OrderUpdate)


_DROP = object()


def _mutations(item: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for field in item:
        for mutation in (_DROP, None, "", "garbage", -1, [], {}):
            yield field, mutation
