"""Bitget's stream protocols, sans-IO: inputs in, outputs out (no sockets, no clock)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderStatus, OrderUpdate
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    Disconnected,
    VenueHealth,
)
from arbtrio.venues.bitget.book import checksum
from arbtrio.venues.bitget.feed import (
    TICK,
    BitgetBookFeed,
    BitgetOrderFeed,
    SendBudget,
)
from arbtrio.venues.bitget.signing import login_signature
from arbtrio.venues.stream import Changed, Deliver, Fail, Fetch, Output, Ready, Send
from arbtrio.venues.tracking import Placed, Requery

Levels = list[tuple[str, str]]


def push(action: str, seq: int, bids: Levels, asks: Levels, crc: int = 0,
         inst: str = "BTCUSDT", channel: str = "books") -> str:  # fmt: skip
    arg = {"instType": "USDT-FUTURES", "channel": channel, "instId": inst}
    data = {"asks": asks, "bids": bids, "checksum": crc, "seq": seq, "ts": "1"}
    return json.dumps({"action": action, "arg": arg, "data": [data], "ts": 1})


def sends(outputs: Sequence[Output]) -> list[Any]:
    """The frames sent: decoded JSON ops, or the raw text (``ping``)."""
    out: list[Any] = []
    for o in outputs:
        if isinstance(o, Send):
            out.append(o.text if o.text == "ping" else json.loads(o.text))
    return out


def ops(outputs: Sequence[Output]) -> list[tuple[str, list[str]]]:
    """``(op, [instId, ...])`` of each op sent."""
    return [
        (m["op"], [a.get("instId", a.get("coin", "")) for a in m["args"]])
        for m in sends(outputs)
        if isinstance(m, dict)
    ]


def feed(symbols: Sequence[str] = ("BTCUSDT",), **kw: Any) -> BitgetBookFeed:
    return BitgetBookFeed({}, symbols, "books", VenueHealth("bitget"), **kw)


SNAP_B = [("100.0", "1.00"), ("99.5", "2.00")]
SNAP_A = [("100.5", "1.00")]


def subscribed(f: BitgetBookFeed, now: float = 0.0) -> None:
    """Connect and give every book its snapshot."""
    f.connected(None, now)
    for symbol in f.trackers:
        f.frame(push("snapshot", 10, SNAP_B, SNAP_A, inst=symbol), now)


# -- public stream -----------------------------------------------------------------------------
def test_connect_subscribes_in_chunks_and_is_ready_once_every_book_has_its_snapshot() -> None:
    symbols = [f"S{i}USDT" for i in range(25)]
    f = feed(symbols)
    out = f.connected(None, 0.0)
    assert [(op, len(args)) for op, args in ops(out)] == [("subscribe", 20), ("subscribe", 5)]
    assert not any(isinstance(o, Ready) for o in out)
    ack = json.dumps({"event": "subscribe", "arg": {"instType": "USDT-FUTURES",
                      "channel": "books", "instId": "S0USDT"}})  # fmt: skip
    assert f.frame(ack, 0.1) == ()
    for s in symbols[:-1]:
        out = f.frame(push("snapshot", 10, SNAP_B, SNAP_A, inst=s), 0.2)
        assert not any(isinstance(o, Ready) for o in out)
    out = f.frame(push("snapshot", 10, SNAP_B, SNAP_A, inst=symbols[-1]), 0.3)
    assert any(isinstance(o, Ready) for o in out)
    assert [o.book.symbol for o in out if isinstance(o, Changed)] == [symbols[-1]]
    # later snapshots are not Ready again (one per session)
    again = f.frame(push("snapshot", 11, SNAP_B, SNAP_A, inst=symbols[0]), 0.4)
    assert not any(isinstance(o, Ready) for o in again)


def test_a_refused_subscription_is_not_waited_for() -> None:
    f = feed(("BTCUSDT", "NOPEUSDT"))
    f.connected(None, 0.0)
    assert not any(isinstance(o, Ready) for o in f.frame(push("snapshot", 10, SNAP_B, SNAP_A), 0.1))
    arg = {"instType": "USDT-FUTURES", "channel": "books", "instId": "NOPEUSDT"}
    refused = {"event": "error", "code": "30001", "msg": "channel doesn't exist", "arg": arg}
    out = f.frame(json.dumps(refused), 0.2)
    assert any(isinstance(o, Ready) for o in out)
    assert f.health.last_error == "30001: channel doesn't exist"


def test_applied_update_is_one_prebuilt_change() -> None:
    f = feed()
    f.connected(None, 0.0)
    first = f.frame(push("snapshot", 10, SNAP_B, SNAP_A), 1.0)
    book = f.trackers["BTCUSDT"].book
    assert any(isinstance(o, Changed) and o.book is book for o in first) and book.tradable
    crc1 = checksum([("100.0", "3.00"), ("99.5", "2.00")], SNAP_A)
    one = f.frame(push("update", 11, [("100.0", "3.00")], [], crc1), 1.1)
    crc2 = checksum([("100.0", "3.00"), ("99.5", "2.00")], [("100.5", "4.00")])
    two = f.frame(push("update", 12, [], [("100.5", "4.00")], crc2), 1.2)
    assert one is two and len(one) == 1 and isinstance(one[0], Changed)  # no allocation
    assert one[0].book is book and book.best_bid() == (100.0, 3.0)
    assert f.frame("pong", 1.3) == ()  # the text pong: nothing to do (the shell counted it)


def test_bad_checksum_or_seq_backwards_resubscribes_the_book() -> None:
    f = feed()
    subscribed(f)
    book = f.trackers["BTCUSDT"].book
    out = f.frame(push("update", 11, [("99.0", "1")], [], crc=12345), 1.0)
    assert isinstance(out[0], Changed) and not book.tradable and "checksum" in book.invalid_reason
    assert ops(out) == [("unsubscribe", ["BTCUSDT"]), ("subscribe", ["BTCUSDT"])]
    assert f.health.resyncs == 1
    assert f.frame(push("update", 12, [("98.0", "1")], []), 1.1) == ()  # ignored: no snapshot
    f.frame(push("snapshot", 20, SNAP_B, SNAP_A), 2.0)
    assert book.tradable
    out = f.frame(push("update", 19, [("99.0", "1")], []), 2.1)
    assert not book.tradable and "seq" in book.invalid_reason and f.health.resyncs == 2
    assert ops(out)[-1] == ("subscribe", ["BTCUSDT"])


def test_malformed_frame_is_counted_and_resyncs_its_book_or_every_book() -> None:
    f = feed(("BTCUSDT", "ETHUSDT"))
    subscribed(f)
    out = f.frame(push("update", 11, [("abc", "1")], [], inst="ETHUSDT"), 1.0)
    assert f.health.malformed == 1 and f.health.resyncs == 1
    assert [o.book.symbol for o in out if isinstance(o, Changed)] == ["ETHUSDT"]
    assert ops(out) == [("unsubscribe", ["ETHUSDT"]), ("subscribe", ["ETHUSDT"])]
    assert f.trackers["BTCUSDT"].book.tradable
    out = f.frame("{truncated", 2.0)  # no arg to blame: every book resyncs
    assert f.health.malformed == 2
    assert {o.book.symbol for o in out if isinstance(o, Changed)} == {"BTCUSDT", "ETHUSDT"}
    assert not any(t.book.tradable for t in f.trackers.values())
    two_entries = json.loads(push("update", 12, [], []))
    two_entries["data"] *= 2
    f.frame(push("snapshot", 30, SNAP_B, SNAP_A), 3.0)
    f.frame(json.dumps(two_entries), 3.1)
    assert f.health.malformed == 3 and not f.trackers["BTCUSDT"].book.tradable


def test_a_book_that_never_recovers_ends_the_session() -> None:
    f = feed(max_resyncs=2)
    subscribed(f)
    crossed = push("snapshot", 40, [("102", "1")], [("101", "1")])  # each snapshot is broken
    outcomes = [f.frame(crossed, 2.0 + i) for i in range(3)]
    fails = [o for out in outcomes for o in out if isinstance(o, Fail)]
    assert len(fails) == 1 and isinstance(fails[0].error, Disconnected)
    assert isinstance(outcomes[-1][-1], Fail)  # the third resync gives up


def test_disconnect_invalidates_every_book() -> None:
    books: dict[str, L2Book] = {}
    f = BitgetBookFeed(books, ("BTCUSDT", "ETHUSDT"), "books", VenueHealth("bitget"))
    subscribed(f)
    out = f.disconnected("gone", 2.0)
    assert [o.book for o in out if isinstance(o, Changed)] == [books["BTCUSDT"], books["ETHUSDT"]]
    assert not any(b.tradable for b in books.values())
    assert f.frame(push("update", 11, [("99.0", "1")], []), 2.1) == ()  # until a snapshot


def test_snapshot_channels_accept_snapshots_only() -> None:
    f = BitgetBookFeed({}, ("BTCUSDT",), "books5", VenueHealth("bitget"))
    f.connected(None, 0.0)
    out = f.frame(push("snapshot", 10, SNAP_B, SNAP_A, channel="books5"), 0.1)
    assert any(isinstance(o, Ready) for o in out)
    out = f.frame(push("update", 11, SNAP_B, SNAP_A, channel="books5"), 0.2)
    assert ops(out) == [("unsubscribe", ["BTCUSDT"]), ("subscribe", ["BTCUSDT"])]
    assert f.frame(push("snapshot", 12, SNAP_B, SNAP_A), 0.3) == ()  # not our channel


def test_text_ping_every_ping_interval_and_nothing_is_fetched() -> None:
    f = feed(ping_interval=30.0)
    subscribed(f)
    assert f.timer_interval == TICK
    assert f.timer(29.9) == ()
    assert sends(f.timer(30.0)) == ["ping"]
    assert f.timer(30.2) == () and sends(f.timer(60.0)) == ["ping"]
    assert f.fetched("BTCUSDT", None, 60.1) == ()  # the venue sends its own snapshots


def window_counts(times: list[float], window: float = 1.0) -> int:
    """The most sends in any ``window`` seconds."""
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_sends_stay_under_ten_a_second_and_keep_their_order() -> None:
    """A resync storm (an unreadable frame: 10 books, 20 messages at once) goes out at the
    budget's pace on the protocol's timer, in order, never more than 9 in any second."""
    symbols = [f"S{i}USDT" for i in range(10)]
    f = feed(symbols)
    sent: list[tuple[float, str]] = []

    def record(now: float, outputs: Sequence[Output]) -> None:
        sent.extend((now, o.text) for o in outputs if isinstance(o, Send))

    record(0.0, f.connected(None, 0.0))
    for s in symbols:
        record(0.0, f.frame(push("snapshot", 10, SNAP_B, SNAP_A, inst=s), 0.0))
    record(0.0, f.frame("{truncated", 0.0))
    now = 0.0
    while f.budget.queue:
        now = round(now + TICK, 6)
        record(now, f.timer(now))
    texts = [json.loads(t) for _, t in sent]
    assert len(texts) == 21  # one subscribe, then unsubscribe + subscribe per book
    assert [(m["op"], m["args"][0]["instId"]) for m in texts[1:3]] == [
        ("unsubscribe", "S0USDT"), ("subscribe", "S0USDT")]  # fmt: skip
    assert window_counts([t for t, _ in sent]) <= 9
    assert now <= 21 / 7 + 2 * TICK  # drained at (about) the budget's rate


def test_send_budget_admits_capacity_then_rate() -> None:
    b = SendBudget(2, 7.0)
    b.reset(0.0)
    for i in range(5):
        b.push(str(i))
    assert [o.text for o in b.drain(0.0) if isinstance(o, Send)] == ["0", "1"]
    assert b.drain(0.1) == []
    assert [o.text for o in b.drain(1 / 7 + 0.01) if isinstance(o, Send)] == ["2"]
    b.reset(5.0)  # a new connection
    assert not b.queue and b.tokens == 2


# -- private stream ----------------------------------------------------------------------------
CREDS = Credentials(api_key="k", api_secret="test_secret", passphrase="pp")
LOGIN_OK = json.dumps({"event": "login", "code": "0", "msg": ""})


def private(kind: str, rows: list[dict[str, Any]]) -> str:
    arg = {"instType": "USDT-FUTURES", "channel": kind, "instId": "default"}
    return json.dumps({"action": "snapshot", "arg": arg, "data": rows, "ts": 1})


def fill_row(trade_id: str, order_id: str = "o1", client_oid: str = "c1") -> dict[str, Any]:
    return {"orderId": order_id, "tradeId": trade_id, "symbol": "BTCUSDT", "side": "buy",
            "price": "100", "baseVolume": "0.01", "clientOid": client_oid,
            "feeDetail": [{"feeCoin": "USDT", "totalFee": "-0.0006"}]}  # fmt: skip


def ack(channel: str) -> str:
    field = "coin" if channel == "account" else "instId"
    return json.dumps(
        {
            "event": "subscribe",
            "arg": {"instType": "USDT-FUTURES", "channel": channel, field: "default"},
        }
    )


def acked(f: BitgetOrderFeed, now: float = 0.2) -> list[Output]:
    """Every private channel acknowledged: the outputs of the last acknowledgement."""
    out: list[Output] = []
    for channel in ("orders", "fill", "positions", "account"):
        out = list(f.frame(ack(channel), now))
    return out


def logged_in(f: BitgetOrderFeed) -> None:
    f.connected(None, 0.0)
    f.frame(LOGIN_OK, 0.1)
    acked(f)


def test_private_stream_logs_in_with_seconds_then_subscribes() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 1_538_054_050.7)
    (login,) = sends(f.connected(None, 0.0))
    assert login["op"] == "login"
    assert login["args"] == [{"apiKey": "k", "passphrase": "pp", "timestamp": "1538054050",
                              "sign": login_signature("test_secret", 1538054050)}]  # fmt: skip
    assert f.frame(private("fill", [fill_row("t1")]), 0.05) == ()  # not logged in: ignored
    out = f.frame(LOGIN_OK, 0.1)
    assert ops(out) == [("subscribe", ["default", "default", "default", "default"])]
    assert [a["channel"] for a in sends(out)[0]["args"]] == ["orders", "fill", "positions",
                                                             "account"]  # fmt: skip
    assert not any(isinstance(o, Ready) for o in out)  # pushes may be lost until acknowledged
    for channel in ("orders", "fill", "positions"):
        assert f.frame(ack(channel), 0.15) == ()
    assert [type(o) for o in f.frame(ack("account"), 0.2)] == [Ready]


def test_private_pushes_deliver_events_and_duplicate_fills_are_dropped() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0)
    logged_in(f)
    (d,) = f.frame(private("fill", [fill_row("t1")]), 1.0)
    assert isinstance(d, Deliver) and isinstance(d.event, Fill)
    assert d.event.fee == Decimal("0.0006") and d.event.client_order_id == "c1"
    assert d.event.fee_currency == ""  # USDT: the quote currency
    assert f.frame(private("fill", [fill_row("t1"), fill_row("t1")]), 1.1) == ()  # seen
    order = {"orderId": "o2", "clientOid": "c2", "instId": "BTCUSDT", "side": "buy",
             "status": "filled", "size": "0.01", "accBaseVolume": "0.01",
             "priceAvg": "100"}  # fmt: skip
    (u,) = f.frame(private("orders", [order]), 1.2)
    assert isinstance(u, Deliver) and isinstance(u.event, OrderUpdate)
    assert u.event.status is OrderStatus.FILLED and u.event.client_order_id == "c2"
    # a fill that carries only the order id: the client id from the orders push
    (d2,) = f.frame(private("fill", [fill_row("t2", "o2", "")]), 1.3)
    assert isinstance(d2, Deliver) and d2.event.client_order_id == "c2"
    pos = {"instId": "BTCUSDT", "holdSide": "long", "total": "0.01"}
    assert f.frame(private("positions", [pos]), 1.4) == ()
    assert f.positions[("BTCUSDT", "long")].total == Decimal("0.01")
    assert f.health.skipped == 0 and f.health.malformed == 0


def test_a_placement_posted_as_a_note_names_the_fills_of_its_order() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0)
    logged_in(f)
    assert f.note(Placed("c9", "BTCUSDT", venue_order_id="o9", sent_at=0.5), 1.0) == ()
    (d,) = f.frame(private("fill", [fill_row("t9", "o9", "")]), 1.1)
    assert isinstance(d, Deliver) and d.event.client_order_id == "c9"
    assert f.client_order_id("o9") == "c9"
    f.disconnected("gone", 2.0)
    assert f.client_order_id("o9") == "c9"  # learned facts outlive the session


def test_malformed_private_push_is_counted_and_a_stream_error_reconnects() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0)
    logged_in(f)
    f.note(Placed("c5", "BTCUSDT", venue_order_id="o5", sent_at=0.5), 0.9)
    bad = fill_row("t5")
    bad["baseVolume"] = "NaN"
    # the bad item is skipped and counted; the order it may belong to is re-queried
    (fetch,) = f.frame(private("fill", [bad]), 1.0)
    assert isinstance(fetch, Fetch) and fetch.key == Requery("BTCUSDT", "c5")
    assert f.health.skipped == 1 and f.health.malformed == 0
    (fetch,) = f.frame("{truncated", 1.1)  # a whole frame unreadable: malformed
    assert isinstance(fetch, Fetch) and f.health.malformed == 1
    # the good fill of a malformed push is not marked seen: a later push still delivers it
    (d,) = f.frame(private("fill", [fill_row("t5")]), 1.2)
    assert isinstance(d, Deliver) and d.event.trade_id == "t5"  # type: ignore[union-attr]
    (fail,) = f.frame(json.dumps({"event": "error", "code": "30003", "msg": "x"}), 1.3)
    assert isinstance(fail, Fail) and isinstance(fail.error, BadRequest)


def test_private_login_refused_fails_and_silence_times_out() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0, auth_timeout=5.0)
    f.connected(None, 0.0)
    assert f.frame("{truncated", 0.05) == () and f.health.malformed == 1  # counted, waits
    (fail,) = f.frame(json.dumps({"event": "error", "code": "30015", "msg": "sign"}), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)
    assert "30015" in str(fail.error)
    f.connected(None, 10.0)
    (fail,) = f.frame(json.dumps({"event": "login", "code": 30005, "msg": "no"}), 10.1)
    assert isinstance(fail.error, AuthenticationFailed)  # type: ignore[union-attr]
    f.connected(None, 20.0)
    assert f.timer(24.0) == ()
    (fail,) = f.timer(25.0)
    assert isinstance(fail, Fail) and isinstance(fail.error, Disconnected)
    f.connected(None, 30.0)  # logged in, but the subscriptions never acknowledged
    f.frame(LOGIN_OK, 31.0)
    assert f.timer(35.9) == ()
    (fail,) = f.timer(36.0)
    assert isinstance(fail, Fail) and "subscribe" in str(fail.error)


def test_private_ping_every_ping_interval_after_login() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0, ping_interval=30.0)
    f.connected(None, 0.0)
    assert f.timer(4.0) == ()  # not logged in: no ping (and the login deadline not reached)
    f.frame(LOGIN_OK, 1.0)
    acked(f, 1.1)
    assert f.timer(30.9) == ()
    assert sends(f.timer(31.0)) == ["ping"]
    assert f.frame("pong", 31.1) == ()


def filled_push(order_id: str, cid: str, acc: str) -> str:
    return private("orders", [{"orderId": order_id, "clientOid": cid, "instId": "BTCUSDT",
                               "side": "buy", "status": "filled", "size": acc,
                               "accBaseVolume": acc, "priceAvg": "100"}])  # fmt: skip


def test_a_terminal_push_ahead_of_its_fills_finishes_the_order_only_when_they_add_up() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0, fill_wait_s=5.0,
                        reconcile_every_s=3600.0)  # fmt: skip
    logged_in(f)
    f.note(Placed("c1", "BTCUSDT", venue_order_id="o1", sent_at=0.5), 0.6)
    f.note(Placed("c2", "BTCUSDT", venue_order_id="o2", sent_at=0.5), 0.6)
    f.frame(filled_push("o1", "c1", "0.01"), 1.0)  # its fill is late
    f.frame(filled_push("o2", "c2", "0.01"), 1.0)  # its fill is lost
    assert {k.client_order_id for k in f.tracker.unfinished()} == {"c1", "c2"}
    f.frame(private("fill", [fill_row("t1", "o1", "c1")]), 2.0)
    assert {k.client_order_id for k in f.tracker.unfinished()} == {"c2"}  # all of c1 is in
    assert [o for o in f.timer(5.9) if isinstance(o, Fetch)] == []
    (fetch,) = [o for o in f.timer(6.0) if isinstance(o, Fetch)]  # the wait is over
    assert fetch.key == Requery("BTCUSDT", "c2")


def test_every_map_kept_per_order_is_bounded() -> None:
    f = BitgetOrderFeed(CREDS, VenueHealth("bitget"), lambda: 0.0, max_orders=3)
    logged_in(f)
    for i in range(10):
        f.note(Placed(f"c{i}", "BTCUSDT", venue_order_id=f"o{i}", sent_at=0.5), 1.0)
        f.frame(private("fill", [fill_row(f"t{i}", f"o{i}", f"c{i}")]), 1.0)
        f.frame(filled_push(f"o{i}", f"c{i}", "0.02"), 1.0)  # short: unsettled
        f.frame(private("fill", [fill_row(f"u{i}", f"x{i}", "")]), 1.0)  # nobody's: waits
    assert f.client_order_id("o0") == "" and f.client_order_id("o9") == "c9"  # oldest forgotten
    assert [k.client_order_id for k in f.tracker.unfinished()] == ["c7", "c8", "c9"]
    assert len(f._filled) == 3 and len(f._unsettled) == 3 and len(f.tracker._waiting) == 3
