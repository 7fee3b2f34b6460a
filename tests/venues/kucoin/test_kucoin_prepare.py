"""prepare_order: the exact signed request place_order sends, checked by the emulator."""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pytest

from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.venues.base import BadRequest, Credentials
from arbtrio.venues.kucoin import sign
from arbtrio.venues.kucoin.prepare import KucoinAccount, prepare_order
from tests.venues.rig import as_received, offline_emulator

CREDS = Credentials(api_key="bench-key", api_secret="bench-secret", passphrase="bench-pass")
TS_MS = 1_700_000_000_000
REQ = OrderRequest(venue="kucoin", symbol="XBTUSDTM", client_order_id="arb-p1-l-0",
                   side=Side.BUY, qty=Decimal("0.005"), price=Decimal("65000.1"))  # fmt: skip


def _emulator() -> KucoinEmulator:
    emulator: KucoinEmulator = offline_emulator(KucoinEmulator, CREDS, wall_clock=lambda: 1.7e9)
    return emulator


def test_prepared_order_is_lots_with_the_documented_signature() -> None:
    inst = next(i for i in _emulator().market.instruments("kucoin") if i.symbol == "XBTUSDTM")
    p = prepare_order(REQ, inst, KucoinAccount.from_credentials(CREDS), TS_MS)
    assert (p.method, p.path) == ("POST", "/api/v1/orders")
    assert json.loads(p.body) == {  # type "limit" and marginMode ISOLATED: venue defaults
        "clientOid": "arb-p1-l-0", "side": "buy", "symbol": "XBTUSDTM", "price": "65000.1",
        "size": 5, "timeInForce": "IOC", "leverage": 5,
    }  # fmt: skip
    expected = sign.rest_sign(CREDS.api_secret, str(TS_MS), "POST", p.path, p.body.decode())
    assert p.header("KC-API-SIGN") == expected and p.header("KC-API-KEY-VERSION") == "2"
    assert p.header("KC-API-PASSPHRASE") == sign.passphrase_sign(CREDS.api_secret, "bench-pass")


def test_emulator_accepts_the_signature_and_refuses_a_changed_body() -> None:
    emulator = _emulator()
    inst = next(i for i in emulator.market.instruments("kucoin") if i.symbol == "XBTUSDTM")
    prepared = prepare_order(REQ, inst, KucoinAccount.from_credentials(CREDS), TS_MS)
    assert emulator._check_signature(as_received(prepared)) is None
    tampered = as_received(prepared)
    tampered.body = prepared.body.replace(b'"size":5', b'"size":6')
    refused = emulator._check_signature(tampered)
    assert refused is not None and refused[1]["code"] == "400005"


def test_closing_orders_carry_no_leverage_and_bad_lots_are_refused() -> None:
    inst = next(i for i in _emulator().market.instruments("kucoin") if i.symbol == "XBTUSDTM")
    account = KucoinAccount.from_credentials(CREDS)
    close = prepare_order(attrs.evolve(REQ, reduce_only=True), inst, account, TS_MS)
    assert "leverage" not in json.loads(close.body)
    with pytest.raises(BadRequest, match="lot"):
        prepare_order(attrs.evolve(REQ, qty=Decimal("0.0055")), inst, account, TS_MS)
