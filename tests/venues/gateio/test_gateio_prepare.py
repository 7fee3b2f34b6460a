"""prepare_order: the exact signed request place_order sends, checked by the emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.gateio import sign
from arbtrio.venues.gateio.prepare import GateAccount, prepare_order
from tests.venues.rig import as_received, offline_emulator

CREDS = Credentials(api_key="bench-key", api_secret="bench-secret")
TS_MS = 1_700_000_000_999
REQ = OrderRequest(venue="gateio", symbol="BTC_USDT", client_order_id="t-arb-p1-s-0",
                   side=Side.SELL, qty=Decimal("0.0123"), price=Decimal("65000.1"))  # fmt: skip


def _emulator() -> GateEmulator:
    emulator: GateEmulator = offline_emulator(GateEmulator, CREDS, wall_clock=lambda: TS_MS / 1e3)
    return emulator


def test_prepared_order_is_signed_contracts_with_the_documented_signature() -> None:
    inst = next(i for i in _emulator().market.instruments("gateio") if i.symbol == "BTC_USDT")
    p = prepare_order(REQ, inst, GateAccount.from_credentials(CREDS), TS_MS)
    assert (p.method, p.path) == ("POST", "/api/v4/futures/usdt/orders")
    assert json.loads(p.body) == {"contract": "BTC_USDT", "size": -123, "price": "65000.1",
                                  "tif": "ioc", "text": "t-arb-p1-s-0"}  # fmt: skip
    assert p.header("Timestamp") == "1700000000"  # seconds
    expected = sign.rest_sign(CREDS.api_secret, "POST", p.path, "", p.body, "1700000000")
    assert p.header("SIGN") == expected and p.header("X-Gate-Size-Decimal") == "1"


def test_emulator_accepts_the_signature_and_refuses_a_changed_body() -> None:
    emulator = _emulator()
    inst = next(i for i in emulator.market.instruments("gateio") if i.symbol == "BTC_USDT")
    prepared = prepare_order(REQ, inst, GateAccount.from_credentials(CREDS), TS_MS)
    assert emulator._check_signature(as_received(prepared)) is None
    tampered = as_received(prepared)
    tampered.body = prepared.body.replace(b"-123", b"-124")
    refused = emulator._check_signature(tampered)
    assert refused is not None and refused[0] == 401


def test_bad_requests_name_the_field() -> None:
    inst = next(i for i in _emulator().market.instruments("gateio") if i.symbol == "BTC_USDT")
    account = GateAccount.from_credentials(CREDS)
    with pytest.raises(BadRequest, match="client order id"):
        prepare_order(attrs.evolve(REQ, client_order_id="arb"), inst, account, TS_MS)
    with pytest.raises(BadRequest, match="symbol"):
        prepare_order(attrs.evolve(REQ, symbol="ETH_USDT"), inst, account, TS_MS)
