"""The order router: venue outcomes become the events the position machine expects."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio

from arbtrio.core import events as ev
from arbtrio.core.types import (
    Fill,
    OrderAck,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
)
from arbtrio.runtime.router import OrderRouter, to_position_event
from arbtrio.venues.base import (
    Disconnected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)

D = Decimal
REQ = OrderRequest(venue="bybit", symbol="BTCUSDT", client_order_id="c1", side=Side.BUY,
                   qty=D("0.01"), price=D("65000"))  # fmt: skip


class FakeClient:
    name = "bybit"

    def __init__(self, outcome: Any, delay: float = 0.01) -> None:
        self.outcome = outcome
        self.delay = delay

    async def place_order(self, request: OrderRequest) -> OrderAck:
        await trio.sleep(self.delay)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return OrderAck(venue="bybit", client_order_id=request.client_order_id,
                        venue_order_id="v1", ts=0.0)  # fmt: skip

    async def query_order(self, symbol: str, client_order_id: str) -> OrderReport:
        await trio.sleep(self.delay)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    async def cancel_order(self, symbol: str, client_order_id: str) -> None:
        await trio.sleep(self.delay)


async def run_one(client: FakeClient, command: ev.Command) -> list[ev.Event]:
    router = OrderRouter({"bybit": client}, ack_timeout_s=3.0, query_timeout_s=3.0)  # type: ignore[dict-item]
    send, recv = trio.open_memory_channel[ev.Event](10)
    await router.execute(command, send)
    send.close()
    return [e async for e in recv]


@pytest.mark.parametrize(
    ("outcome", "expected", "reason"),
    [
        (None, ev.LegAcked, None),
        (OrderRejected("bybit", "insufficient margin"), ev.LegRejected, "insufficient margin"),
        (RateLimited("bybit", "slow down"), ev.LegRejected, "not placed: RateLimited: slow down"),
        (Disconnected("bybit", "down"), ev.LegRejected, "not placed: Disconnected: down"),
        (OutcomeUnknown("bybit", "502"), ev.LegOutcomeUnknown, "502"),
        (RuntimeError("client bug"), ev.LegOutcomeUnknown, "unexpected RuntimeError"),
    ],
)
async def test_place_outcomes(outcome: Any, expected: type, reason: str | None) -> None:
    (event,) = await run_one(FakeClient(outcome), ev.PlaceOrder(leg="long", attempt=0, request=REQ))
    assert type(event) is expected
    assert event.client_order_id == "c1"
    if reason is not None:
        assert event.reason == reason


async def test_no_ack_within_the_deadline_is_an_unknown_outcome(autojump_clock: Any) -> None:
    start = trio.current_time()
    (event,) = await run_one(
        FakeClient(None, delay=60), ev.PlaceOrder(leg="long", attempt=0, request=REQ)
    )
    assert isinstance(event, ev.LegOutcomeUnknown)
    assert event.reason == "no ack within 3s"
    assert trio.current_time() - start == pytest.approx(3.0)


async def test_query_resolves_or_finds_nothing() -> None:
    q = ev.QueryOrder(leg="long", venue="bybit", symbol="BTCUSDT", client_order_id="c1")
    report = OrderReport(venue="bybit", client_order_id="c1", status=OrderStatus.FILLED,
                         filled_qty=D("0.01"), avg_price=D("65000"))  # fmt: skip
    (event,) = await run_one(FakeClient(report), q)
    assert event == ev.OutcomeResolved(client_order_id="c1", report=report, ts=event.ts)
    (event,) = await run_one(FakeClient(OrderNotFound("bybit", "none")), q)
    assert isinstance(event, ev.OutcomeResolved) and event.report is None
    assert await run_one(FakeClient(Disconnected("bybit", "x")), q) == []  # asked again later


async def test_stream_events_route_by_client_order_id_and_orphans_are_reported() -> None:
    orphans: list[Any] = []

    async def on_orphan(venue: str, event: Any) -> None:
        orphans.append(event)

    router = OrderRouter({}, ack_timeout_s=1, query_timeout_s=1, on_orphan=on_orphan)
    inbox_send, inbox_recv = trio.open_memory_channel[ev.Event](10)
    router.register("c1", "p1", inbox_send)
    fill = Fill(venue="bybit", client_order_id="c1", trade_id="t", side=Side.BUY,
                qty=D("0.01"), price=D("1"), fee=D("0"), ts=0.0)  # fmt: skip
    assert await router.deliver(fill)
    assert await router.deliver(OrderUpdate(venue="bybit", client_order_id="c1",
                                            status=OrderStatus.OPEN, filled_qty=D(0),
                                            avg_price=None, ts=0.0))  # fmt: skip
    assert not await router.deliver(attrs_evolve(fill, client_order_id="zz"))
    router.release("p1")
    assert not await router.deliver(fill)
    assert isinstance(inbox_recv.receive_nowait(), ev.LegFilled)
    with pytest.raises(trio.WouldBlock):
        inbox_recv.receive_nowait()  # OPEN carries no news
    assert len(orphans) == 2 and router.stats.orphans == 2


def attrs_evolve(obj: Any, **changes: Any) -> Any:
    import attrs

    return attrs.evolve(obj, **changes)


def test_update_translation() -> None:
    def upd(status: OrderStatus, filled: str = "0", reason: str = "") -> Any:
        return to_position_event(
            OrderUpdate(venue="v", client_order_id="c", status=status, filled_qty=D(filled),
                        avg_price=None, ts=0.0, reason=reason), 5.0)  # fmt: skip

    assert upd(OrderStatus.FILLED, "1") == ev.LegExpired(
        client_order_id="c", filled_qty=D(1), ts=5.0
    )
    assert upd(OrderStatus.CANCELLED, "0.5") == ev.LegExpired(
        client_order_id="c", filled_qty=D("0.5"), ts=5.0
    )
    assert upd(OrderStatus.REJECTED, reason="px") == ev.LegRejected(
        client_order_id="c", reason="px", ts=5.0
    )
    assert upd(OrderStatus.OPEN) is None
