"""KuCoin's stream protocols, sans-IO: inputs in, outputs out (no sockets, no clock)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    RateLimited,
    VenueHealth,
)
from arbtrio.venues.kucoin import KucoinClient, codecs
from arbtrio.venues.kucoin.feed import (
    PRIVATE_TOPICS,
    FeeRates,
    KucoinBookFeed,
    KucoinOrderFeed,
)
from arbtrio.venues.stream import Changed, Deliver, Fail, Fetch, Output, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

SERVER = codecs.InstanceServer(endpoint="wss://ws/", pingInterval=18_000, pingTimeout=10_000)
WELCOME = '{"id":"kucoin1","type":"welcome"}'


def instrument(symbol: str, asset: str, multiplier: str) -> Instrument:
    return Instrument(
        venue="kucoin", symbol=symbol, asset=asset, quote="USDT", tick_size=Decimal("0.1"),
        lot_size=Decimal(multiplier), min_size=Decimal(multiplier), min_notional=Decimal(0),
        taker_fee=Decimal("0.0006"), maker_fee=Decimal("0.0002"), funding_interval_hours=8,
        contract_multiplier=Decimal(multiplier),
    )  # fmt: skip


BTC = instrument("XBTUSDTM", "BTC", "0.001")
ETH = instrument("ETHUSDTM", "ETH", "0.01")


def push(seq: int, change: str, symbol: str = "XBTUSDTM") -> str:
    return json.dumps(
        {
            "topic": f"/contractMarket/level2:{symbol}", "type": "message", "subject": "level2",
            "sn": seq, "data": {"sequence": seq, "change": change, "timestamp": 1},
        }
    )  # fmt: skip


def snapshot(seq: int, bids: Any, asks: Any) -> codecs.Level2Snapshot:
    body = {"code": "200000", "data": {"sequence": seq, "bids": bids, "asks": asks}}
    return codecs.snapshot_decoder.decode(json.dumps(body)).data


def sent(outputs: Sequence[Output]) -> list[dict[str, Any]]:
    return [json.loads(o.text) for o in outputs if isinstance(o, Send)]


def of(kind: type, outputs: Sequence[Output]) -> list[Any]:
    return [o for o in outputs if isinstance(o, kind)]


def ack(request: dict[str, Any]) -> str:
    return json.dumps({"id": request["id"], "type": "ack"})


def subscribed_books(
    *instruments: Instrument, **kw: Any
) -> tuple[KucoinBookFeed, dict[str, L2Book]]:
    """A book feed connected, welcomed and with every subscription acknowledged."""
    books: dict[str, L2Book] = {}
    feed = KucoinBookFeed(
        books, {i.symbol: i for i in instruments or (BTC,)}, VenueHealth("kucoin"), **kw
    )
    feed.connected(SERVER, 0.0)
    for request in sent(feed.frame(WELCOME, 0.1)):
        feed.frame(ack(request), 0.1)
    return feed, books


def synced_books(**kw: Any) -> tuple[KucoinBookFeed, L2Book]:
    """A subscribed BTC book synced from a snapshot at sequence 100."""
    feed, books = subscribed_books(**kw)
    feed.fetched("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 1.0)
    assert books["XBTUSDTM"].tradable
    return feed, books["XBTUSDTM"]


# -- the session rules -------------------------------------------------------------------
def test_welcome_then_one_subscription_per_symbol_and_ready_once_every_ack_is_in() -> None:
    books: dict[str, L2Book] = {}
    feed = KucoinBookFeed(books, {"XBTUSDTM": BTC, "ETHUSDTM": ETH}, VenueHealth("kucoin"),
                          welcome_timeout=7.0)  # fmt: skip
    out = feed.connected(SERVER, 0.0)
    assert sent(out) == [] and {o.book for o in of(Changed, out)} == set(books.values())
    assert feed.idle_timeout == 7.0  # the welcome's deadline
    requests = sent(feed.frame(WELCOME, 0.1))
    assert [r["topic"] for r in requests] == [
        "/contractMarket/level2:XBTUSDTM", "/contractMarket/level2:ETHUSDTM"
    ]  # fmt: skip
    assert all(r["type"] == "subscribe" and r["response"] is True for r in requests)
    assert not any("privateChannel" in r for r in requests)
    assert feed.idle_timeout == 28.0  # pingInterval + pingTimeout
    assert feed.frame(ack(requests[0]), 0.2) == ()
    assert feed.frame('{"id":"999","type":"ack"}', 0.2) == ()  # not ours
    assert of(Ready, feed.frame(ack(requests[1]), 0.3))


@pytest.mark.parametrize(
    ("first", "error", "match"),
    [
        ('{"id":"1","type":"ack"}', Disconnected, "expected welcome"),
        ('{"id":"c","type":"error","code":401,"data":"token is expired"}', Disconnected,
         "token rejected"),
        ('{"id":"c","type":"error","code":509,"data":"exceed max session count"}', BadRequest,
         "509"),
        ("{", MalformedMessage, "ws control"),
    ],
)  # fmt: skip
def test_a_session_that_does_not_start_with_welcome_fails(
    first: str, error: type[Exception], match: str
) -> None:
    feed = KucoinBookFeed({}, {"XBTUSDTM": BTC}, VenueHealth("kucoin"))
    feed.connected(SERVER, 0.0)
    (fail,) = feed.frame(first, 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, error)
    assert match in str(fail.error)
    assert feed.health.malformed == (1 if error is MalformedMessage else 0)


def test_pings_every_point_eight_ping_interval_and_the_token_lifetime_ends_the_session() -> None:
    feed, _ = subscribed_books(max_session_s=100.0)
    assert sent(feed.timer(10.0)) == []
    (ping,) = sent(feed.timer(14.6))  # 0.8 × 18 s after the welcome
    assert ping["type"] == "ping" and set(ping) == {"id", "type"}
    assert sent(feed.timer(20.0)) == []
    assert sent(feed.timer(29.1))[0]["type"] == "ping"
    (fail,) = feed.timer(100.5)
    assert isinstance(fail, Fail) and "token lifetime" in str(fail.error)


def test_an_error_frame_ends_the_session() -> None:
    feed, _ = synced_books()
    (fail,) = feed.frame('{"id":"x","type":"error","code":401,"data":"token is expired"}', 2.0)
    assert isinstance(fail, Fail) and isinstance(fail.error, Disconnected)
    (fail,) = feed.frame('{"id":"x","type":"error","code":404,"data":"topic not exist"}', 2.0)
    assert isinstance(fail, Fail) and isinstance(fail.error, BadRequest)
    assert feed.frame('{"id":"7","type":"pong"}', 2.0) == ()


# -- books ---------------------------------------------------------------------------------
def test_a_snapshot_is_asked_for_once_a_push_is_buffered_and_applied_through_fetched() -> None:
    feed, books = subscribed_books()
    book = books["XBTUSDTM"]
    assert feed.timer(0.5) == ()  # no push yet, first_delta_wait_s not over
    out = feed.frame(push(101, "90001,buy,7"), 0.6)
    assert [f.key for f in of(Fetch, out)] == ["XBTUSDTM"] and not book.tradable
    assert feed.frame(push(102, "90002,buy,1"), 0.7) == ()  # buffered; already asked
    assert feed.timer(2.0) == ()  # asked, not answered: not asked twice
    out = feed.fetched("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 0.8)
    assert [o.book for o in of(Changed, out)] == [book] and not of(Fetch, out)
    assert book.tradable and book.seq == 102 and book.best_bid() == (90002.0, pytest.approx(0.001))


def test_a_quiet_book_is_snapshotted_after_first_delta_wait() -> None:
    feed, _ = subscribed_books(first_delta_wait_s=1.0)
    assert feed.timer(0.75) == ()
    (fetch,) = feed.timer(1.0)
    assert isinstance(fetch, Fetch) and fetch.key == "XBTUSDTM"


def test_applied_push_is_one_prebuilt_change() -> None:
    feed, book = synced_books()
    first = feed.frame(push(101, "90005,sell,1"), 2.0)
    again = feed.frame(push(102, "90005,sell,2"), 2.1)
    assert first is again and len(first) == 1 and isinstance(first[0], Changed)  # no allocation
    assert first[0].book is book and book.best_ask() == (90005.0, pytest.approx(0.002))
    assert feed.frame(push(102, "90005,sell,9"), 2.2) == ()  # stale: skipped


def test_gap_invalidates_and_resyncs_from_a_fresh_snapshot() -> None:
    feed, book = synced_books()
    out = feed.frame(push(102, "90005,sell,1"), 2.0)  # 101 lost
    assert [o.book for o in of(Changed, out)] == [book] and not book.tradable
    assert feed.health.resyncs == 1 and "gap" in book.invalid_reason
    (fetch,) = feed.frame(push(103, "90006,sell,1"), 2.1)  # buffered: the snapshot is due
    assert isinstance(fetch, Fetch)
    # a snapshot older than the buffer is stale: asked again after snapshot_retry_s
    assert feed.fetched("XBTUSDTM", snapshot(101, [[1, 1]], [[2, 1]]), 2.2) == ()
    assert feed.timer(2.3) == ()
    assert [f.key for f in of(Fetch, feed.timer(2.5))] == ["XBTUSDTM"]
    feed.fetched("XBTUSDTM", snapshot(102, [[90000, 3]], [[90006, 2]]), 2.6)
    assert book.tradable and book.seq == 103


@pytest.mark.parametrize("frame", ["{", push(101, "90000,hold,1"), push(101, "nan,buy,1"),
                                   push(101, "1,buy,1", symbol="SOLUSDTM")])  # fmt: skip
def test_malformed_frame_is_counted_and_resyncs_every_book(frame: str) -> None:
    feed, books = subscribed_books(BTC, ETH)
    for symbol in books:
        feed.fetched(symbol, snapshot(100, [[10, 1]], [[11, 1]]), 1.0)
    out = feed.frame(frame, 2.0)
    assert feed.health.malformed == 1
    assert {o.book for o in of(Changed, out)} == set(books.values())
    assert not any(book.tradable for book in books.values())
    (fetch,) = feed.frame(push(101, "10,buy,2"), 2.1)  # buffered: BTC's snapshot is due
    assert fetch.key == "XBTUSDTM"  # type: ignore[union-attr]
    assert [f.key for f in of(Fetch, feed.timer(3.5))] == ["ETHUSDTM"]  # quiet: after the wait


def test_snapshot_failures_are_retried_with_backoff_then_end_the_session() -> None:
    feed, _ = subscribed_books(max_snapshot_failures=3, snapshot_retry_s=0.25)
    feed.frame(push(101, "90001,buy,7"), 0.5)
    down = Disconnected("kucoin", "no route")
    assert feed.fetched("XBTUSDTM", down, 0.6) == ()
    assert feed.timer(0.75) == () and of(Fetch, feed.timer(0.85))  # after 1 × 0.25 s
    assert feed.fetched("XBTUSDTM", RateLimited("kucoin", "429", retry_after=5.0), 0.9) == ()
    assert feed.timer(5.0) == () and of(Fetch, feed.timer(5.9))  # the venue's retry_after
    bad = MalformedMessage("kucoin", "level2 snapshot: bad")
    assert feed.fetched("XBTUSDTM", bad, 6.0) == ()  # counted, retried, not a failure
    assert feed.health.malformed == 1 and of(Fetch, feed.timer(6.3))
    (fail,) = feed.fetched("XBTUSDTM", down, 6.4)  # the third consecutive failure
    assert isinstance(fail, Fail) and fail.error is down


def test_disconnect_invalidates_every_book_and_the_next_session_resyncs() -> None:
    feed, book = synced_books()
    out = feed.disconnected("gone", 3.0)
    assert [o.book for o in out] == [book]  # type: ignore[union-attr]
    assert not book.tradable and book.invalid_reason == "disconnected"
    assert feed.health.resyncs == 1  # a live book lost its stream
    feed.connected(SERVER, 4.0)
    (fail,) = feed.frame(push(101, "1,buy,1"), 4.1)  # a push before the welcome
    assert isinstance(fail, Fail) and "expected welcome" in str(fail.error)
    feed.connected(SERVER, 5.0)
    for request in sent(feed.frame(WELCOME, 5.1)):
        feed.frame(ack(request), 5.1)
    (fetch,) = feed.frame(push(500, "90001,buy,7"), 5.2)
    assert isinstance(fetch, Fetch)
    feed.fetched("XBTUSDTM", snapshot(499, [[90000, 3]], [[90010, 4]]), 5.3)
    assert book.tradable and book.seq == 500 and feed.health.resyncs == 1


# -- orders --------------------------------------------------------------------------------
def order_change(kind: str, status: str, cid: str = "c1", **kw: Any) -> str:
    data = {
        "symbol": "XBTUSDTM", "side": "buy", "orderId": "o1", "clientOid": cid, "type": kind,
        "status": status, "size": "10", "filledSize": "0", "orderType": "limit",
        "price": "90000",
    } | kw  # fmt: skip
    return json.dumps(
        {"topic": "/contractMarket/tradeOrders", "type": "message", "subject": "orderChange",
         "data": data}
    )  # fmt: skip


def match(trade_id: str, filled: str, size: str = "4", liquidity: str = "taker") -> str:
    return order_change(
        "match", "match", filledSize=filled, matchPrice="89999.9", matchSize=size,
        tradeId=trade_id, liquidity=liquidity,
    )  # fmt: skip


def subscribed_orders(*notes: object) -> tuple[KucoinOrderFeed, Sequence[Output]]:
    """An order feed with ``notes`` handed to it, connected and subscribed; the outputs of
    the last ack."""
    feed = KucoinOrderFeed({"XBTUSDTM": BTC}, VenueHealth("kucoin"))
    for note in notes:
        feed.note(note, 0.0)
    feed.connected(SERVER, 0.0)
    requests = sent(feed.frame(WELCOME, 0.1))
    assert [r["topic"] for r in requests] == list(PRIVATE_TOPICS)
    assert all(r["privateChannel"] is True and r["response"] is True for r in requests)
    out: Sequence[Output] = ()
    for request in requests:
        out = feed.frame(ack(request), 0.2)
    return feed, out


def test_private_stream_delivers_fills_at_the_account_rate_and_drops_duplicates() -> None:
    rates = FeeRates({"XBTUSDTM": (Decimal("0.0005"), Decimal("0.0001"))})
    feed, out = subscribed_orders(rates)
    assert of(Ready, out) and not of(Fetch, out)  # nothing placed: nothing to re-query
    fill, update = (d.event for d in feed.frame(match("t1", "4"), 1.0))  # type: ignore[union-attr]
    assert isinstance(fill, Fill) and isinstance(update, OrderUpdate)
    assert (fill.trade_id, fill.side, fill.qty, fill.price) == (
        "t1", Side.BUY, Decimal("0.004"), Decimal("89999.9")
    )  # fmt: skip
    assert fill.fee == Decimal("0.004") * Decimal("89999.9") * Decimal("0.0005")  # taker
    assert update.status is OrderStatus.OPEN and update.filled_qty == Decimal("0.004")
    (again,) = feed.frame(match("t1", "4"), 1.1)  # the same tradeId: only the status
    assert isinstance(again, Deliver) and isinstance(again.event, OrderUpdate)
    maker, _ = feed.frame(match("t2", "5", size="1", liquidity="maker"), 1.2)
    assert maker.event.fee == Decimal("0.001") * Decimal("89999.9") * Decimal("0.0001")  # type: ignore[union-attr]
    (done,) = feed.frame(order_change("filled", "done", filledSize="10"), 1.3)
    assert done.event.status is OrderStatus.FILLED  # type: ignore[union-attr]
    other = order_change("open", "open", symbol="DOGEUSDTM")
    assert feed.frame(other, 1.4) == ()  # not an instrument of this client: skipped, counted
    assert feed.health.skipped == 1 and feed.health.malformed == 0


def test_unfinished_placed_orders_are_requeried_after_subscription_and_malformed_frames() -> None:
    feed, out = subscribed_orders(Placed("c1", "XBTUSDTM", "o1"), Placed("c2", "XBTUSDTM", "o2"))
    assert of(Ready, out) and [f.key for f in of(Fetch, out)] == [
        Requery("XBTUSDTM", "c1"), Requery("XBTUSDTM", "c2")
    ]  # fmt: skip
    feed.frame(order_change("canceled", "done", cid="c2"), 1.0)  # c2 finished on the stream
    out = feed.frame('{"type":"message","topic":"/contractMarket/tradeOrders","data":{}}', 1.1)
    assert feed.health.malformed == 1
    assert [f.key for f in of(Fetch, out)] == [Requery("XBTUSDTM", "c1")]


def test_a_terminal_push_read_before_the_placed_note_counts() -> None:
    feed, _ = subscribed_orders()
    feed.frame(order_change("filled", "done", cid="c3", filledSize="10"), 1.0)
    feed.note(Placed("c3", "XBTUSDTM", "o3"), 1.1)  # the REST answer came back after
    feed.disconnected("gone", 2.0)
    feed.connected(SERVER, 3.0)
    requests = sent(feed.frame(WELCOME, 3.1))
    out = [o for r in requests for o in feed.frame(ack(r), 3.2)]
    assert of(Ready, out) and not of(Fetch, out)


def test_requery_answers_deliver_new_fills_and_the_status() -> None:
    feed, _ = subscribed_orders(Placed("c1", "XBTUSDTM", "o1"))
    feed.frame(match("t1", "4"), 1.0)  # t1 already delivered by the stream
    fills = tuple(
        Fill(venue="kucoin", client_order_id="c1", trade_id=t, side=Side.BUY,
             qty=Decimal("0.004"), price=Decimal("89999.9"), fee=Decimal("0.2"), ts=0.0)
        for t in ("t1", "t2")
    )  # fmt: skip
    report = OrderReport(
        venue="kucoin", client_order_id="c1", status=OrderStatus.CANCELLED,
        filled_qty=Decimal("0.008"), avg_price=Decimal("89999.9"), fills=fills,
    )  # fmt: skip
    key = Requery("XBTUSDTM", "c1")
    events = [d.event for d in feed.fetched(key, report, 2.0)]  # type: ignore[union-attr]
    assert [type(e) for e in events] == [Fill, OrderUpdate]
    assert events[0].trade_id == "t2"  # type: ignore[union-attr]
    assert events[1].status is OrderStatus.CANCELLED and events[1].ts == 2.0  # type: ignore[union-attr]
    assert feed.fetched(key, OrderNotFound("kucoin", "no"), 2.1) == ()
    assert feed.fetched(key, RateLimited("kucoin", "slow"), 2.2) == ()  # logged, not fatal
    (fail,) = feed.fetched(key, AuthenticationFailed("kucoin", "bad key"), 2.3)
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)
    feed.disconnected("gone", 3.0)
    feed.connected(SERVER, 3.1)
    out = [o for r in sent(feed.frame(WELCOME, 3.2)) for o in feed.frame(ack(r), 3.3)]
    assert not of(Fetch, out)  # c1 finished through the re-query


def test_position_and_wallet_pushes_are_kept() -> None:
    feed, _ = subscribed_orders()
    position = {
        "topic": "/contract/position:XBTUSDTM", "type": "message", "subject": "position.change",
        "data": {"symbol": "XBTUSDTM", "currentQty": -10, "avgEntryPrice": "90000"},
    }  # fmt: skip
    wallet = {
        "topic": "/contractAccount/wallet", "type": "message", "subject": "walletBalance.change",
        "data": {"currency": "USDT", "walletBalance": "100.5", "availableBalance": "90"},
    }  # fmt: skip
    assert feed.frame(json.dumps(position), 1.0) == ()
    assert feed.frame(json.dumps(wallet), 1.1) == ()
    assert feed.positions["XBTUSDTM"].qty == Decimal("-0.010")
    assert feed.balances["USDT"].total == Decimal("100.5")  # no equity: the wallet balance


# -- fills before acks, bounded memory ---------------------------------------------------------
def test_a_match_naming_only_the_venue_order_id_is_delivered_once_its_note_maps_it() -> None:
    feed, _ = subscribed_orders()
    anonymous = match("t7", "4").replace('"clientOid": "c1", ', "")
    assert '"clientOid"' not in anonymous
    assert feed.frame(anonymous, 1.0) == ()  # neither the fill nor the status: whose order?
    out = feed.note(Placed("c1", "XBTUSDTM", "o1", sent_at=0.9), 1.1)
    (fill,) = [o.event for o in out if isinstance(o, Deliver)]
    assert isinstance(fill, Fill) and (fill.client_order_id, fill.trade_id) == ("c1", "t7")
    assert [f.key for f in of(Fetch, out)] == [Requery("XBTUSDTM", "c1")]  # for the status
    (update,) = [o.event for o in feed.frame(anonymous, 1.2)]  # type: ignore[union-attr]
    assert isinstance(update, OrderUpdate) and update.client_order_id == "c1"  # now mapped


def test_an_order_push_with_its_client_oid_maps_the_venue_id_for_later_pushes() -> None:
    feed, _ = subscribed_orders()
    feed.frame(order_change("open", "open", cid="c5", orderId="o5"), 1.0)
    anonymous = match("t8", "4").replace('"clientOid": "c1", ', "").replace('"o1"', '"o5"')
    fill, _ = (d.event for d in feed.frame(anonymous, 1.1))  # type: ignore[union-attr]
    assert isinstance(fill, Fill) and fill.client_order_id == "c5"


def test_a_malformed_frame_before_an_orders_note_requeries_it_when_the_note_comes() -> None:
    feed, _ = subscribed_orders()
    feed.frame('{"type":"message","topic":"/contractMarket/tradeOrders","data":{}}', 2.0)
    assert feed.health.malformed == 1
    early = feed.note(Placed("c1", "XBTUSDTM", "o1", sent_at=1.9), 2.1)
    assert [f.key for f in of(Fetch, early)] == [Requery("XBTUSDTM", "c1")]
    assert feed.note(Placed("c2", "XBTUSDTM", "o2", sent_at=2.05), 2.2) == ()  # sent after


def test_what_the_order_protocol_keeps_per_order_is_bounded() -> None:
    feed = KucoinOrderFeed({"XBTUSDTM": BTC}, VenueHealth("kucoin"), max_orders=3)
    feed.connected(SERVER, 0.0)
    for request in sent(feed.frame(WELCOME, 0.1)):
        feed.frame(ack(request), 0.2)
    for n in range(10):
        feed.note(Placed(f"c{n}", "XBTUSDTM", f"o{n}", sent_at=1.0), 1.0)
        anonymous = match(f"t{n}", "4").replace('"clientOid": "c1", ', "")
        feed.frame(anonymous.replace('"o1"', f'"x{n}"'), 1.0)  # pushes of unknown orders
    tracker = feed.tracker
    assert [r.client_order_id for r in tracker.unfinished()] == ["c7", "c8", "c9"]
    assert tracker.client_order_id("o0") is None and tracker.client_order_id("o9") == "c9"
    assert len(feed.unmapped) == 3 and "x0" not in feed.unmapped and "x9" in feed.unmapped
    assert tracker.fills_waited == 3  # at most max_orders venue ids hold fills
    for n in range(100):
        feed.frame(order_change("match", "match", cid="c9", orderId="o9", filledSize="4",
                                matchPrice="1", matchSize="1", tradeId=f"T{n}"), 2.0)  # fmt: skip
    assert len(tracker.trades) == 30  # delivered trade ids: 10 × max_orders


def test_the_client_keeps_the_latest_hundred_tokens() -> None:
    client = KucoinClient()
    for n in range(250):
        client._remember_token(f"tok{n}")
    assert len(client.tokens_used) == 100 and client.tokens_used[-1] == "tok249"
    assert client.tokens_used[0] == "tok150"
