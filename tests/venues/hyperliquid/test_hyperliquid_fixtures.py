"""The corpus of real Hyperliquid payloads (``fixtures/*.json``, each file the payload as the
venue sends it, its source in ``fixtures/SOURCES.json``): the official API documentation's
examples, the official Python SDK's recorded mainnet answers, ccxt's recorded responses and
the example messages in ccxt's WebSocket client. Every one decodes to the values asserted
here, through the same functions the client uses; mutated variants (a null, empty or extra
field; a foreign or malformed item among good ones) behave as ``specs/010-hyperliquid.md``
says: optional fields accepted, bad items skipped and counted one by one, fees kept in
their own currency.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from arbtrio.core.types import Fill, OrderAck, OrderStatus, OrderUpdate, Side, VenuePosition
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    MalformedMessage,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    VenueHealth,
)
from arbtrio.venues.hyperliquid import codecs as c
from arbtrio.venues.hyperliquid.client import HyperliquidRules, cancel_outcome, placement_of
from arbtrio.venues.hyperliquid.convert import (
    balances_of,
    fill_of,
    fills_of,
    funding_of,
    positions_of,
    report_of,
    universe_of,
)
from arbtrio.venues.hyperliquid.feed import HyperliquidBookFeed, HyperliquidOrderFeed
from arbtrio.venues.hyperliquid.prepare import EXCHANGE_PATH
from arbtrio.venues.stream import Deliver, Fetch
from arbtrio.venues.tracking import Placed

D = Decimal
FIXTURES = Path(__file__).parent / "fixtures"
SOURCES: dict[str, dict[str, str]] = json.loads((FIXTURES / "SOURCES.json").read_text())
CID = "0x" + "0" * 31 + "7"
USER = "0x" + "ab" * 20


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def doc(name: str) -> Any:
    return json.loads(raw(name))


def text(value: Any) -> str:
    return json.dumps(value)


def health() -> VenueHealth:
    return VenueHealth("hyperliquid")


def test_every_fixture_names_its_source_and_every_source_its_fixture() -> None:
    files = {p.name for p in FIXTURES.glob("*.json")} - {"SOURCES.json"}
    assert files == set(SOURCES) and len(files) >= 40
    for name, entry in SOURCES.items():
        source = entry["source"]
        assert source.startswith(("https://hyperliquid.gitbook.io/", "hyperliquid-dex/", "ccxt/"))
        json.loads((FIXTURES / name).read_bytes())  # each is one JSON payload


# -- instruments ----------------------------------------------------------------------------------
def test_meta_docs_example_universe_with_a_delisted_entry() -> None:
    meta = c.decode("meta", raw("info_meta_docs"))
    assets = [c.decode_item("asset", a) for a in meta.universe]
    assert [(a.name, a.szDecimals, a.maxLeverage, a.isDelisted) for a in assets] == [
        ("BTC", 5, 50, False), ("ETH", 4, 50, False), ("HPOS", 0, 3, False), ("LOOM", 1, 3, True),
    ]  # fmt: skip
    btc = c.instrument_from_meta(assets[0])
    assert (btc.lot_size, btc.tick_size, btc.max_price_decimals) == (D("0.00001"), D("0.1"), 1)
    hpos = c.instrument_from_meta(assets[2])
    assert (hpos.lot_size, hpos.tick_size, hpos.max_price_decimals) == (D(1), D("0.000001"), 6)


def test_meta_recorded_by_the_sdk_keeps_the_universe_order() -> None:
    meta = c.decode("meta", raw("info_meta_sdk_2023"))
    names = [c.decode_item("asset", a).name for a in meta.universe]
    assert len(names) == 28 and names[:2] == ["BTC", "ETH"] and names[-1] == "APT"
    assert names.index("DOGE") == 12 and names.index("kPEPE") == 15  # the asset ids
    assert c.decode_item("asset", meta.universe[12]).szDecimals == 0


def test_meta_and_asset_ctxs_docs_example() -> None:
    h = health()
    universe = universe_of(c.decode("metaAndAssetCtxs", raw("info_meta_and_asset_ctxs_docs")), h)
    assert universe.assets == {"BTC": 0, "ETH": 1, "HPOS": 2}
    assert [i.symbol for i in universe.instruments] == ["BTC", "ETH", "HPOS"] and h.skipped == 0
    btc = universe.ctxs["BTC"]
    assert (btc.funding, btc.markPx, btc.oraclePx, btc.openInterest) == (
        D("0.0000125"), D("14.3161"), D("14.32"), D("688.11"),
    )  # fmt: skip
    (rate,) = funding_of(universe, ["ETH"], 3600.0, h)
    assert (rate.symbol, rate.rate, rate.interval_hours, rate.next_funding_ts) == (
        "ETH", D("0.0000125"), 1, 3600.0,
    )  # fmt: skip
    with pytest.raises(BadRequest, match="unknown coin"):
        funding_of(universe, ["SOL"], 0.0, h)


def test_builder_dex_universe_is_foreign_and_its_null_contexts_decode() -> None:
    h = health()
    universe = universe_of(
        c.decode("metaAndAssetCtxs", raw("info_meta_and_asset_ctxs_hip3_docs")), h
    )
    assert universe.instruments == [] and h.skipped == 3  # xyz:… are not first-dex perps
    assert universe.assets == {"xyz:XYZ100": 0, "xyz:TSLA": 1, "xyz:NVDA": 2}
    tsla = universe.ctxs["xyz:TSLA"]
    assert tsla.premium is None and tsla.impactPxs is None and tsla.markPx == D("465.13")


def test_a_malformed_universe_item_is_skipped_alone_and_keeps_the_asset_ids() -> None:
    meta, ctxs = doc("info_meta_and_asset_ctxs_docs")
    meta["universe"][1]["szDecimals"] = "four"  # ETH: undecodable
    ctxs[2]["funding"] = "NaN"  # HPOS: a context whose rate is not a number
    meta["universe"][0]["newField"] = {"x": [1]}  # an extra field
    h = health()
    universe = universe_of(c.decode("metaAndAssetCtxs", text([meta, ctxs])), h)
    assert universe.assets == {"BTC": 0, "HPOS": 2}  # HPOS keeps index 2
    assert [i.symbol for i in universe.instruments] == ["BTC", "HPOS"]
    rates = funding_of(universe, ["BTC", "ETH", "HPOS"], 0.0, h)
    assert [r.symbol for r in rates] == ["BTC"]  # ETH unknown (its item was bad), HPOS NaN
    assert h.skipped == 3 and universe.malformed == 1


def test_universe_and_contexts_of_different_lengths_are_malformed_as_a_whole() -> None:
    meta, ctxs = doc("info_meta_and_asset_ctxs_docs")
    with pytest.raises(MalformedMessage, match="differ in length"):
        universe_of(c.decode("metaAndAssetCtxs", text([meta, ctxs[:2]])), health())


# -- positions and balances -----------------------------------------------------------------------
def positions(name: str, h: VenueHealth | None = None) -> list[tuple[str, Decimal, Any, Any, Any]]:
    """(coin, size, entry, mark, liquidation price) of each position of fixture ``name``."""
    state = c.decode("clearinghouseState", raw(name))
    return [
        (p.symbol, p.qty, p.entry_price, p.mark_price, p.liquidation_price)
        for p in positions_of(state, h or health())
    ]


def balance(name: str) -> tuple[str, Decimal, Decimal]:
    (b,) = balances_of(c.decode("clearinghouseState", raw(name)))
    return b.currency, b.total, b.available


# The mark is positionValue ÷ |szi| (2985.9 = 100.02765 / 0.0335); liquidationPx null → None.
@pytest.mark.parametrize(
    ("name", "expected", "total", "available"),
    [
        ("info_clearinghouse_state_docs",
         [("ETH", D("0.0335"), D("2986.3"), D("2985.9"), D("2866.26936529"))],
         D("13109.482328"), D("13104.514502")),
        ("info_clearinghouse_state_ccxt_cross",
         [("SOL", D("3.34"), D("112.0945"), D("138.91"), None),
          ("ETH", D("3.6"), D("1100.0"), D("3803.9"), None)],
         D("19762.483455"), D("19047.685485")),
        ("info_clearinghouse_state_ccxt_short",
         [("SOL", D("-0.5"), D("138.76"), D("137.96"), D("22881.19788911")),
          ("ETH", D("1.6"), D("1100.0"), D("2387"), None)],
         D("11524.216934"), D("11292.922399")),
        ("info_clearinghouse_state_ccxt_isolated",
         [("HYPE", D("-4.0"), D("47.9932"), D("48.145"), D("50.2724802381"))],
         D("76.206517"), D("57.6421")),
        ("info_clearinghouse_state_ccxt_no_positions", [], D("20.454862"), D("19.954862")),
    ],
)  # fmt: skip
def test_clearinghouse_states(
    name: str, expected: list[Any], total: Decimal, available: Decimal
) -> None:
    h = health()
    assert positions(name, h) == expected and h.skipped == 0
    assert balance(name) == ("USDC", total, available)


def test_the_sdk_recorded_state_without_time_decodes_every_position() -> None:
    got = positions("info_clearinghouse_state_sdk_2023")
    assert len(got) == 12
    assert got[0] == ("BTC", D("-0.00785"), D("26951.0"), D("26961.2"), D("173198.69592357"))
    assert got[1] == ("ETH", D("0.1334"), D("1705.82"), D("1706.71"), None)  # null: none
    assert got[-1] == ("ARB", D("246.5"), D("1.17991"), D("1.17980"), None)
    assert balance("info_clearinghouse_state_sdk_2023") == (
        "USDC",
        D("1182.312496"),
        D("1010.57173"),
    )


def test_a_builder_dex_position_is_foreign() -> None:
    h = health()
    assert positions("info_clearinghouse_state_ccxt_hip3", h) == [] and h.skipped == 1
    assert balance("info_clearinghouse_state_ccxt_hip3") == ("USDC", D("6.889701"), D("0.163333"))


def test_position_items_are_decoded_one_by_one() -> None:
    state = doc("info_clearinghouse_state_ccxt_short")
    sol, eth = state["assetPositions"]
    nulls = json.loads(json.dumps(eth))
    nulls["position"] |= {"entryPx": None, "liquidationPx": "", "cumFunding": None, "x": 1}
    empty = json.loads(json.dumps(eth))
    empty["position"] |= {"coin": "BTC", "entryPx": "", "positionValue": None}
    broken = json.loads(json.dumps(sol))
    broken["position"]["szi"] = "Infinity"
    # A bad price beside a good size loses that price, never the position.
    odd = json.loads(json.dumps(sol))
    odd["position"] |= {"coin": "AVAX", "liquidationPx": {"px": 1}, "positionValue": "NaN"}
    zero = json.loads(json.dumps(sol))
    zero["position"] |= {"coin": "DOGE", "liquidationPx": "0.0", "positionValue": 68.98}
    state["assetPositions"] = [broken, nulls, {"type": "oneWay"}, empty, odd, zero]
    h = health()
    got = positions_of(c.decode("clearinghouseState", text(state)), h)
    position = VenuePosition(venue="hyperliquid", symbol="ETH", qty=D("1.6"), entry_price=None)
    assert got == [
        attrs.evolve(position, mark_price=D("2387")),
        attrs.evolve(position, symbol="BTC"),
        attrs.evolve(position, symbol="AVAX", qty=D("-0.5"), entry_price=D("138.76")),
        attrs.evolve(position, symbol="DOGE", qty=D("-0.5"), entry_price=D("138.76"),
                     mark_price=D("137.96")),
    ]  # fmt: skip
    assert h.skipped == 2  # the infinite size, the item without a position


# -- fills ----------------------------------------------------------------------------------------
def fills(name: str, h: VenueHealth) -> list[c.UserFill]:
    return fills_of(c.decode("userFills", raw(name)), h)


def test_docs_fills_convert_with_their_fee_currency() -> None:
    h = health()
    perp, hip3, spot = fills("info_user_fills_docs", h)
    fill = fill_of(perp, CID, 100.0, 1_681_222_264.71)
    assert fill == Fill(
        venue="hyperliquid", client_order_id=CID, trade_id="118906512037719", side=Side.BUY,
        qty=D("93.53"), price=D("18.435"), fee=D("0.01"), ts=90.0, fee_currency="",
    )  # fmt: skip
    assert c.fee_currency(hip3.feeToken) == ""  # " USDC" as printed: still the quote
    assert (c.foreign_coin(hip3.coin), c.foreign_coin(spot.coin), c.foreign_coin(perp.coin)) == (
        True, True, False,
    )  # fmt: skip
    assert fill_of(spot, CID, 0.0, 0.0).side is Side.SELL and h.skipped == 0


def test_a_fee_paid_in_another_coin_keeps_its_currency() -> None:
    h = health()
    got = fills("info_user_fills_ccxt_builder_fee", h)
    assert [(f.coin, f.tid) for f in got][:2] == [
        ("HYPE", 882779857052503),
        ("flx:CRCL", 1019408913364172),
    ]
    usdh = fill_of(got[1], CID, 0.0, 0.0)
    assert (usdh.fee, usdh.fee_currency, usdh.side) == (D("0.001173"), "USDH", Side.SELL)
    hype = fill_of(got[0], CID, 0.0, 0.0)
    assert (hype.qty, hype.price, hype.fee, hype.fee_currency) == (
        D("0.73"), D("33.209"), D("0.012896"), "",  # builderFee is inside fee
    )  # fmt: skip
    assert got[0].oid == 314848230306 and got[0].time == 1770458548926  # digit strings


def test_a_fill_naming_its_cloid_and_a_spot_fill() -> None:
    (sol,) = fills("info_user_fills_ccxt_cloid", health())
    assert (sol.cloid, sol.oid, sol.tid, sol.px) == (
        "0x1234567890abcdef1234567890abcdef", 6928122855, 566849930446139, D("132.31"),
    )  # fmt: skip
    (purr,) = fills("info_user_fills_ccxt_spot", health())
    assert c.foreign_coin(purr.coin) and purr.tid == 1107801776196793


def test_fills_without_a_trade_id_are_skipped_one_by_one() -> None:
    """The SDK's 2023 recording predates ``tid``: no fill can be de-duplicated, so each is
    skipped and counted (their orders' status still reaches the runtime)."""
    h = health()
    assert fills("info_user_fills_sdk_2023", h) == [] and h.skipped == 12


@pytest.mark.parametrize(
    ("change", "fee", "currency"),
    [
        ({"fee": None}, D(0), ""),  # a null fee: booked as 0 (logged), the fill kept
        ({"fee": ""}, D(0), ""),
        ({"feeToken": None}, D("0.01"), ""),
        ({"feeToken": ""}, D("0.01"), ""),
        ({"feeToken": "HYPE", "fee": "0.0002"}, D("0.0002"), "HYPE"),
        ({"extra": {"nested": [None]}, "builderFee": None, "liquidation": None}, D("0.01"), ""),
        ({"fee": 0.01, "px": 18.435, "sz": 93.53}, D("0.01"), ""),  # JSON numbers
    ],
)
def test_optional_fill_fields(change: dict[str, Any], fee: Decimal, currency: str) -> None:
    item = doc("info_user_fills_docs")[0] | change
    (decoded,) = fills_of(c.decode("userFills", text([item])), health())
    fill = fill_of(decoded, CID, 0.0, 0.0)
    assert (fill.fee, fill.fee_currency, fill.qty, fill.price) == (
        fee,
        currency,
        D("93.53"),
        D("18.435"),
    )


@pytest.mark.parametrize(
    "change",
    [{"px": ""}, {"sz": None}, {"px": "NaN"}, {"sz": "-1"}, {"sz": "0"}, {"fee": "Infinity"}],
)
def test_impossible_fills_do_not_convert(change: dict[str, Any]) -> None:
    item = doc("info_user_fills_docs")[0] | change
    h = health()
    decoded = fills_of(c.decode("userFills", text([item])), h)
    if decoded:  # decodes (a string), then fails its conversion
        with pytest.raises(MalformedMessage):
            fill_of(decoded[0], CID, 0.0, 0.0)
    else:
        assert h.skipped == 1


# -- order queries --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "status", "filled", "reason"),
    [
        ("info_order_status_docs", OrderStatus.FILLED, D("0.0076"), ""),
        ("info_order_status_ccxt_alo_open", OrderStatus.OPEN, D(0), "open"),
        ("info_order_status_ccxt_filled", OrderStatus.FILLED, D("0.2"), ""),
        ("info_order_status_ccxt_spot_canceled", OrderStatus.CANCELLED, D(0), "canceled"),
        ("info_order_status_ccxt_hip3_open", OrderStatus.OPEN, D(0), "open"),
    ],
)
def test_order_status_answers(name: str, status: OrderStatus, filled: Decimal, reason: str) -> None:
    report = report_of(c.decode("orderStatus", raw(name)), CID, [], 0.0, 0.0, health())
    assert report is not None
    assert (report.status, report.filled_qty, report.reason, report.fills) == (
        status,
        filled,
        reason,
        (),
    )


def test_an_unknown_order_and_a_report_with_its_fills() -> None:
    answer = c.decode("orderStatus", raw("info_order_status_unknown_docs"))
    assert report_of(answer, CID, [], 0.0, 0.0, health()) is None  # query_order: OrderNotFound
    status = doc("info_order_status_docs")
    fill = doc("info_user_fills_docs")[0] | {"sz": "0.0076", "px": "2412.7", "side": "A"}
    broken = fill | {"tid": 2, "px": "NaN"}
    h = health()
    fs = fills_of(c.decode("userFills", text([fill, broken])), h)
    report = report_of(c.decode("orderStatus", text(status)), CID, fs, 0.0, 0.0, h)
    assert report is not None and [f.trade_id for f in report.fills] == ["118906512037719"]
    assert report.avg_price == D("2412.7") and h.skipped == 1  # the NaN fill alone


def test_historical_order_entries_have_the_order_status_shape() -> None:
    statuses = []
    for entry in doc("info_historical_orders_sdk_2025"):
        answer = c.decode("orderStatus", text({"status": "order", "order": entry}))
        report = report_of(answer, CID, [], 0.0, 0.0, health())
        assert report is not None
        statuses.append((report.status, report.filled_qty))
    assert statuses == [(OrderStatus.REJECTED, D(0))] * 3 + [(OrderStatus.CANCELLED, D(0))] * 2


def test_user_fees() -> None:
    docs_fees = c.decode("userFees", raw("info_user_fees_docs"))
    assert (docs_fees.userCrossRate, docs_fees.userAddRate) == (D("0.000315"), D("0.000105"))
    ccxt_fees = c.decode("userFees", raw("info_user_fees_ccxt"))
    assert (ccxt_fees.userCrossRate, ccxt_fees.userAddRate) == (D("0.00035"), D("0.0001"))


# -- /exchange answers ----------------------------------------------------------------------------
def exchange(name: str) -> c.ExchangeOkBody:
    body = HyperliquidRules(health()).unwrap(
        httpx.Response(200, content=raw(name)), EXCHANGE_PATH, True
    )
    assert isinstance(body, c.ExchangeOkBody)
    return body


def test_placement_answers() -> None:
    assert placement_of(exchange("exchange_order_resting_docs"), CID) == (77738308, None)
    oid, filled = placement_of(exchange("exchange_order_filled_docs"), CID)
    assert oid == 77747314 and filled is not None
    assert (filled.totalSz, filled.avgPx) == (D("0.02"), D("1891.4"))
    oid, filled = placement_of(exchange("exchange_order_filled_ccxt"), CID)
    assert oid == 296683658818 and filled is not None and filled.avgPx == D("25.585")
    with pytest.raises(OrderRejected, match=r"minimum value of \$10"):
        placement_of(exchange("exchange_order_error_docs"), CID)
    with pytest.raises(OutcomeUnknown):  # three statuses for one order: query it instead
        placement_of(exchange("exchange_order_tpsl_ccxt"), CID)
    assert exchange("exchange_default_ccxt").type == "default"


def test_cancel_answers_and_the_whole_request_error() -> None:
    cancel_outcome(exchange("exchange_cancel_success_docs"), CID)
    with pytest.raises(OrderNotFound):
        cancel_outcome(exchange("exchange_cancel_error_docs"), CID)
    with pytest.raises(AuthenticationFailed, match="does not exist"):
        exchange("exchange_err_unknown_wallet_docs")


# -- WebSocket ------------------------------------------------------------------------------------
def order_feed(wall: float = 1_710_208_800.0) -> HyperliquidOrderFeed:
    f = HyperliquidOrderFeed(USER, health(), lambda: wall)
    f.connected(None, 0.0)
    return f


def delivered(outputs: Any) -> list[Any]:
    return [o.event for o in outputs if isinstance(o, Deliver)]


def test_the_book_snapshot_message() -> None:
    feed = HyperliquidBookFeed({}, ["BTC"], health())
    feed.connected(None, 0.0)
    feed.frame(raw("ws_l2book_ccxt"), 1.0)
    book = feed.books["BTC"]
    assert book.best_bid() == (68674.0, 0.97139) and book.best_ask() == (68675.0, 0.04396)
    assert book.seq == 1710131872708
    for name in ("ws_pong_ccxt", "ws_error_ccxt", "ws_subscription_response_l2book_ccxt",
                 "ws_subscription_response_trades_docs"):  # fmt: skip
        assert feed.frame(raw(name), 2.0) == ()
    assert feed.health.malformed == 0 and book.tradable


def test_an_order_update_without_a_cloid_is_not_ours_until_its_oid_is() -> None:
    f = order_feed()
    assert f.frame(raw("ws_order_updates_ccxt"), 1.0) == () and f.health.skipped == 1
    f.note(Placed(CID, "BTC", venue_order_id="7456484275"), 1.5)
    ack, upd = delivered(f.frame(raw("ws_order_updates_ccxt"), 2.0))
    assert isinstance(ack, OrderAck) and ack.client_order_id == CID
    assert ack.venue_order_id == "7456484275"
    assert isinstance(upd, OrderUpdate) and (upd.status, upd.filled_qty) == (OrderStatus.OPEN, 0)


def test_the_snapshot_fill_of_an_order_of_ours_is_delivered_once() -> None:
    f = order_feed()
    f.note(Placed(CID, "BTC", venue_order_id="7484888874"), 0.5)
    (fill,) = delivered(f.frame(raw("ws_user_fills_snapshot_ccxt"), 1.0))
    assert isinstance(fill, Fill) and (fill.trade_id, fill.side, fill.qty, fill.price) == (
        "567547935839686", Side.SELL, D("0.11693"), D("72528.0"),
    )  # fmt: skip
    assert (fill.fee, fill.fee_currency) == (D("2.968244"), "")  # no feeToken: USDC
    assert delivered(f.frame(raw("ws_user_fills_snapshot_ccxt"), 2.0)) == []  # seen


def test_an_old_snapshot_fill_of_an_unknown_order_is_history_not_held() -> None:
    f = order_feed(wall=1_710_208_712.815 + 3600)  # the fill is an hour old
    out = f.frame(raw("ws_user_fills_snapshot_ccxt"), 1.0)
    assert not [o for o in out if isinstance(o, Deliver)] and f.health.skipped == 1
    assert f.tracker.fills_waited == 0
    recent = order_feed(wall=1_710_208_712.815 + 2)  # two seconds old: maybe ours, held
    recent.frame(raw("ws_user_fills_snapshot_ccxt"), 1.0)
    assert recent.tracker.fills_waited == 1 and recent.health.skipped == 0
    (fill,) = delivered(recent.note(Placed(CID, "BTC", venue_order_id="7484888874"), 1.5))
    assert fill.client_order_id == CID


def test_a_push_of_real_fills_skips_the_foreign_ones_and_keeps_the_good() -> None:
    """The docs' three fills (a perp, a HIP-3 and a spot one) in one push, and a malformed
    fill among them: the perp fill alone is delivered, the others counted; the malformed
    one re-queries the orders this client has not seen finish."""
    items = doc("info_user_fills_docs")
    push = {"channel": "userFills", "data": {"user": USER, "fills": [
        items[1], {"coin": "AVAX", "oid": 90542681}, items[0], items[2],
    ]}}  # fmt: skip
    f = order_feed(wall=1_681_222_255.0)
    f.note(Placed(CID, "AVAX", venue_order_id="90542681"), 0.5)
    f.tracker.subscribed(0.6)
    out = f.frame(text(push), 1.0)
    (fill,) = delivered(out)
    assert isinstance(fill, Fill) and fill.trade_id == "118906512037719" and fill.fee == D("0.01")
    assert f.health.skipped == 3 and f.health.malformed == 0
    assert [o.key.client_order_id for o in out if isinstance(o, Fetch)] == [CID]


def test_order_update_items_are_decoded_one_by_one() -> None:
    entry = doc("ws_order_updates_ccxt")["data"][0]
    ours = json.loads(json.dumps(entry))
    ours["order"] |= {"cloid": CID, "extra": None}
    spot = json.loads(json.dumps(ours))
    spot["order"]["coin"] = "@107"
    broken = json.loads(json.dumps(ours))
    broken["order"]["sz"] = ""
    push = {"channel": "orderUpdates", "data": [broken, spot, ours, "junk"]}
    f = order_feed()
    ack, upd = delivered(f.frame(text(push), 1.0))
    assert isinstance(ack, OrderAck) and isinstance(upd, OrderUpdate)
    assert upd.client_order_id == CID and f.health.skipped == 3


# -- clearinghouseState pushes --------------------------------------------------------------------
def state_push(state: Any, *, dex: Any = "", user: Any = USER) -> str:
    """The documented WebSocket envelope of a ``clearinghouseState`` push around a state in
    the shape of the ``/info`` answer (the subscriptions page's ``ClearinghouseState`` type)."""
    data: dict[str, Any] = {"clearinghouseState": state}
    if dex is not None:
        data["dex"] = dex
    if user is not None:
        data["user"] = user
    return text({"channel": "clearinghouseState", "data": data})


@pytest.mark.parametrize(
    "name",
    ["info_clearinghouse_state_docs", "info_clearinghouse_state_ccxt_cross",
     "info_clearinghouse_state_ccxt_short", "info_clearinghouse_state_ccxt_isolated",
     "info_clearinghouse_state_sdk_2023", "info_clearinghouse_state_ccxt_no_positions"],
)  # fmt: skip
def test_a_state_push_keeps_what_the_rest_answer_gives(name: str) -> None:
    """Pushed balances and positions (with mark and liquidation price) are exactly what
    fetch_balances / fetch_positions make of the same state."""
    f = order_feed()
    assert f.frame(state_push(doc(name)), 1.0) == ()
    state = c.decode("clearinghouseState", raw(name))
    assert f.pushed_balances == {"USDC": balances_of(state)[0]}
    expected = positions_of(state, health())
    assert f.pushed_positions == {p.symbol: p for p in expected}
    assert f.health.skipped == 0 and f.health.malformed == 0


def test_a_push_replaces_the_positions_a_malformed_item_keeps_them() -> None:
    f = order_feed()
    f.frame(state_push(doc("info_clearinghouse_state_ccxt_short")), 1.0)
    sol = f.pushed_positions["SOL"]
    assert set(f.pushed_positions) == {"SOL", "ETH"}
    assert (sol.qty, sol.mark_price, sol.liquidation_price) == (
        D("-0.5"), D("137.96"), D("22881.19788911"),
    )  # fmt: skip
    state = doc("info_clearinghouse_state_ccxt_short")
    eth = state["assetPositions"][1]
    eth["position"] |= {"szi": "2.0", "positionValue": "4800.0"}
    state["assetPositions"] = [eth, {"type": "oneWay", "position": {"coin": "SOL"}}]
    f.frame(state_push(state), 2.0)  # SOL's item is unreadable: it may still be held
    assert f.health.skipped == 1
    assert f.pushed_positions["SOL"] == sol
    assert f.pushed_positions["ETH"].qty == D("2.0")
    assert f.pushed_positions["ETH"].mark_price == D("2400")
    f.frame(state_push(doc("info_clearinghouse_state_ccxt_no_positions")), 3.0)  # all flat
    assert f.pushed_positions == {}
    assert f.pushed_balances["USDC"].total == D("20.454862")


def test_foreign_and_broken_state_pushes() -> None:
    f = order_feed()
    f.frame(state_push(doc("info_clearinghouse_state_docs")), 1.0)
    before = (dict(f.pushed_balances), dict(f.pushed_positions))
    other = doc("info_clearinghouse_state_ccxt_short")
    f.frame(state_push(other, dex="xyz"), 2.0)  # another dex's state
    f.frame(state_push(other, user="0x" + "cd" * 20), 3.0)  # another user's
    assert f.health.skipped == 2 and (f.pushed_balances, f.pushed_positions) == before
    f.frame(state_push(doc("info_clearinghouse_state_ccxt_hip3")), 4.0)  # a builder-dex coin
    assert f.health.skipped == 3 and f.pushed_positions == {}
    assert f.pushed_balances["USDC"].total == D("6.889701")
    nan = doc("info_clearinghouse_state_ccxt_short")
    nan["marginSummary"]["accountValue"] = "NaN"
    f.frame(state_push(nan, dex=None, user=USER.upper().replace("0X", "0x")), 5.0)
    assert f.health.skipped == 4  # the balance: the previous one kept, the positions taken
    assert f.pushed_balances["USDC"].total == D("6.889701")
    assert set(f.pushed_positions) == {"SOL", "ETH"}
    whole = doc("info_clearinghouse_state_docs")
    del whole["marginSummary"]
    f.frame(state_push(whole), 6.0)  # not a state at all: a malformed frame
    assert f.health.malformed == 1 and set(f.pushed_positions) == {"SOL", "ETH"}
