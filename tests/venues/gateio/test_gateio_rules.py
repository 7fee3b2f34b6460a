"""Gate.io's REST rules (budgets per endpoint class, answers and errors) and symbol hints."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from arbtrio.core.instruments import Instrument
from arbtrio.venues.base import BadRequest, OrderRejected, OutcomeUnknown, RateLimited
from arbtrio.venues.gateio import convert
from arbtrio.venues.gateio.client import GateRules

WALL = 1_700_000_000.0


def answer(
    method: str, status: int, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request(method, "https://api.gateio.ws/api/v4/futures/usdt/orders")
    return httpx.Response(status, content=body, headers=headers, request=request)


def test_budgets_follow_the_endpoint_classes_and_ids_share_one_bucket() -> None:
    rules = GateRules(lambda: WALL)
    ((place, _),) = rules.budget("POST", "/futures/usdt/orders")
    ((cancel_1, _),) = rules.budget("DELETE", "/futures/usdt/orders/123")
    ((cancel_2, _),) = rules.budget("DELETE", "/futures/usdt/orders/t-abc")
    ((query, _),) = rules.budget("GET", "/futures/usdt/orders/123")
    ((listing, _),) = rules.budget("GET", "/futures/usdt/orders")
    ((funding_btc, _),) = rules.budget("GET", "/futures/usdt/contracts/BTC_USDT")
    ((funding_eth, _),) = rules.budget("GET", "/futures/usdt/contracts/ETH_USDT")
    ((contracts, _),) = rules.budget("GET", "/futures/usdt/contracts")
    assert (place.capacity, place.rate) == (50, 50.0)
    assert cancel_1 is cancel_2 and (cancel_1.capacity, cancel_1.rate) == (100, 100.0)
    assert len({id(b) for b in (place, cancel_1, query, listing, funding_btc, contracts)}) == 6
    assert funding_btc is funding_eth and (contracts.capacity, contracts.rate) == (100, 10.0)
    assert set(rules.buckets) == {
        "place", "cancel", "private:/futures/usdt/orders/{}", "private:/futures/usdt/orders",
        "public:/futures/usdt/contracts/{}", "public:/futures/usdt/contracts",
    }  # fmt: skip
    for i in range(100):  # ids never grow the tables
        rules.budget("GET", f"/futures/usdt/orders/{i}")
    assert len(rules.buckets) == 6 and len(rules._budgets) <= 8


def test_margin_settings_are_other_private_calls_one_bucket_per_endpoint() -> None:
    rules = GateRules(lambda: WALL)
    ((btc, _),) = rules.budget("POST", "/futures/usdt/positions/BTC_USDT/leverage")
    ((eth, _),) = rules.budget("POST", "/futures/usdt/positions/ETH_USDT/leverage")
    ((mode, _),) = rules.budget("POST", "/futures/usdt/positions/cross_mode")
    ((positions, _),) = rules.budget("GET", "/futures/usdt/positions")
    assert btc is eth and (btc.capacity, btc.rate) == (100, 10.0)  # 200 / 10 s per endpoint
    assert len({id(b) for b in (btc, mode, positions)}) == 3
    assert set(rules.buckets) == {
        "private:/futures/usdt/positions/{}/leverage", "private:/futures/usdt/positions/cross_mode",
        "private:/futures/usdt/positions",
    }  # fmt: skip


def test_answers_are_the_body_and_refusals_the_mapped_error() -> None:
    rules = GateRules(lambda: WALL)
    assert rules.unwrap(answer("GET", 200, b"[]"), "/futures/usdt/orders", False) == b"[]"
    body = b'{"label":"BALANCE_NOT_ENOUGH","message":"x"}'  # a label not in the table
    with pytest.raises(OrderRejected, match="POST /futures/usdt/orders: BALANCE_NOT_ENOUGH"):
        rules.unwrap(answer("POST", 400, body), "/futures/usdt/orders", True)
    with pytest.raises(BadRequest):  # the same label, not placing
        rules.unwrap(answer("DELETE", 400, body), "/futures/usdt/orders/1", True)
    dup = b'{"label":"INVALID_PARAM_VALUE","message":"duplicate client order id"}'
    with pytest.raises(OutcomeUnknown):
        rules.unwrap(answer("POST", 400, dup), "/futures/usdt/orders", True)
    reset = {"x-gate-ratelimit-reset-timestamp": str(int((WALL + 2.5) * 1000))}
    with pytest.raises(RateLimited) as info:
        rules.unwrap(answer("GET", 429, b'{"label":"TOO_MANY_REQUESTS"}', reset), "/x", False)
    assert info.value.retry_after == pytest.approx(2.5)


def _inst(symbol: str) -> Instrument:
    return Instrument(
        venue="gateio", symbol=symbol, asset=symbol.split("_")[0], quote="USDT",
        tick_size=Decimal("0.1"), lot_size=Decimal("0.0001"), min_size=Decimal("0.0001"),
        min_notional=Decimal(0), taker_fee=Decimal(0), maker_fee=Decimal(0),
        funding_interval_hours=8, contract_multiplier=Decimal("0.0001"),
    )  # fmt: skip


def test_hints_are_assets_or_contracts_and_unknown_ones_are_returned() -> None:
    instruments = [_inst("BTC_USDT"), _inst("ETH_USDT"), _inst("SOL_USDT")]
    hints = ("ETH", "BTC_USDT", "BTC", "XYZ", "eth")
    assert convert.symbols_for_hints(instruments, hints) == (
        ["ETH_USDT", "BTC_USDT"],
        ["XYZ", "eth"],
    )
    assert convert.symbols_for_hints([], ("BTC",)) == ([], ["BTC"])
