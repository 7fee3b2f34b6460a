"""prepare_order: the exact signed request place_order sends, checked by the emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.bitget import ApiError, BitgetEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.bitget.prepare import BitgetAccount, prepare_order
from arbtrio.venues.bitget.signing import rest_signature
from tests.venues.rig import as_received, offline_emulator

CREDS = Credentials(api_key="bench-key", api_secret="bench-secret", passphrase="bench-pass")
TS_MS = 1_700_000_000_000
REQ = OrderRequest(venue="bitget", symbol="BTCUSDT", client_order_id="arb-p1-l-0", side=Side.BUY,
                   qty=Decimal("0.01"), price=Decimal("65000.1"))  # fmt: skip


def test_prepared_order_is_the_documented_place_order_call() -> None:
    p = prepare_order(REQ, None, BitgetAccount.from_credentials(CREDS), TS_MS)
    assert (p.method, p.path) == ("POST", "/api/v2/mix/order/place-order")
    assert json.loads(p.body) == {
        "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
        "marginCoin": "USDT", "size": "0.01", "side": "buy", "orderType": "limit",
        "price": "65000.1", "force": "ioc", "clientOid": "arb-p1-l-0", "reduceOnly": "NO",
    }  # fmt: skip
    sign = rest_signature(CREDS.api_secret, TS_MS, "POST", p.path, "", p.body.decode())
    assert p.header("ACCESS-SIGN") == sign and p.header("ACCESS-TIMESTAMP") == str(TS_MS)
    assert p.header("ACCESS-PASSPHRASE") == "bench-pass"


def test_emulator_accepts_the_signature_and_refuses_a_changed_body() -> None:
    emulator = offline_emulator(BitgetEmulator, CREDS, wall_clock=lambda: TS_MS / 1000)
    prepared = prepare_order(REQ, None, BitgetAccount.from_credentials(CREDS), TS_MS)
    emulator._authenticate(as_received(prepared))  # raises ApiError when refused
    tampered = as_received(prepared)
    tampered.body = prepared.body.replace(b'"buy"', b'"sell"')
    with pytest.raises(ApiError, match="sign"):
        emulator._authenticate(tampered)


def test_hedge_mode_and_bad_requests() -> None:
    hedge = BitgetAccount.from_credentials(CREDS, "isolated", hedge_mode=True)
    close = attrs.evolve(REQ, side=Side.SELL, reduce_only=True)
    body = json.loads(prepare_order(close, None, hedge, TS_MS).body)
    assert (body["side"], body["tradeSide"], body["marginMode"]) == ("buy", "close", "isolated")
    with pytest.raises(BadRequest, match="price"):
        prepare_order(attrs.evolve(REQ, price=Decimal(0)), None, hedge, TS_MS)
