"""The measured USDC/USDT rate: read from a JSON source, kept inside its sanity band."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from arbtrio.config import ConfigError, load_config, structure_config
from arbtrio.runtime.fx import FxConfig, FxTracker, http_source, read_path

D = Decimal
TICKER = {"retCode": 0, "result": {"list": [{"symbol": "USDCUSDT", "lastPrice": "0.9994"}]}}


def ticker_client(payload: Any, status: int = 200) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(payload).encode())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def http_config(**kwargs: Any) -> FxConfig:
    return FxConfig(source="http", url="https://example.invalid/ticker",
                    path="result.list.0.lastPrice", **kwargs)  # fmt: skip


async def test_the_rate_is_read_from_the_json_path_and_can_be_inverted() -> None:
    async with ticker_client(TICKER) as client:
        assert await http_source(http_config(), client)() == D("0.9994")
        assert await http_source(http_config(invert=True), client)() == 1 / D("0.9994")
    assert read_path({"a": [{"b": 1}]}, "a.0.b") == 1


async def test_a_reading_inside_the_band_is_taken_and_one_outside_is_refused(
    autojump_clock: Any,
) -> None:
    rates = {"USDT": D(1), "USDC": D(1)}
    readings = iter([D("0.9994"), D("0.9900"), D("1.0003")])  # 6 bps, 100 bps, 3 bps

    async def source() -> Decimal:
        return next(readings)

    tracker = FxTracker(http_config(poll_s=10.0, band_bps=50.0), rates, source)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tracker.run)
        await trio.sleep(1)
        assert rates["USDC"] == D("0.9994")
        await trio.sleep(10)
        assert rates["USDC"] == D("0.9994") and tracker.refused == 1  # a depeg: kept, alerted
        await trio.sleep(10)
        assert rates["USDC"] == D("1.0003")
        nursery.cancel_scope.cancel()


async def test_an_unreadable_source_keeps_the_last_good_rate(autojump_clock: Any) -> None:
    rates = {"USDT": D(1), "USDC": D(1)}
    async with ticker_client({"result": {"list": []}}) as client:
        tracker = FxTracker(http_config(poll_s=5.0), rates, http_source(http_config(), client))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tracker.run)
            await trio.sleep(12)
            nursery.cancel_scope.cancel()
    assert rates["USDC"] == D(1) and tracker.failures == 3 and "IndexError" in tracker.last_error


async def test_a_static_source_never_polls() -> None:
    rates = {"USDC": D("0.9998")}
    with trio.fail_after(1):
        await FxTracker(FxConfig(), rates).run()
    assert rates == {"USDC": D("0.9998")}


def test_config_errors_name_the_fx_keys() -> None:
    with pytest.raises(ConfigError, match="needs url and path"):
        structure_config({"fx": {"source": "http"}})
    base = load_config(Path(__file__).resolve().parents[2] / "config" / "live.example.toml")
    assert base.fx.source == "static"
