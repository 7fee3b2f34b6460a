"""The Gate.io emulator on its own (no client): the documented signing vectors verbatim,
requests the documentation forbids and the venue's answers to them, the order record.

Driven in process through the emulator's ASGI entry point. Requests are signed here with a
third, inline reading of the documented algorithm (not the emulator's, not the client's).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from arbtrio.emulators.app import ApiKeys, HttpRequest
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.emulators.gateio_auth import (
    EMPTY_BODY_SHA512,
    rest_sign_string,
    verify_ws,
    ws_sign_string,
)
from arbtrio.emulators.gateio_protocol import GateWsError, WsAuth, WsRequest
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

# -- the documentation's signing example (Gate APIv4, key "key", secret "secret") ----------
DOC_KEYS = ApiKeys(api_key="key", api_secret="secret")
DOC_TS = "1541993715"
DOC_EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
DOC_GET_QUERY = "contract=BTC_USD&status=finished&limit=50"
DOC_GET_STRING = f"GET\n/api/v4/futures/orders\n{DOC_GET_QUERY}\n{DOC_EMPTY_SHA512}\n{DOC_TS}"
DOC_GET_SIGN = (
    "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6"
    "fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
)
DOC_POST_BODY = (
    b'{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}'
)
DOC_POST_HASH = (
    "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b"
    "1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
)
DOC_POST_STRING = f"POST\n/api/v4/futures/orders\n\n{DOC_POST_HASH}\n{DOC_TS}"
DOC_POST_SIGN = (
    "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f"
    "c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
)
DOC_WS_STRING = f"channel=futures.orders&event=subscribe&time={DOC_TS}"
DOC_WS_SIGN = (
    "4cdab02f21aba635fce8684a050806325cb4aa74a93d00c39f2084da73614d2e"
    "1d25878ca7c9ebcbde9541cddfc5ae36b1ccde10982eb82fd09f7a30a6d43d84"
)

KEYS = ApiKeys(api_key="emu-key", api_secret="emu-secret")
WALL = 1_700_000_000.0
SYMBOL = "BTC_USDT"


def emulator(keys: ApiKeys = KEYS, wall: float = WALL, **kw: Any) -> GateEmulator:
    """A Gate emulator over a fresh simulated market (seed 1), not served."""
    market = SimMarket(default_sim_config(seed=1))
    return GateEmulator(market, MarketDriver(market), keys, wall_clock=lambda: wall, **kw)


def doc_request(method: str, query: str, body: bytes, sign: str, **headers: str) -> HttpRequest:
    base = {"key": "key", "timestamp": DOC_TS, "sign": sign}
    return HttpRequest(method, "/api/v4/futures/orders", query, base | headers, body)


# -- signing: the documented vectors, verbatim -------------------------------------------
def test_sign_strings_are_the_documented_ones() -> None:
    assert EMPTY_BODY_SHA512 == DOC_EMPTY_SHA512
    assert hashlib.sha512(DOC_POST_BODY).hexdigest() == DOC_POST_HASH
    get = rest_sign_string("GET", "/api/v4/futures/orders", DOC_GET_QUERY, b"", DOC_TS)
    assert get == DOC_GET_STRING
    post = rest_sign_string("POST", "/api/v4/futures/orders", "", DOC_POST_BODY, DOC_TS)
    assert post == DOC_POST_STRING
    assert ws_sign_string("futures.orders", "subscribe", int(DOC_TS)) == DOC_WS_STRING


@pytest.mark.parametrize(
    ("method", "query", "body", "sign"),
    [("GET", DOC_GET_QUERY, b"", DOC_GET_SIGN), ("POST", "", DOC_POST_BODY, DOC_POST_SIGN)],
)
def test_documented_rest_signatures_are_accepted(
    method: str, query: str, body: bytes, sign: str
) -> None:
    emu = emulator(DOC_KEYS, wall=float(DOC_TS))
    assert emu._check_signature(doc_request(method, query, body, sign)) is None
    assert emu.auth_failures == 0


def _tampered() -> Iterator[tuple[str, HttpRequest, str]]:
    flipped = DOC_GET_SIGN[:-1] + ("b" if DOC_GET_SIGN[-1] != "b" else "c")
    yield "flipped sign", doc_request("GET", DOC_GET_QUERY, b"", flipped), "INVALID_SIGNATURE"
    reordered = "status=finished&contract=BTC_USD&limit=50"  # same params, another order
    yield "query order", doc_request("GET", reordered, b"", DOC_GET_SIGN), "INVALID_SIGNATURE"
    yield "other method", doc_request("POST", DOC_GET_QUERY, b"", DOC_GET_SIGN), "INVALID_SIGNATURE"
    changed = DOC_POST_BODY.replace(b"100", b"101")
    yield "changed body", doc_request("POST", "", changed, DOC_POST_SIGN), "INVALID_SIGNATURE"
    other_ts = doc_request("GET", DOC_GET_QUERY, b"", DOC_GET_SIGN, timestamp="1541993716")
    yield "other timestamp", other_ts, "INVALID_SIGNATURE"
    wrong_key = doc_request("GET", DOC_GET_QUERY, b"", DOC_GET_SIGN, key="other")
    yield "wrong key", wrong_key, "INVALID_KEY"
    no_sign = doc_request("GET", DOC_GET_QUERY, b"", "")
    yield "no SIGN", no_sign, "MISSING_REQUIRED_HEADER"


@pytest.mark.parametrize(("case", "request_", "label"), list(_tampered()))
def test_tampered_rest_requests_are_refused(case: str, request_: HttpRequest, label: str) -> None:
    emu = emulator(DOC_KEYS, wall=float(DOC_TS))
    refused = emu._check_signature(request_)
    assert refused is not None, case
    assert (refused[0], refused[1]["label"]) == (401, label), case
    assert emu.auth_failures == 1


@pytest.mark.parametrize(("skew", "accepted"), [(60.0, True), (-60.0, True), (60.5, False)])
def test_timestamp_must_be_within_60_s(skew: float, accepted: bool) -> None:
    emu = emulator(DOC_KEYS, wall=float(DOC_TS) + skew)
    refused = emu._check_signature(doc_request("GET", DOC_GET_QUERY, b"", DOC_GET_SIGN))
    assert (refused is None) is accepted
    if refused is not None:
        assert refused[1]["label"] == "REQUEST_EXPIRED"


def test_query_is_signed_unencoded() -> None:
    """The documented rule: the query is signed as sent and not URL-encoded; a client that
    signs its percent-encoded form fails (a known Gate pitfall)."""
    emu = emulator(DOC_KEYS, wall=float(DOC_TS))
    encoded = "contract=BTC%5FUSD&status=finished&limit=50"
    assert emu._check_signature(doc_request("GET", encoded, b"", DOC_GET_SIGN)) is None
    signed_encoded = hmac.new(
        b"secret",
        f"GET\n/api/v4/futures/orders\n{encoded}\n{DOC_EMPTY_SHA512}\n{DOC_TS}".encode(),
        hashlib.sha512,
    ).hexdigest()
    refused = emu._check_signature(doc_request("GET", encoded, b"", signed_encoded))
    assert refused is not None and refused[1]["label"] == "INVALID_SIGNATURE"


def _ws(sign: str = DOC_WS_SIGN, method: str = "api_key", **kw: Any) -> WsRequest:
    fields: dict[str, Any] = {
        "time": int(DOC_TS), "channel": "futures.orders", "event": "subscribe",
        "payload": ["10001", "!all"],
    } | kw  # fmt: skip
    return WsRequest(**fields, auth=WsAuth(KEY="key", SIGN=sign, method=method))


def test_ws_auth_vector_is_accepted_and_tampering_refused() -> None:
    verify_ws(_ws(), DOC_KEYS, float(DOC_TS))
    refusals = [
        _ws(sign=DOC_WS_SIGN.replace("4c", "4d", 1)),
        _ws(event="unsubscribe"),  # signed for subscribe
        _ws(method="hmac"),
        WsRequest(time=int(DOC_TS), channel="futures.orders", event="subscribe"),
    ]
    for request_ in refusals:
        with pytest.raises(GateWsError) as info:
            verify_ws(request_, DOC_KEYS, float(DOC_TS))
        assert info.value.code == 4


# -- in-process ASGI ---------------------------------------------------------------------
def signed(
    keys: ApiKeys, method: str, path: str, query: str, body: bytes, ts: str
) -> list[tuple[bytes, bytes]]:
    """Gate's documented REST headers, computed here."""
    hashed = hashlib.sha512(body).hexdigest()
    message = f"{method}\n{path}\n{query}\n{hashed}\n{ts}"
    sign = hmac.new(keys.api_secret.encode(), message.encode(), hashlib.sha512).hexdigest()
    return [(b"KEY", keys.api_key.encode()), (b"Timestamp", ts.encode()), (b"SIGN", sign.encode())]


async def call(
    emu: GateEmulator,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    *,
    sign: bool = True,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request through the emulator's ASGI app: ``(status, headers, JSON body)``."""
    raw = list(headers)
    if body:
        raw.append((b"content-type", b"application/json"))
    if sign:
        raw += signed(emu.credentials, method, path, query, body, str(int(WALL)))
    scope = {
        "type": "http", "method": method, "path": path,
        "query_string": query.encode(), "headers": raw,
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await emu(scope, receive, send)
    start, content = sent
    out = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], out, json.loads(content["body"])


def order_body(**fields: Any) -> bytes:
    base = {"contract": SYMBOL, "size": 10, "price": "70000", "tif": "ioc", "text": "t-emu1"}
    return json.dumps(base | fields).encode()


async def place(emu: GateEmulator, body: bytes, *, decimal: bool = False) -> tuple[int, Any]:
    headers = ((b"X-Gate-Size-Decimal", b"1"),) if decimal else ()
    status, _, answer = await call(
        emu, "POST", "/api/v4/futures/usdt/orders", body=body, headers=headers
    )
    return status, answer


@pytest.mark.parametrize(
    ("body", "label"),
    [
        (b'{"contract": "BTC_USDT", ', "INVALID_REQUEST_BODY"),
        (b"[1, 2]", "INVALID_REQUEST_BODY"),
        (b'{"contract": "BTC_USDT", "size": NaN, "price": "1"}', "INVALID_REQUEST_BODY"),
        (order_body(contract=None), "MISSING_REQUIRED_PARAM"),
        (order_body(contract="BTC_USD"), "CONTRACT_NOT_FOUND"),
        (order_body(text="arb-1"), "INVALID_PARAM_VALUE"),  # no "t-" prefix
        (order_body(text="t-" + "a" * 29), "INVALID_PARAM_VALUE"),  # > 28 bytes after "t-"
        (order_body(text="t-a b"), "INVALID_PARAM_VALUE"),  # outside [0-9A-Za-z_.-]
        (order_body(text="t-"), "INVALID_PARAM_VALUE"),
        (order_body(price=70000), "INVALID_PARAM_VALUE"),  # price is a string
        (order_body(price="70000.05"), "INVALID_PARAM_VALUE"),  # not on order_price_round
        (order_body(tif="day"), "INVALID_PARAM_VALUE"),
        (order_body(size=0), "INVALID_PARAM_VALUE"),
        (order_body(size=True), "INVALID_PARAM_VALUE"),
        (order_body(size=2_000_000), "SIZE_TOO_LARGE"),
        (order_body(stp_act="cn"), "INVALID_PARAM_VALUE"),  # the account is in no STP group
        (order_body(reduce_only="yes"), "INVALID_PARAM_VALUE"),
    ],
)
async def test_malformed_orders_get_the_documented_label(body: bytes, label: str) -> None:
    emu = emulator()
    status, answer = await place(emu, body)
    assert status == 400
    assert answer["label"] == label and answer["message"]
    assert emu.market.order("gateio", "t-emu1") is None  # nothing reached the market
    (record,) = emu.order_log
    assert record.outcome == "rejected" and record.reason.startswith(label)


async def test_without_the_decimal_header_sizes_truncate_toward_zero(
    autojump_clock: MockClock,
) -> None:
    emu = emulator()
    status, answer = await place(emu, order_body(size="-1.9", price="60000"))
    assert status == 201 and answer["size"] == -1 and answer["left"] == 0
    assert emu.market.position("gateio", SYMBOL) == Decimal("-0.0001")
    status, answer = await place(emu, order_body(size="1.5", text="t-emu2"), decimal=True)
    assert (status, answer["label"]) == (400, "INVALID_PARAM_VALUE")  # enable_decimal off


async def test_sizes_are_strings_with_the_decimal_header(autojump_clock: MockClock) -> None:
    emu = emulator()
    status, answer = await place(emu, order_body(size="3"), decimal=True)
    assert status == 201 and (answer["size"], answer["left"]) == ("3", "0")
    headers = ((b"X-Gate-Size-Decimal", b"1"),)
    _, _, book = await call(
        emu, "GET", "/api/v4/futures/usdt/order_book", "contract=BTC_USDT&limit=2", sign=False,
        headers=headers,
    )  # fmt: skip
    assert all(isinstance(level["s"], str) for level in book["bids"] + book["asks"])
    _, _, plain = await call(
        emu, "GET", "/api/v4/futures/usdt/order_book", "contract=BTC_USDT&limit=2", sign=False
    )
    assert all(isinstance(level["s"], int) for level in plain["bids"] + plain["asks"])
    assert "id" not in plain and len(plain["bids"]) == 2


async def test_rest_answers_and_refusals() -> None:
    emu = emulator()
    status, _, answer = await call(emu, "GET", "/api/v4/futures/usdt/accounts", sign=False)
    assert (status, answer["label"]) == (401, "MISSING_REQUIRED_HEADER")
    status, _, answer = await call(emu, "GET", "/api/v4/spot/time", sign=False)
    assert (status, answer) == (200, {"server_time": int(WALL * 1000)})
    for query, label in [
        ("contract=ETH_USD", "CONTRACT_NOT_FOUND"),
        ("contract=BTC_USDT&limit=0", "INVALID_PARAM_VALUE"),
        ("contract=BTC_USDT&interval=0.1", "INVALID_PARAM_VALUE"),
        ("limit=5", "MISSING_REQUIRED_PARAM"),
    ]:
        status, _, answer = await call(
            emu, "GET", "/api/v4/futures/usdt/order_book", query, sign=False
        )
        assert (status, answer["label"]) == (400, label), query
    status, _, answer = await call(emu, "GET", "/api/v4/futures/usdt/orders", "contract=BTC_USDT")
    assert (status, answer["label"]) == (400, "MISSING_REQUIRED_PARAM")  # status is required
    status, headers, answer = await call(emu, "GET", "/api/v4/futures/usdt/orders/t-nothing")
    assert (status, answer["label"]) == (404, "ORDER_NOT_FOUND")
    assert headers["x-gate-ratelimit-requests-remain"] == "199"  # refusals carry them too
    status, _, answer = await call(
        emu, "DELETE", "/api/v4/futures/usdt/orders", "contract=BTC_USDT"
    )
    assert (status, answer) == (200, [])
    status, headers, answer = await call(
        emu, "GET", "/api/v4/account/detail", headers=((b"X-Client-Request-Id", b"abc"),)
    )
    assert (status, answer["user_id"], headers["x-client-request-id"]) == (200, 10_001, "abc")
    assert headers["x-gate-ratelimit-limit"] == "200"


async def test_rate_limits_follow_the_documented_table(mock_clock: MockClock) -> None:
    emu = emulator()
    for n in range(200):  # public: 200 per 10 s per endpoint
        status, headers, _ = await call(emu, "GET", "/api/v4/spot/time", sign=False)
        assert status == 200 and headers["x-gate-ratelimit-requests-remain"] == str(199 - n)
    status, headers, answer = await call(emu, "GET", "/api/v4/spot/time", sign=False)
    assert (status, answer["label"]) == (429, "TOO_MANY_REQUESTS")
    assert int(headers["x-gate-ratelimit-reset-timestamp"]) == int((WALL + 10) * 1000)
    status, _, _ = await call(emu, "GET", "/api/v4/futures/usdt/contracts", sign=False)
    assert status == 200  # another endpoint, another window
    for _ in range(100):  # placements: 100 per second, refused ones counted too
        status, answer = await place(emu, b"{}")
        assert answer["label"] == "MISSING_REQUIRED_PARAM"
    status, answer = await place(emu, order_body())
    assert (status, answer["label"]) == (429, "TOO_MANY_REQUESTS")
    assert emu.order_log[-1].outcome == "rejected"
    assert emu.order_log[-1].reason.startswith("TOO_MANY_REQUESTS")
    assert emu.order_log[-1].client_order_id == "t-emu1"


async def test_order_record_is_served(autojump_clock: MockClock) -> None:
    emu = emulator(hold_s=5.0)
    assert (await place(emu, order_body(text="t-ok")))[0] == 201
    emu.faults.force("reject")
    assert (await place(emu, order_body(text="t-rej")))[1]["label"] == "INSUFFICIENT_AVAILABLE"
    emu.faults.force("ack_timeout_executed")
    assert (await place(emu, order_body(text="t-late", size=-5, price="60000")))[0] == 504
    emu.faults.force("ack_timeout_not_executed")
    assert (await place(emu, order_body(text="t-lost")))[0] == 504
    reduce = order_body(text="t-ro", size=-3, price="60000", reduce_only=True)
    assert (await place(emu, reduce))[0] == 201
    # a placement that fails authentication is not an order the venue received
    status, _, _ = await call(emu, "POST", "/api/v4/futures/usdt/orders", body=order_body(),
                              sign=False)  # fmt: skip
    assert status == 401

    status, _, served = await call(emu, "GET", "/__emulator__/orders", sign=False)
    assert status == 200 and served["venue"] == "gateio"
    got = [
        (o["client_order_id"], o["side"], o["qty"], o["outcome"], o["filled"], o["reduce_only"])
        for o in served["orders"]
    ]
    assert got == [
        ("t-ok", "buy", "0.001", "executed", "0.001", False),
        ("t-rej", "buy", "0.001", "rejected", "0", False),
        ("t-late", "sell", "0.0005", "executed", "0.0005", False),
        ("t-lost", "buy", "0.001", "unknown", "0", False),
        ("t-ro", "sell", "0.0003", "executed", "0.0003", True),
    ]
    assert served["orders"][1]["reason"].startswith("INSUFFICIENT_AVAILABLE")
    assert all(o["symbol"] == SYMBOL and o["price"] for o in served["orders"])
    assert served["orders"] == [r.to_json() for r in emu.order_log]


async def test_text_lookup_expires_and_unfilled_orders_vanish(autojump_clock: MockClock) -> None:
    emu = emulator()
    status, filled = await place(emu, order_body(text="t-fill"))
    assert status == 201 and filled["left"] == 0
    status, unfilled = await place(emu, order_body(text="t-none", price="1000"))  # no ask there
    assert status == 201 and unfilled["left"] == unfilled["size"] == 10
    assert unfilled["finish_as"] == "ioc"

    async def lookup(ref: object) -> int:
        return (await call(emu, "GET", f"/api/v4/futures/usdt/orders/{ref}"))[0]

    assert [await lookup("t-fill"), await lookup("t-none")] == [200, 200]
    await trio.sleep(61)
    assert [await lookup("t-fill"), await lookup(filled["id"])] == [404, 200]
    await trio.sleep(540)
    assert [await lookup(filled["id"]), await lookup(unfilled["id"])] == [200, 404]
    _, _, finished = await call(
        emu, "GET", "/api/v4/futures/usdt/orders", "contract=BTC_USDT&status=finished"
    )
    assert [o["text"] for o in finished] == ["t-fill"]


# -- WebSocket ---------------------------------------------------------------------------
class _Socket:
    """An EmuConnection stand-in: collects what the emulator offers."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []
        self.drop_next_book = False
        self.mute_until = 0.0

    def offer(self, text: str) -> None:
        self.sent.append(json.loads(text))


def ws(emu: GateEmulator, sock: _Socket, **fields: Any) -> dict[str, Any]:
    """One client frame (``time`` added) through the emulator's reader; its last answer."""
    conn: Any = sock
    emu._ws_text(conn, json.dumps({"time": int(WALL)} | fields))
    return sock.sent[-1]


def ws_sign(channel: str, event: str) -> str:
    message = f"channel={channel}&event={event}&time={int(WALL)}"
    return hmac.new(KEYS.api_secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def auth(channel: str, event: str = "subscribe") -> dict[str, str]:
    return {"method": "api_key", "KEY": KEYS.api_key, "SIGN": ws_sign(channel, event)}


BOOK = "futures.order_book_update"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ([SYMBOL, "100ms", "50"], None),
        ([SYMBOL, "100ms"], None),  # level is optional
        ([SYMBOL, "20ms", "50"], 2),  # "20ms" only with level "20"
        ([SYMBOL, "1000ms", "50"], 2),  # removed 2024-11
        ([SYMBOL, "100ms", "10"], 2),  # removed 2024-11
        (["ETH_USD", "100ms", "50"], 2),
        ([], 2),
    ],
)
async def test_book_subscription_rules(payload: list[str], code: int | None) -> None:
    emu = emulator()
    sock = _Socket()
    answer = ws(emu, sock, channel=BOOK, event="subscribe", payload=payload, id=7)
    if code is None:
        assert answer["error"] is None and answer["result"] == {"status": "success"}
        assert answer["id"] == 7
    else:
        assert answer["error"]["code"] == code and answer["result"] is None


async def test_ws_requests_the_documentation_forbids() -> None:
    emu = emulator()
    sock = _Socket()
    conn: Any = sock
    for text in ("not json", '{"channel": "futures.ping"}', '{"time": "1", "channel": "x"}'):
        emu._ws_text(conn, text)  # not the documented envelope: code 1
        assert sock.sent[-1]["error"]["code"] == 1, text
    pong = ws(emu, sock, channel="futures.ping")
    assert pong["channel"] == "futures.pong" and pong["result"] is None
    answer = ws(emu, sock, channel=BOOK, event="update", payload=[SYMBOL, "100ms"])
    assert answer["error"]["code"] == 2
    answer = ws(emu, sock, channel="futures.book_ticker", event="subscribe", payload=[SYMBOL])
    assert answer["error"]["code"] == 2


@pytest.mark.parametrize(
    ("channel", "payload", "signed", "code"),
    [
        ("futures.orders", ["10001", "!all"], True, None),
        ("futures.orders", ["10001", SYMBOL], True, None),
        ("futures.balances", ["10001"], True, None),
        ("futures.orders", ["10001", "!all"], False, 4),
        ("futures.orders", ["10002", "!all"], True, 2),  # another user id
        ("futures.orders", ["10001"], True, 2),  # contract or "!all" missing
        ("futures.balances", ["10001", "!all"], True, 2),
        ("futures.orders", ["10001", "ETH_USD"], True, 2),
    ],
)
async def test_private_subscription_rules(
    channel: str, payload: list[str], signed: bool, code: int | None
) -> None:
    emu = emulator()
    sock = _Socket()
    extra = {"auth": auth(channel)} if signed else {}
    answer = ws(emu, sock, channel=channel, event="subscribe", payload=payload, **extra)
    if code is None:
        assert answer["error"] is None
    else:
        assert answer["error"]["code"] == code
        if code == 4:
            assert json.loads(answer["error"]["message"])["label"] == "INVALID_KEY"
            assert emu.auth_failures == 1


async def test_private_pushes_follow_the_contract_filter(autojump_clock: MockClock) -> None:
    emu = emulator()
    btc, eth, every = _Socket(), _Socket(), _Socket()
    for sock, contract in ((btc, SYMBOL), (eth, "ETH_USDT"), (every, "!all")):
        ws(emu, sock, channel="futures.orders", event="subscribe", payload=["10001", contract],
           auth=auth("futures.orders"))  # fmt: skip
    assert (await place(emu, order_body()))[0] == 201
    pushed = {name: [m for m in s.sent if m["event"] == "update"]
              for name, s in (("btc", btc), ("eth", eth), ("all", every))}  # fmt: skip
    assert [len(pushed[n]) for n in ("btc", "eth", "all")] == [1, 0, 1]
    (order,) = pushed["btc"][0]["result"]
    assert order["text"] == "t-emu1" and order["size"] == 10
    assert isinstance(order["price"], int | float)  # WS prices are numbers, REST strings


async def test_book_push_ids_continue_the_rest_snapshot() -> None:
    """Gate's sync procedure: the snapshot id is the last id pushed; the next push has
    ``U = id + 1`` and ``u = U + changed levels - 1``."""
    emu = emulator()
    sock = _Socket()
    emu.market.advance(0.0)
    ws(emu, sock, channel=BOOK, event="subscribe", payload=[SYMBOL, "100ms", "50"])
    snapshot_id = emu._published[SYMBOL].id
    emu.market.advance(5.0)
    emu.publish_tick()
    (push,) = [m for m in sock.sent if m["event"] == "update"]
    result = push["result"]
    assert result["U"] == snapshot_id + 1
    assert result["u"] == result["U"] + len(result["b"]) + len(result["a"]) - 1
    assert result["l"] == "50" and result["s"] == SYMBOL
    assert all(isinstance(level["p"], str) and isinstance(level["s"], int)
               for level in result["b"] + result["a"])  # fmt: skip


# -- leverage, margin mode, liquidation price --------------------------------------------
POSITION = f"/api/v4/futures/usdt/positions/{SYMBOL}"
LEVERAGE = f"/api/v4/futures/usdt/positions/{SYMBOL}/leverage"
CROSS_MODE = "/api/v4/futures/usdt/positions/cross_mode"
MMR = Decimal("0.005")  # the maintenance rate the emulator documents


def cross_mode(mode: str, contract: str = SYMBOL) -> bytes:
    return json.dumps({"mode": mode, "contract": contract}).encode()


def setting(position: dict[str, Any]) -> tuple[str, str, str]:
    return (position["leverage"], position["cross_leverage_limit"], position["pos_margin_mode"])


async def test_leverage_and_margin_mode_are_kept_per_contract_and_reported() -> None:
    emu = emulator()
    status, _, pos = await call(emu, "GET", POSITION)
    assert status == 200 and setting(pos) == ("0", "10", "cross")  # the emulator's default
    assert (pos["leverage_max"], pos["maintenance_rate"], pos["liq_price"]) == ("100", "0.005", "0")
    for _ in range(2):  # a setting already in place is answered the same way
        status, _, pos = await call(emu, "POST", LEVERAGE, "leverage=5")
        assert status == 200 and setting(pos) == ("5", "0", "isolated")
    status, _, pos = await call(emu, "POST", LEVERAGE, "leverage=0&cross_leverage_limit=20")
    assert setting(pos) == ("0", "20", "cross")
    status, _, pos = await call(emu, "POST", CROSS_MODE, body=cross_mode("ISOLATED"))
    assert status == 200 and setting(pos) == ("20", "0", "isolated")  # the leverage kept
    _, _, listed = await call(emu, "GET", "/api/v4/futures/usdt/positions")
    by_contract = {p["contract"]: p for p in listed}
    assert setting(by_contract[SYMBOL]) == ("20", "0", "isolated")
    assert setting(by_contract["ETH_USDT"]) == ("0", "10", "cross")  # per contract
    _, _, contract = await call(emu, "GET", f"/api/v4/futures/usdt/contracts/{SYMBOL}", sign=False)
    assert contract["maintenance_rate"] == "0.005" and contract["leverage_max"] == "100"


@pytest.mark.parametrize(
    ("path", "query", "body", "label"),
    [
        (LEVERAGE, "", b"", "MISSING_REQUIRED_PARAM"),
        (LEVERAGE, "leverage=ten", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=-1", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=2.5", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=101", b"", "INVALID_PARAM_VALUE"),  # above leverage_max 100
        (LEVERAGE, "leverage=0&cross_leverage_limit=101", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=0&cross_leverage_limit=0", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=5&cross_leverage_limit=5", b"", "INVALID_PARAM_VALUE"),
        (LEVERAGE, "leverage=5", b'{"leverage": "5"}', "INVALID_REQUEST_BODY"),  # query only
        (LEVERAGE.replace(SYMBOL, "BTC_USD"), "leverage=5", b"", "CONTRACT_NOT_FOUND"),
        (CROSS_MODE, "", cross_mode("cross"), "INVALID_PARAM_VALUE"),  # upper case only
        (CROSS_MODE, "", cross_mode("ISOLATED", "BTC_USD"), "CONTRACT_NOT_FOUND"),
        (CROSS_MODE, "", b'{"mode": "CROSS"}', "MISSING_REQUIRED_PARAM"),
        (CROSS_MODE, "", b"CROSS", "INVALID_REQUEST_BODY"),
    ],
)
async def test_margin_settings_the_venue_refuses(
    path: str, query: str, body: bytes, label: str
) -> None:
    emu = emulator()
    status, _, answer = await call(emu, "POST", path, query, body)
    assert (status, answer["label"]) == (400, label), answer
    _, _, pos = await call(emu, "GET", POSITION)
    assert setting(pos) == ("0", "10", "cross")  # nothing changed


async def test_margin_settings_need_a_signature() -> None:
    emu = emulator()
    status, _, answer = await call(emu, "POST", LEVERAGE, "leverage=5", sign=False)
    assert (status, answer["label"]) == (401, "MISSING_REQUIRED_HEADER")
    assert emu.margin[SYMBOL].mode == "cross"


async def test_a_mode_change_is_refused_while_a_position_is_open(
    autojump_clock: MockClock,
) -> None:
    emu = emulator()
    assert (await place(emu, order_body()))[0] == 201
    for path, query, body in [
        (LEVERAGE, "leverage=5", b""),
        (CROSS_MODE, "", cross_mode("ISOLATED")),
    ]:
        status, _, answer = await call(emu, "POST", path, query, body)
        assert (status, answer["label"]) == (400, "INVALID_PARAM_VALUE")
        assert "open position" in answer["message"]
    status, _, pos = await call(emu, "POST", LEVERAGE, "leverage=0&cross_leverage_limit=25")
    assert status == 200 and setting(pos) == ("0", "25", "cross")  # same mode: allowed


def _on_tick(price: Decimal, tick: Decimal, up: bool) -> Decimal:
    steps = (price / tick).to_integral_value("ROUND_CEILING" if up else "ROUND_FLOOR")
    return steps * tick


async def test_isolated_liquidation_prices_follow_the_documented_formula(
    autojump_clock: MockClock,
) -> None:
    tick = Decimal("0.1")
    for size, price in ((10, "70000"), (-10, "60000")):
        emu = emulator()
        sock = _Socket()
        ws(emu, sock, channel="futures.positions", event="subscribe",
           payload=["10001", "!all"], auth=auth("futures.positions"))  # fmt: skip
        assert (await call(emu, "POST", LEVERAGE, "leverage=10"))[0] == 200
        assert (await place(emu, order_body(size=size, price=price)))[0] == 201
        _, _, pos = await call(emu, "GET", POSITION)
        entry = Decimal(pos["entry_price"])
        if size > 0:  # long: entry·(1 − 1/L + mmr), rounded up (toward entry)
            expected = _on_tick(entry * (1 - Decimal("0.1") + MMR), tick, up=True)
        else:  # short: entry·(1 + 1/L)/(1 + mmr), rounded down
            expected = _on_tick(entry * Decimal("1.1") / (1 + MMR), tick, up=False)
        assert Decimal(pos["liq_price"]) == expected
        assert Decimal(pos["mark_price"]) > 0 and pos["size"] == size
        pushes = [m for m in sock.sent if m["event"] == "update"]
        pushed = pushes[-1]["result"][0]  # the fill's push: numbers, no mark price
        assert pushed["size"] == size and pushed["leverage"] == 10
        assert Decimal(str(pushed["liq_price"])) == expected and "mark_price" not in pushed


async def test_cross_liquidation_prices_come_from_the_account_balance(
    autojump_clock: MockClock,
) -> None:
    emu = emulator()
    assert (await place(emu, order_body(size=10)))[0] == 201
    _, _, pos = await call(emu, "GET", POSITION)
    assert pos["liq_price"] == "0"  # a small long the balance backs: nothing liquidates it
    emu = emulator()
    assert (await place(emu, order_body(size=-10, price="60000")))[0] == 201
    _, _, pos = await call(emu, "GET", POSITION)
    entry, balance = Decimal(pos["entry_price"]), emu.market.balances("gateio")[0].total
    qty = Decimal("0.001")  # 10 contracts × 0.0001
    expected = _on_tick((entry + balance / qty) / (1 + MMR), Decimal("0.1"), up=False)
    assert Decimal(pos["liq_price"]) == expected


async def test_book_pushes_carry_the_venue_time_and_the_delay_knob_keeps_it(
    autojump_clock: MockClock,
) -> None:
    market = SimMarket(default_sim_config(seed=1))
    emu = GateEmulator(market, MarketDriver(market), KEYS,
                       wall_clock=lambda: WALL + trio.current_time())  # fmt: skip
    sock = _Socket()
    market.advance(0.0)
    ws(emu, sock, channel=BOOK, event="subscribe", payload=[SYMBOL, "100ms", "50"])

    def updates() -> list[dict[str, Any]]:
        return [m for m in sock.sent if m["event"] == "update"]

    market.advance(5.0)
    emu.publish_tick()
    (push,) = updates()
    made_ms = int((WALL + trio.current_time()) * 1000)
    assert push["result"]["t"] == push["time_ms"] == made_ms
    emu.book_delay_s = 0.8
    async with trio.open_nursery() as nursery:
        nursery.start_soon(emu._deliver_delayed)
        market.advance(10.0)
        emu.publish_tick()
        made_ms = int((WALL + trio.current_time()) * 1000)
        await trio.sleep(0.79)
        assert len(updates()) == 1  # held back
        await trio.sleep(0.02)
        late = updates()[1]
        assert late["result"]["t"] == late["time_ms"] == made_ms  # made then, sent 0.8 s later
        assert late["result"]["U"] == push["result"]["u"] + 1  # the stream is continuous
        nursery.cancel_scope.cancel()
