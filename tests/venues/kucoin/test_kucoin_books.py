"""KuCoin level-2 sync (sans-IO): snapshot + sequence, gaps, transient crossing, malformed
pushes; conversions; Hypothesis on mutated real messages."""

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
from arbtrio.core.types import OrderStatus, Side
from arbtrio.emulators.app import diff_ladder
from arbtrio.venues.base import BadRequest, MalformedMessage, VenueHealth
from arbtrio.venues.kucoin import codecs, convert
from arbtrio.venues.kucoin.books import KucoinBooks
from arbtrio.venues.seq_sync import SeqSync, Verdict

CONTRACT = (
    '{"symbol":"XBTUSDTM","rootSymbol":"USDT","type":"FFWCSX","baseCurrency":"XBT",'
    '"quoteCurrency":"USDT","settleCurrency":"USDT","multiplier":0.001,"lotSize":1,'
    '"tickSize":0.1,"maxOrderQty":1000000,"maxPrice":1000000,"maxLeverage":125,'
    '"makerFeeRate":0.0002,"takerFeeRate":0.0006,"fundingFeeRate":0.000052,'
    '"predictedFundingFeeRate":0.000083,"fundingRateGranularity":28800000,'
    '"nextFundingRateTime":17752926,"status":"Open","isInverse":false,"supportCross":true}'
)
INST = convert.instrument_from_contract(codecs.decode(codecs.contract_item_decoder, CONTRACT, "t"))
REAL_PUSH = (
    '{"topic":"/contractMarket/level2:XBTUSDTM","type":"message","subject":"level2",'
    '"sn":1709400450243,"data":{"sequence":1709400450243,"change":"90631.2,sell,2",'
    '"timestamp":1731897467182}}'
)
REAL_SNAPSHOT = (
    '{"code":"200000","data":{"sequence":1709400450242,"symbol":"XBTUSDTM",'
    '"bids":[[90600,2],[90590.5,13501]],"asks":[[90631.2,5],[90640,7]],'
    '"ts":1731897467182000000}}'
)


def push(seq: int, change: str, symbol: str = "XBTUSDTM", ts_ms: int = 1) -> str:
    return json.dumps(
        {
            "topic": f"/contractMarket/level2:{symbol}", "type": "message", "subject": "level2",
            "sn": seq, "data": {"sequence": seq, "change": change, "timestamp": ts_ms},
        }
    )  # fmt: skip


def snapshot(seq: int, bids: Any, asks: Any) -> codecs.Level2Snapshot:
    body = {"code": "200000", "data": {"sequence": seq, "bids": bids, "asks": asks}}
    return codecs.snapshot_decoder.decode(json.dumps(body)).data


def machine(crossed_limit: int = 200) -> tuple[KucoinBooks, list[L2Book], VenueHealth]:
    health = VenueHealth("kucoin")
    seen: list[L2Book] = []
    books = KucoinBooks({"XBTUSDTM": INST}, health, seen.append, crossed_limit=crossed_limit)
    books.resync("XBTUSDTM", "start", 0.0)
    return books, seen, health


def test_contract_conversion_xbt_is_btc_and_lots_are_base_units() -> None:
    assert INST.asset == "BTC" and INST.symbol == "XBTUSDTM"
    assert INST.contract_multiplier == Decimal("0.001") and INST.lot_size == Decimal("0.001")
    assert INST.tick_size == Decimal("0.1") and INST.taker_fee == Decimal("0.0006")
    assert INST.funding_interval_hours == 8
    assert convert.lots_for(INST, Decimal("0.25")) == 250
    with pytest.raises(BadRequest):
        convert.lots_for(INST, Decimal("0.0005"))


def test_order_status_of_done_orders() -> None:
    assert convert.done_status(Decimal(10), Decimal(10)) is OrderStatus.FILLED
    assert convert.done_status(Decimal(10), Decimal(4)) is OrderStatus.CANCELLED
    assert convert.done_status(Decimal(10), Decimal(0)) is OrderStatus.CANCELLED


def test_snapshot_then_sequenced_pushes() -> None:
    books, _, health = machine()
    books.on_frame(push(100, "90000,buy,5"), 1.0)  # stale: <= snapshot sequence
    books.on_frame(push(101, "90001,buy,7"), 1.0)
    assert books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 2.0)
    book = books.books["XBTUSDTM"]
    assert book.tradable and book.seq == 101
    assert book.best_bid() == (90001.0, pytest.approx(0.007))  # 7 lots × 0.001
    assert book.levels(Side.BUY)[1] == (90000.0, pytest.approx(0.003))
    books.on_frame(push(102, "90001,buy,0"), 3.0)
    assert book.best_bid() == (90000.0, pytest.approx(0.003)) and health.resyncs == 0


def test_live_pushes_stamp_the_book_with_their_exchange_time_and_replays_do_not() -> None:
    books, _, _ = machine()
    epoch_ms = 1731897467182
    books.on_frame(push(101, "90001,buy,7", ts_ms=epoch_ms - 500), 1.0)  # buffered
    assert books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 2.0)
    book = books.books["XBTUSDTM"]
    assert book.seq == 101 and book.exchange_ts == 0.0  # replayed at 2.0: not its receipt
    books.on_frame(push(102, "90002,buy,1", ts_ms=epoch_ms), 3.0)
    assert book.exchange_ts == epoch_ms / 1000 and book.lag_s == 0.0  # the first: the floor
    books.on_frame(push(103, "90003,buy,1", ts_ms=epoch_ms + 1000), 4.0)  # on time
    assert book.lag_s == pytest.approx(0.0, abs=1e-3)
    books.on_frame(push(104, "90004,buy,1", ts_ms=epoch_ms + 1200), 5.0)  # 0.8 s late
    assert book.lag_s == pytest.approx(0.8, abs=1e-3)
    books.on_frame(push(105, "90005,buy,1", ts_ms=0), 6.0)  # no exchange time: not stamped
    assert book.exchange_ts == (epoch_ms + 1200) / 1000 and book.seq == 105


def test_gap_resyncs_and_a_fresh_snapshot_recovers() -> None:
    books, _, health = machine()
    books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 1.0)
    books.on_frame(push(101, "90005,sell,1"), 2.0)
    books.on_frame(push(103, "90006,sell,1"), 2.0)  # 102 lost
    book = books.books["XBTUSDTM"]
    assert not book.tradable and health.resyncs == 1 and "XBTUSDTM" in books.pending
    books.on_frame(push(104, "90007,sell,1"), 2.0)  # buffered
    assert not books.on_snapshot("XBTUSDTM", snapshot(102, [[1, 1]], [[2, 1]]), 3.0)  # too old
    assert books.on_snapshot("XBTUSDTM", snapshot(103, [[90000, 3]], [[90006, 1]]), 3.0)
    assert book.tradable and book.seq == 104


def test_transient_crossing_is_untradable_then_recovers_without_resync() -> None:
    books, _, health = machine()
    books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 1.0)
    books.on_frame(push(101, "90020,buy,1"), 2.0)  # crosses until the ask moves
    book = books.books["XBTUSDTM"]
    assert not book.tradable and book.invalid_reason == "crossed"
    books.on_frame(push(102, "90010,sell,0"), 2.0)
    books.on_frame(push(103, "90030,sell,2"), 2.0)
    assert book.tradable and health.resyncs == 0


def test_persistent_crossing_resyncs() -> None:
    books, _, health = machine(crossed_limit=3)
    books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 1.0)
    for i, price in enumerate(range(90020, 90025)):
        books.on_frame(push(101 + i, f"{price},buy,1"), 2.0)
    assert "XBTUSDTM" in books.pending and health.resyncs == 1


@pytest.mark.parametrize(
    "frame",
    [
        "{",
        push(101, "90000,buy"),
        push(101, "90000,hold,1"),
        push(101, "-1,buy,1"),
        push(101, "nan,buy,1"),
        push(101, "90000,buy,-2"),
        push(101, "90000,buy,1", symbol="ETHUSDTM"),
        '{"topic":"/contractMarket/level2:XBTUSDTM","type":"message","data":{"change":1}}',
    ],
)
def test_malformed_pushes_are_counted_and_resync(frame: str) -> None:
    books, _, health = machine()
    books.on_snapshot("XBTUSDTM", snapshot(100, [[90000, 3]], [[90010, 4]]), 1.0)
    assert books.on_frame(frame, 2.0) is None
    assert health.malformed == 1
    assert not books.books["XBTUSDTM"].tradable and "XBTUSDTM" in books.pending


def test_control_frames_are_returned() -> None:
    books, _, health = machine()
    for text, kind in [
        ('{"id":"c1","type":"welcome"}', "welcome"),
        ('{"id":"5","type":"ack"}', "ack"),
        ('{"id":"6","type":"pong","timestamp":1}', "pong"),
        ('{"id":"c1","type":"error","code":401,"data":"token is expired"}', "error"),
    ]:
        msg = books.on_frame(text, 1.0)
        assert msg is not None and msg.type == kind
    assert health.malformed == 0


def test_seq_sync_overlap_rule() -> None:
    sync: SeqSync[str] = SeqSync()
    assert sync.on_delta(5, 9, "a") is Verdict.BUFFERED
    assert sync.on_snapshot(6) == ["a"] and sync.last == 9
    assert sync.on_delta(8, 9, "b") is Verdict.STALE
    assert sync.on_delta(9, 12, "c") is Verdict.APPLY and sync.last == 12
    assert sync.on_delta(14, 15, "d") is Verdict.GAP


def test_ladder_diff_removals_first() -> None:
    old = [(Decimal(10), Decimal(1)), (Decimal(9), Decimal(2)), (Decimal(8), Decimal(1))]
    new = [(Decimal(11), Decimal(1)), (Decimal(10), Decimal(3)), (Decimal(8), Decimal(1))]
    assert diff_ladder(old, new, Decimal(0)) == [
        (Decimal(9), Decimal(0)),
        (Decimal(11), Decimal(1)),
        (Decimal(10), Decimal(3)),
    ]
    assert diff_ladder(new, new) == []


# -- Hypothesis: mutated real messages ----------------------------------------------------
REAL_MESSAGES: list[tuple[Any, str]] = [
    (codecs.level2_frame_decoder, REAL_PUSH),
    (codecs.snapshot_decoder, REAL_SNAPSHOT),
    (codecs.contract_item_decoder, CONTRACT),
    (
        codecs.order_change_decoder,
        '{"symbol":"XBTUSDTM","orderType":"limit","side":"buy","orderId":"5cdfc138b21023a909e5ad55",'
        '"type":"match","status":"match","size":"10","filledSize":"4","canceledSize":"0",'
        '"remainSize":"6","price":"90000","matchPrice":"89999.9","matchSize":"4",'
        '"tradeId":"5ce24c16b210233c36ee321d","clientOid":"abc","liquidity":"taker",'
        '"orderTime":1545914149935808589,"ts":1545914149935808589}',
    ),
    (
        codecs.order_detail_decoder,
        '{"code":"200000","data":{"id":"5cdfc138b21023a909e5ad55","symbol":"XBTUSDTM",'
        '"type":"limit","side":"buy","price":"3600","size":20000,"value":"56.68",'
        '"filledSize":0,"filledValue":"0","status":"done","clientOid":"x","isActive":false}}',
    ),
    (codecs.bullet_decoder,
     '{"code":"200000","data":{"token":"2neAiuYvAU61ZDXANAGAsiL4-","instanceServers":'
     '[{"endpoint":"wss://ws-api-futures.kucoin.com/","encrypt":true,"protocol":"websocket",'
     '"pingInterval":18000,"pingTimeout":10000}]}}'),
]  # fmt: skip

_JSON_VALUES = st.sampled_from(
    ['"NaN"', '"-1"', "-1", "1e999", '"1e999"', "null", "true", '""', '"1,buy"', "[]", "{}",
     "0", "9223372036854775808", '"Infinity"', '"1,sell,x"']
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
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
    decoder, text = data.draw(st.sampled_from(REAL_MESSAGES))
    with contextlib.suppress(MalformedMessage):
        codecs.decode(decoder, data.draw(mutated(text)), "mutated")


@given(st.data())
def test_book_machine_never_raises_and_never_holds_bad_levels(data: st.DataObject) -> None:
    books, _, health = machine()
    books.on_snapshot("XBTUSDTM", snapshot(1709400450242, [[90600, 2]], [[90640, 7]]), 1.0)
    books.on_frame(data.draw(mutated(REAL_PUSH)), 2.0)
    book = books.books["XBTUSDTM"]
    if health.malformed:
        assert not book.tradable and "XBTUSDTM" in books.pending
    for side in (Side.BUY, Side.SELL):
        for price, size in book.levels(side):
            assert math.isfinite(price) and price > 0 and math.isfinite(size) and size > 0
