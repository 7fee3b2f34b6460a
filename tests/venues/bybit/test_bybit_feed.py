"""Bybit's stream protocols, sans-IO: inputs in, outputs out (no sockets, no clock)."""

from __future__ import annotations

import json

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill
from arbtrio.venues.base import AuthenticationFailed, Credentials, Disconnected, VenueHealth
from arbtrio.venues.bybit.feed import BybitBookFeed, BybitOrderFeed
from arbtrio.venues.stream import Changed, Deliver, Fail, Ready, Send

TOPIC = "orderbook.50.BTCUSDT"


def push(kind: str, u: int, b: list[list[str]], a: list[list[str]], topic: str = TOPIC) -> str:
    data = {"s": topic.rsplit(".", 1)[1], "b": b, "a": a, "u": u, "seq": u}
    return json.dumps({"topic": topic, "type": kind, "ts": 1, "data": data})


def ops(outputs: object) -> list[tuple[str, list[object]]]:
    return [
        (json.loads(o.text)["op"], json.loads(o.text)["args"])
        for o in outputs  # type: ignore[attr-defined]
        if isinstance(o, Send)
    ]


def feed(symbols: tuple[str, ...] = ("BTCUSDT",), **kw: object) -> BybitBookFeed:
    return BybitBookFeed({}, symbols, 50, VenueHealth("bybit"), **kw)  # type: ignore[arg-type]


def test_connect_subscribes_in_chunks_and_is_ready_once_every_chunk_is_acked() -> None:
    symbols = tuple(f"S{i}USDT" for i in range(12))
    f = feed(symbols)
    out = f.connected(None, 0.0)
    assert [len(args) for op, args in ops(out)] == [10, 2]
    req_ids = [json.loads(o.text)["req_id"] for o in out]  # type: ignore[union-attr]
    ack = {"op": "subscribe", "success": True, "ret_msg": "", "conn_id": "x"}
    assert f.frame(json.dumps(ack | {"req_id": req_ids[0]}), 0.1) == ()
    assert any(isinstance(o, Ready) for o in f.frame(json.dumps(ack | {"req_id": req_ids[1]}), 0.2))


def test_applied_push_is_one_prebuilt_change_and_a_gap_resubscribes_the_topic() -> None:
    f = feed()
    f.connected(None, 0.0)
    first = f.frame(push("snapshot", 10, [["100", "1"]], [["101", "1"]]), 1.0)
    again = f.frame(push("delta", 11, [["100", "2"]], []), 1.1)
    assert first is again and len(first) == 1 and isinstance(first[0], Changed)  # no allocation
    book = first[0].book
    assert book.tradable and book.best_bid() == (100.0, 2.0)
    out = f.frame(push("delta", 13, [], []), 1.2)  # u 12 was lost
    assert isinstance(out[0], Changed) and not book.tradable
    assert ops(out) == [("unsubscribe", [TOPIC]), ("subscribe", [TOPIC])]
    assert f.health.resyncs == 1


def test_a_topic_that_never_recovers_ends_the_session() -> None:
    f = feed(max_resyncs=2)
    f.connected(None, 0.0)
    # Each resubscription brings a snapshot that is itself broken (crossed): never recovers.
    crossed = push("snapshot", 10, [["102", "1"]], [["101", "1"]])
    outcomes = [f.frame(crossed, 2.0 + i) for i in range(3)]
    fails = [o for out in outcomes for o in out if isinstance(o, Fail)]
    assert len(fails) == 1 and isinstance(fails[0].error, Disconnected)
    assert isinstance(outcomes[-1][-1], Fail)  # the third resync gives up


def test_malformed_frame_is_counted_and_resyncs_its_topic() -> None:
    f = feed(("BTCUSDT", "ETHUSDT"))
    f.connected(None, 0.0)
    bad = push("snapshot", 10, [["NaN", "1"]], [])
    out = f.frame(bad, 1.0)
    assert f.health.malformed == 1
    assert ops(out) == [("unsubscribe", [TOPIC]), ("subscribe", [TOPIC])]  # only its topic
    out = f.frame("not json", 1.1)  # no topic to blame: every topic resyncs
    assert f.health.malformed == 2 and len(ops(out)) == 4


def test_disconnect_invalidates_every_book() -> None:
    books: dict[str, L2Book] = {}
    f = BybitBookFeed(books, ("BTCUSDT",), 50, VenueHealth("bybit"))
    f.connected(None, 0.0)
    f.frame(push("snapshot", 10, [["100", "1"]], [["101", "1"]]), 1.0)
    out = f.disconnected("gone", 2.0)
    assert [o.book for o in out] == [books["BTCUSDT"]]  # type: ignore[union-attr]
    assert not books["BTCUSDT"].tradable


def test_private_stream_authenticates_then_delivers_deduplicated_fills() -> None:
    creds = Credentials(api_key="k", api_secret="s")
    f = BybitOrderFeed(creds, VenueHealth("bybit"), lambda: 1_700_000_000.0)
    (auth,) = f.connected(None, 0.0)
    assert ops([auth])[0][0] == "auth"
    execution = {
        "topic": "execution",
        "data": [
            {
                "category": "linear", "symbol": "BTCUSDT", "execId": "e1", "orderId": "o1",
                "orderLinkId": "c1", "side": "Buy", "execQty": "0.01", "execPrice": "100",
                "execFee": "0.001", "execType": "Trade", "execTime": "1",
            }
        ],
    }  # fmt: skip
    assert f.frame(json.dumps(execution), 0.1) == ()  # not authenticated yet: ignored
    out = f.frame(json.dumps({"op": "auth", "success": True, "ret_msg": ""}), 0.2)
    assert ops(out) == [("subscribe", ["order", "execution", "position", "wallet"])]
    assert not any(isinstance(o, Ready) for o in out)  # live once the subscription is answered
    req_id = json.loads(out[0].text)["req_id"]  # type: ignore[union-attr]
    ack = {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": "x", "req_id": req_id}
    assert [type(o) for o in f.frame(json.dumps(ack), 0.25)] == [Ready]
    (delivered,) = f.frame(json.dumps(execution), 0.3)
    assert isinstance(delivered, Deliver) and isinstance(delivered.event, Fill)
    assert f.frame(json.dumps(execution), 0.4) == ()  # the same execId again


def test_private_stream_refused_auth_fails_and_silence_times_out() -> None:
    f = BybitOrderFeed(Credentials(api_key="k", api_secret="s"), VenueHealth("bybit"),
                       lambda: 0.0, auth_timeout=5.0)  # fmt: skip
    f.connected(None, 0.0)
    (fail,) = f.frame(json.dumps({"op": "auth", "success": False, "ret_msg": "bad"}), 0.1)
    assert isinstance(fail, Fail) and isinstance(fail.error, AuthenticationFailed)
    f.connected(None, 10.0)
    assert f.timer(12.0) == ()
    (fail,) = f.timer(15.0)
    assert isinstance(fail, Fail) and isinstance(fail.error, Disconnected)
    f.connected(None, 20.0)  # authenticated, but the subscription is never answered
    f.frame(json.dumps({"op": "auth", "success": True, "ret_msg": ""}), 20.1)
    assert f.timer(24.0) == ()
    (fail,) = f.timer(25.2)
    assert isinstance(fail, Fail) and "no answer to subscribe" in str(fail.error)
