"""Codecs: real messages decode; mutated ones decode or raise MalformedMessage, nothing else;
wire numbers follow the venue's rounding rules."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import round_price
from arbtrio.core.types import OrderStatus, Side
from arbtrio.venues.base import MalformedMessage, VenueHealth
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.client import order_status
from arbtrio.venues.hyperliquid.convert import (
    balances_of,
    fill_of,
    fills_of,
    positions_of,
    report_of,
    universe_of,
)
from arbtrio.venues.hyperliquid.feed import HyperliquidBookFeed, HyperliquidOrderFeed

# -- real messages (the documentation's examples: info, exchange answers, WebSocket) -----------
L2BOOK = '{"channel":"l2Book","data":{"coin":"BTC","time":1710131872708,"levels":[[{"px":"68674.0","sz":"0.97139","n":4},{"px":"68673.0","sz":"1.5","n":2}],[{"px":"68675.0","sz":"0.04396","n":1},{"px":"68676.0","sz":"2","n":3}]]}}'  # noqa: E501
BBO = '{"channel":"bbo","data":{"coin":"BTC","time":1710131872709,"bbo":[{"px":"68674.0","sz":"0.5","n":2},{"px":"68675.0","sz":"0.04396","n":1}]}}'  # noqa: E501
ORDER_UPDATES = '{"channel":"orderUpdates","data":[{"order":{"coin":"ETH","side":"A","limitPx":"2412.7","sz":"0.0","oid":1,"timestamp":1724361546645,"origSz":"0.0076","cloid":"0x00000000000000000000000000000001"},"status":"filled","statusTimestamp":1724361546645}]}'  # noqa: E501
USER_FILLS = '{"channel":"userFills","data":{"isSnapshot":true,"user":"0x14791697260e4c9a71f18484c9f997b308e59325","fills":[{"closedPnl":"0.0","coin":"AVAX","crossed":false,"dir":"Open Long","hash":"0xa166","oid":90542681,"px":"18.435","side":"B","startPosition":"26.86","sz":"93.53","time":1681222254710,"fee":"0.01","feeToken":"USDC","builderFee":"0.01","tid":118906512037719}]}}'  # noqa: E501
WS_OTHER = [
    '{"channel":"pong"}',
    '{"channel":"subscriptionResponse","data":{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC","nSigFigs":5,"mantissa":null}}}',
    '{"channel":"error","data":"Error parsing JSON into valid websocket request: {}"}',
    c.GREETING,
]
WS_MESSAGES = [L2BOOK, BBO, ORDER_UPDATES, USER_FILLS, *WS_OTHER]

META = '{"universe":[{"name":"BTC","szDecimals":5,"maxLeverage":50},{"name":"HPOS","szDecimals":0,"maxLeverage":3,"onlyIsolated":true},{"name":"LOOM","szDecimals":1,"maxLeverage":3,"isDelisted":true,"marginMode":"strictIsolated","onlyIsolated":true}],"marginTables":[[50,{"description":"","marginTiers":[{"lowerBound":"0.0","maxLeverage":50}]}]]}'  # noqa: E501
CTX = '{"dayNtlVlm":"1169046.29406","funding":"0.0000125","impactPxs":["14.3047","14.3444"],"markPx":"14.3161","midPx":"14.314","openInterest":"688.11","oraclePx":"14.32","premium":"0.00031774","prevDayPx":"15.322","dayBaseVlm":"81000"}'  # noqa: E501
CTX_NULLS = '{"dayNtlVlm":"0.0","funding":"0.0","impactPxs":null,"markPx":"1.0","midPx":null,"openInterest":"0.0","oraclePx":"1.0","premium":null,"prevDayPx":"1.0"}'  # noqa: E501
META_AND_CTXS = f"[{META},[{CTX},{CTX_NULLS},{CTX}]]"
ORDER_STATUS = '{"status":"order","order":{"order":{"coin":"ETH","side":"A","limitPx":"2412.7","sz":"0.0","oid":1,"timestamp":1724361546645,"triggerCondition":"N/A","isTrigger":false,"triggerPx":"0.0","children":[],"isPositionTpsl":false,"reduceOnly":true,"orderType":"Market","origSz":"0.0076","tif":"FrontendMarket","cloid":null},"status":"filled","statusTimestamp":1724361546645}}'  # noqa: E501
CLEARINGHOUSE = '{"assetPositions":[{"type":"oneWay","position":{"coin":"ETH","szi":"0.0335","entryPx":"2986.3","leverage":{"type":"isolated","value":20,"rawUsd":"-95.059824"},"liquidationPx":"2866.26936529","marginUsed":"4.967826","maxLeverage":50,"positionValue":"100.02765","returnOnEquity":"-0.0026789","unrealizedPnl":"-0.0134","cumFunding":{"allTime":"514.085417","sinceChange":"0.0","sinceOpen":"0.0"}}}],"crossMaintenanceMarginUsed":"0.0","crossMarginSummary":{"accountValue":"13104.514502","totalMarginUsed":"0.0","totalNtlPos":"0.0","totalRawUsd":"13104.514502"},"marginSummary":{"accountValue":"13109.482328","totalMarginUsed":"4.967826","totalNtlPos":"100.02765","totalRawUsd":"13009.454678"},"time":1708622398623,"withdrawable":"13104.514502"}'  # noqa: E501
USER_FILLS_REST = '[{"closedPnl":"0.0","coin":"AVAX","crossed":false,"dir":"Open Long","hash":"0xa166","oid":90542681,"px":"18.435","side":"B","startPosition":"26.86","sz":"93.53","time":1681222254710,"fee":"0.01","feeToken":"USDC","tid":118906512037719}]'  # noqa: E501
EXCHANGE = [
    '{"status":"ok","response":{"type":"order","data":{"statuses":[{"resting":{"oid":77738308}}]}}}',
    '{"status":"ok","response":{"type":"order","data":{"statuses":[{"filled":{"totalSz":"0.02","avgPx":"1891.4","oid":77747314}}]}}}',
    '{"status":"ok","response":{"type":"order","data":{"statuses":[{"error":"Order must have minimum value of $10."}]}}}',  # noqa: E501
    '{"status":"ok","response":{"type":"order","data":{"statuses":[{"filled":{"totalSz":"0.02","avgPx":"1891.4","oid":1}},"waitingForTrigger","waitingForTrigger"]}}}',
    '{"status":"ok","response":{"type":"cancel","data":{"statuses":["success"]}}}',
    '{"status":"ok","response":{"type":"default"}}',
    '{"status":"err","response":"Invalid nonce: duplicate nonce 1741107452532"}',
]
REST = [
    ("meta", META),
    ("metaAndAssetCtxs", META_AND_CTXS),
    ("orderStatus", ORDER_STATUS),
    ("orderStatus", '{"status":"unknownOid"}'),
    ("clearinghouseState", CLEARINGHOUSE),
    ("userFills", USER_FILLS_REST),
    *[("exchangeResponse", e) for e in EXCHANGE],
]


# -- translation into the domain (what the client does after decoding) -------------------------
def _book_feed(books: dict[str, L2Book] | None = None) -> HyperliquidBookFeed:
    return HyperliquidBookFeed({} if books is None else books, ["BTC"], VenueHealth("hyperliquid"))


def translate_ws(text: str) -> None:
    """Everything the streams do with a frame: decode it and every item of it."""
    feed = _book_feed()
    orders = HyperliquidOrderFeed("0x" + "0" * 40, VenueHealth("hyperliquid"), lambda: 0.0)
    msg = c.decode_ws(text)
    if isinstance(msg, c.OrderUpdatesMsg):
        for raw in msg.data:
            orders.order_events(c.decode_item("orderUpdate", raw), 0.0, 0.0)
    elif isinstance(msg, c.UserFillsMsg):
        for raw in msg.data.fills:
            fill_of(c.decode_item("fill", raw), "0x" + "0" * 32, 0.0, 0.0)
    else:
        feed.apply(msg, 0.0)


def translate_rest(kind: str, text: str) -> None:
    """Everything the client does with an answer: decode it and convert it item by item
    (a bad item is skipped, only a bad whole raises)."""
    decoded = c.decode(kind, text)
    health = VenueHealth("hyperliquid")
    if kind == "meta":
        for raw in decoded.universe:
            with contextlib.suppress(MalformedMessage):
                c.instrument_from_meta(c.decode_item("asset", raw))
    elif kind == "metaAndAssetCtxs":
        universe_of(decoded, health)
    elif kind == "orderStatus":
        report_of(decoded, "0x" + "0" * 32, [], 0.0, 0.0, health)
    elif kind == "clearinghouseState":
        positions_of(decoded, health)
        balances_of(decoded)
    elif kind == "userFills":
        for fill in fills_of(decoded, health):
            with contextlib.suppress(MalformedMessage):
                fill_of(fill, "0x" + "0" * 32, 0.0, 0.0)


def test_real_messages_decode() -> None:
    for text in WS_MESSAGES:
        translate_ws(text)
    for kind, text in REST:
        translate_rest(kind, text)
    book = c.decode_ws(L2BOOK)
    assert isinstance(book, c.L2BookMsg)
    assert c.book_sides(book.data.levels) == (
        [(68674.0, 0.97139), (68673.0, 1.5)],
        [(68675.0, 0.04396), (68676.0, 2.0)],
    )
    universe = universe_of(c.decode("metaAndAssetCtxs", META_AND_CTXS), VenueHealth("x"))
    assert universe.assets == {"BTC": 0, "HPOS": 1, "LOOM": 2}
    assert [i.symbol for i in universe.instruments] == ["BTC", "HPOS"]  # LOOM is delisted
    assert universe.ctxs["HPOS"].midPx is None
    assert c.decode_ws(c.GREETING) is None


def test_book_then_newer_bbo_moves_the_top() -> None:
    book = L2Book("hyperliquid", "BTC")
    feed = _book_feed({"BTC": book})
    feed.apply(c.decode_ws(L2BOOK), 1.0)
    feed.apply(c.decode_ws(BBO), 2.0)
    assert book.best_bid() == (68674.0, 0.5) and book.best_ask() == (68675.0, 0.04396)
    older = BBO.replace("1710131872709", "1710131872000").replace('"0.5"', '"9"')
    feed.apply(c.decode_ws(older), 3.0)  # older than the snapshot: ignored
    assert book.best_bid() == (68674.0, 0.5)
    moved = BBO.replace("68674.0", "68673.5").replace("1710131872709", "1710131872710")
    feed.apply(c.decode_ws(moved), 4.0)  # the bid dropped: levels above it are gone
    assert book.best_bid() == (68673.5, 0.5) and book.depth() == (2, 2)


@pytest.mark.parametrize(
    "levels",
    [
        '[[{"px":"1","sz":"1","n":1},{"px":"2","sz":"1","n":1}],[]]',  # bids ascending
        '[[{"px":"-1","sz":"1","n":1}],[]]',
        '[[{"px":"NaN","sz":"1","n":1}],[]]',
        '[[],[{"px":"2","sz":"inf","n":1}]]',
        '[[{"px":"3","sz":"1","n":1}],[{"px":"2","sz":"1","n":1}]]',  # crossed
    ],
)
def test_impossible_books_are_malformed(levels: str) -> None:
    feed = _book_feed()
    text = '{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":' + levels + "}}"
    with pytest.raises(MalformedMessage):
        feed.apply(c.decode_ws(text), 0.0)


_SIDE = st.dictionaries(
    st.integers(1, 400).map(lambda i: i / 4),
    st.sampled_from([0.0, 0.001, 0.5, 2.0, 7.25]),
    max_size=25,
)


@given(_SIDE, _SIDE)
def test_sorted_snapshot_fast_path_builds_the_same_book(
    bids: dict[float, float], asks: dict[float, float]
) -> None:
    """book_ladders + L2Book.apply_sorted_snapshot == book_sides + L2Book.apply_snapshot,
    zero-size levels included (both skip them)."""
    levels = (
        [c.Level(px=p, sz=s, n=1) for p, s in sorted(bids.items(), reverse=True)],
        [c.Level(px=p + 200, sz=s, n=1) for p, s in sorted(asks.items())],
    )
    slow, fast = L2Book("hyperliquid", "BTC"), L2Book("hyperliquid", "BTC")
    slow.apply_snapshot(*c.book_sides(levels), 1.0, seq=7)
    (bp, bs), (ap, as_) = c.book_ladders(levels)
    fast.apply_sorted_snapshot(bp, bs, ap, as_, 1.0, seq=7)
    assert fast.levels(Side.BUY) == slow.levels(Side.BUY)
    assert fast.levels(Side.SELL) == slow.levels(Side.SELL)
    assert (fast.depth(), fast.best_bid(), fast.best_ask(), fast.seq, fast.tradable) == (
        slow.depth(), slow.best_bid(), slow.best_ask(), slow.seq, slow.tradable
    )  # fmt: skip
    assert fast.vwap(Side.BUY, 3.0) == slow.vwap(Side.BUY, 3.0)


# -- Hypothesis: mutated real messages -----------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8)
    | st.sampled_from(["NaN", "-1", "1e999999", "0", "", "A", "B", "filled", "1e-30"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], tuple(rest), new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, texts: list[str]) -> str:
    text = draw(st.sampled_from(texts))
    if draw(st.booleans()) and text != c.GREETING:
        doc = json.loads(text)
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        if path and draw(st.booleans()):  # delete a key / element
            parent = _paths(doc) and path[:-1]
            container: Any = doc
            for key in parent:
                container = container[key]
            container = dict(container) if isinstance(container, dict) else list(container)
            del container[path[-1]]
            return json.dumps(_replace(doc, parent, container))
        return json.dumps(_replace(doc, path, draw(json_values)))
    cut = draw(st.integers(0, len(text)))
    junk = draw(st.text(max_size=4))
    return text[:cut] + junk + text[cut + draw(st.integers(0, 3)) :]


@given(mutated(WS_MESSAGES))
def test_mutated_ws_messages_decode_or_raise_malformed(text: str) -> None:
    with contextlib.suppress(MalformedMessage):
        translate_ws(text)


@given(st.sampled_from(REST).flatmap(lambda kt: st.tuples(st.just(kt[0]), mutated([kt[1]]))))
def test_mutated_rest_messages_decode_or_raise_malformed(kind_text: tuple[str, str]) -> None:
    kind, text = kind_text
    with contextlib.suppress(MalformedMessage):
        translate_rest(kind, text)


# -- statuses and wire numbers ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", OrderStatus.OPEN),
        ("filled", OrderStatus.FILLED),
        ("canceled", OrderStatus.CANCELLED),
        ("scheduledCancel", OrderStatus.CANCELLED),
        ("reduceOnlyCanceled", OrderStatus.CANCELLED),
        ("rejected", OrderStatus.REJECTED),
        ("iocCancelRejected", OrderStatus.REJECTED),
        ("perpMarginRejected", OrderStatus.REJECTED),
    ],
)
def test_order_status_mapping(status: str, expected: OrderStatus) -> None:
    assert order_status(status) is expected


def test_unknown_order_status_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        order_status("mystery")


def _inst(sz_decimals: int) -> Any:
    return c.instrument_from_meta(c.AssetMeta(name="X", szDecimals=sz_decimals, maxLeverage=10))


@pytest.mark.parametrize(
    ("sz_decimals", "price", "wire"),
    [  # ccxt fixture examples and the docs' tick and lot size rules
        (5, "100000.42343243", "100000"),
        (5, "70956.12312321", "70956"),
        (4, "3500.12345", "3500.1"),
        (0, "0.043423423434", "0.043423"),
        (2, "115.5", "115.5"),
        (1, "0.094605", "0.0946"),  # ARB: 5 sig figs but 6 decimals > 5 allowed
        (0, "123456", "123456"),  # integer prices always allowed
        (0, "1234.56", "1234.6"),
        (0, "0.0012345", "0.001234"),
        (1, "0.012345", "0.01234"),
    ],
)
def test_prices_round_to_the_venue_rules(sz_decimals: int, price: str, wire: str) -> None:
    inst = _inst(sz_decimals)
    rounded = round_price(inst, Decimal(price), "nearest" if price != "0.094605" else "down")
    assert c.price_to_wire(inst, rounded) == wire


@pytest.mark.parametrize(
    ("sz_decimals", "price"), [(0, "12345.6"), (0, "1234.56"), (1, "0.012345")]
)
def test_invalid_prices_are_refused(sz_decimals: int, price: str) -> None:
    with pytest.raises(ValueError, match="price"):
        c.price_to_wire(_inst(sz_decimals), Decimal(price))


def test_sizes_are_lot_multiples_without_trailing_zeros() -> None:
    inst = _inst(4)
    assert c.size_to_wire(inst, Decimal("0.0100")) == "0.01"
    assert c.size_to_wire(inst, Decimal("100.0")) == "100"
    for bad in ("0.00001", "0", "-0", "-0.01"):
        with pytest.raises(ValueError, match="qty"):
            c.size_to_wire(inst, Decimal(bad))


@given(st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("1e7"), places=8),
       st.integers(0, 6))  # fmt: skip
def test_rounded_prices_always_serialise_canonically(price: Decimal, sz_decimals: int) -> None:
    inst = _inst(sz_decimals)
    rounded = round_price(inst, price, "down")
    if rounded <= 0:
        return
    wire = c.price_to_wire(inst, rounded)
    assert Decimal(wire) == rounded and c.canonical_number(wire) == wire
    assert not wire.startswith("-") and "e" not in wire.lower()
    digits = wire.replace(".", "").lstrip("0")
    assert "." not in wire or len(digits) <= 5
    assert "." not in wire or len(wire.split(".")[1]) <= 6 - sz_decimals
