"""prepare_order: the exact signed /exchange request place_order sends — the documented
order-with-cloid signing vector (the SDK's
test_l1_action_signing_order_with_cloid_matches) and the emulator's signer check; the
updateLeverage action in the SDK's key order, and the values it refuses."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.instruments import Instrument
from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.hyperliquid import HyperliquidEmulator
from arbtrio.emulators.hyperliquid_wire import parse_exchange
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.hyperliquid.prepare import (
    HyperliquidAccount,
    leverage_action,
    prepare_action,
    prepare_order,
)
from arbtrio.venues.hyperliquid.signing import Signer, action_hash

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
ETH = Instrument(venue="hyperliquid", symbol="ETH", asset="ETH", quote="USDC",
                 tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"),
                 min_size=Decimal("0.0001"), min_notional=Decimal(10), taker_fee=Decimal(0),
                 maker_fee=Decimal(0), funding_interval_hours=1, sig_figs=5,
                 max_price_decimals=2)  # fmt: skip
REQ = OrderRequest(venue="hyperliquid", symbol="ETH", side=Side.BUY, qty=Decimal(100),
                   price=Decimal(100), time_in_force="GTC",
                   client_order_id="0x00000000000000000000000000000001")  # fmt: skip


@pytest.mark.parametrize(
    ("is_mainnet", "r", "s", "v"),
    [
        (True, "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
         "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da", 27),
        (False, "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
         "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988", 28),
    ],
)  # fmt: skip
def test_order_with_cloid_matches_the_documented_vector(
    is_mainnet: bool, r: str, s: str, v: int
) -> None:
    account = HyperliquidAccount(Signer(KEY, is_mainnet=is_mainnet))
    p = prepare_order(REQ, (ETH, 1), account, 0)  # the vector's nonce is 0
    assert (p.method, p.path, p.headers) == ("POST", "/exchange",
                                             (("Content-Type", "application/json"),))  # fmt: skip
    assert json.loads(p.body) == {
        "action": {"type": "order", "orders": [{"a": 1, "b": True, "p": "100", "s": "100",
                   "r": False, "t": {"limit": {"tif": "Gtc"}},
                   "c": "0x00000000000000000000000000000001"}], "grouping": "na"},
        "nonce": 0, "signature": {"r": r, "s": s, "v": v}, "vaultAddress": None,
        "expiresAfter": None,
    }  # fmt: skip


def test_emulator_recovers_the_api_wallet_from_a_prepared_order() -> None:
    market = SimMarket(default_sim_config(seed=1))
    emulator = HyperliquidEmulator(market, MarketDriver(market),
                                   credentials=Credentials(private_key=KEY))  # fmt: skip
    account = HyperliquidAccount(Signer(KEY, is_mainnet=False))
    nonce = int(time.time() * 1000)  # the emulator only accepts nonces near its wall clock
    prepared = prepare_order(REQ, (ETH, 1), account, nonce)
    assert emulator._verify(parse_exchange(prepared.body)) == ""
    other = HyperliquidAccount(Signer("0x" + "11" * 32, is_mainnet=False))
    forged = prepare_order(REQ, (ETH, 1), other, nonce + 1)
    assert "does not exist" in emulator._verify(parse_exchange(forged.body))


def test_bad_requests_name_the_field() -> None:
    account = HyperliquidAccount(Signer(KEY, is_mainnet=False))
    with pytest.raises(BadRequest, match="client_order_id"):
        prepare_order(attrs.evolve(REQ, client_order_id="abc"), (ETH, 1), account, 1)
    with pytest.raises(BadRequest, match="qty"):
        prepare_order(attrs.evolve(REQ, qty=Decimal("0.00001")), (ETH, 1), account, 1)


def test_update_leverage_hashes_as_the_sdk_dict_and_the_emulator_accepts_it() -> None:
    """The SDK's ``update_leverage`` action is the dict ``{type, asset, isCross, leverage}``
    in that order; the Struct hashes to the same bytes and the emulator recovers the signer
    over its own serialisation."""
    action = leverage_action(2, 7, "isolated")
    sdk = {"type": "updateLeverage", "asset": 2, "isCross": False, "leverage": 7}
    assert action_hash(action, 5, None) == action_hash(sdk, 5, None)
    swapped = {"type": "updateLeverage", "isCross": False, "asset": 2, "leverage": 7}
    assert action_hash(swapped, 5, None) != action_hash(sdk, 5, None)  # the order matters
    market = SimMarket(default_sim_config(seed=1))
    emulator = HyperliquidEmulator(market, MarketDriver(market),
                                   credentials=Credentials(private_key=KEY))  # fmt: skip
    prepared = prepare_action(action, HyperliquidAccount(Signer(KEY, is_mainnet=False)),
                              int(time.time() * 1000))  # fmt: skip
    assert json.loads(prepared.body)["action"] == sdk
    assert emulator._verify(parse_exchange(prepared.body)) == ""
    assert leverage_action(0, 1, "cross").isCross is True


@pytest.mark.parametrize(
    ("leverage", "mode", "named"),
    [(0, "cross", "leverage"), (True, "cross", "leverage"), (2.5, "cross", "leverage"),
     (3, "Cross", "margin_mode"), (3, "portfolio", "margin_mode")],
)  # fmt: skip
def test_leverage_values_the_venue_would_refuse_are_named(
    leverage: object, mode: str, named: str
) -> None:
    with pytest.raises(BadRequest, match=named):
        leverage_action(0, leverage, mode)  # type: ignore[arg-type]
