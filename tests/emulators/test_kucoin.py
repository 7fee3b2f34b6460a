"""The KuCoin Futures emulator on its own, in-process (no client code): the documented
signing vectors, the level-2 sequence rules (KuCoin's book has no checksum), the venue's
error codes for requests the documentation forbids, WS limits, weight pools, the order
record served at ``/__emulator__/orders``, margin mode and leverage per symbol, the
liquidation prices positions report, and book pushes delivered late."""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from arbtrio.emulators.app import ApiKeys, AsgiWebSocket, EmuConnection, HttpRequest
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.emulators.kucoin_gateway import hmac_b64, passphrase_header, prehash
from arbtrio.emulators.kucoin_protocol import MAINT_MARGIN_RATE, liquidation_price
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

# -- the documented vectors (secret, timestamp and expected values verbatim) ---------------------
SECRET = "test_api_secret"
TS = "1234567890000"
ORDER_BODY = (
    '{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"XBTUSDTM","leverage":3,'
    '"type":"limit","price":"0.1","size":1,"timeInForce":"GTC"}'
)
ORDER_SIGN = "SUhO3SdXQ0RdPji5Vp/aK4cm4963UIN8247Y3jIoots="
GET_ENDPOINT = "/api/v1/orders?status=active&symbol=XBTUSDTM"
GET_SIGN = "Yk2pHWui7U7KDghp3Sd/pKHkMp4UowSSkei20rxqlXU="
BULLET_SIGN = "BBoTSoWSZ3+R93yQqfpt3CL5eAJYXZEbxBVQgEs++Qc="
PASSPHRASE_SIGN = "Ikr9KjwgA4urCb5Az1TNKgQELW10z84iOq+wsZsRRz0="

VECTOR_KEYS = ApiKeys(api_key="vector-key", api_secret=SECRET, passphrase="test_passphrase")
KEYS = ApiKeys(api_key="kc-key", api_secret="kc-secret", passphrase="kc-pass")
SYMBOL = "XBTUSDTM"
WALL = 1_700_000_000.0


def emulator(keys: ApiKeys = KEYS, wall: float = WALL, **kw: Any) -> KucoinEmulator:
    """An emulator over a fresh market (seed 1, first step taken), not served."""
    market = SimMarket(default_sim_config(seed=1))
    market.advance(0.0)
    return KucoinEmulator(market, MarketDriver(market), keys, wall_clock=lambda: wall, **kw)


def vector_headers(sign: str, ts: str = TS, **extra: str) -> dict[str, str]:
    headers = {
        "kc-api-key": "vector-key", "kc-api-sign": sign, "kc-api-timestamp": ts,
        "kc-api-passphrase": PASSPHRASE_SIGN, "kc-api-key-version": "2",
    }  # fmt: skip
    return headers | extra


def signed(
    em: KucoinEmulator, method: str, target: str, body: Any = None, *, keys: ApiKeys = KEYS,
    ts_ms: int | None = None,
) -> HttpRequest:  # fmt: skip
    """``method target`` signed with ``keys`` at the emulator's wall time (or ``ts_ms``)."""
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    ts = str(ts_ms if ts_ms is not None else int(em.wall() * 1000))
    headers = {
        "kc-api-key": keys.api_key,
        "kc-api-sign": hmac_b64(keys.api_secret, prehash(ts, method, target, raw)),
        "kc-api-timestamp": ts,
        "kc-api-passphrase": passphrase_header(keys.api_secret, keys.passphrase, "2"),
        "kc-api-key-version": "2",
        "content-type": "application/json",
    }
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, headers, raw)


def public(method: str, target: str) -> HttpRequest:
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, {}, b"")


async def answer(em: KucoinEmulator, req: HttpRequest) -> tuple[int, dict[str, Any]]:
    """The emulator's answer to ``req`` through its ASGI entry point (status, JSON body)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": req.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": req.method, "path": req.path,
        "query_string": req.query.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()],
    }  # fmt: skip
    await em(scope, receive, send)
    status = sent[0]["status"]
    return status, json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def order(cid: str = "emu-1", **fields: Any) -> dict[str, Any]:
    body = {"clientOid": cid, "side": "buy", "symbol": SYMBOL, "price": "50000", "size": 1,
            "timeInForce": "IOC", "leverage": 5}  # fmt: skip
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def crossing_price(em: KucoinEmulator, side: str) -> str:
    bids, asks = em.market.book_levels("kucoin", SYMBOL)
    tick = em.instruments[SYMBOL].tick_size
    price = asks[0][0] + 50 * tick if side == "buy" else bids[0][0] - 50 * tick
    return str(price)


# -- signing ---------------------------------------------------------------------------------
def test_the_sdk_hmac_vector_and_the_passphrase_vector() -> None:
    assert hmac_b64(SECRET, b"test_plain") == "jie/gxS38wLFFaBwl/cAzFbAzlI8MIny96jSXrB+iP4="
    assert passphrase_header(SECRET, "test_passphrase", "2") == PASSPHRASE_SIGN
    assert passphrase_header(SECRET, "test_passphrase", "3") == PASSPHRASE_SIGN
    assert passphrase_header(SECRET, "test_passphrase", "1") == "test_passphrase"


def test_prehash_is_timestamp_method_endpoint_body() -> None:
    assert prehash(TS, "post", "/api/v1/orders", ORDER_BODY.encode()) == (
        f"{TS}POST/api/v1/orders{ORDER_BODY}".encode()
    )
    assert hmac_b64(SECRET, prehash(TS, "POST", "/api/v1/orders", ORDER_BODY.encode())) == (
        ORDER_SIGN
    )


def test_signature_check_accepts_the_documented_vectors() -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_890.0)
    post = HttpRequest("POST", "/api/v1/orders", "", vector_headers(ORDER_SIGN),
                       ORDER_BODY.encode())  # fmt: skip
    get = HttpRequest("GET", "/api/v1/orders", "status=active&symbol=XBTUSDTM",
                      vector_headers(GET_SIGN), b"")  # fmt: skip
    bullet = HttpRequest("POST", "/api/v1/bullet-private", "", vector_headers(BULLET_SIGN), b"")
    for request in (post, get, bullet):
        assert em._check_signature(request) is None
    assert em.auth_failures == 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"body": ORDER_BODY.replace('"size":1', '"size":2').encode()}, "400005"),
        ({"body": ORDER_BODY.replace(",", ", ").encode()}, "400005"),  # not the bytes signed
        ({"path": "/api/v1/orders/test"}, "400005"),
        ({"method": "PUT"}, "400005"),
        ({"headers": {"kc-api-sign": ORDER_SIGN.replace("S", "T", 1)}}, "400005"),
        ({"headers": {"kc-api-passphrase": "test_passphrase"}}, "400004"),  # plain on a v2 key
        ({"headers": {"kc-api-key-version": "3"}}, "400009"),  # not the key's version
        ({"headers": {"kc-api-key": "other-key"}}, "400003"),
        ({"headers": {"kc-api-timestamp": "1234567895001"}}, "400002"),  # 5.001 s ahead
        ({"headers": {"kc-api-timestamp": "1234567884999"}}, "400002"),  # 5.001 s behind
        ({"headers": {"kc-api-timestamp": "1234567890000.0"}}, "400002"),
        ({"headers": {"kc-api-passphrase": ""}}, "400001"),
    ],
)
def test_signature_check_refuses_a_tampered_request(change: dict[str, Any], code: str) -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_890.0)
    headers = vector_headers(ORDER_SIGN) | change.get("headers", {})
    request = HttpRequest(
        change.get("method", "POST"), change.get("path", "/api/v1/orders"), "", headers,
        change.get("body", ORDER_BODY.encode()),
    )  # fmt: skip
    refused = em._check_signature(request)
    assert refused is not None and refused[0] == 401 and refused[1]["code"] == code
    assert em.auth_failures == 1


def test_the_window_is_five_seconds_inclusive_and_a_query_must_be_as_signed() -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_895.0)  # exactly 5 s after the vector
    get = HttpRequest("GET", "/api/v1/orders", "status=active&symbol=XBTUSDTM",
                      vector_headers(GET_SIGN), b"")  # fmt: skip
    assert em._check_signature(get) is None
    reordered = HttpRequest("GET", "/api/v1/orders", "symbol=XBTUSDTM&status=active",
                            vector_headers(GET_SIGN), b"")  # fmt: skip
    refused = em._check_signature(reordered)
    assert refused is not None and refused[1]["code"] == "400005"


def test_a_v1_key_sends_its_passphrase_in_plain_and_may_omit_the_version() -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_890.0, key_version="1")
    headers = vector_headers(ORDER_SIGN, **{"kc-api-passphrase": "test_passphrase"})
    del headers["kc-api-key-version"]
    request = HttpRequest("POST", "/api/v1/orders", "", headers, ORDER_BODY.encode())
    assert em._check_signature(request) is None
    signed_passphrase = vector_headers(ORDER_SIGN, **{"kc-api-key-version": "1"})
    refused = em._check_signature(
        HttpRequest("POST", "/api/v1/orders", "", signed_passphrase, ORDER_BODY.encode())
    )
    assert refused is not None and refused[1]["code"] == "400004"


async def test_the_vector_order_passes_the_gateway_and_is_refused_as_gtc(
    autojump_clock: MockClock,
) -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_890.0)
    request = HttpRequest("POST", "/api/v1/orders", "", vector_headers(ORDER_SIGN),
                          ORDER_BODY.encode())  # fmt: skip
    status, body = await answer(em, request)
    assert (status, body["code"]) == (200, "100001") and "limit IOC" in body["msg"]
    assert [(r.client_order_id, r.outcome) for r in em.order_log] == [
        ("5c52e11203aa677f33e493fb", "rejected")
    ]


async def test_the_get_vector_is_served_end_to_end(autojump_clock: MockClock) -> None:
    em = emulator(VECTOR_KEYS, wall=1_234_567_890.0)
    get = HttpRequest("GET", "/api/v1/orders", "status=active&symbol=XBTUSDTM",
                      vector_headers(GET_SIGN), b"")  # fmt: skip
    status, body = await answer(em, get)
    assert (status, body["code"], body["data"]["items"]) == (200, "200000", [])


async def test_signed_endpoints_need_every_header(autojump_clock: MockClock) -> None:
    em = emulator()
    status, body = await answer(em, public("GET", "/api/v1/positions"))
    assert (status, body["code"]) == (401, "400001")
    status, body = await answer(em, public("POST", "/api/v1/bullet-public"))  # unsigned
    assert status == 200 and body["data"]["token"].startswith("pub-")


# -- level 2: the sequence rules (the venue publishes no checksum) ---------------------------
def _frames(conn: EmuConnection) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            out.append(json.loads(conn._recv.receive_nowait()))
        except trio.WouldBlock:
            return out


def _session(em: KucoinEmulator, private: bool = False) -> EmuConnection:
    """A session as the WS handler sets it up (frames stay in its outbox)."""
    conn = EmuConnection(AsgiWebSocket(None, None), outbox_size=100_000)
    token = f"{'prv' if private else 'pub'}-test"
    conn.state.update(token=token, private=private, books=set(), topics=set(), connect_id="c1")
    em._conns.add(conn)
    return conn


def _apply(book: dict[Decimal, int], change: str) -> None:
    price, _, size = change.split(",")
    if int(size) == 0:
        book.pop(Decimal(price), None)
    else:
        book[Decimal(price)] = int(size)


async def test_level2_pushes_continue_the_snapshot_sequence_one_change_each(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    inst = em.instruments[SYMBOL]
    conn = _session(em)
    em._ws_request(conn, json.dumps(
        {"id": "s1", "type": "subscribe", "topic": f"/contractMarket/level2:{SYMBOL}",
         "privateChannel": False, "response": True}
    ))  # fmt: skip
    assert _frames(conn) == [{"id": "s1", "type": "ack"}]
    _, snap = await answer(em, public("GET", f"/api/v1/level2/snapshot?symbol={SYMBOL}"))
    data = snap["data"]
    bids = {Decimal(str(p)): s for p, s in data["bids"]}
    asks = {Decimal(str(p)): s for p, s in data["asks"]}
    seq = data["sequence"]
    for step in range(1, 40):
        em.market.advance(step * em.market.config.tick_interval_s)
        em.publish_tick()
        for frame in _frames(conn):
            assert frame["topic"] == f"/contractMarket/level2:{SYMBOL}"
            assert frame["subject"] == "level2" and frame["sn"] == frame["data"]["sequence"]
            assert frame["data"]["sequence"] == seq + 1  # continuity: exactly +1
            seq = frame["data"]["sequence"]
            change = frame["data"]["change"]
            assert change.split(",")[1] in ("buy", "sell")
            _apply(bids if change.split(",")[1] == "buy" else asks, change)
            if bids and asks:
                assert max(bids) < min(asks)  # removals first: never crossed in between
    pub = em._published[SYMBOL]
    assert seq == pub.id > data["sequence"] + 100  # the market moved: many pushes applied
    lots = inst.contract_multiplier
    assert sorted(bids.items(), reverse=True) == [(p, int(s / lots)) for p, s in pub.bids]
    assert sorted(asks.items()) == [(p, int(s / lots)) for p, s in pub.asks]


# -- the WebSocket's documented refusals ------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "error"),
    [
        ({"type": "subscribe", "topic": "/contractMarket/tradeOrders", "privateChannel": True},
         [403, "login required"]),  # a public token
        ({"type": "subscribe", "topic": "/contractMarket/level2:NOPEUSDTM"},
         [404, "topic not exist"]),
        ({"type": "subscribe", "topic": "/contractMarket/level2:"}, [400, "topic invalid"]),
        ({"type": "subscribe", "topic": "/contractMarket/level2:" + ",".join([SYMBOL] * 101)},
         [509, "exceed max subscription count limitation of 100 per time"]),
        ({"type": "openTunnel", "topic": "x"}, [415, "command type invalid"]),
    ],
)  # fmt: skip
def test_ws_refusals_use_the_venue_codes(command: dict[str, Any], error: list[Any]) -> None:
    em = emulator()
    conn = _session(em)
    em._ws_request(conn, json.dumps({"id": "r1", "response": True} | command))
    assert _frames(conn) == [{"id": "r1", "type": "error", "code": error[0], "data": error[1]}]


def test_ws_ping_is_answered_with_its_id_and_private_topics_need_the_private_flag() -> None:
    em = emulator()
    conn = _session(em, private=True)
    em._ws_request(conn, '{"id":"1545910590801","type":"ping"}')
    assert _frames(conn) == [{"id": "1545910590801", "type": "pong"}]
    em._ws_request(conn, json.dumps(
        {"id": "p1", "type": "subscribe", "topic": "/contractMarket/tradeOrders",
         "privateChannel": False, "response": True}
    ))  # fmt: skip
    assert _frames(conn)[0]["code"] == 403
    em._ws_request(conn, json.dumps(
        {"id": "p2", "type": "subscribe", "topic": "/contractMarket/tradeOrders",
         "privateChannel": True, "response": False}
    ))  # fmt: skip
    assert _frames(conn) == []  # no ack unless asked for
    assert conn.state["topics"] == {"/contractMarket/tradeOrders"}


# -- REST: what the documentation forbids -----------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"clientOid": "x" * 41}, "100001"),  # ≤ 40 characters
        ({"clientOid": "has.dot"}, "100001"),  # [0-9A-Za-z_-] only
        ({"clientOid": None}, "100001"),  # required
        ({"side": "long"}, "100001"),
        ({"size": "1"}, "100001"),  # integer lots, not a string
        ({"size": 1.5}, "100001"),
        ({"size": 0}, "100001"),
        ({"qty": "0.001"}, "100001"),  # size and qty: choose one
        ({"price": 50000}, "100001"),  # a limit price is a string
        ({"price": "50000.05"}, "100001"),  # off the 0.1 tick
        ({"price": None}, "100001"),  # required for a limit order
        ({"leverage": None}, "100001"),  # required to open an isolated position
        ({"timeInForce": "FOK"}, "100001"),
        ({"marginMode": "PORTFOLIO"}, "100001"),
        ({"marginMode": "CROSS"}, "330005"),  # the symbol is ISOLATED
        ({"symbol": "NOPEUSDTM"}, "100003"),
    ],
)
async def test_malformed_orders_get_the_documented_codes(
    fields: dict[str, Any], code: str, autojump_clock: MockClock
) -> None:
    em = emulator()
    body = order(**{k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        body.pop(key)
    status, answered = await answer(em, signed(em, "POST", "/api/v1/orders", body))
    assert (status, answered["code"]) == (200, code), answered
    assert em.market.order("kucoin", body.get("clientOid", "")) is None  # never reached it
    [record] = em.order_log
    assert record.outcome == "rejected" and record.reason.startswith(code)


async def test_a_closing_order_needs_no_leverage_and_qty_may_size_it(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    buy = order("open-1", price=crossing_price(em, "buy"), size=None, qty="0.002")
    status, body = await answer(em, signed(em, "POST", "/api/v1/orders", buy))
    assert (status, body["code"]) == (200, "200000")
    close = order("close-1", side="sell", price=crossing_price(em, "sell"), size=2,
                  leverage=None, reduceOnly=True)  # fmt: skip
    status, body = await answer(em, signed(em, "POST", "/api/v1/orders", close))
    assert (status, body["code"]) == (200, "200000")
    assert em.market.position("kucoin", SYMBOL) == 0


async def test_account_overview_defaults_to_xbt_and_queries_name_missing_orders(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    _, xbt = await answer(em, signed(em, "GET", "/api/v1/account-overview"))
    assert xbt["data"]["currency"] == "XBT" and xbt["data"]["accountEquity"] == 0
    _, usdt = await answer(em, signed(em, "GET", "/api/v1/account-overview?currency=USDT"))
    assert Decimal(str(usdt["data"]["accountEquity"])) == em.market.balances("kucoin")[0].total
    _, missing = await answer(em, signed(em, "GET", "/api/v1/orders/byClientOid?clientOid=no"))
    assert missing == {"code": "100001", "msg": "error.getOrder.orderNotExist"}
    _, cancel = await answer(em, signed(em, "DELETE", "/api/v1/orders/client-order/no"))
    assert cancel["code"] == "100001"  # the symbol is required
    status, unknown = await answer(em, signed(em, "GET", "/api/v1/nothing"))
    assert (status, unknown["code"]) == (404, "404000")


async def test_weight_pools_refuse_with_429000_until_the_window_resets(
    autojump_clock: MockClock,
) -> None:
    em = emulator(pool_limits={"public": 8})
    contracts = public("GET", "/api/v1/contracts/active")  # weight 3
    for remaining in ("5", "2"):
        status, _, headers = await em._http(contracts)
        assert (status, headers["gw-ratelimit-limit"]) == (200, "8")
        assert headers["gw-ratelimit-remaining"] == remaining
    status, body = await answer(em, contracts)
    assert (status, body["code"]) == (429, "429000")
    reply = await em._http(contracts)
    assert reply[2]["gw-ratelimit-remaining"] == "2" and int(reply[2]["gw-ratelimit-reset"]) > 0
    await trio.sleep(30)
    status, _ = await answer(em, contracts)
    assert status == 200 and em.pools["public"].used == 3
    assert em.pools["futures"].used == 0  # signed calls have their own pool


# -- the order record ---------------------------------------------------------------------------
async def test_order_record_lists_every_authenticated_placement(
    autojump_clock: MockClock,
) -> None:
    em = emulator(hold_s=5.0)
    place = "/api/v1/orders"
    await answer(em, signed(em, "POST", place, order("ok-1", price=crossing_price(em, "buy"),
                                                     size=3)))  # fmt: skip
    await answer(em, signed(em, "POST", place, order("bad-1", price="1.05")))
    em.faults.force("reject")
    await answer(em, signed(em, "POST", place, order("rej-1", price=crossing_price(em, "buy"))))
    em.faults.force("ack_timeout_not_executed")
    status, _ = await answer(em, signed(em, "POST", place, order("lost-1")))
    assert status == 500
    em.faults.force("ack_timeout_executed")
    status, _ = await answer(
        em, signed(em, "POST", place, order("late-1", price=crossing_price(em, "buy")))
    )
    assert status == 500
    await answer(em, signed(em, "POST", place, order("ok-1", price=crossing_price(em, "buy"))))
    await answer(em, signed(em, "POST", place, b"not json"))
    await answer(em, HttpRequest("POST", place, "", {}, b"{}"))  # not authenticated: no record
    status, served = await answer(em, public("GET", "/__emulator__/orders"))
    assert status == 200 and served["venue"] == "kucoin"
    rows = [(o["client_order_id"], o["outcome"], o["qty"], o["filled"], o["reason"][:6])
            for o in served["orders"]]  # fmt: skip
    assert rows == [
        ("ok-1", "executed", "0.003", "0.003", ""),
        ("bad-1", "rejected", "0.001", "0", "100001"),
        ("rej-1", "rejected", "0.001", "0", "300003"),
        ("lost-1", "unknown", "0.001", "0", "ack_ti"),
        ("late-1", "executed", "0.001", "0.001", "ack_ti"),
        ("ok-1", "rejected", "0.001", "0", "100001"),  # the clientOid was used: duplicate
        ("", "rejected", "", "0", "100001"),
    ]
    first = served["orders"][0]
    assert (first["symbol"], first["side"], first["reduce_only"]) == (SYMBOL, "buy", False)
    assert "duplicate" in served["orders"][5]["reason"]
    assert em.market.order("kucoin", "lost-1") is None  # withheld and never executed


# -- margin mode and leverage -------------------------------------------------------------------
MODE = "/api/v2/position/getMarginMode"
SWITCH = "/api/v2/position/changeMarginMode"
CROSS = "/api/v2/getCrossUserLeverage"
LEVERAGE = "/api/v2/changeCrossUserLeverage"


async def _open(em: KucoinEmulator, cid: str, side: str = "buy", lots: int = 2, **kw: Any) -> None:
    """Open (or add to) a position with one crossing IOC."""
    body = order(cid, side=side, price=crossing_price(em, side), size=lots, **kw)
    status, answered = await answer(em, signed(em, "POST", "/api/v1/orders", body))
    assert (status, answered["code"]) == (200, "200000"), answered


async def _position(em: KucoinEmulator) -> dict[str, Any]:
    _, got = await answer(em, signed(em, "GET", f"/api/v1/position?symbol={SYMBOL}"))
    data: dict[str, Any] = got["data"]
    return data


async def test_the_margin_mode_is_kept_per_symbol_and_orders_must_carry_it(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    _, got = await answer(em, signed(em, "GET", f"{MODE}?symbol={SYMBOL}"))
    assert got == {"code": "200000", "data": {"symbol": SYMBOL, "marginMode": "ISOLATED"}}
    switch = {"symbol": SYMBOL, "marginMode": "CROSS"}
    for _ in range(2):  # the mode it already has: the same answer, nothing changes
        status, got = await answer(em, signed(em, "POST", SWITCH, switch))
        assert (status, got) == (200, {"code": "200000", "data": switch})
    assert em.config_log == [(SYMBOL, "marginMode", "CROSS")]
    _, got = await answer(em, signed(em, "GET", f"{MODE}?symbol=ETHUSDTM"))
    assert got["data"]["marginMode"] == "ISOLATED"  # per symbol
    _, refused = await answer(em, signed(em, "POST", "/api/v1/orders", order("iso-1")))
    assert refused["code"] == "330005"  # an ISOLATED order on a CROSS symbol
    await _open(em, "cross-1", marginMode="CROSS", leverage=None)  # cross: leverage optional
    position = await _position(em)
    assert (position["marginMode"], position["crossMode"], position["leverage"]) == (
        "CROSS", True, 5
    )  # fmt: skip


async def test_a_switch_is_refused_while_the_symbol_holds_a_position(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    await _open(em, "held-1")
    switch = {"symbol": SYMBOL, "marginMode": "CROSS"}
    status, got = await answer(em, signed(em, "POST", SWITCH, switch))
    assert (status, got["code"]) == (200, "300000") and "margin mode" in got["msg"]
    assert em.margin_modes[SYMBOL] == "ISOLATED" and em.config_log == []
    _, same = await answer(em, signed(em, "POST", SWITCH, switch | {"marginMode": "ISOLATED"}))
    assert same["code"] == "200000"  # no switch asked: nothing to refuse


async def test_cross_leverage_is_set_per_symbol_within_the_contract_maximum(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    _, got = await answer(em, signed(em, "GET", f"{CROSS}?symbol={SYMBOL}"))
    assert got == {"code": "200000", "data": {"symbol": SYMBOL, "leverage": "5"}}
    for _ in range(2):
        _, changed = await answer(em, signed(em, "POST", LEVERAGE,
                                             {"symbol": SYMBOL, "leverage": "10"}))  # fmt: skip
        assert changed == {"code": "200000", "data": True}
    _, got = await answer(em, signed(em, "GET", f"{CROSS}?symbol={SYMBOL}"))
    assert got["data"]["leverage"] == "10" and em.config_log == [(SYMBOL, "leverage", "10")]
    _, contract = await answer(em, public("GET", f"/api/v1/contracts/{SYMBOL}"))
    assert contract["data"]["maxLeverage"] == em.instruments[SYMBOL].max_leverage == 125


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (LEVERAGE, {"symbol": SYMBOL, "leverage": "126"}, "100001"),  # above maxLeverage 125
        (LEVERAGE, {"symbol": SYMBOL, "leverage": "0"}, "100001"),
        (LEVERAGE, {"symbol": SYMBOL, "leverage": "2.5"}, "100001"),
        (LEVERAGE, {"symbol": SYMBOL, "leverage": 10}, "100001"),  # a string, as documented
        (LEVERAGE, {"leverage": "10"}, "100001"),  # the symbol is required
        (LEVERAGE, {"symbol": "NOPEUSDTM", "leverage": "10"}, "100003"),
        (SWITCH, {"symbol": SYMBOL, "marginMode": "cross"}, "100001"),  # upper case only
        (SWITCH, {"symbol": SYMBOL, "marginMode": "PORTFOLIO"}, "100001"),
        (SWITCH, {"symbol": "NOPEUSDTM", "marginMode": "CROSS"}, "100003"),
        (SWITCH, b"not json", "100001"),
    ],
)
async def test_malformed_settings_are_refused_with_the_venue_codes(
    path: str, body: Any, code: str, autojump_clock: MockClock
) -> None:
    em = emulator()
    status, got = await answer(em, signed(em, "POST", path, body))
    assert (status, got["code"]) == (200, code), got
    assert em.config_log == [] and em.cross_leverage[SYMBOL] == 5
    assert em.margin_modes[SYMBOL] == "ISOLATED"


def test_the_liquidation_price_against_the_documented_example() -> None:
    # the documentation's position push: a 5x isolated long of 0.001 XBT at 91694.5, its
    # bankruptcy price 73355.6 and its liquidation price 73853.0426625
    entry, qty = Decimal("91694.5"), Decimal("0.001")
    margin = qty * entry / 5
    assert liquidation_price(entry, qty, margin, Decimal(0)) == Decimal("73355.6")  # the venue's
    rate = MAINT_MARGIN_RATE + Decimal("0.0006")  # maintenance + the closing taker fee
    long_liq = liquidation_price(entry, qty, margin, rate)
    assert long_liq == entry * (1 - Decimal("0.2") + rate)
    assert Decimal("73853.0426625") < long_liq < entry  # nearer the entry: conservative
    short_liq = liquidation_price(entry, -qty, margin, rate)
    assert short_liq == entry * (1 + Decimal("0.2") - rate)
    assert liquidation_price(entry, Decimal(0), margin, rate) == 0  # flat: none
    assert liquidation_price(entry, qty, 2 * qty * entry, rate) == 0  # cannot be reached


async def test_positions_report_mark_leverage_and_liquidation_price(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    inst = em.instruments[SYMBOL]
    flat = await _position(em)
    assert (flat["liquidationPrice"], flat["currentQty"]) == (0, 0)
    await _open(em, "iso-5", lots=3, leverage=4)
    position = await _position(em)
    entry = Decimal(str(position["avgEntryPrice"]))
    rate = MAINT_MARGIN_RATE + inst.taker_fee
    expected = (entry * (1 - Decimal(1) / 4 + rate)).quantize(inst.tick_size, ROUND_CEILING)
    assert position["currentQty"] == 3 and position["leverage"] == 4
    assert Decimal(str(position["liquidationPrice"])) == expected
    assert Decimal(str(position["bankruptPrice"])) == (entry * Decimal("0.75")).quantize(
        inst.tick_size, ROUND_CEILING
    )
    mid = em.market.mid("kucoin", inst.asset)
    assert float(position["markPrice"]) == pytest.approx(mid, abs=float(inst.tick_size))
    _, listed = await answer(em, signed(em, "GET", "/api/v1/positions"))
    assert [p for p in listed["data"] if p["symbol"] == SYMBOL] == [position]


async def test_a_cross_position_is_liquidated_against_the_account_balance(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    inst = em.instruments[SYMBOL]
    await answer(em, signed(em, "POST", SWITCH, {"symbol": SYMBOL, "marginMode": "CROSS"}))
    await _open(em, "short-1", side="sell", lots=4, marginMode="CROSS")
    position = await _position(em)
    entry, qty = Decimal(str(position["avgEntryPrice"])), Decimal("0.004")
    balance = em.market.balances("kucoin")[0].total
    rate = MAINT_MARGIN_RATE + inst.taker_fee
    expected = (entry * (1 - rate) + balance / qty).quantize(inst.tick_size, ROUND_FLOOR)
    assert position["currentQty"] == -4 and Decimal(str(position["liquidationPrice"])) == expected
    assert expected > 2 * entry  # the whole balance stands behind a small short


async def test_delayed_book_pushes_keep_their_order_and_their_timestamps(
    autojump_clock: MockClock,
) -> None:
    em = emulator()
    em.wall = lambda: WALL + trio.current_time()
    conn = _session(em)
    em._ws_request(conn, json.dumps({"id": "s1", "type": "subscribe",
                                     "topic": f"/contractMarket/level2:{SYMBOL}"}))  # fmt: skip
    steps = iter(range(1, 10_000))

    def tick() -> int:
        """Step the market until the book changes and publish: the pushes' sequences."""
        first = em._published[SYMBOL].id + 1
        while em._published[SYMBOL].id < first:
            em.market.advance(next(steps) * em.market.config.tick_interval_s)
            em.publish_tick()
        return em._published[SYMBOL].id - first + 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(em._deliver_late)
        published = tick()
        assert len(_frames(conn)) == published  # no delay: at once
        em.book_delay_s = 0.8
        published_ms = int(em.wall() * 1000)
        delayed = tick()
        assert _frames(conn) == []
        await trio.sleep(0.79)
        assert _frames(conn) == []
        em.book_delay_s = 0.0  # caught up from now on: still after what is queued
        await trio.sleep(0.005)
        caught_up = tick()
        assert _frames(conn) == []
        await trio.sleep(0.01)
        frames = _frames(conn)
        assert len(frames) == delayed + caught_up
        assert {f["data"]["timestamp"] for f in frames[:delayed]} == {published_ms}  # as built
        assert {f["data"]["timestamp"] for f in frames[delayed:]} == {published_ms + 795}
        sequences = [f["data"]["sequence"] for f in frames]
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
        published = tick()
        assert len(_frames(conn)) == published  # the queue is empty again: at once
        nursery.cancel_scope.cancel()
