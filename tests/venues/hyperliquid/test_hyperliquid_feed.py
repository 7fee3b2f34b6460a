"""Hyperliquid's stream protocols, sans-IO: inputs in, outputs out (no sockets, no clock);
and once through the real :class:`Stream` shell over an in-memory connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock
from venues.test_stream import FakeConnection

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderAck, OrderEvent, OrderStatus, OrderUpdate
from arbtrio.venues.base import Disconnected, VenueHealth
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.feed import (
    PING,
    HyperliquidBookFeed,
    HyperliquidOrderFeed,
    InstantFill,
)
from arbtrio.venues.reconnect import Backoff
from arbtrio.venues.stream import NOTHING, READY, Changed, Deliver, Fail, Fetch, Ready, Send, Stream
from arbtrio.venues.tracking import Placed

USER = "0x" + "ab" * 20
CLOID = "0x" + "0" * 31 + "1"
WALL = 1_700_000_000.0  # the injected wall clock (epoch s)


def l2book(coin: str, time: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> str:
    def side(levels: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"px": px, "sz": sz, "n": 1} for px, sz in levels]

    data = {"coin": coin, "time": time, "levels": [side(bids), side(asks)]}
    return json.dumps({"channel": "l2Book", "data": data})


def bbo(coin: str, time: int, bid: tuple[str, str] | None, ask: tuple[str, str] | None) -> str:
    def level(lv: tuple[str, str] | None) -> dict[str, Any] | None:
        return None if lv is None else {"px": lv[0], "sz": lv[1], "n": 1}

    return json.dumps({"channel": "bbo", "data": {"coin": coin, "time": time,
                                                  "bbo": [level(bid), level(ask)]}})  # fmt: skip


BTC = l2book("BTC", 10, [("100", "1"), ("99", "2")], [("101", "1"), ("102", "2")])
ETH = l2book("ETH", 10, [("10", "1")], [("11", "1")])


def requests(outputs: Any) -> list[tuple[str, str, str]]:
    """(method, type, coin or user) of every Send."""
    out = []
    for o in outputs:
        if isinstance(o, Send):
            msg = json.loads(o.text)
            sub = msg.get("subscription") or {}
            out.append((msg["method"], sub.get("type", ""), sub.get("coin") or sub.get("user", "")))
    return out


def book_feed(coins: tuple[str, ...] = ("BTC",), **kw: Any) -> HyperliquidBookFeed:
    return HyperliquidBookFeed({}, coins, VenueHealth("hyperliquid"), **kw)


def resubscribe(coin: str) -> list[tuple[str, str, str]]:
    return [("unsubscribe", "l2Book", coin), ("unsubscribe", "bbo", coin),
            ("subscribe", "l2Book", coin), ("subscribe", "bbo", coin)]  # fmt: skip


# -- the public book protocol --------------------------------------------------------------------
def test_connect_subscribes_both_channels_and_the_first_book_is_ready() -> None:
    f = book_feed(("BTC", "ETH"))
    out = f.connected(None, 0.0)
    assert requests(out) == [
        ("subscribe", "l2Book", "BTC"),
        ("subscribe", "bbo", "BTC"),
        ("subscribe", "l2Book", "ETH"),
        ("subscribe", "bbo", "ETH"),
    ]
    assert not any(isinstance(o, Ready) for o in out)  # healthy once books progress
    sub = {"type": "l2Book", "coin": "BTC"}
    ack = {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}
    assert f.frame(c.GREETING, 0.1) == () and f.frame(json.dumps(ack), 0.1) == ()
    first = f.frame(BTC, 0.2)
    assert [type(o) for o in first] == [Changed, Ready]
    assert f.frame(ETH, 0.3) is f._changed["ETH"]  # READY only once a session
    assert book_feed(()).connected(None, 0.0) == (READY,)  # no coins: nothing to wait for


def test_applied_frames_return_the_prebuilt_change() -> None:
    f = book_feed()
    f.connected(None, 0.0)
    f.frame(BTC, 1.0)
    again = f.frame(l2book("BTC", 11, [("100", "3")], [("101", "1")]), 1.1)
    top = f.frame(bbo("BTC", 12, ("100.5", "1"), ("101", "1")), 1.2)
    assert again is top and len(again) == 1 and isinstance(again[0], Changed)  # no allocation
    book = again[0].book
    assert book.tradable and book.best_bid() == (100.5, 1.0) and book.seq == 12
    assert f.frame(l2book("BTC", 11, [("1", "1")], [("2", "1")]), 1.3) == ()  # older: ignored
    assert book.best_bid() == (100.5, 1.0) and f.health.resyncs == 0


def test_applied_frames_stamp_the_book_with_the_venue_time() -> None:
    """l2Book and bbo carry the venue's ms ``time``: each applied one stamps the book
    (epoch seconds), so a feed that flows but falls behind shows its lag above the floor."""
    f = book_feed()
    f.connected(None, 0.0)
    f.frame(l2book("BTC", 1_700_000_000_000, [("100", "1")], [("101", "1")]), 50.0)
    book = f.books["BTC"]
    assert book.exchange_ts == 1_700_000_000.0 and book.lag_s == 0.0
    f.frame(bbo("BTC", 1_700_000_001_250, ("100.5", "1"), ("101", "1")), 51.25)
    assert book.exchange_ts == 1_700_000_001.25 and book.lag_s == pytest.approx(0.0, abs=1e-6)
    f.frame(l2book("BTC", 1_700_000_002_000, [("100", "1")], [("101", "1")]), 52.8)
    assert book.exchange_ts == 1_700_000_002.0 and book.lag_s == pytest.approx(0.8, abs=1e-3)
    f.frame(l2book("BTC", 1_700_000_001_900, [("1", "1")], [("2", "1")]), 53.0)  # older
    assert book.exchange_ts == 1_700_000_002.0  # ignored: not stamped either
    f.frame(bbo("BTC", 1_700_000_003_000, ("99", "1"), ("101", "1")), 53.8)
    assert book.exchange_ts == 1_700_000_003.0 and book.lag_s == pytest.approx(0.8, abs=1e-3)


def test_malformed_frames_are_counted_and_every_book_resynced() -> None:
    f = book_feed(("BTC", "ETH"))
    f.connected(None, 0.0)
    f.frame(BTC, 1.0)
    f.frame(ETH, 1.0)
    for n, bad in enumerate(
        [
            '{"channel":"l2Book","data":{"coin":"BTC","time":',  # truncated
            l2book("BTC", 2000, [("102", "1")], [("101", "1")]),  # crossed
            bbo("BTC", 3000, ("NaN", "1"), None),  # impossible level
            '{"channel":"orderUpdates","data":[]}',  # no place on the book feed
        ],
        start=1,
    ):
        out = f.frame(bad, 2.0 + n)  # never raises
        assert f.health.malformed == n and f.health.resyncs == 2 * n
        assert [o.book.symbol for o in out if isinstance(o, Changed)] == ["BTC", "ETH"]
        assert requests(out) == resubscribe("BTC") + resubscribe("ETH")
        assert all(b.invalid_reason == "malformed message" for b in f.books.values())
        f.frame(BTC.replace('"time": 10', f'"time": {1000 * n + 500}'), 2.5 + n)  # resub snapshot
        assert f.books["BTC"].tradable and not f.books["ETH"].tradable
    assert f.health.last_error.startswith("unexpected OrderUpdatesMsg")


def test_a_quiet_coin_is_resubscribed_then_the_session_ends() -> None:
    f = book_feed(("BTC", "ETH"), ping_interval=20.0, stale_after=10.0)
    assert f.timer_interval == 2.5  # a quarter of stale_after: pings ride the same tick
    f.connected(None, 0.0)
    f.frame(BTC, 1.0)
    assert f.timer(5.0) == ()
    f.frame(BTC.replace('"time": 10', '"time": 11'), 9.0)
    out = f.timer(10.0)  # ETH silent since the connect; BTC spoke at 9.0
    assert [o.book.symbol for o in out if isinstance(o, Changed)] == ["ETH"]
    assert requests(out) == resubscribe("ETH") and f.books["ETH"].invalid_reason == "stale feed"
    assert f.health.resyncs == 1
    assert requests(f.timer(20.0)) == [("ping", "", ""), *resubscribe("BTC"), *resubscribe("ETH")]
    out = f.timer(30.0)  # ETH's third silent round in a row: reconnect
    fails = [o for o in out if isinstance(o, Fail)]
    assert len(fails) == 1 and isinstance(fails[0].error, Disconnected)
    assert "ETH" in str(fails[0].error) and out[-1] is fails[0]


def test_data_resets_the_quiet_rounds_and_pings_follow_the_interval() -> None:
    f = book_feed(ping_interval=2.0, stale_after=10.0)
    assert f.timer_interval == 2.0
    f.connected(None, 0.0)
    pings = 0
    for tick in range(1, 31):
        now = tick * 2.0
        if tick % 4 == 0:  # BTC speaks every 8 s: never quiet for 10
            f.frame(l2book("BTC", tick, [("100", "1")], [("101", "1")]), now)
        out = f.timer(now)
        assert not any(isinstance(o, Fail | Changed) for o in out)
        pings += out.count(PING)
    assert pings == 30 and f.health.resyncs == 0


def test_disconnect_invalidates_every_book_and_reconnect_resubscribes() -> None:
    books: dict[str, L2Book] = {}
    f = HyperliquidBookFeed(books, ("BTC", "ETH"), VenueHealth("hyperliquid"))
    f.connected(None, 0.0)
    f.frame(BTC, 1.0)
    out = f.disconnected("gone", 2.0)
    assert [o.book for o in out] == [books["BTC"], books["ETH"]]  # type: ignore[union-attr]
    assert all(not b.tradable and b.invalid_reason == "disconnected" for b in books.values())
    assert len(requests(f.connected(None, 3.0))) == 4
    assert [type(o) for o in f.frame(BTC.replace('"time": 10', '"time": 12'), 3.1)] == [
        Changed,
        Ready,
    ]


def test_other_coins_errors_and_answers_change_nothing() -> None:
    f = book_feed()
    f.connected(None, 0.0)
    assert f.frame(ETH, 0.5) == ()  # not subscribed here
    assert f.frame('{"channel":"error","data":"Unknown coin X"}', 0.6) == ()
    assert f.health.last_error.startswith("venue error") and f.health.malformed == 0
    assert f.frame('{"channel":"pong"}', 0.7) == ()
    assert f.fetched("x", None, 1.0) is NOTHING and f.note("x", 1.0) is NOTHING


# -- the private order protocol --------------------------------------------------------------------
def fills_msg(*fills: dict[str, Any], snapshot: bool = False) -> str:
    data: dict[str, Any] = {"user": USER, "fills": list(fills)}
    if snapshot:
        data["isSnapshot"] = True
    return json.dumps({"channel": "userFills", "data": data})


def fill(tid: int, oid: int = 7, sz: str = "0.01", px: str = "100", ms: int = 1_699_999_999_000,
         **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"coin": "BTC", "px": px, "sz": sz, "side": "B", "time": ms,
            "startPosition": "0", "dir": "Open Long", "closedPnl": "0", "hash": "0x1",
            "oid": oid, "crossed": True, "fee": "0.01", "tid": tid} | extra  # fmt: skip


def update(status: str, oid: int = 7, cloid: str | None = CLOID, sz: str = "0",
           orig: str = "0.02") -> dict[str, Any]:  # fmt: skip
    order: dict[str, Any] = {"coin": "BTC", "side": "B", "limitPx": "101", "sz": sz, "oid": oid,
                             "timestamp": 1, "origSz": orig}  # fmt: skip
    if cloid is not None:
        order["cloid"] = cloid
    return {"order": order, "status": status, "statusTimestamp": 1_699_999_999_500}


def updates_msg(*entries: dict[str, Any]) -> str:
    return json.dumps({"channel": "orderUpdates", "data": list(entries)})


def order_feed() -> HyperliquidOrderFeed:
    return HyperliquidOrderFeed(USER, VenueHealth("hyperliquid"), lambda: WALL)


def events(outputs: Any) -> list[OrderEvent]:
    assert all(isinstance(o, Deliver) for o in outputs)
    return [o.event for o in outputs]


def test_private_connect_subscribes_the_user_and_is_ready() -> None:
    out = order_feed().connected(None, 0.0)
    assert requests(out) == [
        ("subscribe", "orderUpdates", USER),
        ("subscribe", "userFills", USER),
        ("subscribe", "clearinghouseState", USER),  # balances and positions
    ]
    assert out[-1] is READY
    assert order_feed().timer(20.0) == [PING]


def test_fills_wait_for_their_order_then_arrive_after_ack_and_update() -> None:
    f = order_feed()
    f.connected(None, 0.0)
    assert f.frame(fills_msg(fill(1), fill(2)), 5.0) == ()  # oid 7: whose order?
    out = events(f.frame(updates_msg(update("filled")), 6.0))
    assert [type(e) for e in out] == [OrderAck, OrderUpdate, Fill, Fill]
    ack, upd, first, _ = out
    assert isinstance(ack, OrderAck) and ack.venue_order_id == "7"
    assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.FILLED
    assert upd.filled_qty == Decimal("0.02") and upd.avg_price == Decimal("100")
    assert isinstance(first, Fill) and first.client_order_id == CLOID and first.trade_id == "1"
    assert first.ts == 5.0 - (WALL - 1_699_999_999.0)  # venue ms on the receipt's clock
    # The reconnect snapshot re-delivers the same tids: dropped; a new one passes.
    again = events(f.frame(fills_msg(fill(1), fill(2), fill(3), snapshot=True), 7.0))
    assert [e.trade_id for e in again] == ["3"]  # type: ignore[union-attr]


def test_a_placed_note_releases_waiting_fills_and_gives_the_average() -> None:
    f = order_feed()
    f.connected(None, 0.0)
    assert f.frame(fills_msg(fill(1, px="100"), fill(2, px="102")), 1.0) == ()
    summary = c.Filled(totalSz=Decimal("0.02"), avgPx=Decimal("101.5"), oid=7)
    assert f.note(InstantFill(CLOID, summary), 1.5) is NOTHING
    out = events(f.note(Placed(CLOID, "BTC", venue_order_id="7", sent_at=1.4), 1.5))
    assert [(type(e), e.trade_id) for e in out] == [(Fill, "1"), (Fill, "2")]  # type: ignore[union-attr]
    assert f.note(Placed(CLOID, "BTC", venue_order_id="7"), 1.6) is NOTHING  # known already
    assert f.note("something else", 1.6) is NOTHING
    (ack, upd) = events(f.frame(updates_msg(update("filled", cloid=None)), 2.0))
    assert isinstance(ack, OrderAck) and ack.client_order_id == CLOID  # mapped by the note
    assert isinstance(upd, OrderUpdate) and upd.avg_price == Decimal("101.5")  # the place answer
    # A fill that names its cloid needs no mapping.
    (own,) = events(f.frame(fills_msg(fill(9, oid=99, cloid=CLOID)), 3.0))
    assert isinstance(own, Fill) and own.client_order_id == CLOID


def test_foreign_orders_rejections_and_partial_cancels() -> None:
    f = order_feed()
    f.connected(None, 0.0)
    assert f.frame(updates_msg(update("open", oid=5, cloid=None)), 1.0) == ()  # not ours
    assert f.health.skipped == 1
    (rej,) = events(f.frame(updates_msg(update("perpMarginRejected", oid=6)), 1.0))
    assert isinstance(rej, OrderUpdate) and rej.status is OrderStatus.REJECTED
    assert rej.filled_qty == 0 and rej.reason == "perpMarginRejected"
    other = "0x" + "0" * 31 + "2"
    f.frame(fills_msg(fill(4, oid=8)), 1.5)
    out = events(f.frame(updates_msg(update("canceled", oid=8, cloid=other, sz="0.01")), 2.0))
    _ack, upd, part = out
    assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.CANCELLED
    assert upd.filled_qty == Decimal("0.01") and upd.reason == "canceled"
    assert isinstance(part, Fill) and part.client_order_id == other


def test_malformed_private_frames_are_counted_and_never_raise() -> None:
    f = order_feed()
    f.connected(None, 0.0)
    assert f.frame("not json", 1.0) == () and f.health.malformed == 1
    # Entries are independent: the one before the impossible status is still delivered.
    out = events(f.frame(updates_msg(update("open"), update("mystery", oid=8)), 2.0))
    assert [type(e) for e in out] == [OrderAck, OrderUpdate] and f.health.skipped == 1
    # An impossible fill is counted and skipped; the others of its push are delivered.
    (good,) = events(f.frame(fills_msg(fill(1), fill(2, sz="NaN")), 3.0))
    assert isinstance(good, Fill) and good.trade_id == "1"
    assert (f.health.malformed, f.health.skipped) == (1, 2)  # the frame, the two items
    assert f.frame('{"channel":"error","data":"bad"}', 4.0) == ()
    assert f.health.last_error.startswith("venue error") and f.health.malformed == 1
    (bug,) = f.fetched("x", None, 5.0)  # a key it never asked for: a bug, the session ends
    assert isinstance(bug, Fail) and isinstance(bug.error, TypeError)
    assert f.disconnected("gone", 5.0) is NOTHING


# -- through the shell --------------------------------------------------------------------------
async def test_book_feed_under_the_stream_shell(autojump_clock: MockClock) -> None:
    """Subscriptions go out, started() waits for the first book, pings ride the timer, and
    silence for ``idle_timeout`` ends the session (books invalidated, then resubscribed)."""
    books: dict[str, L2Book] = {}
    health = VenueHealth("hyperliquid")
    feed = HyperliquidBookFeed(books, ["BTC"], health, ping_interval=1.0, stale_after=100.0,
                               idle_timeout=5.0)  # fmt: skip
    conns: list[FakeConnection] = []
    changed: list[L2Book] = []

    @asynccontextmanager
    async def connect() -> AsyncIterator[tuple[Any, Any]]:
        conns.append(FakeConnection())
        yield conns[-1], None

    stream = Stream(
        "hyperliquid", "books", feed, connect, health,  # type: ignore[arg-type]
        on_change=changed.append, backoff=Backoff(base=1.0, cap=1.0, jitter=0.0),
    )  # fmt: skip
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.run)
        await trio.testing.wait_all_tasks_blocked()
        assert len(conns) == 1 and len(conns[0].sent) == 2 and not health.connected
        await conns[0].inbound_send.send(BTC)
        await trio.testing.wait_all_tasks_blocked()
        assert changed == [books["BTC"]] and books["BTC"].tradable and health.connected
        await trio.sleep(3.5)
        assert conns[0].sent.count(PING.text) == 3
        await trio.sleep(2.0)  # 5 s without a frame
        assert not books["BTC"].tradable and health.reconnects == 1
        await trio.sleep(1.5)
        assert len(conns) == 2 and requests(Send(t) for t in conns[1].sent)[:2] == [
            ("subscribe", "l2Book", "BTC"),
            ("subscribe", "bbo", "BTC"),
        ]
        nursery.cancel_scope.cancel()


# -- reconciliation (the shared OrderTracker) ----------------------------------------------------
def ack_of(kind: str) -> str:
    sub = {"type": kind, "user": USER}
    return json.dumps({"channel": "subscriptionResponse",
                       "data": {"method": "subscribe", "subscription": sub}})  # fmt: skip


def requeried(outputs: Any) -> list[str]:
    return [o.key.client_order_id for o in outputs if isinstance(o, Fetch)]


def test_unfinished_orders_are_requeried_on_subscription_malformed_input_and_timer() -> None:
    f = HyperliquidOrderFeed(USER, VenueHealth("hyperliquid"), lambda: WALL, reconcile_every_s=60.0)
    other = "0x" + "0" * 31 + "2"
    f.connected(None, 0.0)
    assert f.note(Placed(CLOID, "BTC", venue_order_id="7", sent_at=0.2), 0.3) is NOTHING
    assert requeried(f.frame(ack_of("orderUpdates"), 0.9)) == []
    assert requeried(f.frame(ack_of("userFills"), 1.0)) == [CLOID]  # subscribed: re-query
    # Sent before the subscription, its note late: re-queried at once.
    assert requeried(f.note(Placed(other, "BTC", venue_order_id="8", sent_at=0.5), 1.2)) == [other]
    assert requeried(f.frame('{"channel":"userFills","data":', 2.0)) == [CLOID, other]
    assert requeried(f.frame(updates_msg(update("mystery")), 3.0)) == [CLOID, other]  # bad item
    assert requeried(f.timer(30.0)) == []
    events(f.frame(updates_msg(update("filled")), 31.0))  # CLOID finished on the stream
    assert requeried(f.timer(62.5)) == []
    assert requeried(f.timer(63.0)) == [other]  # a minute after the last re-query (3.0)
    f.disconnected("gone", 63.0)
    assert requeried(f.timer(200.0)) == []  # not while down: the next subscription asks


def test_without_an_acknowledgement_the_snapshot_or_a_timeout_counts_as_subscribed() -> None:
    f = order_feed()
    f.connected(None, 0.0)
    f.note(Placed(CLOID, "BTC", venue_order_id="7"), 0.1)
    assert requeried(f.frame(fills_msg(snapshot=True), 1.0)) == [CLOID]
    assert requeried(f.frame(ack_of("userFills"), 1.1)) == []  # once a session
    g = order_feed()
    g.connected(None, 10.0)
    g.note(Placed(CLOID, "BTC", venue_order_id="7"), 10.1)
    assert requeried(g.timer(14.0)) == [] and requeried(g.timer(15.0)) == [CLOID]


def test_a_requery_answer_delivers_the_new_fills_and_the_status() -> None:
    from arbtrio.core.types import OrderReport
    from arbtrio.venues.hyperliquid.feed import fill_of
    from arbtrio.venues.tracking import Requery

    f = order_feed()
    f.connected(None, 0.0)
    f.note(Placed(CLOID, "BTC", venue_order_id="7"), 0.1)
    (seen,) = events(f.frame(fills_msg(fill(1)), 1.0))
    assert isinstance(seen, Fill)
    decoded = [c.decode_item("fill", json.dumps(fill(t)).encode()) for t in (1, 2)]
    report = OrderReport(
        venue="hyperliquid", client_order_id=CLOID, status=OrderStatus.FILLED,
        filled_qty=Decimal("0.02"), avg_price=Decimal("100"),
        fills=tuple(fill_of(x, CLOID, 2.0, WALL) for x in decoded),
    )  # fmt: skip
    new, upd = events(f.fetched(Requery("BTC", CLOID), report, 2.0))
    assert isinstance(new, Fill) and new.trade_id == "2"  # the stream's T1 not twice
    assert isinstance(upd, OrderUpdate) and upd.status is OrderStatus.FILLED
    assert f.tracker.unfinished() == []


# -- bounded memory ------------------------------------------------------------------------------
def sizes(feed: HyperliquidOrderFeed) -> dict[str, int]:
    """Every container the protocol and its tracker keep, by name, and its size."""
    out = {}
    for owner, prefix in ((feed, ""), (feed.tracker, "tracker.")):
        for name, value in vars(owner).items():
            if hasattr(value, "__len__") and not isinstance(value, str | bytes):
                out[prefix + name] = len(value)
    return out


def test_every_per_order_map_is_bounded() -> None:
    """10 500 orders through a protocol with the default limit (10 000 orders): acks,
    instant fills, updates, fills, fills of unknown orders, foreign order ids. Every map
    keyed by order holds at most 10 000 (oldest forgotten); trade-id sets 10 × that."""
    f = order_feed()
    f.connected(None, 0.0)
    n = 10_500
    for i in range(n):
        cloid = f"0x{i:032x}"
        filled = c.Filled(totalSz=Decimal("0.02"), avgPx=Decimal("100"), oid=i)
        f.note(InstantFill(cloid, filled), 1.0)
        f.note(Placed(cloid, "BTC", venue_order_id=str(i)), 1.0)
        f.frame(updates_msg(update("filled", oid=i, cloid=cloid)), 1.0)
        f.frame(fills_msg(fill(i, oid=i), fill(n + i, oid=n + i)), 1.0)  # the 2nd: unknown oid
    got = sizes(f)
    trade_sets = {"_counted", "tracker.trades"}
    assert all(size <= 10_000 for name, size in got.items() if name not in trade_sets), got
    assert all(got[name] <= 100_000 for name in trade_sets), got
    assert got["tracker._orders"] == got["acked"] == 10_000  # still full: the newest kept
    assert f.tracker.client_order_id(str(n - 1)) == f"0x{n - 1:032x}"
    assert f.tracker.client_order_id("0") is None
