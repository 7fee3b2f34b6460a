"""The Hyperliquid emulator's margin side, independent of the client: ``updateLeverage``
(parsed, signature-checked over the venue's own serialisation, kept per account and coin,
refused as the venue refuses), where the setting is reported (``clearinghouseState``,
``activeAssetData``), the liquidation price against the venue's own numbers in the
documented and recorded payloads, the ``clearinghouseState`` pushes, and the book frames'
wall-clock ``time`` with the delay knob. In-process through the ASGI app (no sockets),
signed with coincurve as in ``test_hyperliquid.py``; nothing imports ``arbtrio.venues``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from emulators.test_hyperliquid import body, call, emulator, exchange, frames, order, order_action

from arbtrio.emulators.hyperliquid import (
    AccountState,
    HyperliquidEmulator,
    Margin,
    _Conn,
    liquidation_px,
)
from arbtrio.emulators.hyperliquid_wire import (
    CROSS_NOT_ALLOWED,
    INVALID_LEVERAGE,
    SWITCH_WITH_POSITION,
    hash_view,
    parse_exchange,
)

D = Decimal
FIXTURES = Path(__file__).parents[1] / "venues" / "hyperliquid" / "fixtures"
EPOCH = 1_750_000_000.0


def leverage(asset: int, is_cross: bool, value: Any) -> dict[str, Any]:
    """The ``updateLeverage`` action in the SDK's key order."""
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": value}


async def set_leverage(emu: HyperliquidEmulator, asset: int, is_cross: bool, value: Any) -> Any:
    return await exchange(emu, body(leverage(asset, is_cross, value), emu.now_ms()))


async def info(emu: HyperliquidEmulator, **request: Any) -> Any:
    status, raw = await call(emu, "POST", "/info", json.dumps(request).encode())
    assert status == 200, raw
    return json.loads(raw)


async def buy(emu: HyperliquidEmulator, size: str, *, sell: bool = False) -> None:
    bids, asks = emu.market.book_levels("hyperliquid", "BTC", 1)
    px = str(int(bids[0][0]) - 100) if sell else str(int(asks[0][0]) + 100)
    reply = await exchange(emu, body(order_action(order(0, not sell, px, size)), emu.now_ms()))
    assert "filled" in reply["response"]["data"]["statuses"][0], reply


def btc(state: dict[str, Any]) -> dict[str, Any]:
    (item,) = [p["position"] for p in state["assetPositions"] if p["position"]["coin"] == "BTC"]
    position: dict[str, Any] = item
    return position


# -- updateLeverage ------------------------------------------------------------------------------
async def test_update_leverage_is_kept_per_coin_and_reported(autojump_clock: Any) -> None:
    emu = emulator()
    data = await info(emu, type="activeAssetData", user=emu.user, coin="BTC")
    assert data["leverage"] == {"type": "cross", "value": 10}  # the default setting
    ok = {"status": "ok", "response": {"type": "default"}}
    assert await set_leverage(emu, 0, False, 5) == ok
    assert await set_leverage(emu, 0, False, 5) == ok  # already set: the same answer
    assert emu.margins[(emu.user, "BTC")] == Margin(5, cross=False)
    assert emu.margin("ETH") == Margin(10, cross=True)  # another coin keeps its own
    data = await info(emu, type="activeAssetData", user=emu.user, coin="BTC")
    assert data["leverage"] == {"type": "isolated", "value": 5, "rawUsd": "0.0"}
    assert data["coin"] == "BTC" and D(data["markPx"]) > 0
    assert D(data["maxTradeSzs"][0]) > 0  # what 5x of the balance buys
    await buy(emu, "0.01")
    position = btc(await info(emu, type="clearinghouseState", user=emu.user))
    assert position["leverage"]["type"] == "isolated" and position["leverage"]["value"] == 5
    assert await info(emu, type="activeAssetData", user=emu.user, coin="NOPE") is None


async def test_active_asset_data_has_the_documented_shape(autojump_clock: Any) -> None:
    documented = fixture("info_active_asset_data_docs")
    emu = emulator()
    data = await info(emu, type="activeAssetData", user=emu.user, coin="BTC")
    assert set(data) == set(documented) and set(data["leverage"]) == set(documented["leverage"])
    for key in ("maxTradeSzs", "availableToTrade"):
        assert len(data[key]) == 2 and all(isinstance(v, str) for v in data[key])
    assert isinstance(data["markPx"], str) and isinstance(data["leverage"]["value"], int)


async def test_update_leverage_refusals(autojump_clock: Any) -> None:
    emu = emulator()
    assert await set_leverage(emu, 0, True, 51) == {"status": "err", "response": INVALID_LEVERAGE}
    assert await set_leverage(emu, 0, True, 0) == {"status": "err", "response": INVALID_LEVERAGE}
    assert (await set_leverage(emu, 99, True, 2))["status"] == "err"  # outside the universe
    # LOOM (index 1) only allows isolated margin, up to 3x
    assert await set_leverage(emu, 1, True, 2) == {"status": "err", "response": CROSS_NOT_ALLOWED}
    assert (await set_leverage(emu, 1, False, 3))["status"] == "ok"
    assert emu.margin("BTC") == Margin(10)  # nothing refused was kept
    # not an integer, or out of the u32 range: does not deserialise (HTTP 422)
    for value in (2.5, "5", True, -1, 2**32):
        payload = body(leverage(0, True, value), 1, signed=leverage(0, True, 1))
        status, _ = await call(emu, "POST", "/exchange", payload)
        assert status == 422, value
    # with a position open the mode is fixed; the leverage is not
    await buy(emu, "0.01")
    assert await set_leverage(emu, 0, False, 5) == {
        "status": "err",
        "response": SWITCH_WITH_POSITION,
    }
    assert (await set_leverage(emu, 0, True, 20))["status"] == "ok"
    assert emu.margin("BTC") == Margin(20, cross=True)


async def test_the_venue_hashes_update_leverage_in_its_own_key_order(autojump_clock: Any) -> None:
    emu = emulator()
    action = leverage(0, True, 7)
    assert list(hash_view(parse_exchange(body(action, 1)).action)) == list(action)
    swapped = {"type": "updateLeverage", "isCross": True, "asset": 0, "leverage": 7}
    reply = await exchange(emu, body(action, emu.now_ms(), signed=swapped))
    assert reply["status"] == "err" and "does not exist" in reply["response"]
    assert emu.margin("BTC").leverage == 10


# -- liquidation prices ---------------------------------------------------------------------------
def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return data


def test_isolated_liquidation_against_the_venue_numbers() -> None:
    """The venue's isolated positions (its documented example, ccxt's recorded one): the
    margin is rawUsd + signed entry notional; mmr = 1 / (2 × maxLeverage). A short matches the
    venue's price; a long's is nearer the entry (maintenance kept on the entry notional)."""
    for name, mmr in (("info_clearinghouse_state_docs", D("0.01")),
                      ("info_clearinghouse_state_ccxt_isolated", D("0.05"))):  # fmt: skip
        (item,) = fixture(name)["assetPositions"]
        p = item["position"]
        qty, entry = D(p["szi"]), D(p["entryPx"])
        margin = D(p["leverage"]["rawUsd"]) + entry * qty
        liq = liquidation_px(qty, entry, margin - mmr * abs(qty) * entry, mmr)
        venue = D(p["liquidationPx"])
        assert liq is not None
        exact = -D(p["leverage"]["rawUsd"]) / (qty * (1 - mmr * (1 if qty > 0 else -1)))
        # the venue's formula, on its own numbers (rawUsd is rounded to 1e-6 USD)
        assert abs(exact - venue) < D("1e-6") / abs(qty)
        if qty > 0:  # ETH long: 2867.47 against the venue's 2866.27, above it
            assert venue < liq < venue * D("1.001")
        else:  # HYPE short: the venue's 50.2724802381
            assert abs(liq - venue) < D("1e-8")


def test_cross_liquidation_against_the_venue_numbers() -> None:
    """ccxt's recorded cross account: the short's price is the venue's (from the cross
    account value and crossMaintenanceMarginUsed); the long cannot be liquidated (null)."""
    state = fixture("info_clearinghouse_state_ccxt_short")
    available = D(state["crossMarginSummary"]["accountValue"]) - D(
        state["crossMaintenanceMarginUsed"]
    )
    sol, eth = (i["position"] for i in state["assetPositions"])
    qty = D(sol["szi"])
    liq = liquidation_px(qty, D(sol["positionValue"]) / abs(qty), available, D("0.01"))
    assert liq is not None and abs(liq - D(sol["liquidationPx"])) < D("1e-8")
    qty = D(eth["szi"])
    assert liquidation_px(qty, D(eth["positionValue"]) / qty, available, D("0.01")) is None
    assert eth["liquidationPx"] is None


def test_isolated_formula_is_the_documented_one_per_leverage() -> None:
    """With the margin posted at the leverage L: a long at entry × (1 − 1/L + mmr), a short
    at entry × (1 + 1/L) / (1 + mmr) (below entry × (1 + 1/L − mmr): nearer the entry)."""
    entry, mmr = D(60000), D("0.01")
    for lev in (1, 5, 20, 50):
        for qty in (D("0.5"), D("-0.5")):
            margin = abs(qty) * entry / lev
            liq = liquidation_px(qty, entry, margin - mmr * abs(qty) * entry, mmr)
            if qty > 0:
                expected = entry * (1 - D(1) / lev + mmr)
                assert liq == (expected.quantize(D("1e-8")) if expected > 0 else None)
            else:
                assert liq == (entry * (1 + D(1) / lev) / (1 + mmr)).quantize(D("1e-8"))
                assert liq is not None and liq <= entry * (1 + D(1) / lev - mmr)


async def test_clearinghouse_state_reports_margin_and_liquidation(autojump_clock: Any) -> None:
    emu = emulator()
    assert (await set_leverage(emu, 0, False, 5))["status"] == "ok"
    await buy(emu, "0.01")
    state = await info(emu, type="clearinghouseState", user=emu.user)
    p = btc(state)
    entry, qty = D(p["entryPx"]), D(p["szi"])
    assert qty == D("0.01")
    margin = D(p["leverage"]["rawUsd"]) + entry * qty  # posted at 5x
    assert abs(margin - entry * qty / 5) < D("1e-6")
    assert D(p["liquidationPx"]) == (entry * (1 - D(1) / 5 + D("0.01"))).quantize(D("1e-8"))
    assert D(p["marginUsed"]) == margin + D(p["unrealizedPnl"])
    mark = D(p["positionValue"]) / qty
    assert abs(mark - entry) < entry * D("0.01")
    # a later leverage change re-margins nothing: the venue's behaviour
    assert (await set_leverage(emu, 0, False, 10))["status"] == "ok"
    again = btc(await info(emu, type="clearinghouseState", user=emu.user))
    assert again["leverage"]["value"] == 10 and again["liquidationPx"] == p["liquidationPx"]
    summary = state["marginSummary"]
    assert D(summary["totalNtlPos"]) == D(p["positionValue"])
    assert D(state["crossMarginSummary"]["accountValue"]) == D(summary["accountValue"]) - D(
        p["marginUsed"]
    )
    assert D(state["withdrawable"]) == D(state["crossMarginSummary"]["accountValue"])
    # closing the position frees its margin; flat again, cross allowed again
    await buy(emu, "0.01", sell=True)
    assert (await info(emu, type="clearinghouseState", user=emu.user))["assetPositions"] == []
    assert emu.margin("BTC").isolated == 0
    assert (await set_leverage(emu, 0, True, 10))["status"] == "ok"


async def test_cross_position_liquidation_from_the_account(autojump_clock: Any) -> None:
    emu = emulator()
    await buy(emu, "0.05", sell=True)  # a cross short at the default 10x
    state = await info(emu, type="clearinghouseState", user=emu.user)
    p = btc(state)
    qty = D(p["szi"])
    mark = D(p["positionValue"]) / -qty
    assert p["leverage"] == {"type": "cross", "value": 10}
    assert D(state["crossMaintenanceMarginUsed"]) == D(p["positionValue"]) * D("0.01")
    available = D(state["crossMarginSummary"]["accountValue"]) - D(
        state["crossMaintenanceMarginUsed"]
    )
    expected = mark + available / (-qty * D("1.01"))
    assert abs(D(p["liquidationPx"]) - expected) < D("0.01")  # from the rounded wire numbers
    assert D(p["liquidationPx"]) > mark


def test_account_state_without_positions() -> None:
    state = AccountState.of(D(1000), [])
    assert (state.account_value, state.withdrawable, state.cross_maintenance) == (D(1000),) * 2 + (
        D(0),
    )


# -- the clearinghouseState subscription -----------------------------------------------------------
async def test_clearinghouse_state_is_pushed_on_subscribe_and_after_a_fill(
    autojump_clock: Any,
) -> None:
    emu = emulator()
    send, out = trio.open_memory_channel[Any](100)
    conn = _Conn(out=send)
    emu.conns.add(conn)
    sub = {"type": "clearinghouseState", "user": emu.user.upper().replace("0X", "0x")}
    emu._ws_request(conn, json.dumps({"method": "subscribe", "subscription": sub}))
    ack, snapshot = frames(out)
    assert ack["channel"] == "subscriptionResponse"
    assert snapshot["channel"] == "clearinghouseState"
    assert snapshot["data"]["dex"] == "" and snapshot["data"]["user"] == emu.user
    assert snapshot["data"]["clearinghouseState"]["assetPositions"] == []
    await buy(emu, "0.01")
    (push,) = [f for f in frames(out) if f["channel"] == "clearinghouseState"]
    assert btc(push["data"]["clearinghouseState"])["szi"] == "0.01"
    assert (await set_leverage(emu, 0, True, 3))["status"] == "ok"  # a change is pushed too
    (push,) = frames(out)
    assert btc(push["data"]["clearinghouseState"])["leverage"] == {"type": "cross", "value": 3}
    emu._ws_request(conn, json.dumps({"method": "unsubscribe", "subscription": sub}))
    frames(out)
    await buy(emu, "0.01")
    assert frames(out) == []  # no state pushes after unsubscribing (nor fills: not subscribed)


# -- book times and the delay knob -----------------------------------------------------------------
async def test_book_frames_carry_the_wall_clock_and_can_be_delayed(autojump_clock: Any) -> None:
    emu = emulator(wall_clock=lambda: EPOCH + trio.current_time(), book_delay_s=0.8)
    send, out = trio.open_memory_channel[Any](100)
    conn = _Conn(out=send)
    async with trio.open_nursery() as nursery:
        conn.delayed, late = trio.open_memory_channel[tuple[float, Any]](100)
        nursery.start_soon(emu._delayer, conn, late)
        start = trio.current_time()
        emu._push_book(conn, "BTC", start)
        emu._push_bbo(conn, "BTC", force=True)
        await trio.sleep(0.79)
        assert frames(out) == []  # still held
        await trio.sleep(0.02)
        book, bbo = frames(out)
        assert book["channel"] == "l2Book" and bbo["channel"] == "bbo"
        made = int((EPOCH + start) * 1000)
        assert made <= book["data"]["time"] <= made + 2  # when made (strictly increasing ms)
        assert book["data"]["time"] < bbo["data"]["time"] <= made + 2
        emu.book_delay_s = 0.0
        emu._push_book(conn, "BTC", trio.current_time())
        (now,) = frames(out)  # no delay, nothing pending: at once
        assert now["data"]["time"] == pytest.approx((EPOCH + trio.current_time()) * 1000, abs=3)
        nursery.cancel_scope.cancel()
