"""What only KuCoin has, against the KuCoin emulator over real loopback sockets: bullet
tokens (public and private, a fresh one per session, an expired one refused), the server
dropping a client that stops pinging, the position pushes, asset hints and the signature
check's own code. What every venue does (level2 books in base units, resyncs, reconnects,
instruments, orders, errors, authentication, the order stream's reconciliation) is in
``tests/venues/test_conformance.py``, with KuCoin's values in ``registry.py``.

On Trio's MockClock (``autojump_clock``, enforced by :func:`registry.open_venue`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import pytest
import trio
from trio.testing import MockClock
from venues.registry import GUARD_S, KUCOIN, open_venue, order_request
from venues.rig import Rig, wait_until

from arbtrio.core.types import Fill, OrderEvent, OrderStatus, OrderUpdate, Side
from arbtrio.venues.base import AuthenticationFailed, Disconnected
from arbtrio.venues.kucoin import sign
from arbtrio.venues.kucoin.feed import control_message
from arbtrio.venues.stream import NOTHING, Output
from arbtrio.venues.wire import open_websocket

SYMBOL = KUCOIN.symbol


async def _books(r: Rig, nursery: trio.Nursery) -> None:
    await nursery.start(r.client.run_books, [SYMBOL], lambda book: None)
    await wait_until(lambda: r.client.books[SYMBOL].tradable, GUARD_S)


async def _stream(r: Rig, nursery: trio.Nursery) -> trio.MemoryReceiveChannel[OrderEvent]:
    send, receive = trio.open_memory_channel[OrderEvent](100)
    await nursery.start(r.client.run_order_stream, send)
    return receive


async def _events_until_terminal(
    receive: trio.MemoryReceiveChannel[OrderEvent], cid: str
) -> tuple[list[Fill], OrderUpdate]:
    fills: list[Fill] = []
    final: OrderUpdate | None = None
    with trio.fail_after(GUARD_S):
        async for event in receive:
            if isinstance(event, Fill) and event.client_order_id == cid:
                fills.append(event)
            elif (
                isinstance(event, OrderUpdate)
                and event.client_order_id == cid
                and event.status.is_terminal
            ):
                final = event
            if final is not None and sum(f.qty for f in fills) == final.filled_qty:
                return fills, final
    raise AssertionError("stream ended")


async def test_disconnect_expires_the_token_and_reconnects_with_a_new_one(
    autojump_clock: MockClock,
) -> None:
    async with open_venue(KUCOIN) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        assert r.client.tokens_used[0].startswith("pub-")  # a public bullet token
        r.emulator.faults.force("feed_disconnect")
        await wait_until(lambda: r.client.health.reconnects == 1, GUARD_S)
        await wait_until(
            lambda: r.client.books[SYMBOL].tradable and r.client.health.connected, GUARD_S
        )
        tokens = r.client.tokens_used
        assert len(tokens) == 2 and tokens[0] != tokens[1]
        assert r.emulator.token_rejections == 0  # the expired token was never reused
        nursery.cancel_scope.cancel()


async def test_expired_token_is_refused_by_the_server(autojump_clock: MockClock) -> None:
    async with open_venue(KUCOIN) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        stale = r.client.tokens_used[0]
        r.emulator.expire_tokens()
        await wait_until(
            lambda: r.client.health.reconnects == 1 and r.client.health.connected, GUARD_S
        )
        assert stale not in r.client.tokens_used[1:]  # every session fetched a fresh token
        # Reusing the cached token is what the venue refuses, with this frame:
        url = "ws" + r.emulator.base_url[len("http") :] + f"/?token={stale}&connectId=c9"
        async with open_websocket(url) as ws:
            frame = await ws.get_message()
        assert json.loads(frame) == {
            "id": "c9", "type": "error", "code": 401, "data": "token is expired"
        }  # fmt: skip
        with pytest.raises(Disconnected, match="token rejected"):
            control_message(frame)
        assert r.emulator.token_rejections == 1
        nursery.cancel_scope.cancel()


async def test_silent_client_is_dropped_and_reconnects(autojump_clock: MockClock) -> None:
    async with open_venue(KUCOIN) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)

        def no_ping(now: float) -> Sequence[Output]:
            return NOTHING

        r.client.book_feed._ping = no_ping
        r.emulator.faults.force("feed_disconnect")  # new session runs without pings
        await wait_until(
            lambda: r.client.health.reconnects == 1 and r.client.health.connected, GUARD_S
        )
        await wait_until(lambda: r.client.health.reconnects == 2, guard_s=60)
        nursery.cancel_scope.cancel()


async def test_private_token_and_position_pushes(autojump_clock: MockClock) -> None:
    """The order stream connects with a private bullet token, and the venue's position
    pushes (``/contract/position``) reach ``stream_positions`` in base units."""
    async with open_venue(KUCOIN) as r, trio.open_nursery() as nursery:
        receive = await _stream(r, nursery)
        assert r.client.tokens_used[-1].startswith("prv-")
        request = order_request(r, Side.SELL, "0.01", "pos")
        await r.client.place_order(request)
        await _events_until_terminal(receive, request.client_order_id)
        await wait_until(lambda: SYMBOL in r.client.stream_positions, GUARD_S)
        assert r.client.stream_positions[SYMBOL].qty == Decimal("-0.01")
        nursery.cancel_scope.cancel()


async def test_asset_hints_are_mapped_to_venue_symbols(autojump_clock: MockClock) -> None:
    """``arbtrio run`` passes the configured assets as hints; venue symbols work too, and a
    hint no instrument matches is skipped (the order stream once failed on ``"BTC"``)."""
    hints = ("BTC", "ETHUSDTM", "NOPE")
    async with open_venue(KUCOIN, symbols_hint=hints) as r, trio.open_nursery() as nursery:
        await _books(r, nursery)
        receive = await _stream(r, nursery)
        assert sorted(r.client.hinted_symbols()) == ["ETHUSDTM", SYMBOL]
        assert set(r.client.order_feed.fee_rates) == {"ETHUSDTM", SYMBOL}
        request = order_request(r, Side.BUY, "0.002", "hint")
        await r.client.place_order(request)
        fills, final = await _events_until_terminal(receive, request.client_order_id)
        assert final.status is OrderStatus.FILLED and sum(f.qty for f in fills) == Decimal("0.002")
        nursery.cancel_scope.cancel()


async def test_a_wrong_signature_is_400005(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the right secret and passphrase, a signature over something else is the venue's
    own code (a wrong secret is 400004 first: the passphrase is signed with it)."""
    real_headers = sign.rest_headers
    async with open_venue(KUCOIN) as r:

        def corrupt(*args: str) -> dict[str, str]:
            headers = real_headers(*args)
            headers["KC-API-SIGN"] = sign.rest_sign(
                KUCOIN.credentials.api_secret, "0", "GET", "/x", ""
            )
            return headers

        monkeypatch.setattr(sign, "rest_headers", corrupt)
        with pytest.raises(AuthenticationFailed, match="400005"):
            await r.client.fetch_positions()
