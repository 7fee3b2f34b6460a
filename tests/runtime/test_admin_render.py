"""``arbtrio admin`` renders every method's live result as a readable table."""

from __future__ import annotations

from typing import Any

import trio

from arbtrio import cli
from arbtrio.runtime.admin import AdminClient
from arbtrio.runtime.simulation import run_simulation


async def test_admin_tables_render_live_results(make_config: Any, autojump_clock: Any) -> None:
    config = make_config()
    sock = config.service.admin_socket
    async with trio.open_nursery() as nursery:
        rt = await nursery.start(
            lambda task_status: run_simulation(config, admin_socket=sock, task_status=task_status)
        )
        while not rt.positions.actors:  # noqa: ASYNC110
            await trio.sleep(1)
        client = await AdminClient.connect(sock)
        status = cli.render("status", await client.call("status"))
        assert "mode sim" in status and "hyperliquid" in status and "books" in status
        positions = await client.call("positions")
        table = cli.render("positions", positions)
        assert positions[0]["id"] in table and "filled L/S" in table
        row = next(line for line in table.splitlines() if line.startswith(positions[0]["id"]))
        assert positions[0]["state"] != "SETTLED" and " open " in row  # no PnL before settling
        settled = {**positions[0], "state": "SETTLED", "realized_pnl": "12.3456"}
        assert "12.3456" in cli.render("positions", [settled])
        one = cli.render("position", await client.call("position", {"id": positions[0]["id"]}))
        assert "client order id" in one and "IDLE" in one
        books = cli.render("books", await client.call("books"))
        assert "BTCUSDT" in books and "XBTUSDTM" in books
        await client.aclose()
        rt.request_stop("test")
