"""Bitget pure pieces: signing vectors, checksum examples, codecs, book rules, errors."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.types import Fill, OrderRequest, OrderStatus, Side
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
from arbtrio.venues.bitget import codecs as c
from arbtrio.venues.bitget.book import BitgetBook, Verdict, checksum, checksum_text, crc32_signed
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.bitget.errors import error_for, http_error_for
from arbtrio.venues.bitget.feed import order_update_of
from arbtrio.venues.bitget.signing import (
    login_args,
    login_signature,
    query_string,
    rest_headers,
    rest_prehash,
    rest_signature,
)
from arbtrio.venues.stream import Deliver
from arbtrio.venues.tracking import Placed

# -- signing: the documented pre-hash strings, signatures self-computed (secret "test_secret") --
POST_BODY = ('{"productType":"usdt-futures","symbol":"BTCUSDT","size":"8","marginMode":"crossed",'
             '"side":"buy","orderType":"limit","clientOid":"channel#123456"}')  # fmt: skip


def test_rest_get_vector() -> None:
    pre = rest_prehash(
        16273667805456, "GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT", ""
    )
    assert pre == "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"
    sig = rest_signature("test_secret", 16273667805456, "GET", "/api/mix/v2/market/depth",
                         "limit=20&symbol=BTCUSDT", "")  # fmt: skip
    assert sig == "uNJ4l9BxA08kSximkm5p3LG3pXAf//kmEkDVe6Y1lbE="


def test_rest_post_vector() -> None:
    pre = rest_prehash(16273667805456, "post", "/api/v2/mix/order/place-order", "", POST_BODY)
    assert pre == "16273667805456POST/api/v2/mix/order/place-order" + POST_BODY
    sig = rest_signature("test_secret", 16273667805456, "POST", "/api/v2/mix/order/place-order",
                         "", POST_BODY)  # fmt: skip
    assert sig == "gWAXI3prGn6dIoZEAUhufEy4xI6cXPuHPg6oH+HyHqg="


def test_ws_login_vector_in_seconds() -> None:
    assert (
        login_signature("test_secret", 1538054050) == "ZKcxhODLTztM2iNiV/trAzhDaeE9+T9LNddmARBPvj8="
    )
    (arg,) = login_args("key", "test_secret", "pass", 1538054050)
    assert arg == {"apiKey": "key", "passphrase": "pass", "timestamp": "1538054050",
                   "sign": "ZKcxhODLTztM2iNiV/trAzhDaeE9+T9LNddmARBPvj8="}  # fmt: skip


def test_headers_and_sorted_query() -> None:
    assert query_string({"symbol": "BTCUSDT", "limit": "20"}) == "limit=20&symbol=BTCUSDT"
    h = rest_headers("k", "test_secret", "pp", 16273667805456, "GET", "/api/mix/v2/market/depth",
                     "limit=20&symbol=BTCUSDT", "")  # fmt: skip
    assert h["ACCESS-SIGN"] == "uNJ4l9BxA08kSximkm5p3LG3pXAf//kmEkDVe6Y1lbE="
    assert h["ACCESS-PASSPHRASE"] == "pp" and h["ACCESS-TIMESTAMP"] == "16273667805456"


# -- checksum: the documented example strings ---------------------------------------------
def test_checksum_doc_examples() -> None:
    text = checksum_text(["43231.1:4", "43231:6"], ["43232.8:9", "43232.9:8"])
    assert text == "43231.1:4:43232.8:9:43231:6:43232.9:8"
    assert crc32_signed(text) == -1504501796  # unsigned 2790465500, made signed
    one_bid = checksum([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")])
    assert one_bid == 831078360


def test_checksum_uses_raw_strings_and_only_25_levels() -> None:
    assert checksum([("0.5000", "1")], []) != checksum([("0.5", "1")], [])
    deep = [(str(100 - i), "1") for i in range(30)]
    assert checksum(deep, []) == checksum(deep[:25], [])


# -- book rules ----------------------------------------------------------------------------
def data(bids: list[tuple[str, str]], asks: list[tuple[str, str]], seq: int,
         crc: int | None = None) -> c.BookData:  # fmt: skip
    return c.BookData(asks=asks, bids=bids, checksum=0 if crc is None else crc, seq=seq)


def test_snapshot_update_checksum_and_resync() -> None:
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    assert t.apply("update", data([("1", "1")], [], 1), 0) is Verdict.IGNORED
    snap = data([("100.0", "1.00"), ("99.5", "2.00")], [("100.5", "1.00")], 10)
    assert t.apply("snapshot", snap, 0) is Verdict.APPLIED
    good = checksum([("99.5", "2.00"), ("99.0", "3.0")], [("100.5", "1.00")])
    upd = data([("100.0", "0"), ("99.0", "3.0")], [], 11, good)
    assert t.apply("update", upd, 0) is Verdict.APPLIED
    assert t.book.levels(Side.BUY) == [(99.5, 2.0), (99.0, 3.0)]
    assert t.apply("update", data([("98", "1")], [], 12, 0), 0) is Verdict.APPLIED  # 0: no check
    assert t.apply("update", data([("97", "1")], [], 13, 12345), 0) is Verdict.RESYNC
    assert "checksum" in t.book.invalid_reason and not t.book.tradable
    assert t.apply("update", data([("96", "1")], [], 14), 0) is Verdict.IGNORED


def test_seq_backwards_and_crossed_resync() -> None:
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    t.apply("snapshot", data([("100", "1")], [("101", "1")], 10), 0)
    assert t.apply("update", data([("99", "1")], [], 10), 0) is Verdict.RESYNC
    t.apply("snapshot", data([("100", "1")], [("101", "1")], 20), 0)
    assert t.apply("update", data([("102", "1")], [], 21), 0) is Verdict.RESYNC
    assert t.book.invalid_reason == "crossed book"


def test_checksum_reuse_when_change_is_below_the_top_25() -> None:
    bids = [(f"{1000 - i}", "1") for i in range(30)]
    asks = [(f"{1001 + i}", "1") for i in range(30)]
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    t.apply("snapshot", data(bids, asks, 1), 0)
    crc = checksum(bids, asks)
    assert t.apply("update", data([("970", "5")], [], 2, crc), 0) is Verdict.APPLIED  # deep
    bids[0] = ("1000", "2")
    assert (
        t.apply("update", data([("1000", "2")], [], 3, checksum(bids, asks)), 0) is Verdict.APPLIED
    )
    assert (
        t.apply("update", data([("1000", "3")], [], 4, checksum(bids, asks)), 0) is Verdict.RESYNC
    )


def test_checksum_after_an_unchecked_update_is_recomputed() -> None:
    """An update without a checksum (0) that changes the top 25 must not leave a stale
    cached checksum behind for the next, deeper, update."""
    bids = [(f"{1000 - i}", "1") for i in range(30)]
    asks = [(f"{1001 + i}", "1") for i in range(30)]
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    t.apply("snapshot", data(bids, asks, 1), 0)
    assert (
        t.apply("update", data([("970", "2")], [], 2, checksum(bids, asks)), 0) is Verdict.APPLIED
    )
    bids[0] = ("1000", "7")
    assert t.apply("update", data([("1000", "7")], [], 3, 0), 0) is Verdict.APPLIED  # unchecked
    deep = data([("971", "4")], [], 4, checksum(bids, asks))  # below the top 25
    assert t.apply("update", deep, 0) is Verdict.APPLIED


_PRICES = st.integers(min_value=1, max_value=60)
_SIZES = st.sampled_from(["0", "1", "2.5", "3.00", "0.10"])


@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(_PRICES, _SIZES), max_size=4),
            st.lists(st.tuples(_PRICES, _SIZES), max_size=4),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_incremental_checksum_equals_the_full_recomputation(updates: list[Any]) -> None:
    """Every update is verified: the tracker's checksum after any sequence of updates is
    the checksum of the whole book recomputed from the raw strings received."""
    model_bids = {f"{100 + i}": "1" for i in range(30)}  # bids 100..129, asks 200..229
    model_asks = {f"{200 + i}": "1" for i in range(30)}
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    t.apply("snapshot", data(list(model_bids.items()), list(model_asks.items()), 1), 0)
    for seq, (b, a, checked) in enumerate(updates, 2):
        b_levels = [(str(70 + p), size) for p, size in b]  # bids 71..130
        a_levels = [(str(170 + p), size) for p, size in a]  # asks 171..230
        for model, levels in ((model_bids, b_levels), (model_asks, a_levels)):
            for price, size in levels:
                if float(size) > 0:
                    model[price] = size
                else:
                    model.pop(price, None)
        ladder_b = sorted(model_bids.items(), key=lambda kv: -float(kv[0]))
        ladder_a = sorted(model_asks.items(), key=lambda kv: float(kv[0]))
        expected = checksum(ladder_b, ladder_a)
        crc = expected if checked else 0  # 0 means "not checked" on the wire
        assert t.apply("update", data(b_levels, a_levels, seq, crc), 0) is Verdict.APPLIED
        assert t.local_checksum() == expected


# -- codecs on documented messages, Hypothesis ----------------------------------------------
DOC_BOOK = json.dumps({"action": "snapshot", "arg": {"instType": "USDT-FUTURES", "channel": "books",
    "instId": "BTCUSDT"}, "data": [{"asks": [["27000.5", "8.760"], ["27001.0", "0.400"]],
    "bids": [["27000.0", "2.710"], ["26999.5", "1.460"]], "checksum": 0, "seq": 123,
    "ts": "1695716059516"}], "ts": 1695716059516})  # fmt: skip
DOC_ORDERS = json.dumps({"action": "snapshot", "arg": {"instType": "USDT-FUTURES",
    "channel": "orders", "instId": "default"}, "data": [{"accBaseVolume": "0.01",
    "cTime": "1695718781129", "clientOid": "1", "feeDetail": [{"feeCoin": "USDT",
    "fee": "-0.162003"}], "fillFee": "-0.162003", "fillFeeCoin": "USDT",
    "fillNotionalUsd": "270.005",
    "fillPrice": "27000.5", "baseVolume": "0.01", "fillTime": "1695718781146", "force": "gtc",
    "instId": "BTCUSDT", "leverage": "12", "marginCoin": "USDT", "marginMode": "crossed",
    "notionalUsd": "270", "orderId": "1", "orderType": "market", "pnl": "0",
    "posMode": "hedge_mode", "posSide": "long", "price": "0", "priceAvg": "27000.5",
    "reduceOnly": "no", "stpMode": "cancel_taker", "side": "buy", "size": "0.01",
    "enterPointSource": "WEB", "status": "filled", "tradeScope": "T", "tradeId": "1",
    "tradeSide": "open", "presetStopSurplusPrice": "21.4", "totalProfits": "11221.45",
    "presetStopLossPrice": "21.5", "uTime": "1695718781146"}], "ts": 1695718781206})  # fmt: skip
DOC_FILL = json.dumps({"action": "snapshot", "arg": {"instType": "USDT-FUTURES",
    "channel": "fill", "instId": "default"}, "data": [{"orderId": "111", "tradeId": "222",
    "symbol": "BTCUSDT", "orderType": "market", "side": "buy", "price": "51000.5",
    "baseVolume": "0.01", "quoteVolume": "510.005", "profit": "0", "tradeSide": "open",
    "posMode": "hedge_mode", "tradeScope": "taker", "feeDetail": [{"feeCoin": "USDT",
    "deduction": "no", "totalDeductionFee": "0", "totalFee": "-0.306003"}],
    "cTime": "1703577336606", "uTime": "1703577336606"}], "ts": 1703577336700})  # fmt: skip
DOC_CONTRACTS = json.dumps({"code": "00000", "msg": "success", "requestTime": 1, "data": [
    {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "makerFeeRate": "0.0004",
     "takerFeeRate": "0.0006", "minTradeNum": "0.01", "priceEndStep": "1", "volumePlace": "2",
     "pricePlace": "1", "sizeMultiplier": "0.01", "symbolType": "perpetual",
     "minTradeUSDT": "5", "symbolStatus": "normal", "fundInterval": "8", "maxLever": "125",
     "supportMarginCoins": ["USDT"]}]})  # fmt: skip
DOC_ERROR = '{"code":"40009","msg":"sign signature error","requestTime":1695806875837,"data":null}'


def test_documented_messages_decode() -> None:
    f = c.decode_public(DOC_BOOK)
    assert f.action == "snapshot" and f.data and f.data[0].asks[0] == ("27000.5", "8.760")
    (o,) = c.decode_data(list[c.OrderPush], c.decode_private(DOC_ORDERS).data, "orders")
    u = order_update_of(o, 0.0)
    assert u.status is OrderStatus.FILLED and u.filled_qty == Decimal("0.01")
    client = BitgetClient(rest_url="http://127.0.0.1:1")
    client.orders.note(Placed("c111", "BTCUSDT", venue_order_id="111"), 0.0)  # no clientOid
    (delivered,) = client.orders.events(c.decode_private(DOC_FILL), 0.0)
    assert isinstance(delivered, Deliver) and isinstance(delivered.event, Fill)
    assert delivered.event.fee == Decimal("0.306003") and delivered.event.side is Side.BUY
    assert client.orders.events(c.decode_private(DOC_FILL), 0.0) == []  # de-duplicated
    (k,) = c.decode_data(list[c.Contract], c.decode_envelope(DOC_CONTRACTS).data, "contracts")
    assert k.priceEndStep.scaleb(-int(k.pricePlace)) == Decimal("0.1")
    assert c.decode_envelope(DOC_ERROR).code == "40009"
    assert c.decode_public('{"event":"error","code":30001,"msg":"x"}').code == 30001


def test_hedge_mode_body_names_the_position_side() -> None:
    client = BitgetClient(rest_url="http://127.0.0.1:1", hedge_mode=True)
    req = OrderRequest(venue="bitget", symbol="BTCUSDT", client_order_id="x1", side=Side.SELL,
                       qty=Decimal("0.01"), price=Decimal("100"), reduce_only=True)  # fmt: skip
    body = client.order_body(req)
    assert (body.side, body.tradeSide, body.reduceOnly) == ("buy", "close", "")  # close long
    one_way = BitgetClient(rest_url="http://127.0.0.1:1").order_body(req)
    assert (one_way.side, one_way.tradeSide, one_way.reduceOnly) == ("sell", "", "YES")
    assert one_way.force == "ioc" and one_way.marginMode == "crossed"


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, width=32),
    st.text(max_size=6), st.sampled_from(["NaN", "Infinity", "-0", "1e999", "", "0x1f", "1_0"]),
    st.builds(list), st.builds(dict), st.builds(lambda: [["1", "2", "3"]]),
)  # fmt: skip
DOCS = [DOC_BOOK, DOC_ORDERS, DOC_FILL, DOC_CONTRACTS]


@st.composite
def mutated(draw: Any) -> Any:
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


@given(mutated())
def test_mutated_messages_decode_or_raise_malformed(doc: Any) -> None:
    raw = json.dumps(doc)
    client = BitgetClient(rest_url="http://127.0.0.1:1")
    decoders = [
        c.decode_public,
        lambda r: client.orders.events(c.decode_private(r), 0.0),
        lambda r: c.decode_data(list[c.Contract], c.decode_envelope(r).data, "contracts"),
    ]
    for decode in decoders:
        with contextlib.suppress(MalformedMessage, BadRequest):
            decode(raw)


@given(mutated())
def test_mutated_book_frames_never_crash_the_tracker(doc: Any) -> None:
    t = BitgetBook(L2Book("bitget", "BTCUSDT"))
    f0 = c.decode_public(DOC_BOOK)
    assert f0.data is not None
    t.apply("snapshot", f0.data[0], 0.0)
    try:
        f = c.decode_public(json.dumps(doc))
        if f.data:
            t.apply(f.action, f.data[0], 1.0)
    except MalformedMessage:
        t.invalidate("malformed message")
    if t.book.tradable:
        assert not t.book.is_crossed()


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_malformed(raw: bytes) -> None:
    for decode in (c.decode_public, c.decode_private, c.decode_envelope, c.decode_ws_op):
        with contextlib.suppress(MalformedMessage):
            decode(raw)


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "mutating", "kind"),
    [
        ("40009", True, AuthenticationFailed), ("40008", False, AuthenticationFailed),
        ("40012", True, AuthenticationFailed), ("429", True, RateLimited),
        ("40754", True, OrderRejected), ("45110", True, OrderRejected),
        ("45034", True, OutcomeUnknown), ("40109", False, OrderNotFound),
        ("22001", True, OrderNotFound), ("45001", True, OutcomeUnknown),
        ("45001", False, Disconnected), ("400172", True, BadRequest), ("40774", True, BadRequest),
        ("99999", True, OrderRejected), ("99999", False, BadRequest),
    ],
)  # fmt: skip
def test_error_table(code: str, mutating: bool, kind: type[Exception]) -> None:
    err = error_for(code, "msg", mutating=mutating)
    assert type(err) is kind and err.code == code


def test_http_errors() -> None:
    assert isinstance(http_error_for(429, "", mutating=True), RateLimited)
    assert isinstance(http_error_for(503, "", mutating=True), OutcomeUnknown)
    assert isinstance(http_error_for(503, "", mutating=False), Disconnected)
