"""Gate.io's stream protocols, sans-IO: inputs in, outputs out (no sockets, no clock)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    RateLimited,
    VenueHealth,
)
from arbtrio.venues.gateio import codecs, sign
from arbtrio.venues.gateio.feed import GateBookFeed, GateOrderFeed
from arbtrio.venues.stream import Changed, Deliver, Fail, Fetch, Output, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

WALL = 1_700_000_000.0


def inst(symbol: str, mult: str = "0.0001") -> Instrument:
    return Instrument(
        venue="gateio", symbol=symbol, asset=symbol.split("_")[0], quote="USDT",
        tick_size=Decimal("0.1"), lot_size=Decimal(mult), min_size=Decimal(mult),
        min_notional=Decimal(0), taker_fee=Decimal("0.0005"), maker_fee=Decimal("0.0002"),
        funding_interval_hours=8, contract_multiplier=Decimal(mult),
    )  # fmt: skip


INSTRUMENTS = {"BTC_USDT": inst("BTC_USDT"), "ETH_USDT": inst("ETH_USDT", "0.01")}


def update(symbol: str, first: int, last: int, bids: Any = (), asks: Any = (), **kw: Any) -> str:
    result = {
        "t": 1, "s": symbol, "U": first, "u": last,
        "b": [{"p": p, "s": s} for p, s in bids], "a": [{"p": p, "s": s} for p, s in asks],
    } | kw  # fmt: skip
    return json.dumps(
        {"time": 1, "channel": "futures.order_book_update", "event": "update", "result": result}
    )


def snapshot(snap_id: int, bids: Any, asks: Any) -> codecs.OrderBookSnapshot:
    body = {
        "id": snap_id,
        "bids": [{"p": p, "s": s} for p, s in bids],
        "asks": [{"p": p, "s": s} for p, s in asks],
    }
    return codecs.snapshot_decoder.decode(json.dumps(body))


def ack(channel: str, req_id: int, error: dict[str, Any] | None = None) -> str:
    return json.dumps(
        {"time": 1, "channel": channel, "event": "subscribe", "error": error,
         "result": None if error else {"status": "success"}, "id": req_id}
    )  # fmt: skip


def sent(outputs: Any) -> list[dict[str, Any]]:
    return [json.loads(o.text) for o in outputs if isinstance(o, Send)]


def kinds(outputs: Any) -> list[type]:
    return [type(o) for o in outputs]


def fetches(outputs: Any) -> list[Any]:
    return [o.key for o in outputs if isinstance(o, Fetch)]


def book_feed(symbols: tuple[str, ...] = ("BTC_USDT",), **kw: Any) -> GateBookFeed:
    instruments = {s: INSTRUMENTS[s] for s in symbols}
    return GateBookFeed({}, instruments, VenueHealth("gateio"), lambda: WALL, **kw)


def live(symbols: tuple[str, ...] = ("BTC_USDT",), **kw: Any) -> GateBookFeed:
    """A connected, subscribed feed whose books are live at id 100."""
    f = book_feed(symbols, **kw)
    f.connected(None, 0.0)
    for i, symbol in enumerate(symbols, 1):
        f.frame(ack("futures.order_book_update", i), 0.1)
        out = f.fetched(symbol, snapshot(100, [("99", 10)], [("101", 10)]), 0.2)
        assert kinds(out) == [Changed] and f.books[symbol].tradable
    return f


# -- the book protocol ------------------------------------------------------------------------
def test_connect_invalidates_subscribes_every_contract_and_is_ready_once_all_are_acked() -> None:
    f = book_feed(("BTC_USDT", "ETH_USDT"), depth=20, frequency="100ms")
    out = f.connected(None, 0.0)
    assert kinds(out) == [Changed, Changed, Send, Send]
    assert all(not o.book.tradable for o in out if isinstance(o, Changed))
    assert sent(out) == [
        {"time": int(WALL), "channel": "futures.order_book_update", "event": "subscribe",
         "payload": [symbol, "100ms", "20"], "id": i}
        for i, symbol in enumerate(("BTC_USDT", "ETH_USDT"), 1)
    ]  # fmt: skip
    assert set(f.pending) == {"BTC_USDT", "ETH_USDT"}
    assert f.frame(ack("futures.order_book_update", 1), 0.1) == ()
    assert kinds(f.frame(ack("futures.order_book_update", 2), 0.1)) == [Ready]
    assert f.frame(ack("futures.order_book_update", 2), 0.1) == ()  # a repeat: nothing


def test_refused_subscription_fails_the_session() -> None:
    f = book_feed()
    f.connected(None, 0.0)
    (fail,) = f.frame(ack("futures.order_book_update", 1, {"code": 2, "message": "bad"}), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, BadRequest)
    (fail,) = f.frame(ack("futures.order_book_update", 1, {"code": 4, "message": "key"}), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)


def test_first_buffered_delta_asks_for_the_snapshot_and_its_answer_makes_the_book_live() -> None:
    f = book_feed()
    f.connected(None, 0.0)
    out = f.frame(update("BTC_USDT", 101, 103, bids=[("100", 5)]), 0.1)
    assert fetches(out) == ["BTC_USDT"] and f.buffered("BTC_USDT")
    assert f.frame(update("BTC_USDT", 104, 104), 0.2) == ()  # one request at a time
    assert fetches(f.timer(5.0)) == []
    (changed,) = f.fetched("BTC_USDT", snapshot(100, [("99", 20)], [("101", 10)]), 0.3)
    assert isinstance(changed, Changed)
    book = changed.book
    assert book.tradable and book.seq == 104 and "BTC_USDT" not in f.pending
    assert book.best_bid() == (100.0, 0.0005)  # contracts × 0.0001
    assert f.health.resyncs == 0


def test_a_quiet_contract_is_fetched_after_first_delta_wait() -> None:
    f = book_feed(first_delta_wait_s=1.0, snapshot_retry_s=0.25)
    assert f.timer_interval == 0.25
    f.connected(None, 10.0)
    assert fetches(f.timer(10.5)) == []
    assert fetches(f.timer(11.0)) == ["BTC_USDT"]
    assert fetches(f.timer(11.25)) == []  # already asked


def test_applied_frame_is_one_prebuilt_change() -> None:
    f = live()
    first = f.frame(update("BTC_USDT", 101, 101, bids=[("99.5", 3)]), 1.0)
    again = f.frame(update("BTC_USDT", 102, 103, asks=[("100.5", 1)]), 1.1)
    assert first is again and len(first) == 1 and isinstance(first[0], Changed)  # no allocation
    book = first[0].book
    assert book.seq == 103 and book.best_ask() == (100.5, 0.0001)
    assert f.frame(update("BTC_USDT", 102, 103), 1.2) == ()  # stale: skipped


def test_a_gap_invalidates_and_the_next_delta_refetches() -> None:
    f = live(("BTC_USDT", "ETH_USDT"))
    (changed,) = f.frame(update("BTC_USDT", 105, 106), 1.0)  # 101..104 were lost
    assert isinstance(changed, Changed) and not changed.book.tradable
    assert "gap" in changed.book.invalid_reason and f.health.resyncs == 1
    assert f.books["ETH_USDT"].tradable  # only its book
    assert fetches(f.frame(update("BTC_USDT", 107, 108), 1.1)) == ["BTC_USDT"]
    out = f.fetched("BTC_USDT", snapshot(107, [("99", 1)], [("101", 1)]), 1.2)
    assert kinds(out) == [Changed] and f.books["BTC_USDT"].seq == 108


def test_crossed_book_resyncs() -> None:
    f = live()
    (changed,) = f.frame(update("BTC_USDT", 101, 101, bids=[("102", 1)]), 1.0)
    assert not changed.book.tradable and "crossed" in changed.book.invalid_reason
    assert f.health.resyncs == 1 and "BTC_USDT" in f.pending


def test_malformed_frame_is_counted_and_every_book_resyncs() -> None:
    f = live(("BTC_USDT", "ETH_USDT"))
    out = f.frame(update("BTC_USDT", 101, 101, bids=[("NaN", 1)]), 1.0)
    assert kinds(out) == [Changed, Changed] and f.health.malformed == 1
    assert not any(b.tradable for b in f.books.values()) and set(f.pending) == set(f.books)
    out = f.frame('{"channel":"futures.order_book_update","event":"update"', 1.1)  # cut
    assert kinds(out) == [Changed, Changed] and f.health.malformed == 2


def test_stale_snapshot_is_fetched_again_after_the_retry_delay() -> None:
    f = book_feed(snapshot_retry_s=0.25)
    f.connected(None, 0.0)
    f.frame(update("BTC_USDT", 105, 110), 0.1)
    assert f.fetched("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 0.2) == ()
    assert not f.books["BTC_USDT"].tradable and "BTC_USDT" in f.pending
    assert f.frame(update("BTC_USDT", 111, 111), 0.3) == ()  # retry not due yet
    assert fetches(f.timer(0.45)) == ["BTC_USDT"]
    out = f.fetched("BTC_USDT", snapshot(107, [("99", 1)], [("101", 1)]), 0.5)
    assert kinds(out) == [Changed] and f.books["BTC_USDT"].seq == 111


def test_snapshot_failures_pause_then_fail_and_malformed_snapshots_are_counted() -> None:
    f = book_feed(snapshot_retry_s=0.25, max_fetch_failures=3)
    f.connected(None, 0.0)
    f.frame(update("BTC_USDT", 101, 101), 0.0)
    assert f.fetched("BTC_USDT", MalformedMessage("gateio", "order_book: bad"), 0.1) == ()
    assert f.health.malformed == 1 and fetches(f.timer(0.2)) == []
    assert fetches(f.timer(0.35)) == ["BTC_USDT"]
    assert f.fetched("BTC_USDT", Disconnected("gateio", "down"), 0.4) == ()
    assert fetches(f.timer(0.6)) == [] and fetches(f.timer(0.65)) == ["BTC_USDT"]  # 0.25 × 1
    limited = RateLimited("gateio", "429", retry_after=3.0)
    assert f.fetched("BTC_USDT", limited, 1.0) == ()
    assert fetches(f.timer(3.9)) == [] and fetches(f.timer(4.0)) == ["BTC_USDT"]
    (fail,) = f.fetched("BTC_USDT", Disconnected("gateio", "down"), 4.1)  # third in a row
    assert isinstance(fail, Fail) and isinstance(fail.error, Disconnected)
    g = book_feed()
    g.connected(None, 0.0)
    (fail,) = g.fetched("BTC_USDT", AuthenticationFailed("gateio", "key"), 1.0)
    assert isinstance(fail.error, AuthenticationFailed)  # not retried: ends the session


def test_full_push_replaces_the_book_without_a_snapshot() -> None:
    f = book_feed()
    f.connected(None, 0.0)
    (changed,) = f.frame(update("BTC_USDT", 500, 500, [("10", 1)], [("11", 1)], full=True), 1.0)
    assert isinstance(changed, Changed) and changed.book.tradable and f.pending == {}
    assert f.fetched("BTC_USDT", snapshot(400, [("9", 1)], [("12", 1)]), 1.1) == ()  # late


def test_pings_upgrade_and_pong() -> None:
    f = book_feed(ping_interval=10.0)
    f.connected(None, 0.0)
    f.fetched("BTC_USDT", snapshot(1, [("9", 1)], [("10", 1)]), 0.0)
    assert sent(f.timer(5.0)) == []
    assert sent(f.timer(10.0)) == [{"time": int(WALL), "channel": "futures.ping"}]
    assert sent(f.timer(15.0)) == []
    pong = '{"time":1,"time_ms":2,"channel":"futures.pong","event":"","result":null}'
    assert f.frame(pong, 16.0) == () and f.health.malformed == 0
    (fail,) = f.frame('{"time":1,"channel":"","event":"upgrade"}', 17.0)
    assert isinstance(fail, Fail) and isinstance(fail.error, Disconnected)


def test_disconnect_invalidates_every_book_and_reconnect_counts_a_resync() -> None:
    books: dict[str, L2Book] = {}
    f = GateBookFeed(books, INSTRUMENTS, VenueHealth("gateio"), lambda: WALL)
    f.connected(None, 0.0)
    for symbol in INSTRUMENTS:
        f.fetched(symbol, snapshot(100, [("99", 1)], [("101", 1)]), 0.1)
    assert all(b.tradable for b in books.values())
    out = f.disconnected("gone", 1.0)
    assert {o.book.symbol for o in out if isinstance(o, Changed)} == set(books)
    assert not any(b.tradable for b in books.values())
    assert all(b.invalid_reason == "disconnected" for b in books.values())
    f.connected(None, 2.0)
    assert f.health.resyncs == 2 and set(f.pending) == set(books)


# -- the order protocol -----------------------------------------------------------------------
CREDS = Credentials(api_key="k", api_secret="s")
UID = 10001


def order_feed() -> GateOrderFeed:
    return GateOrderFeed(CREDS, INSTRUMENTS, VenueHealth("gateio"), lambda: WALL)


def subscribed(f: GateOrderFeed, now: float = 1.0) -> list[Output]:
    f.connected(UID, now - 0.5)
    out: list[Output] = []
    for i, channel in enumerate(("futures.orders", "futures.usertrades",
                                 "futures.positions", "futures.balances"), 1):  # fmt: skip
        out = list(f.frame(ack(channel, i), now))
    return out


def push(channel: str, result: Any) -> str:
    return json.dumps({"time": 1, "channel": channel, "event": "update", "result": result})


def order_push(text: str, status: str = "finished", left: int = 0, size: int = 100) -> str:
    return push(
        "futures.orders",
        [{"contract": "BTC_USDT", "id": 7, "size": size, "left": left, "status": status,
          "fill_price": 100.5, "finish_as": "filled" if left == 0 else "ioc", "text": text}],
    )  # fmt: skip


def trade_push(trade_id: str, text: str, size: int = 100) -> str:
    return push(
        "futures.usertrades",
        [{"id": trade_id, "contract": "BTC_USDT", "order_id": "7", "size": size,
          "price": "100.5", "text": text, "fee": 0.01}],
    )  # fmt: skip


def test_private_connect_signs_every_subscription_and_is_ready_after_the_last_ack() -> None:
    f = order_feed()
    out = f.connected(UID, 0.0)
    requests = sent(out)
    assert [r["channel"] for r in requests] == [
        "futures.orders", "futures.usertrades", "futures.positions", "futures.balances"
    ]  # fmt: skip
    assert [r["payload"] for r in requests] == [["10001", "!all"]] * 3 + [["10001"]]
    assert [r["id"] for r in requests] == [1, 2, 3, 4]
    for r in requests:
        assert r["event"] == "subscribe" and r["time"] == int(WALL)
        assert r["auth"] == {
            "KEY": "k", "SIGN": sign.ws_sign("s", r["channel"], "subscribe", int(WALL)),
            "method": "api_key",
        }  # fmt: skip
    assert f.frame(ack("futures.orders", 1), 0.1) == ()
    assert kinds(subscribed(f)) == [Ready]


def test_private_refused_subscription_is_authentication_failed() -> None:
    f = order_feed()
    f.connected(UID, 0.0)
    error = {"code": 4, "message": '{"label":"INVALID_KEY"}'}
    (fail,) = f.frame(ack("futures.orders", 1, error), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)


def test_pushes_are_delivered_in_base_units_and_duplicate_fills_dropped() -> None:
    f = order_feed()
    subscribed(f)
    (fill,) = f.frame(trade_push("t1", "t-a"), 2.0)
    assert isinstance(fill, Deliver) and isinstance(fill.event, Fill)
    assert fill.event.qty == Decimal("0.01") and fill.event.side is Side.BUY
    assert fill.event.trade_id == "t1" and fill.event.client_order_id == "t-a"
    assert f.frame(trade_push("t1", "t-a"), 2.1) == ()  # the same trade again
    (upd,) = f.frame(order_push("t-a"), 2.2)
    assert isinstance(upd.event, OrderUpdate) and upd.event.status is OrderStatus.FILLED
    assert upd.event.filled_qty == Decimal("0.01")
    other = trade_push("t2", "t-b").replace("BTC_USDT", "XRP_USDT")
    assert f.frame(other, 2.3) == ()  # a contract this client does not hold
    assert f.frame(push("futures.positions", [{"contract": "BTC_USDT", "size": -30,
                                               "entry_price": "100"}]), 2.4) == ()  # fmt: skip
    assert f.positions["BTC_USDT"].qty == Decimal("-0.003")
    assert f.frame(push("futures.balances", [{"balance": 9.5, "currency": "usdt"}]), 2.5) == ()
    assert f.balance is not None and f.balance.total == Decimal("9.5")


def test_unfinished_placed_orders_are_requeried_after_subscription_and_malformed_frames() -> None:
    f = order_feed()
    assert f.note(Placed("t-open", "BTC_USDT", sent_at=0.0), 0.0) == ()  # no session: wait for one
    assert f.note(Placed("t-done", "BTC_USDT", sent_at=0.0), 0.0) == ()
    f.connected(UID, 0.5)
    f.frame(order_push("t-done"), 0.6)  # its terminal state arrives
    out = subscribed(f)
    assert kinds(out) == [Ready, Fetch]
    assert fetches(out) == [Requery("BTC_USDT", "t-open")]
    out = f.frame(push("futures.orders", [{"contract": "BTC_USDT"}]), 2.0)  # no id, size…
    assert f.health.skipped == 1 and fetches(out) == [Requery("BTC_USDT", "t-open")]  # one item
    assert fetches(f.frame("not json", 2.1)) == [Requery("BTC_USDT", "t-open")]
    assert fetches(f.frame(push("futures.usertrades", {"id": 1}), 2.2)) == [
        Requery("BTC_USDT", "t-open")
    ]  # not a list: the whole push
    assert f.health.malformed == 2 and f.health.skipped == 1


def test_a_terminal_push_before_the_placement_note_counts() -> None:
    f = order_feed()
    subscribed(f)
    f.frame(order_push("t-fast"), 2.0)
    assert f.note(Placed("t-fast", "BTC_USDT", sent_at=1.5), 2.1) == ()
    assert f.tracker.unfinished() == []


def test_a_placement_sent_before_the_session_was_subscribed_is_requeried_at_once() -> None:
    f = order_feed()
    subscribed(f, now=5.0)
    assert fetches(f.note(Placed("t-old", "BTC_USDT", sent_at=4.0), 5.5)) == [
        Requery("BTC_USDT", "t-old")
    ]
    assert f.note(Placed("t-new", "BTC_USDT", sent_at=5.2), 5.6) == ()  # the stream saw it all
    f.disconnected("gone", 6.0)
    assert f.note(Placed("t-down", "BTC_USDT", sent_at=6.1), 6.2) == ()  # the next Ready asks
    out = subscribed(f, now=7.0)
    assert set(fetches(out)) == {Requery("BTC_USDT", c) for c in ("t-old", "t-new", "t-down")}


def test_requery_answers_deliver_new_fills_and_the_status() -> None:
    f = order_feed()
    subscribed(f)
    f.note(Placed("t-a", "BTC_USDT", sent_at=0.5), 1.5)
    f.frame(trade_push("t1", "t-a", size=40), 2.0)  # seen on the stream
    fills = tuple(
        Fill(venue="gateio", client_order_id="t-a", trade_id=tid, side=Side.BUY,
             qty=Decimal("0.005"), price=Decimal("100"), fee=Decimal("0.01"), ts=1.0)
        for tid in ("t1", "t2")
    )  # fmt: skip
    report = OrderReport(
        venue="gateio", client_order_id="t-a", status=OrderStatus.CANCELLED,
        filled_qty=Decimal("0.01"), avg_price=Decimal("100"), fills=fills, reason="ioc",
    )  # fmt: skip
    out = f.fetched(Requery("BTC_USDT", "t-a"), report, 3.0)
    events = [o.event for o in out if isinstance(o, Deliver)]
    assert [type(e) for e in events] == [Fill, OrderUpdate]
    assert events[0].trade_id == "t2"  # t1 was delivered already
    assert events[1].status is OrderStatus.CANCELLED and events[1].filled_qty == Decimal("0.01")
    assert f.tracker.unfinished() == []  # terminal: not queried again
    key = Requery("BTC_USDT", "t-b")
    assert f.fetched(key, OrderNotFound("gateio", "no"), 3.1) == ()
    assert f.fetched(key, RateLimited("gateio", "429"), 3.2) == ()  # logged, next time
    (fail,) = f.fetched(key, AuthenticationFailed("gateio", "key"), 3.3)
    assert isinstance(fail.error, AuthenticationFailed)


def test_private_pings_and_upgrade() -> None:
    f = order_feed()
    f.connected(UID, 0.0)
    assert f.timer_interval == 10.0
    assert sent(f.timer(10.0)) == [{"time": int(WALL), "channel": "futures.ping"}]
    assert f.timer(15.0) == ()
    (fail,) = f.frame('{"time":1,"channel":"","event":"upgrade"}', 16.0)
    assert isinstance(fail.error, Disconnected)
    assert f.disconnected("gone", 17.0) == ()


# -- fills before acks ----------------------------------------------------------------------
def anonymous_trade(trade_id: str, order_id: str = "7", size: int = 100) -> str:
    """A usertrade naming only the venue's order id (no client order id in ``text``)."""
    return push(
        "futures.usertrades",
        [{"id": trade_id, "contract": "BTC_USDT", "order_id": order_id, "size": size,
          "price": "100.5", "text": "api", "fee": 0.01}],
    )  # fmt: skip


def test_a_fill_before_its_order_is_known_is_delivered_once_the_order_push_names_it() -> None:
    f = order_feed()
    subscribed(f)
    assert f.frame(anonymous_trade("t1"), 2.0) == ()  # whose? not known yet: held
    out = f.frame(order_push("t-fast"), 2.1)  # order 7 is t-fast
    fill, update = (o.event for o in out if isinstance(o, Deliver))
    assert isinstance(fill, Fill) and fill.client_order_id == "t-fast" and fill.trade_id == "t1"
    assert isinstance(update, OrderUpdate) and update.status is OrderStatus.FILLED
    (later,) = f.frame(anonymous_trade("t2"), 2.2)  # known now: delivered at once
    assert isinstance(later, Deliver) and later.event.client_order_id == "t-fast"


def test_a_fill_whose_order_stays_unknown_is_recovered_by_the_order_requery() -> None:
    """Neither a note nor a push names order 7 within the wait: the held fill is dropped
    (never delivered as an orphan), and the order's REST re-query delivers its trade."""
    f = order_feed()
    subscribed(f, now=1.0)
    assert f.frame(anonymous_trade("t1"), 2.0) == ()
    assert f.timer(8.0) == ()  # waited fill_wait_s: dropped with a warning
    assert f.note(Placed("t-late", "BTC_USDT", venue_order_id="", sent_at=1.5), 9.0) == ()
    (key,) = fetches(f.timer(61.5))  # the periodic re-query of unfinished orders
    assert key == Requery("BTC_USDT", "t-late")
    fills = (
        Fill(venue="gateio", client_order_id="t-late", trade_id="t1", side=Side.BUY,
             qty=Decimal("0.01"), price=Decimal("100.5"), fee=Decimal("0.01"), ts=61.6),
    )  # fmt: skip
    report = OrderReport(
        venue="gateio", client_order_id="t-late", status=OrderStatus.FILLED,
        filled_qty=Decimal("0.01"), avg_price=Decimal("100.5"), fills=fills,
    )  # fmt: skip
    events = [o.event for o in f.fetched(key, report, 61.7) if isinstance(o, Deliver)]
    assert [type(e) for e in events] == [Fill, OrderUpdate]
    assert events[0].client_order_id == "t-late" and f.tracker.unfinished() == []


def test_the_order_protocol_bounds_what_it_learns_per_order() -> None:
    f = GateOrderFeed(CREDS, INSTRUMENTS, VenueHealth("gateio"), lambda: WALL, max_orders=2)
    subscribed(f)
    for i in range(4):
        f.note(Placed(f"t-{i}", "BTC_USDT", venue_order_id=str(100 + i), sent_at=1.5), 2.0)
    known = [f.tracker.client_order_id(str(100 + i)) for i in range(4)]
    assert known == [None, None, "t-2", "t-3"]
    assert [r.client_order_id for r in f.tracker.unfinished()] == ["t-2", "t-3"]
