"""The Bybit emulator on its own, driven in-process (ASGI calls, no sockets, no client).

What is checked is the emulator's reading of the Bybit V5 documentation: the signing rules
against the documented pre-hash strings and the HMAC vectors for them, the timestamp
window, the documented refusals with their retCodes / HTTP statuses, the limits, the
stream rules, and the order record. Bybit's books carry no checksum (``u``/``seq`` instead),
so there is no checksum vector to reproduce. The HMAC expectations below are literal
vectors (the docs print pre-hash strings and outputs but not the secret they used; the
outputs here were computed for the secret ``test_secret``), and the test signs its own
requests with ``hmac``/``hashlib`` as the docs describe, never with emulator or client code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import trio

from arbtrio.emulators.app import ApiKeys, HttpRequest
from arbtrio.emulators.bybit import ApiError, BybitEmulator
from arbtrio.emulators.bybit_protocol import (
    cross_liq_price,
    hmac_hex,
    isolated_liq_price,
    rest_prehash,
    ws_auth_prehash,
)
from tests.venues.rig import offline_emulator

KEY, SECRET = "XXXXXXXXXX", "test_secret"
KEYS = ApiKeys(api_key=KEY, api_secret=SECRET)

# The docs' worked example (guide, "authentication"): pre-hash strings verbatim.
GET_TS, GET_QUERY = "1658384314791", "category=option&symbol=BTC-29JUL22-25000-C"
GET_PREHASH = "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
POST_TS, POST_BODY = "1658385579423", '{"category": "option"}'
POST_PREHASH = '1658385579423XXXXXXXXXX5000{"category": "option"}'
# The docs' own outputs for them (made with a secret the docs do not give).
GET_DOC_SIGN = "410e0f387bafb7afd0f1722c068515e09945610124fa11774da1da857b72f30b"
POST_DOC_SIGN = "f0da71972ce1811c882ca5e3fd1779791fb1fed499bef40e5558e50259acfd66"
# HMAC-SHA256 hex of the same strings with the secret "test_secret".
GET_SIGN = "2c42d015234a3fc985e5294b2665235b3f51cf59dfbbde6be0097d0bc33256bf"
POST_SIGN = "7fdd84061f25faa9566fa013c0dd25adcb78a0ab90cbb992c0f12427d82f7221"
WS_EXPIRES = 1662350400000
WS_SIGN = "dad2d67a66c9ee401d2e6e7bf26ebd10eb1026db8a703bf3139c6950ce11a5c6"

NOW_MS = 1_700_000_000_000
SYMBOL = "BTCUSDT"


def emulator(wall_ms: int = NOW_MS, **kw: Any) -> BybitEmulator:
    emu: BybitEmulator = offline_emulator(BybitEmulator, KEYS, wall_clock=lambda: wall_ms / 1000,
                                          **kw)  # fmt: skip
    return emu


def request(method: str, path: str, query: str, body: bytes, **headers: str) -> HttpRequest:
    return HttpRequest(method, path, query, {k.replace("_", "-"): v for k, v in headers.items()},
                       body)  # fmt: skip


def signed_headers(
    ts: str, payload: str, recv: str = "5000", secret: str = SECRET
) -> dict[str, str]:
    """The documented headers, signed by the documented rule (independently of the emulator)."""
    sign = hmac.new(secret.encode(), (ts + KEY + recv + payload).encode(), hashlib.sha256)
    return {"x-bapi-api-key": KEY, "x-bapi-timestamp": ts, "x-bapi-recv-window": recv,
            "x-bapi-sign": sign.hexdigest(), "x-bapi-sign-type": "2"}  # fmt: skip


# -- signing: the documented strings and vectors ---------------------------------------------
def test_string_to_sign_is_the_documented_prehash() -> None:
    assert rest_prehash(GET_TS, KEY, "5000", GET_QUERY) == GET_PREHASH
    assert rest_prehash(POST_TS, KEY, "5000", POST_BODY) == POST_PREHASH
    assert ws_auth_prehash(WS_EXPIRES) == "GET/realtime1662350400000"


def test_hmac_reproduces_the_vectors() -> None:
    assert hmac_hex(SECRET, GET_PREHASH) == GET_SIGN
    assert hmac_hex(SECRET, POST_PREHASH) == POST_SIGN
    assert hmac_hex(SECRET, "GET/realtime1662350400000") == WS_SIGN


def test_documented_get_example_is_accepted_and_a_tampered_one_refused() -> None:
    emu = emulator(int(GET_TS))
    auth = {"x-bapi-api-key": KEY, "x-bapi-timestamp": GET_TS, "x-bapi-recv-window": "5000"}
    emu._authenticate(request("GET", "/v5/order/realtime", GET_QUERY, b"", **auth,
                              x_bapi_sign=GET_SIGN))  # fmt: skip
    refusals = [
        (GET_QUERY.replace("25000", "26000"), auth, GET_SIGN),  # query changed
        (GET_QUERY, auth, GET_DOC_SIGN),  # the docs' output: another secret
        (GET_QUERY, auth, GET_SIGN.upper()),  # lowercase hex only
        (GET_QUERY, auth | {"x-bapi-recv-window": "05000"}, GET_SIGN),  # header used verbatim
        ("symbol=BTC-29JUL22-25000-C&category=option", auth, GET_SIGN),  # order matters
    ]
    for query, headers, sign in refusals:
        with pytest.raises(ApiError) as exc:
            emu._authenticate(request("GET", "/v5/order/realtime", query, b"", **headers,
                                      x_bapi_sign=sign))  # fmt: skip
        assert exc.value.code == 10004 and "sign" in exc.value.message


def test_documented_post_example_is_accepted_and_a_tampered_one_refused() -> None:
    emu = emulator(int(POST_TS))
    auth = {"x-bapi-api-key": KEY, "x-bapi-timestamp": POST_TS, "x-bapi-recv-window": "5000"}
    emu._authenticate(request("POST", "/v5/order/create", "", POST_BODY.encode(), **auth,
                              x_bapi_sign=POST_SIGN))  # fmt: skip
    for body in (b'{"category":"option"}', b'{"category": "option"} ', b'{"category": "linear"}'):
        with pytest.raises(ApiError) as exc:  # the body exactly as sent, byte for byte
            emu._authenticate(request("POST", "/v5/order/create", "", body, **auth,
                                      x_bapi_sign=POST_SIGN))  # fmt: skip
        assert exc.value.code == 10004


def test_stream_auth_signature_and_expiry() -> None:
    emu = emulator(WS_EXPIRES - 1_000)
    assert emu._check_ws_auth([KEY, WS_EXPIRES, WS_SIGN]) == ""
    assert "signature" in emu._check_ws_auth([KEY, WS_EXPIRES + 1, WS_SIGN])
    assert "signature" in emu._check_ws_auth([KEY, WS_EXPIRES, WS_SIGN[:-1] + "0"])
    assert "params" in emu._check_ws_auth([KEY, str(WS_EXPIRES), WS_SIGN])  # expires: an int
    assert "params" in emu._check_ws_auth([KEY, True, WS_SIGN])
    assert "params" in emu._check_ws_auth([KEY, WS_EXPIRES])
    assert "API key" in emu._check_ws_auth(["other", WS_EXPIRES, WS_SIGN])
    assert "expired" in emulator(WS_EXPIRES)._check_ws_auth([KEY, WS_EXPIRES, WS_SIGN])


@pytest.mark.parametrize(
    ("offset_ms", "recv", "ok"),
    [(0, "5000", True), (-5000, "5000", True), (-5001, "5000", False), (999, "5000", True),
     (1000, "5000", False), (1000, "60000", False), (-59_000, "60000", True)],
)  # fmt: skip
def test_timestamp_window(offset_ms: int, recv: str, ok: bool) -> None:
    """``server - recv_window <= timestamp < server + 1000``; ahead by 1 s is always out."""
    emu = emulator()
    ts = str(NOW_MS + offset_ms)
    req = request("GET", "/v5/position/list", "category=linear", b"",
                  **signed_headers(ts, "category=linear", recv))  # fmt: skip
    if ok:
        emu._authenticate(req)
        return
    with pytest.raises(ApiError) as exc:
        emu._authenticate(req)
    assert exc.value.code == 10002
    assert exc.value.message == (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{ts}],server_timestamp[{NOW_MS}],recv_window[{int(recv)}]"
    )


# -- REST in-process -------------------------------------------------------------------------
async def http(
    emu: BybitEmulator, method: str, path: str, query: str = "", body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    """One request through the ASGI app: (status, headers, decoded JSON or raw text)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()]}  # fmt: skip
    await emu(scope, receive, send)
    start, content = sent
    out_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    raw = content["body"]
    decoded = json.loads(raw) if out_headers["content-type"] == "application/json" else raw
    return start["status"], out_headers, decoded


async def signed_get(emu: BybitEmulator, path: str, params: dict[str, str]) -> Any:
    query = urlencode(params)
    return await http(emu, "GET", path, query, headers=signed_headers(str(NOW_MS), query))


async def create(emu: BybitEmulator, **fields: Any) -> dict[str, Any]:
    body = json.dumps(order_body(emu, **fields)).encode()
    headers = signed_headers(str(NOW_MS), body.decode()) | {"content-type": "application/json"}
    status, _, answer = await http(emu, "POST", "/v5/order/create", body=body, headers=headers)
    assert status == 200
    assert isinstance(answer, dict)
    return answer


def order_body(emu: BybitEmulator, **fields: Any) -> dict[str, Any]:
    """A valid limit IOC order (a buy unless ``fields`` say otherwise) priced 0.2 % through
    the far touch (``fields`` override or, as None, remove)."""
    bids, asks = emu.market.book_levels("bybit", SYMBOL, 1)
    if fields.get("side") == "Sell":
        price = (bids[0][0] * Decimal("0.998")).quantize(Decimal("0.1"))
    else:
        price = (asks[0][0] * Decimal("1.002")).quantize(Decimal("0.1"))
    body: dict[str, Any] = {"category": "linear", "symbol": SYMBOL, "side": "Buy",
                            "orderType": "Limit", "qty": "0.005", "price": str(price),
                            "timeInForce": "IOC", "orderLinkId": "emu-1"}  # fmt: skip
    body |= fields
    return {k: v for k, v in body.items() if v is not None}


@asynccontextmanager
async def live(**kw: Any) -> AsyncIterator[BybitEmulator]:
    """An offline emulator whose market has started (a book to trade against); no driver."""
    emu = emulator(**kw)
    emu.market.advance(trio.current_time())
    yield emu


async def test_auth_refusals_have_the_documented_statuses_and_codes() -> None:
    emu = emulator()
    status, _, answer = await http(emu, "GET", "/v5/position/list", "category=linear")
    assert status == 401 and answer["retCode"] == 10003  # missing auth headers
    bad_key = signed_headers(str(NOW_MS), "category=linear") | {"x-bapi-api-key": "nope"}
    status, _, answer = await http(emu, "GET", "/v5/position/list", "category=linear",
                                   headers=bad_key)  # fmt: skip
    assert status == 401 and answer["retCode"] == 10003
    wrong = signed_headers(str(NOW_MS), "category=linear", secret="other")
    status, _, answer = await http(emu, "GET", "/v5/position/list", "category=linear",
                                   headers=wrong)  # fmt: skip
    assert (status, answer["retCode"]) == (200, 10004)
    assert set(answer) == {"retCode", "retMsg", "result", "retExtInfo", "time"}


async def test_route_not_found_and_get_with_a_body() -> None:
    emu = emulator()
    status, _, answer = await http(emu, "GET", "/v5/order/nowhere")
    assert status == 404 and answer["retCode"] == 10017
    status, _, text = await http(emu, "GET", "/v5/market/time", body=b"{}")
    assert status == 403 and text
    status, _, answer = await http(emu, "GET", "/v5/market/time")
    assert status == 200 and answer["retCode"] == 0 and answer["retMsg"] == "OK"
    assert answer["result"]["timeSecond"] == str(NOW_MS // 1000)


async def test_market_parameters_are_checked() -> None:
    emu = emulator()
    for path, query in [("/v5/market/orderbook", "symbol=BTCUSDT"),  # category required
                        ("/v5/market/orderbook", "category=spot&symbol=BTCUSDT"),
                        ("/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=1001"),
                        ("/v5/market/orderbook", "category=linear&symbol=NOPE"),
                        ("/v5/market/instruments-info", "category=linear&limit=0"),
                        ("/v5/market/instruments-info", "category=linear&cursor=x")]:  # fmt: skip
        status, _, answer = await http(emu, "GET", path, query)
        assert (status, answer["retCode"]) == (200, 10001), (path, query)
    _, _, answer = await http(emu, "GET", "/v5/market/orderbook",
                              "category=linear&symbol=BTCUSDT&limit=1")  # fmt: skip
    assert set(answer["result"]) == {"s", "b", "a", "ts", "u", "seq", "cts"}


async def test_uid_limit_fee_rate_is_5_per_second(autojump_clock: Any) -> None:
    emu = emulator()
    seen = []
    for _ in range(6):
        _, headers, answer = await signed_get(emu, "/v5/account/fee-rate", {"category": "linear"})
        seen.append((answer["retCode"], headers["x-bapi-limit"], headers["x-bapi-limit-status"]))
    assert seen == [(0, "5", "4"), (0, "5", "3"), (0, "5", "2"), (0, "5", "1"), (0, "5", "0"),
                    (10006, "5", "0")]  # fmt: skip
    assert int(headers["x-bapi-limit-reset-timestamp"]) == NOW_MS + 1000  # when it frees
    await trio.sleep(1.0)
    _, headers, answer = await signed_get(emu, "/v5/account/fee-rate", {"category": "linear"})
    assert answer["retCode"] == 0 and headers["x-bapi-limit-reset-timestamp"] == str(NOW_MS)


async def test_ip_pool_breach_bans_with_403(autojump_clock: Any) -> None:
    emu = emulator(ip_limit=3, ip_ban_s=600.0)
    for _ in range(3):
        assert (await http(emu, "GET", "/v5/market/time"))[0] == 200
    status, _, text = await http(emu, "GET", "/v5/market/time")
    assert status == 403 and text == b"access too frequent"
    await trio.sleep(10.0)  # the 5 s window has passed, the ban has not
    assert (await http(emu, "GET", "/v5/market/time"))[0] == 403
    await trio.sleep(600.0)
    assert (await http(emu, "GET", "/v5/market/time"))[0] == 200


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"qty": 0.005}, 10001, "qty"),  # sizes are JSON strings
        ({"qty": "5e-3"}, 10001, "decimal"),
        ({"price": None}, 10001, "price is required"),
        ({"orderLinkId": "x" * 37}, 10001, "orderLinkId"),
        ({"orderLinkId": "a b"}, 10001, "orderLinkId"),
        ({"positionIdx": 1}, 10001, "position idx not match position mode"),
        ({"category": "spot"}, 10001, "category"),
        ({"side": "buy"}, 10001, "side"),
        ({"symbol": "NOPEUSDT"}, 10001, "symbol"),
        ({"timeInForce": "DAY"}, 10001, "timeInForce"),
        ({"reduceOnly": "true"}, 10001, "reduceOnly"),  # a bool
        ({"price": "65000.05"}, 10001, "tickSize"),
        ({"price": "2000000.0"}, 110003, "price"),
        ({"qty": "0.0005"}, 110017, "truncated"),
        ({"qty": "0"}, 110017, "truncated"),
        ({"qty": "1191"}, 10001, "maximum"),
        ({"qty": "0.001", "price": "100.0"}, 110094, "minimum order value"),
    ],
)
async def test_create_refusals_are_documented_codes(
    fields: dict[str, Any], code: int, text: str, autojump_clock: Any
) -> None:
    async with live() as emu:
        answer = await create(emu, **fields)
        assert answer["retCode"] == code and text in answer["retMsg"], answer
        assert answer["result"] == {}
        (record,) = emu.order_log
        assert record.outcome == "rejected" and record.reason.startswith(f"{code} ")


async def test_body_that_is_not_a_json_object(autojump_clock: Any) -> None:
    emu = emulator()
    for body in (b"not json", b"[1, 2]"):
        headers = signed_headers(str(NOW_MS), body.decode())
        _, _, answer = await http(emu, "POST", "/v5/order/create", body=body, headers=headers)
        assert answer["retCode"] == 10001
    assert [(r.outcome, r.client_order_id) for r in emu.order_log] == [("rejected", "")] * 2


async def test_order_record_is_served(autojump_clock: Any) -> None:
    """Executed, rejected (each code) and withheld placements, in arrival order; a request
    refused by authentication is not a placement."""
    async with live(timeout_hold_s=1.0) as emu:
        assert (await create(emu, orderLinkId="ok-1"))["retCode"] == 0
        assert (await create(emu, orderLinkId="ok-1"))["retCode"] == 110072
        emu.faults.force("reject")
        assert (await create(emu, orderLinkId="rj-1", side="Sell"))["retCode"] == 110007
        emu.faults.force("ack_timeout_executed")
        assert (await create(emu, orderLinkId="late-1"))["retCode"] == 0  # after the hold
        emu.faults.force("ack_timeout_not_executed")
        assert (await create(emu, orderLinkId="lost-1"))["retCode"] == 10016
        emu.faults.force("rate_limit")
        assert (await create(emu, orderLinkId="rl-1"))["retCode"] == 10006
        assert (await create(emu, orderLinkId="ro-1", reduceOnly=True, side="Sell",
                             qty="1"))["retCode"] == 0  # clipped to the position  # fmt: skip
        assert (await create(emu, orderLinkId="ro-2", reduceOnly=True))["retCode"] == 110017
        body = json.dumps(order_body(emu, orderLinkId="unsigned")).encode()
        bad = signed_headers(str(NOW_MS), body.decode(), secret="other")
        await http(emu, "POST", "/v5/order/create", body=body, headers=bad)

        status, _, answer = await http(emu, "GET", "/__emulator__/orders")
    assert status == 200 and answer["venue"] == "bybit"
    rows = [(o["client_order_id"], o["outcome"],
             o["reason"].split(" ")[0] if o["outcome"] == "rejected" else "")
            for o in answer["orders"]]  # fmt: skip
    assert rows == [
        ("ok-1", "executed", ""), ("ok-1", "rejected", "110072"), ("rj-1", "rejected", "110007"),
        ("late-1", "executed", ""), ("lost-1", "unknown", ""), ("rl-1", "rejected", "10006"),
        ("ro-1", "executed", ""), ("ro-2", "rejected", "110017"),
    ]  # fmt: skip
    first = answer["orders"][0]
    assert (first["symbol"], first["side"], first["qty"], first["reduce_only"]) == (
        SYMBOL, "buy", "0.005", False)  # fmt: skip
    assert first["filled"] == "0.005" and first["price"] == order_body(emu)["price"]
    assert answer["orders"][2]["side"] == "sell"
    late, lost, ro = answer["orders"][3], answer["orders"][4], answer["orders"][6]
    assert late["filled"] == "0.005" and "withheld" in late["reason"]
    assert lost["filled"] == "0" and "not executed" in lost["reason"]
    assert emu.market.order("bybit", "lost-1") is None
    assert ro["reduce_only"] is True and ro["qty"] == "1" and Decimal(ro["filled"]) > 0


async def test_order_queries_follow_open_only(autojump_clock: Any) -> None:
    """realtime ``openOnly=0`` lists open orders (an IOC is closed once answered),
    ``openOnly=1`` recent closed ones; history lists closed orders; fills by orderLinkId."""
    async with live() as emu:
        await create(emu, orderLinkId="q-1")
        base = {"category": "linear", "symbol": SYMBOL, "orderLinkId": "q-1"}
        _, _, answer = await signed_get(emu, "/v5/order/realtime", base)
        assert answer["retCode"] == 0 and answer["result"]["list"] == []
        _, _, answer = await signed_get(emu, "/v5/order/realtime", base | {"openOnly": "1"})
        (row,) = answer["result"]["list"]
        assert (row["orderLinkId"], row["orderStatus"], row["cumExecQty"]) == (
            "q-1", "Filled", "0.005")  # fmt: skip
        _, _, answer = await signed_get(emu, "/v5/order/history", base)
        assert [r["orderLinkId"] for r in answer["result"]["list"]] == ["q-1"]
        _, _, answer = await signed_get(emu, "/v5/execution/list", base)
        fills = answer["result"]["list"]
        assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.005")
        assert Decimal(fills[-1]["leavesQty"]) == 0
        for params in (base | {"openOnly": "2"}, {"category": "linear"}):
            _, _, answer = await signed_get(emu, "/v5/order/realtime", params)
            assert answer["retCode"] == 10001
        _, _, answer = await signed_get(emu, "/v5/account/wallet-balance", {"accountType": "SPOT"})
        assert answer["retCode"] == 10001


# -- streams in-process ----------------------------------------------------------------------
class Peer:
    """The client end of one in-process ASGI WebSocket."""

    def __init__(self) -> None:
        self._in_send, self._in_recv = trio.open_memory_channel[dict[str, Any]](100)
        self._out_send, self._out_recv = trio.open_memory_channel[dict[str, Any]](10_000)

    async def receive(self) -> dict[str, Any]:  # the server's receive
        return await self._in_recv.receive()

    async def send(self, message: dict[str, Any]) -> None:  # the server's send
        await self._out_send.send(message)

    async def connect(self) -> None:
        await self._in_send.send({"type": "websocket.connect"})
        assert (await self._out_recv.receive())["type"] == "websocket.accept"

    async def op(self, **frame: Any) -> None:
        await self._in_send.send({"type": "websocket.receive", "text": json.dumps(frame)})

    async def frame(self) -> dict[str, Any]:
        with trio.fail_after(30):
            message = await self._out_recv.receive()
        assert message["type"] == "websocket.send", message
        decoded: dict[str, Any] = json.loads(message["text"])
        return decoded


@asynccontextmanager
async def stream(path: str, **kw: Any) -> AsyncIterator[tuple[BybitEmulator, Peer]]:
    emu = emulator(**kw)
    peer = Peer()
    async with trio.open_nursery() as nursery:
        await nursery.start(emu.driver.run)
        nursery.start_soon(emu, {"type": "websocket", "path": path}, peer.receive, peer.send)
        await peer.connect()
        yield emu, peer
        nursery.cancel_scope.cancel()


async def test_public_book_topics(autojump_clock: Any) -> None:
    async with stream("/v5/public/linear") as (_, peer):
        await peer.op(op="subscribe", req_id="s1", args=["orderbook.500.BTCUSDT"])
        ack = await peer.frame()
        assert ack["success"] is False and ack["req_id"] == "s1"  # 500 removed for futures
        await peer.op(op="subscribe", req_id="s2", args=["orderbook.1000.BTCUSDT"])
        ack = await peer.frame()
        assert {k: ack[k] for k in ("success", "ret_msg", "req_id", "op")} == {
            "success": True, "ret_msg": "", "req_id": "s2", "op": "subscribe"}  # fmt: skip
        snap = await peer.frame()
        assert snap["topic"] == "orderbook.1000.BTCUSDT" and snap["type"] == "snapshot"
        assert set(snap) == {"topic", "type", "ts", "data", "cts"}
        data = snap["data"]
        assert set(data) == {"s", "b", "a", "u", "seq"} and data["s"] == SYMBOL
        bids = [Decimal(p) for p, _ in data["b"]]
        asks = [Decimal(p) for p, _ in data["a"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        u, seq, zeros = data["u"], data["seq"], 0
        for _ in range(40):
            delta = await peer.frame()
            assert delta["type"] == "delta" and delta["data"]["u"] == u + 1
            assert delta["data"]["seq"] > seq
            u, seq = delta["data"]["u"], delta["data"]["seq"]
            sizes = [s for _, s in delta["data"]["b"] + delta["data"]["a"]]
            assert all(s == "0" or Decimal(s) > 0 for s in sizes)
            zeros += sizes.count("0")
        assert zeros > 0  # deletes are written "0"
        await peer.op(op="ping", req_id="p1")
        while (pong := await peer.frame()).get("op") != "ping":
            pass
        assert (pong["success"], pong["ret_msg"], pong["req_id"]) == (True, "pong", "p1")


async def test_private_auth_and_topic_forms(autojump_clock: Any) -> None:
    async with stream("/v5/private", wall_ms=WS_EXPIRES - 1_000) as (_, peer):
        await peer.op(op="subscribe", args=["order"])
        assert (await peer.frame())["success"] is False  # not authenticated yet
        await peer.op(op="auth", req_id="a1", args=[KEY, WS_EXPIRES, WS_SIGN])
        ack = await peer.frame()
        assert (ack["op"], ack["success"], ack["ret_msg"]) == ("auth", True, "")
        await peer.op(op="subscribe", args=["order", "execution.linear"])
        assert (await peer.frame())["success"] is False  # the two forms are not mixed
        await peer.op(op="subscribe", args=["order", "execution", "position", "wallet"])
        assert (await peer.frame())["success"] is True
        await peer.op(op="ping", req_id="p")
        pong = await peer.frame()
        assert (pong["op"], pong["req_id"], pong["args"]) == ("pong", "p", [str(WS_EXPIRES - 1000)])


async def test_private_auth_refused_with_a_tampered_signature(autojump_clock: Any) -> None:
    async with stream("/v5/private", wall_ms=WS_EXPIRES - 1_000) as (_, peer):
        await peer.op(op="auth", args=[KEY, WS_EXPIRES, WS_SIGN.replace("d", "e", 1)])
        ack = await peer.frame()
        assert (ack["op"], ack["success"]) == ("auth", False) and "signature" in ack["ret_msg"]


# -- margin: leverage, margin mode, liquidation prices ---------------------------------------
def test_liquidation_prices_follow_the_documented_formulas() -> None:
    """Isolated: ``entry × (1 ∓ 1/leverage ± 0.005)``; cross: the price at which the
    account's equity falls to the position's maintenance margin. Both on the tick, rounded
    towards the entry (the conservative side)."""
    tick = Decimal("0.1")
    assert isolated_liq_price(Decimal(60000), Decimal(1), Decimal(10), tick) == Decimal("54300.0")
    assert isolated_liq_price(Decimal(60000), Decimal(-1), Decimal(10), tick) == Decimal("65700.0")
    # 60000 x (1 - 1/3 + 0.005) = 40300.00...; (1 + 1/3 - 0.005) = 79699.99...: towards entry
    assert isolated_liq_price(Decimal(60000), Decimal(2), Decimal(3), tick) == Decimal("40300.0")
    assert isolated_liq_price(Decimal(60000), Decimal(-2), Decimal(3), tick) == Decimal("79699.9")
    # long 1 at 60000 with 6000 of equity: 60000 - 6000 = 0.995 P  ->  P = 54271.35...
    assert cross_liq_price(Decimal(60000), Decimal(1), Decimal(6000), tick) == Decimal("54271.4")
    # short 1: 6000 + 60000 = 1.005 P  ->  P = 65671.64...
    assert cross_liq_price(Decimal(60000), Decimal(-1), Decimal(6000), tick) == Decimal("65671.6")
    assert cross_liq_price(Decimal(60000), Decimal(1), Decimal(100_000), tick) < 0  # never


async def signed_post(emu: BybitEmulator, path: str, body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = signed_headers(str(NOW_MS), raw.decode()) | {"content-type": "application/json"}
    status, _, answer = await http(emu, "POST", path, body=raw, headers=headers)
    assert status == 200 and isinstance(answer, dict)
    return answer


def leverage_body(buy: Any = "5", sell: Any = None, **fields: Any) -> dict[str, Any]:
    return {"category": "linear", "symbol": SYMBOL, "buyLeverage": buy,
            "sellLeverage": buy if sell is None else sell} | fields  # fmt: skip


async def position_row(emu: BybitEmulator) -> dict[str, Any]:
    _, _, answer = await signed_get(emu, "/v5/position/list",
                                    {"category": "linear", "symbol": SYMBOL})  # fmt: skip
    (row,) = answer["result"]["list"]
    assert isinstance(row, dict)
    return row


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (leverage_body("5", "6"), "same as sellLeverage"),  # one-way mode
        (leverage_body("101"), "not in [1, 100]"),  # above maxLeverage
        (leverage_body("0"), "not in [1, 100]"),
        (leverage_body("5.005"), "by 0.01"),
        (leverage_body(5), "buyLeverage"),  # a JSON string
        (leverage_body("five"), "decimal strings"),
        (leverage_body(category="spot"), "category"),
        (leverage_body(symbol="NOPEUSDT"), "symbol"),
        ({"category": "linear", "symbol": SYMBOL}, "buyLeverage"),
    ],
)
async def test_set_leverage_refusals(body: dict[str, Any], text: str, autojump_clock: Any) -> None:
    emu = emulator()
    answer = await signed_post(emu, "/v5/position/set-leverage", body)
    assert answer["retCode"] == 10001 and text in answer["retMsg"], answer
    assert emu.leverage == {}


async def test_set_leverage_is_kept_per_symbol_and_reported(autojump_clock: Any) -> None:
    async with live() as emu:
        assert (await position_row(emu))["leverage"] == "10"  # before any setting
        answer = await signed_post(emu, "/v5/position/set-leverage", leverage_body("12.5"))
        assert (answer["retCode"], answer["result"]) == (0, {})
        again = await signed_post(emu, "/v5/position/set-leverage", leverage_body("12.50"))
        assert (again["retCode"], again["retMsg"]) == (110043, "leverage not modified")
        assert emu.leverage == {SYMBOL: Decimal("12.5")}
        assert (await position_row(emu))["leverage"] == "12.5"
        unsigned = json.dumps(leverage_body("3")).encode()
        status, _, answer = await http(emu, "POST", "/v5/position/set-leverage", body=unsigned)
        assert (status, answer["retCode"]) == (401, 10003)
        for _ in range(8):  # 10 per second per UID, this second's 2 spent above
            await signed_post(emu, "/v5/position/set-leverage", leverage_body("12.5"))
        over = await signed_post(emu, "/v5/position/set-leverage", leverage_body("4"))
        assert over["retCode"] == 10006 and emu.leverage == {SYMBOL: Decimal("12.5")}


async def test_set_margin_mode_is_account_wide_and_refused_with_a_position(
    autojump_clock: Any,
) -> None:
    async with live() as emu:
        _, _, info = await signed_get(emu, "/v5/account/info", {})
        assert info["result"]["marginMode"] == "REGULAR_MARGIN"  # the documented default
        answer = await signed_post(emu, "/v5/account/set-margin-mode",
                                   {"setMarginMode": "ISOLATED_MARGIN"})  # fmt: skip
        assert (answer["retCode"], answer["result"]) == (0, {"reasons": []})
        _, _, info = await signed_get(emu, "/v5/account/info", {})
        assert info["result"]["marginMode"] == "ISOLATED_MARGIN"
        for mode, code in (("ISOLATED_MARGIN", 0), ("isolated", 10001), ("", 10001),
                           ("PORTFOLIO_MARGIN", 110073)):  # fmt: skip
            answer = await signed_post(emu, "/v5/account/set-margin-mode", {"setMarginMode": mode})
            assert answer["retCode"] == code, (mode, answer)
        assert (await create(emu, orderLinkId="mm-1"))["retCode"] == 0
        await trio.sleep(1.0)  # 5 per second per UID: 5 spent above
        answer = await signed_post(emu, "/v5/account/set-margin-mode",
                                   {"setMarginMode": "REGULAR_MARGIN"})  # fmt: skip
        assert (answer["retCode"], answer["retMsg"]) == (110073, "Set margin mode failed")
        (reason,) = answer["result"]["reasons"]
        assert SYMBOL in reason["reasonMsg"] and reason["reasonCode"]
        assert emu.margin_mode == "ISOLATED_MARGIN"
        same = await signed_post(emu, "/v5/account/set-margin-mode",
                                 {"setMarginMode": "ISOLATED_MARGIN"})  # fmt: skip
        assert same["retCode"] == 0  # nothing to switch: no refusal


async def test_position_rows_report_the_mark_and_the_liquidation_price(
    autojump_clock: Any,
) -> None:
    async with live() as emu:
        flat = await position_row(emu)
        assert (flat["size"], flat["liqPrice"]) == ("0", "")  # no position, no price
        await signed_post(emu, "/v5/account/set-margin-mode", {"setMarginMode": "ISOLATED_MARGIN"})
        await signed_post(emu, "/v5/position/set-leverage", leverage_body("4"))
        assert (await create(emu, orderLinkId="lq-1"))["retCode"] == 0
        row = await position_row(emu)
        entry, qty = Decimal(row["avgPrice"]), Decimal(row["size"])
        assert (row["side"], qty, row["leverage"]) == ("Buy", Decimal("0.005"), "4")
        assert Decimal(row["liqPrice"]) == isolated_liq_price(
            entry, qty, Decimal(4), Decimal("0.1")
        )
        assert Decimal(row["liqPrice"]) < entry * Decimal("0.76")  # 1 - 1/4 + 0.005 = 0.755
        bids, asks = emu.market.book_levels("bybit", SYMBOL, 1)
        assert Decimal(row["markPrice"]) == ((bids[0][0] + asks[0][0]) / 2).quantize(Decimal("0.1"))
        emu.margin_mode = "REGULAR_MARGIN"  # cross: 100 000 USDT behind 0.005 BTC
        assert (await position_row(emu))["liqPrice"] == ""


async def test_book_frames_carry_their_time_and_the_delay_knob_keeps_it(
    autojump_clock: Any,
) -> None:
    """``ts`` is the frame's creation on the venue's wall clock (``cts`` 2 ms before);
    ``book_delay_s`` holds frames back that long, their ``ts`` unchanged, in order."""
    epoch = 1_700_000_000.0
    async with stream("/v5/public/linear") as (emu, peer):
        emu.wall_clock = lambda: epoch + trio.current_time()
        await peer.op(op="subscribe", req_id="s", args=["orderbook.50.BTCUSDT"])
        await peer.frame()  # the ack
        u = None
        for delay in (0.0, 0.8, 0.0):
            emu.book_delay_s = delay
            late = []
            for _ in range(30):
                frame = await peer.frame()
                now_ms = (epoch + trio.current_time()) * 1000
                assert frame["cts"] == frame["ts"] - 2
                late.append(now_ms - frame["ts"])
                if u is not None:
                    assert frame["data"]["u"] == u + 1  # none lost, none reordered
                u = frame["data"]["u"]
            assert late[-1] == pytest.approx(delay * 1000, abs=1.0), late
