"""Bybit pure pieces: signing vectors, codecs on the documented messages, book rules, errors."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.types import OrderStatus, Side
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Disconnected,
    MalformedMessage,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)
from arbtrio.venues.bybit import codecs as c
from arbtrio.venues.bybit.book import BybitBook, Verdict
from arbtrio.venues.bybit.client import IP_POOL, BybitClient, private_url_for
from arbtrio.venues.bybit.errors import error_for, http_error_for
from arbtrio.venues.bybit.feed import fill_of as _fill
from arbtrio.venues.bybit.feed import order_update_of as _order_update
from arbtrio.venues.bybit.signing import (
    auth_args,
    query_string,
    rest_headers,
    rest_prehash,
    rest_signature,
    ws_auth_signature,
)
from arbtrio.venues.ratelimit import TokenBucket

# -- signing: the documented pre-hash strings, HMACs self-computed with secret "test_secret" -
GET_PREHASH = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
POST_PREHASH = '1658385579423XXXXXXXXXX5000{"category": "option"}'


def test_rest_get_vector() -> None:
    pre = rest_prehash(
        1658384314791, "XXXXXXXXXX", 5000, "category=option&symbol=BTC-29JUL22-25000-C"
    )
    assert pre == GET_PREHASH
    assert (
        rest_signature("test_secret", 1658384314791, "XXXXXXXXXX", 5000,
                       "category=option&symbol=BTC-29JUL22-25000-C")
        == "2c42d015234a3fc985e5294b2665235b3f51cf59dfbbde6be0097d0bc33256bf"
    )  # fmt: skip


def test_rest_post_vector() -> None:
    sig = rest_signature("test_secret", 1658385579423, "XXXXXXXXXX", 5000, '{"category": "option"}')
    assert sig == "7fdd84061f25faa9566fa013c0dd25adcb78a0ab90cbb992c0f12427d82f7221"


def test_ws_auth_vector() -> None:
    sig = ws_auth_signature("test_secret", 1662350400000)
    assert sig == "dad2d67a66c9ee401d2e6e7bf26ebd10eb1026db8a703bf3139c6950ce11a5c6"
    assert auth_args("k", "test_secret", 1662350400000) == ["k", 1662350400000, sig]


def test_rest_headers_and_query_string() -> None:
    h = rest_headers("XXXXXXXXXX", "test_secret", 1658384314791,
                     "category=option&symbol=BTC-29JUL22-25000-C", 5000)  # fmt: skip
    assert h["X-BAPI-SIGN"] == "2c42d015234a3fc985e5294b2665235b3f51cf59dfbbde6be0097d0bc33256bf"
    assert h["X-BAPI-TIMESTAMP"] == "1658384314791" and h["X-BAPI-RECV-WINDOW"] == "5000"
    assert h["X-BAPI-SIGN-TYPE"] == "2"
    assert (
        query_string({"category": "linear", "symbol": "BTCUSDT"})
        == "category=linear&symbol=BTCUSDT"
    )
    with pytest.raises(ValueError, match="needs encoding"):
        query_string({"symbol": "A&B"})


def test_private_url_derivation() -> None:
    assert (
        private_url_for("wss://stream.bybit.com/v5/public/linear")
        == "wss://stream.bybit.com/v5/private"
    )
    with pytest.raises(ValueError, match="pass it explicitly"):
        private_url_for("wss://example.com/ws")


# -- codecs on the documented messages ------------------------------------------------------
DOC_SNAPSHOT = (
    '{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,'
    '"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],'
    '"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724},'
    '"cts":1672304484976}'
)
DOC_DELTA = (
    '{"topic":"orderbook.50.BTCUSDT","ts":1672304484979,"type":"delta",'
    '"data":{"s":"BTCUSDT","b":[["16493.50","0"],["16490.00","0.500"]],'
    '"a":[["16611.00","0.010"]],"u":18521289,"seq":7961638725},"cts":1672304484977}'
)
DOC_ACK = '{"success":true,"ret_msg":"","conn_id":"abc","req_id":"","op":"subscribe"}'
DOC_PONG = '{"success":true,"ret_msg":"pong","conn_id":"abc","req_id":"","op":"ping"}'
DOC_PRIVATE_PONG = '{"req_id":"test","op":"pong","args":["1675418560633"],"conn_id":"cfcb"}'
DOC_ORDER = json.dumps({"id": "5923240c6880ab-c59f-420b-9adb-3639adc9dd90", "topic": "order",
    "creationTime": 1672364262474, "data": [{"category": "linear", "symbol": "ETHUSDT",
    "orderId": "5cf98598-39a7-459e-97bf-76ca765ee020", "orderLinkId": "c1", "side": "Sell",
    "orderType": "Market", "price": "72.5", "qty": "1", "timeInForce": "IOC",
    "orderStatus": "Filled", "positionIdx": 0, "avgPrice": "72.59", "leavesQty": "0",
    "leavesValue": "0", "cumExecQty": "1", "cumExecValue": "75", "cumExecFee": "0.045",
    "reduceOnly": False, "closeOnTrigger": False, "cancelType": "UNKNOWN",
    "rejectReason": "EC_NoError", "createdTime": "1672364262444",
    "updatedTime": "1672364262457"}]})  # fmt: skip
DOC_EXECUTION = json.dumps({"id": "592324803b2785-26fa-4214-9963-bdd4727f07be",
    "topic": "execution", "creationTime": 1672364174455, "data": [{"category": "linear",
    "symbol": "XRPUSDT", "execFee": "0.005061", "execId": "7e2ae69c-4edf-5800-a352-893d52b446aa",
    "execPrice": "0.3374", "execQty": "25", "execType": "Trade", "execValue": "8.435",
    "isMaker": False, "feeRate": "0.0006", "tradeIv": "", "markIv": "", "blockTradeId": "",
    "markPrice": "0.3391", "indexPrice": "", "underlyingPrice": "", "leavesQty": "0",
    "orderId": "f6e324ff-99c2-4e89-9739-3086e47f9381", "orderLinkId": "c2", "orderPrice": "0.3207",
    "orderQty": "25", "orderType": "Market", "stopOrderType": "UNKNOWN", "side": "Sell",
    "execTime": "1672364174443", "isLeverage": "0", "closedSize": "",
    "seq": 4688002127}]})  # fmt: skip
DOC_ENVELOPE = (
    '{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552",'
    '"orderLinkId":"spot-test-postonly"},"retExtInfo":{},"time":1672211918471}'
)
DOC_INSTRUMENTS = json.dumps({"retCode": 0, "retMsg": "OK", "result": {"category": "linear",
    "list": [{"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
    "baseCoin": "BTC", "quoteCoin": "USDT", "settleCoin": "USDT", "priceScale": "2",
    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
    "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
    "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
    "maxMktOrderQty": "500.000", "minNotionalValue": "5"}, "fundingInterval": 480,
    "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375"}],
    "nextPageCursor": ""}, "retExtInfo": {}, "time": 1707186451514})  # fmt: skip


def test_documented_public_frames_decode() -> None:
    snap = c.decode_public(DOC_SNAPSHOT)
    assert snap.type == "snapshot" and snap.data is not None
    assert snap.data.b == [(16493.5, 0.006), (16493.0, 0.1)] and snap.data.u == 18521288
    assert c.decode_public(DOC_ACK).success is True
    assert c.decode_public(DOC_PONG).ret_msg == "pong"
    assert c.decode_private(DOC_PRIVATE_PONG).op == "pong"


def test_documented_private_pushes_decode_to_events() -> None:
    (order,) = c.decode_push_items(c.decode_private(DOC_ORDER).data, c.OrderInfo, "order").items
    update = _order_update(order, 1.0)
    assert update.status is OrderStatus.FILLED and update.filled_qty == Decimal(1)
    assert update.avg_price == Decimal("72.59") and update.client_order_id == "c1"
    (execution,) = c.decode_push_items(
        c.decode_private(DOC_EXECUTION).data, c.ExecutionInfo, "execution"
    ).items
    fill = _fill(execution, 2.0)
    assert fill.side is Side.SELL and fill.qty == Decimal(25) and fill.price == Decimal("0.3374")
    assert fill.fee == Decimal("0.005061") and fill.trade_id.startswith("7e2ae69c")


def test_documented_rest_results_decode() -> None:
    env = c.decode_envelope(DOC_ENVELOPE)
    assert c.decode_result(c.OrderIdResult, env.result).orderId == "1321003749386327552"
    page = c.decode_page(c.decode_envelope(DOC_INSTRUMENTS).result, "instruments")
    (info,) = c.page_items(page, c.InstrumentInfo, "instrument").items
    assert info.priceFilter.tickSize == Decimal("0.10")
    assert info.lotSizeFilter.qtyStep == Decimal("0.001")
    assert info.lotSizeFilter.minNotionalValue == Decimal(5) and info.fundingInterval == 480


def test_private_stream_drops_duplicate_executions() -> None:
    client = BybitClient(rest_url="http://127.0.0.1:1")
    frame = c.decode_private(DOC_EXECUTION)
    assert len(client.orders.push(frame, 0.0)) == 1
    assert client.orders.push(frame, 0.0) == []


def test_non_finite_decimals_are_malformed() -> None:
    bad = DOC_EXECUTION.replace('"execQty": "25"', '"execQty": "NaN"')
    items = c.decode_push_items(c.decode_private(bad).data, c.ExecutionInfo, "execution")
    assert items.items == [] and items.malformed == 1 and "execQty" in items.skipped[0].reason
    with pytest.raises(MalformedMessage):
        c.decode_public(DOC_SNAPSHOT.replace('"16493.50"', '"-1"'))


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=6),
    st.sampled_from(["NaN", "Infinity", "-0", "1e999", "", "0x1f", "１", "-1", "0"]),
    st.builds(list),  # fresh objects: mutations must not leak between examples
    st.builds(dict),
    st.builds(lambda: [["1", "2", "3"]]),
)
DOCS = [DOC_SNAPSHOT, DOC_DELTA, DOC_ORDER, DOC_EXECUTION, DOC_ENVELOPE, DOC_INSTRUMENTS]


@st.composite
def mutated(draw: Any) -> Any:
    """A documented message with 1-3 mutations: a field dropped or replaced by junk."""
    doc = json.loads(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        node, depth = doc, 0
        while depth < 6:
            keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node, depth = child, depth + 1
                continue
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(JUNK)
            break
    return doc


def _mutations() -> st.SearchStrategy[Any]:
    return mutated()


@given(_mutations())
def test_mutated_messages_decode_or_raise_malformed(doc: Any) -> None:
    raw = json.dumps(doc)
    decoders = [
        c.decode_public,
        lambda r: [c.decode_push_items(c.decode_private(r).data, c.OrderInfo, "o")],
        lambda r: [c.decode_push_items(c.decode_private(r).data, c.ExecutionInfo, "e")],
        lambda r: [
            c.page_items(c.decode_page(c.decode_envelope(r).result, "i"), c.InstrumentInfo, "i")
        ],
        lambda r: [c.decode_result(c.OrderIdResult, c.decode_envelope(r).result)],
    ]
    for decode in decoders:
        with contextlib.suppress(MalformedMessage):
            decode(raw)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_malformed(raw: bytes) -> None:
    for decode in (c.decode_public, c.decode_private, c.decode_envelope, c.decode_ws_op):
        with contextlib.suppress(MalformedMessage):
            decode(raw)


@given(_mutations())
def test_mutated_book_frames_never_crash_the_tracker(doc: Any) -> None:
    """Whatever decodes is applied or refused by the rules; the book stays consistent."""
    tracker = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    tracker.apply(c.decode_public(DOC_SNAPSHOT), 0.0)
    try:
        frame = c.decode_public(json.dumps(doc))
    except MalformedMessage:
        tracker.invalidate("malformed message")
        assert not tracker.book.tradable
        return
    if frame.topic == tracker.topic and frame.data is not None:
        verdict = tracker.apply(frame, 1.0)
        assert tracker.book.tradable == (verdict is not Verdict.RESYNC) or not tracker.synced
        if tracker.book.tradable:
            assert not tracker.book.is_crossed()


# -- book rules --------------------------------------------------------------------------
def frame(
    kind: str, u: int, b: list[list[str]], a: list[list[str]], depth: int = 50
) -> c.PublicFrame:
    data = {"s": "BTCUSDT", "b": b, "a": a, "u": u, "seq": u}
    msg = {"topic": f"orderbook.{depth}.BTCUSDT", "type": kind, "ts": 1, "data": data}
    return c.decode_public(json.dumps(msg))


def test_snapshot_delta_delete_and_gap() -> None:
    t = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    assert t.apply(frame("delta", 10, [["1", "1"]], []), 0) is Verdict.IGNORED  # before snapshot
    assert (
        t.apply(frame("snapshot", 10, [["100", "1"], ["99", "2"]], [["101", "1"]]), 0)
        is Verdict.APPLIED
    )
    assert (
        t.apply(frame("delta", 11, [["100", "0"], ["98", "3"]], [["102", "4"]]), 0)
        is Verdict.APPLIED
    )
    assert t.book.levels(Side.BUY) == [(99.0, 2.0), (98.0, 3.0)]
    assert t.book.levels(Side.SELL) == [(101.0, 1.0), (102.0, 4.0)]
    assert t.apply(frame("delta", 13, [], [["101", "0"]]), 0) is Verdict.RESYNC  # u 12 missing
    assert not t.book.tradable and "gap" in t.book.invalid_reason
    assert t.apply(frame("delta", 14, [], []), 0) is Verdict.IGNORED  # until a snapshot
    assert t.apply(frame("snapshot", 20, [["90", "1"]], [["91", "1"]]), 0) is Verdict.APPLIED
    assert t.book.tradable and t.book.levels(Side.BUY) == [(90.0, 1.0)]


def test_delta_with_u_1_is_a_snapshot_after_a_restart() -> None:
    t = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    t.apply(frame("snapshot", 500, [["100", "1"]], [["101", "1"]]), 0)
    assert t.apply(frame("delta", 1, [["95", "1"]], [["96", "1"]]), 0) is Verdict.APPLIED
    assert t.book.levels(Side.BUY) == [(95.0, 1.0)] and t.book.seq == 1
    assert t.apply(frame("delta", 2, [["94", "1"]], []), 0) is Verdict.APPLIED


def test_level1_repeats_same_u_and_skips_older() -> None:
    t = BybitBook(L2Book("bybit", "BTCUSDT"), 1)
    assert t.apply(frame("snapshot", 7, [["100", "1"]], [["101", "1"]], 1), 0) is Verdict.APPLIED
    assert t.apply(frame("snapshot", 7, [["100", "1"]], [["101", "1"]], 1), 3) is Verdict.APPLIED
    assert t.apply(frame("snapshot", 6, [["99", "1"]], [["101", "1"]], 1), 4) is Verdict.IGNORED
    assert t.book.best_bid() == (100.0, 1.0) and t.book.tradable
    assert t.apply(frame("delta", 8, [["99", "1"]], [], 1), 5) is Verdict.RESYNC


def test_level1_snapshot_with_u_1_after_a_restart_replaces() -> None:
    t = BybitBook(L2Book("bybit", "BTCUSDT"), 1)
    t.apply(frame("snapshot", 500, [["100", "1"]], [["101", "1"]], 1), 0)
    assert t.apply(frame("snapshot", 1, [["98", "1"]], [["99", "1"]], 1), 1) is Verdict.APPLIED
    assert t.book.best_bid() == (98.0, 1.0) and t.book.seq == 1
    assert t.apply(frame("snapshot", 2, [["97", "1"]], [["99", "1"]], 1), 2) is Verdict.APPLIED
    assert t.book.best_bid() == (97.0, 1.0)


def test_applied_frames_stamp_the_book_with_their_ts() -> None:
    """``ts`` (ms; the docs' own example writes it as a string) becomes ``exchange_ts`` in
    seconds; a frame without one leaves the stamp as it was; a lag above the floor shows."""
    tracker = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    book = tracker.book

    def frame(kind: str, u: int, ts: Any, bid: str = "100.0") -> c.PublicFrame:
        data = {"s": "BTCUSDT", "u": u, "b": [[bid, "1"]], "a": [["101.0", "1"]]}
        doc = {"topic": tracker.topic, "type": kind, "data": data}
        if ts is not None:
            doc["ts"] = ts
        return c.decode_public(json.dumps(doc))

    assert tracker.apply(frame("snapshot", 1, "1772694601512"), 10.0) is Verdict.APPLIED
    assert (book.exchange_ts, book.lag_s) == (1772694601.512, 0.0)
    assert tracker.apply(frame("delta", 2, None, "99.0"), 11.0) is Verdict.APPLIED
    assert book.exchange_ts == 1772694601.512 and book.best_bid() == (100.0, 1.0)
    assert tracker.apply(frame("delta", 3, 1772694602012, "99.5"), 12.0) is Verdict.APPLIED
    assert book.exchange_ts == 1772694602.012
    assert book.lag_s == pytest.approx(1.5, abs=1e-3)  # sent 0.5 s after the first, got 2 s


def test_crossed_book_and_wrong_symbol_resync() -> None:
    t = BybitBook(L2Book("bybit", "BTCUSDT"), 50)
    t.apply(frame("snapshot", 1, [["100", "1"]], [["101", "1"]]), 0)
    assert t.apply(frame("delta", 2, [["102", "1"]], []), 0) is Verdict.RESYNC
    assert t.book.invalid_reason == "crossed book"
    f = frame("snapshot", 3, [["100", "1"]], [["101", "1"]])
    f.data.s = "ETHUSDT"  # type: ignore[union-attr]
    assert t.apply(f, 0) is Verdict.RESYNC


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "mutating", "kind"),
    [
        (10002, True, AuthenticationFailed), (10003, False, AuthenticationFailed),
        (10004, True, AuthenticationFailed), (10006, True, RateLimited),
        (110007, True, OrderRejected), (110017, True, OrderRejected),
        (110094, True, OrderRejected), (110072, True, OutcomeUnknown),
        (110001, True, OrderNotFound), (10001, True, BadRequest), (10016, True, OutcomeUnknown),
        (10016, False, Disconnected), (99999, True, OrderRejected), (99999, False, BadRequest),
    ],
)  # fmt: skip
def test_error_table(code: int, mutating: bool, kind: type[Exception]) -> None:
    err = error_for(code, "msg", mutating=mutating)
    assert type(err) is kind and err.code == str(code)


def test_rate_limit_retry_after_and_http_errors() -> None:
    err = error_for(10006, "Too many visits!", mutating=True, reset_in=0.3)
    assert isinstance(err, RateLimited) and err.retry_after == 0.3
    assert isinstance(error_for(10006, "x", mutating=True), RateLimited)
    assert isinstance(http_error_for(403, "access too frequent", mutating=False), RateLimited)
    assert isinstance(http_error_for(401, "", mutating=False), AuthenticationFailed)
    assert isinstance(http_error_for(502, "", mutating=True), OutcomeUnknown)
    assert isinstance(http_error_for(502, "", mutating=False), Disconnected)


def test_ip_pool_admits_at_most_600_requests_in_any_5_s() -> None:
    """The venue's IP limit is 600 requests per 5 s (then a ban of at least 10 minutes),
    with no header to correct a client that overshoots: the pool itself must hold it."""
    capacity, rate = IP_POOL
    bucket = TokenBucket("bybit:ip", capacity=capacity, rate=rate)
    now, admitted = 0.0, []
    while now < 20.0:  # a client sending as fast as the pool lets it
        wait = bucket.try_acquire(1.0, now)
        if wait > 0:
            now += wait + 1e-9  # (past float rounding: no spin on a vanishing wait)
        else:
            admitted.append(now)
    first = 0
    for last, t in enumerate(admitted):
        while admitted[first] <= t - 5.0:
            first += 1
        assert last - first + 1 <= 600, f"{last - first + 1} requests in 5 s ending at {t:.3f}"
