"""prepare_order: the exact signed request place_order sends, checked by the emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.bybit import ApiError, BybitEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.bybit.prepare import BybitAccount, prepare_order
from arbtrio.venues.bybit.signing import rest_signature
from tests.venues.rig import as_received, offline_emulator

CREDS = Credentials(api_key="bench-key", api_secret="bench-secret")
TS_MS = 1_700_000_000_000
REQ = OrderRequest(venue="bybit", symbol="BTCUSDT", client_order_id="arb-p1-s-0", side=Side.SELL,
                   qty=Decimal("0.012"), price=Decimal("65000.5"))  # fmt: skip


def test_prepared_order_is_the_documented_create_call() -> None:
    p = prepare_order(REQ, None, BybitAccount.from_credentials(CREDS), TS_MS)
    assert (p.method, p.path) == ("POST", "/v5/order/create")
    assert json.loads(p.body) == {
        "category": "linear", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit",
        "qty": "0.012", "price": "65000.5", "timeInForce": "IOC", "orderLinkId": "arb-p1-s-0",
    }  # fmt: skip
    assert p.header("X-BAPI-TIMESTAMP") == str(TS_MS) and p.header("X-BAPI-RECV-WINDOW") == "5000"
    sign = rest_signature(CREDS.api_secret, TS_MS, CREDS.api_key, 5000, p.body.decode())
    assert p.header("X-BAPI-SIGN") == sign
    assert "bench-secret" not in repr(p) and "bench-secret" not in repr(BybitAccount("k", "s"))


def test_emulator_accepts_the_signature_and_refuses_a_changed_body() -> None:
    emulator = offline_emulator(BybitEmulator, CREDS, wall_clock=lambda: TS_MS / 1000)
    prepared = prepare_order(REQ, None, BybitAccount.from_credentials(CREDS), TS_MS)
    emulator._authenticate(as_received(prepared))  # raises ApiError when refused
    tampered = as_received(prepared)
    tampered.body = prepared.body.replace(b"0.012", b"0.013")
    with pytest.raises(ApiError, match="sign"):
        emulator._authenticate(tampered)


def test_bad_requests_name_the_field() -> None:
    account = BybitAccount.from_credentials(CREDS)
    with pytest.raises(BadRequest, match="time_in_force"):
        prepare_order(attrs.evolve(REQ, time_in_force="DAY"), None, account, 0)
    with pytest.raises(BadRequest, match="client_order_id"):
        prepare_order(attrs.evolve(REQ, client_order_id="a b"), None, account, 0)
