"""Gate.io book sync (sans-IO, through the book protocol): the official snapshot procedure,
gaps, crossing, malformed frames; Hypothesis on mutated real messages."""

from __future__ import annotations

import contextlib
import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import Side
from arbtrio.venues.base import MalformedMessage, VenueHealth
from arbtrio.venues.gateio import codecs
from arbtrio.venues.gateio.feed import GateBookFeed
from arbtrio.venues.stream import Changed, Output, Ready

INST = Instrument(
    venue="gateio", symbol="BTC_USDT", asset="BTC", quote="USDT", tick_size=Decimal("0.1"),
    lot_size=Decimal("0.0001"), min_size=Decimal("0.0001"), min_notional=Decimal(0),
    taker_fee=Decimal("0.0005"), maker_fee=Decimal("0.0002"), funding_interval_hours=8,
    contract_multiplier=Decimal("0.0001"),
)  # fmt: skip

# The venue's documented message, with our contract name.
REAL_UPDATE = (
    '{"time":1615366381,"time_ms":1615366381123,"channel":"futures.order_book_update",'
    '"event":"update","result":{"t":1615366381417,"s":"BTC_USDT","U":2517661101,'
    '"u":2517661113,"b":[{"p":"54672.1","s":0},{"p":"54664.5","s":58794}],'
    '"a":[{"p":"54743.6","s":0},{"p":"54742","s":95}],"l":"100"}}'
)
REAL_SNAPSHOT = (
    b'{"id":2517661100,"current":1615366381.1,"update":1615366381.1,'
    b'"asks":[{"p":"54743.6","s":10},{"p":"54750","s":20}],'
    b'"bids":[{"p":"54672.1","s":30},{"p":"54660","s":40}]}'
)


def update(first: int, last: int, bids: Any = (), asks: Any = (), **extra: Any) -> str:
    result = {
        "t": 1, "s": "BTC_USDT", "U": first, "u": last,
        "b": [{"p": p, "s": s} for p, s in bids], "a": [{"p": p, "s": s} for p, s in asks],
    } | extra  # fmt: skip
    return json.dumps(
        {"time": 1, "channel": "futures.order_book_update", "event": "update", "result": result}
    )


def snapshot(snap_id: int, bids: Any, asks: Any) -> codecs.OrderBookSnapshot:
    return codecs.snapshot_decoder.decode(
        json.dumps(
            {
                "id": snap_id,
                "bids": [{"p": p, "s": s} for p, s in bids],
                "asks": [{"p": p, "s": s} for p, s in asks],
            }
        )
    )


class Machine:
    """The book protocol (:class:`GateBookFeed`) with this file's test surface: ``on_frame``
    and ``on_snapshot`` are its ``frame`` and ``fetched``; every book a ``Changed`` output
    names is recorded in ``seen`` (what the stream shell hands to ``on_update``)."""

    def __init__(self, health: VenueHealth, seen: list[L2Book], depth: int) -> None:
        self.seen = seen
        self.books: dict[str, L2Book] = {}
        self.feed = GateBookFeed(self.books, {"BTC_USDT": INST}, health, lambda: 1.0, depth=depth)
        self.pending = self.feed.pending
        self.buffered = self.feed.buffered

    def _record(self, out: Any) -> list[Output]:
        self.seen.extend(o.book for o in out if isinstance(o, Changed))
        return list(out)

    def connect(self, now: float) -> list[Output]:
        return self._record(self.feed.connected(None, now))

    def on_frame(self, raw: str, now: float) -> list[Output]:
        return self._record(self.feed.frame(raw, now))

    def on_snapshot(self, symbol: str, snap: codecs.OrderBookSnapshot, now: float) -> bool:
        """Answer the snapshot fetch; True when the book is live again."""
        self._record(self.feed.fetched(symbol, snap, now))
        return symbol not in self.feed.pending


def machine(depth: int = 50) -> tuple[Machine, list[L2Book], VenueHealth]:
    health = VenueHealth("gateio")
    seen: list[L2Book] = []
    books = Machine(health, seen, depth)
    books.connect(0.0)  # every book queued for a snapshot
    return books, seen, health


def test_contracts_become_base_units_and_the_book_goes_live() -> None:
    books, _seen, health = machine()
    books.on_frame(update(101, 103, bids=[("100.0", 5)]), 1.0)  # buffered (no snapshot yet)
    assert books.buffered("BTC_USDT")
    assert books.on_snapshot("BTC_USDT", snapshot(100, [("99.5", 20)], [("101", 10)]), 2.0)
    book = books.books["BTC_USDT"]
    assert book.tradable and book.seq == 103
    assert book.best_bid() == (100.0, pytest.approx(0.0005))  # 5 contracts × 0.0001
    assert book.levels(Side.SELL) == [(101.0, pytest.approx(0.001))]
    assert "BTC_USDT" not in books.pending and health.resyncs == 0


def test_buffered_deltas_older_than_the_snapshot_are_dropped() -> None:
    books, _, _ = machine()
    books.on_frame(update(90, 95, bids=[("1", 1)]), 1.0)  # u < id + 1: dropped
    books.on_frame(update(96, 104, bids=[("100", 7)]), 1.0)  # U <= id + 1 <= u: applied
    assert books.on_snapshot("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 2.0)
    book = books.books["BTC_USDT"]
    assert book.seq == 104
    assert [p for p, _ in book.levels(Side.BUY)] == [100.0, 99.0]


def test_snapshot_older_than_the_stream_is_fetched_again() -> None:
    books, _, _ = machine()
    books.on_frame(update(105, 110), 1.0)
    assert not books.on_snapshot("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 2.0)
    assert "BTC_USDT" in books.pending and not books.books["BTC_USDT"].tradable
    assert books.on_snapshot("BTC_USDT", snapshot(107, [("99", 1)], [("101", 1)]), 2.0)
    assert books.books["BTC_USDT"].seq == 110


def test_gap_invalidates_and_queues_a_resync() -> None:
    books, seen, health = machine()
    books.on_snapshot("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 1.0)
    books.on_frame(update(101, 102, bids=[("99.5", 3)]), 2.0)
    books.on_frame(update(101, 102, bids=[("1", 1)]), 2.0)  # stale repeat: skipped
    assert books.books["BTC_USDT"].seq == 102
    books.on_frame(update(104, 105), 3.0)  # U != 103: lost updates
    book = books.books["BTC_USDT"]
    assert not book.tradable and "gap" in book.invalid_reason
    assert health.resyncs == 1 and "BTC_USDT" in books.pending
    assert seen[-1] is book


def test_full_flag_replaces_the_book() -> None:
    books, _, _ = machine()
    books.on_frame(update(500, 500, bids=[("10", 1)], asks=[("11", 1)], full=True), 1.0)
    book = books.books["BTC_USDT"]
    assert book.tradable and book.seq == 500 and "BTC_USDT" not in books.pending
    books.on_frame(update(501, 501, bids=[("10.5", 2)]), 2.0)
    assert book.best_bid() == (10.5, pytest.approx(0.0002))


def test_crossed_book_resyncs() -> None:
    books, _, health = machine()
    books.on_snapshot("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 1.0)
    books.on_frame(update(101, 101, bids=[("102", 1)]), 2.0)
    assert not books.books["BTC_USDT"].tradable and health.resyncs == 1


def test_book_is_trimmed_to_the_subscribed_depth() -> None:
    books, _, _ = machine(depth=20)
    books.on_snapshot("BTC_USDT", snapshot(100, [("50", 1)], [("60", 1)]), 1.0)
    bids = [(f"{49 - i}", 1) for i in range(30)]
    books.on_frame(update(101, 101, bids=bids), 2.0)
    book = books.books["BTC_USDT"]
    assert book.depth() == (20, 1)
    assert book.levels(Side.BUY)[0][0] == 50.0


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        update(101, 101, bids=[("-5", 1)]),
        update(101, 101, bids=[("nan", 1)]),
        update(101, 101, asks=[("100", -1)]),
        update(105, 101),  # U > u
        update(101, 101).replace("BTC_USDT", "ETH_USDT"),  # not subscribed
        '{"channel":"futures.order_book_update","event":"update","result":{"s":1}}',
    ],
)
def test_malformed_frames_are_counted_and_resync(frame: str) -> None:
    books, _, health = machine()
    books.on_snapshot("BTC_USDT", snapshot(100, [("99", 1)], [("101", 1)]), 1.0)
    out = books.on_frame(frame, 2.0)
    assert [type(o) for o in out] == [Changed]  # handled here: only the book's invalidation
    assert health.malformed == 1
    assert not books.books["BTC_USDT"].tradable and "BTC_USDT" in books.pending


def test_other_channels_are_returned_for_the_session() -> None:
    """Pongs and acks are not book updates: the protocol handles them (before the stream
    protocol, the machine returned them to the session): a pong is nothing, our subscribe
    ack makes the session ready, an ack with another id is ignored."""
    books, _, health = machine()
    out = books.on_frame(
        '{"time":1,"time_ms":2,"channel":"futures.pong","event":"","result":null}', 1.0
    )
    assert out == [] and health.malformed == 0  # a pong: nothing to do
    ack = '{"time":1,"channel":"futures.order_book_update","event":"subscribe","error":null,'
    assert books.on_frame(ack + '"result":{"status":"success"},"id":3}', 1.0) == []  # not ours
    out = books.on_frame(ack + '"result":{"status":"success"},"id":1}', 1.0)
    assert [type(o) for o in out] == [Ready] and health.malformed == 0


def test_documented_update_decodes() -> None:
    frame = codecs.book_frame_decoder.decode(REAL_UPDATE)
    assert frame.result.U == 2517661101 and frame.result.b[1].s == 58794.0
    assert codecs.snapshot_decoder.decode(REAL_SNAPSHOT).id == 2517661100


# -- Hypothesis: mutated real messages ----------------------------------------------------
def _strict(decoder: Any) -> Any:
    return lambda text: codecs.decode(decoder, text, "mutated")


def _items(into: Any) -> Any:
    return lambda text: codecs.decode_items(into, text, "mutated")


def _object(into: Any) -> Any:
    return lambda text: codecs.decode_object(into, text, "mutated")


REAL_MESSAGES: list[tuple[Any, str]] = [
    (_strict(codecs.book_frame_decoder), REAL_UPDATE),
    (_strict(codecs.snapshot_decoder), REAL_SNAPSHOT.decode()),
    (
        _items(codecs.WsOrder),
        '[{"contract":"BTC_USDT","create_time_ms":1,"fill_price":54000.5,"finish_as":"filled",'
        '"finish_time_ms":2,"id":93282759,"is_reduce_only":false,"left":0,"price":54100,'
        '"size":-10,"status":"finished","text":"t-abc","tif":"ioc","user":"1000"}]',
    ),
    (
        _items(codecs.WsUserTrade),
        '[{"id":"3335259","create_time":1628736848,"create_time_ms":1628736848321,'
        '"contract":"BTC_USDT","order_id":"4872460","size":1,"price":"40000.4","role":"maker",'
        '"text":"api","fee":0.0009290592,"point_fee":0}]',
    ),
    (
        _object(codecs.FuturesOrder),
        '{"id":15675394,"user":100000,"contract":"BTC_USDT","create_time":1546569968,'
        '"size":"6024","iceberg":0,"left":"6024","price":"3765","fill_price":"0",'
        '"status":"open","tif":"gtc","finish_as":"","text":"t-my-custom-id","tkfr":"0.0005"}',
    ),
    (
        _items(codecs.Contract),
        '[{"name":"BTC_USDT","type":"direct","quanto_multiplier":"0.0001",'
        '"order_price_round":"0.1","order_size_min":1,"maker_fee_rate":"-0.00025",'
        '"taker_fee_rate":"0.00075","funding_rate":"0.002053","funding_interval":28800,'
        '"funding_next_apply":1610035200,"leverage_max":"100","status":"trading"}]',
    ),
]

_JSON_VALUES = st.sampled_from(
    ['"NaN"', '"-1"', "-1", "1e999", '"1e999"', "null", "true", '""', '"x"', "[]", "{}",
     "0", "9223372036854775808", '"Infinity"']
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """A real message with one structural mutation: a value swapped, a slice cut or
    duplicated, bytes inserted, or the text truncated."""
    kind = draw(st.sampled_from(["value", "cut", "dup", "insert", "truncate"]))
    n = len(text)
    i = draw(st.integers(0, n - 1))
    j = draw(st.integers(i, min(n, i + 40)))
    if kind == "value":
        colons = [k for k, ch in enumerate(text) if ch == ":"]
        k = draw(st.sampled_from(colons)) + 1
        end = k
        while end < n and text[end] not in ",}]":
            end += 1
        return text[:k] + draw(_JSON_VALUES) + text[end:]
    if kind == "cut":
        return text[:i] + text[j:]
    if kind == "dup":
        return text[:j] + text[i:j] + text[j:]
    if kind == "insert":
        return text[:i] + draw(st.text(max_size=8)) + text[i:]
    return text[:i]


@given(st.data())
def test_decoders_decode_or_raise_malformed_only(data: st.DataObject) -> None:
    decode, text = data.draw(st.sampled_from(REAL_MESSAGES))
    message = data.draw(mutated(text))
    with contextlib.suppress(MalformedMessage):
        decoded = decode(message)
        if isinstance(decoded, codecs.Items):  # a list: bad items are errors, not raised
            assert all(isinstance(e, str) and e.startswith("mutated[") for e in decoded.errors)


@given(st.data())
def test_book_machine_never_raises_and_never_holds_bad_levels(data: st.DataObject) -> None:
    books, _, health = machine()
    books.on_snapshot("BTC_USDT", snapshot(2517661100, [("54600", 5)], [("54800", 5)]), 1.0)
    message = data.draw(mutated(REAL_UPDATE))
    books.on_frame(message, 2.0)
    book = books.books["BTC_USDT"]
    if health.malformed:
        assert not book.tradable and "BTC_USDT" in books.pending
    for side in (Side.BUY, Side.SELL):
        for price, size in book.levels(side):
            assert math.isfinite(price) and price > 0 and math.isfinite(size) and size > 0
