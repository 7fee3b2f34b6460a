"""The Bitget emulator on its own, against the venue documentation (no client involved).

Driven in-process through its ASGI entry point (no sockets): the book checksum against the
documentation's examples and a reference CRC-32, the stream's checksums against the
documented merge algorithm, the signature checks against the documented string-to-sign
examples, requests the documentation forbids against the venue's codes, and the order
record at ``GET /__emulator__/orders``. Signatures here are computed by the test itself.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from arbtrio.emulators.app import ApiKeys, HttpRequest
from arbtrio.emulators.bitget import ApiError, BitgetEmulator
from arbtrio.emulators.bitget.auth import check_login, login_string_to_sign, rest_string_to_sign
from arbtrio.emulators.bitget.checksum import book_checksum, checksum_text, signed_crc32
from arbtrio.emulators.bitget.margin import isolated_margin, liquidation_price
from arbtrio.emulators.bitget.wire import Login
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

KEYS = ApiKeys(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
SYMBOL = "BTCUSDT"


def emulator(**kw: Any) -> BitgetEmulator:
    market = SimMarket(default_sim_config(seed=1))
    return BitgetEmulator(market, MarketDriver(market), KEYS, **kw)


def reference_crc32(data: bytes) -> int:
    """CRC-32/IEEE bit by bit (reflected polynomial 0xEDB88320), independent of zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def doc_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """The documented algorithm, written out again for the stream test."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    return signed32(reference_crc32(":".join(parts).encode()))


def test_the_emulator_imports_nothing_from_the_venue_clients() -> None:
    package = Path(__file__).resolve().parents[2] / "arbtrio" / "emulators" / "bitget"
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[:2] == ["arbtrio", "venues"] for n in names), path


# -- checksum ------------------------------------------------------------------------------
DOC_EXAMPLES = [
    # (bids, asks, documented string, documented signed value)
    (
        [("43231.1", "4"), ("43231", "6")],
        [("43232.8", "9"), ("43232.9", "8")],
        "43231.1:4:43232.8:9:43231:6:43232.9:8",
        -1504501796,
    ),
    (
        [("3366.1", "7")],
        [("3366.8", "9"), ("3368", "8"), ("3372", "8")],
        "3366.1:7:3366.8:9:3368:8:3372:8",
        831078360,
    ),
]


@pytest.mark.parametrize(("bids", "asks", "text", "value"), DOC_EXAMPLES)
def test_checksum_reproduces_the_documented_examples(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], text: str, value: int
) -> None:
    assert checksum_text(bids, asks) == text  # interleaved bid1, ask1, …; missing side skipped
    assert book_checksum(bids, asks) == value == signed32(reference_crc32(text.encode()))


def test_checksum_is_signed_and_over_the_raw_strings_of_the_best_25() -> None:
    assert reference_crc32(b"43231.1:4:43232.8:9:43231:6:43232.9:8") == 2790465500
    assert signed_crc32("43231.1:4:43232.8:9:43231:6:43232.9:8") == 2790465500 - 2**32
    # "If price is '0.5000', DO NOT calculate the checksum by '0.5'"
    assert book_checksum([("0.5000", "1")], []) != book_checksum([("0.5", "1")], [])
    bids = [(f"{100 - i}.0", "1.00") for i in range(30)]
    asks = [(f"{101 + i}.0", "2.00") for i in range(30)]
    assert book_checksum(bids, asks) == book_checksum(bids[:25], asks[:25])
    assert book_checksum(bids, asks) != book_checksum(bids[:24], asks[:25])


# -- in-process ASGI -----------------------------------------------------------------------
async def call(
    app: BitgetEmulator,
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request through the ASGI app: ``(status, headers, decoded JSON body)``."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode("latin-1"),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, done = sent
    out_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], out_headers, json.loads(done["body"])


def signed_headers(
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    *,
    ts_ms: int,
    secret: str = KEYS.api_secret,
    **override: str,
) -> dict[str, str]:
    text = f"{ts_ms}{method}{path}{'?' + query if query else ''}".encode() + body
    sign = base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()
    headers = {
        "ACCESS-KEY": KEYS.api_key,
        "ACCESS-SIGN": sign,
        "ACCESS-TIMESTAMP": str(ts_ms),
        "ACCESS-PASSPHRASE": KEYS.passphrase,
        "Content-Type": "application/json",
        "locale": "en-US",
    }
    return headers | {k.replace("_", "-"): v for k, v in override.items()}


class Ws:
    """A WebSocket client of the app, in-process: ``send``/``recv`` text frames, each send
    ``pace`` seconds after the last (the venue takes at most 10 messages a second)."""

    def __init__(self, pace: float) -> None:
        self.pace = pace
        self._in_send, self._in_recv = trio.open_memory_channel[dict[str, Any]](100)
        self._out_send, self._out_recv = trio.open_memory_channel[dict[str, Any]](10_000)
        self.closed = False

    async def receive(self) -> dict[str, Any]:  # the app's ASGI receive
        return await self._in_recv.receive()

    async def asgi_send(self, message: dict[str, Any]) -> None:  # the app's ASGI send
        await self._out_send.send(message)

    async def send(self, text: str) -> None:
        await trio.sleep(self.pace)
        await self._in_send.send({"type": "websocket.receive", "text": text})

    async def recv(self) -> str | None:
        """The next text frame, or None once the app closed the socket."""
        message = await self._out_recv.receive()
        if message["type"] == "websocket.close":
            self.closed = True
            return None
        assert message["type"] == "websocket.send", message
        return str(message["text"])

    async def recv_json(self) -> Any:
        text = await self.recv()
        assert text is not None, "closed"
        return json.loads(text)


@asynccontextmanager
async def connect(app: BitgetEmulator, path: str, pace: float = 0.11) -> AsyncIterator[Ws]:
    ws = Ws(pace)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(app, {"type": "websocket", "path": path}, ws.receive, ws.asgi_send)
        await ws._in_send.send({"type": "websocket.connect"})
        assert (await ws._out_recv.receive())["type"] == "websocket.accept"
        yield ws
        await ws._in_send.send({"type": "websocket.disconnect"})
        nursery.cancel_scope.cancel()


def subscribe(channel: str, inst_id: str = SYMBOL, op: str = "subscribe") -> str:
    arg = {"instType": "USDT-FUTURES", "channel": channel}
    arg |= {"coin": inst_id} if channel == "account" else {"instId": inst_id}
    return json.dumps({"op": op, "args": [arg]})


# -- the books stream: checksums against the documented merge -----------------------------
class DocBook:
    """The documented merge: snapshot replaces; an update's level deletes (size "0"),
    replaces or inserts in sorted position; the raw strings are kept."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[Decimal, tuple[str, str]]] = {"bids": {}, "asks": {}}

    def apply(self, action: str, data: dict[str, Any]) -> None:
        for side in ("bids", "asks"):
            levels = self.sides[side]
            if action == "snapshot":
                levels.clear()
            for price, size in data[side]:
                if size == "0":
                    del levels[Decimal(price)]
                else:
                    levels[Decimal(price)] = (price, size)

    def ladder(self, side: str) -> list[tuple[str, str]]:
        levels = self.sides[side]
        return [levels[k] for k in sorted(levels, reverse=side == "bids")]

    def checksum(self) -> int:
        return doc_checksum(self.ladder("bids"), self.ladder("asks"))


async def test_books_stream_checksums_follow_the_documented_merge(autojump_clock: Any) -> None:
    app = emulator()
    async with trio.open_nursery() as nursery, connect(app, "/v2/ws/public") as ws:
        await nursery.start(app.driver.run)
        await ws.send(subscribe("books"))
        assert await ws.recv_json() == {
            "event": "subscribe",
            "arg": {"instType": "USDT-FUTURES", "channel": "books", "instId": SYMBOL},
        }
        book, last_seq, deletions, updates = DocBook(), -1, 0, 0
        while updates < 60:
            frame = await ws.recv_json()
            assert frame["arg"] == {
                "instType": "USDT-FUTURES",
                "channel": "books",
                "instId": SYMBOL,
            }
            (data,) = frame["data"]
            assert isinstance(frame["ts"], int) and isinstance(data["ts"], str)
            assert data["seq"] > last_seq
            last_seq = data["seq"]
            for price, size in data["bids"] + data["asks"]:
                assert len(price.split(".")[1]) == 1  # pricePlace 1: "65000.0", not "65000"
                assert size == "0" or len(size.split(".")[1]) == 2  # volumePlace 2
            deletions += sum(size == "0" for _, size in data["bids"] + data["asks"])
            assert frame["action"] == ("snapshot" if updates == 0 else "update")
            book.apply(frame["action"], data)
            assert data["checksum"] == book.checksum()
            updates += 1
        assert deletions > 0
        app.faults.force("bad_checksum", 1000)  # every tick from now (one may change nothing)
        frame = await ws.recv_json()
        book.apply(frame["action"], frame["data"][0])
        assert frame["data"][0]["checksum"] != book.checksum()  # the fault corrupts it
        nursery.cancel_scope.cancel()


# -- signatures: the documented string-to-sign examples -------------------------------------
# The docs print these pre-hash strings (no secret, no signature); the signatures are the
# vectors computed for them with secret "test_secret" and recorded beside them.
DOC_TS = "16273667805456"
GET_PREHASH = "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"
GET_SIGN = "uNJ4l9BxA08kSximkm5p3LG3pXAf//kmEkDVe6Y1lbE="
POST_BODY = (
    b'{"productType":"usdt-futures","symbol":"BTCUSDT","size":"8","marginMode":"crossed",'
    b'"side":"buy","orderType":"limit","clientOid":"channel#123456"}'
)
POST_PREHASH = "16273667805456POST/api/v2/mix/order/place-order" + POST_BODY.decode()
POST_SIGN = "gWAXI3prGn6dIoZEAUhufEy4xI6cXPuHPg6oH+HyHqg="
LOGIN_TS = "1538054050"
LOGIN_SIGN = "ZKcxhODLTztM2iNiV/trAzhDaeE9+T9LNddmARBPvj8="
DOC_PAGE_LOGIN_SIGN = "8RCOqCJAhhEh4PWcZB/96QojLDqMAg4qNynIixFzS3E="  # doesn't verify (docs' own)


def doc_request(method: str, path: str, query: str, body: bytes, sign: str) -> HttpRequest:
    headers = {
        "access-key": KEYS.api_key,
        "access-sign": sign,
        "access-timestamp": DOC_TS,
        "access-passphrase": KEYS.passphrase,
    }
    return HttpRequest(method, path, query, headers, body)


def test_rest_signature_check_accepts_the_documented_examples_and_refuses_tampering() -> None:
    get = doc_request("GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT", b"", GET_SIGN)
    post = doc_request("POST", "/api/v2/mix/order/place-order", "", POST_BODY, POST_SIGN)
    assert rest_string_to_sign(DOC_TS, "GET", get.path, get.query, b"") == GET_PREHASH.encode()
    assert rest_string_to_sign(DOC_TS, "POST", post.path, "", POST_BODY) == POST_PREHASH.encode()
    app = emulator(wall_clock=lambda: int(DOC_TS) / 1000)
    app._authenticate(get)  # raises when refused
    app._authenticate(post)
    tampered = [
        doc_request("GET", get.path, "limit=21&symbol=BTCUSDT", b"", GET_SIGN),
        doc_request("GET", get.path, "symbol=BTCUSDT&limit=20", b"", GET_SIGN),  # re-ordered
        doc_request("POST", post.path, "", POST_BODY.replace(b'"8"', b'"9"'), POST_SIGN),
        doc_request("POST", post.path, "", POST_BODY, POST_SIGN.replace("g", "G", 1)),
        doc_request("PUT", post.path, "", POST_BODY, POST_SIGN),
    ]
    for req in tampered:
        with pytest.raises(ApiError) as exc:
            app._authenticate(req)
        assert (exc.value.code, exc.value.message) == ("40009", "sign signature error")


def test_rest_header_rules_answer_the_documented_codes() -> None:
    app = emulator(wall_clock=lambda: int(DOC_TS) / 1000)
    get = doc_request("GET", "/api/mix/v2/market/depth", "limit=20&symbol=BTCUSDT", b"", GET_SIGN)
    cases = {
        "40001": {"access-key": ""},
        "40002": {"access-sign": ""},
        "40003": {"access-timestamp": ""},
        "40005": {"access-timestamp": "16273667805456.0"},
        "40006": {"access-key": "someone-else"},
        "40011": {"access-passphrase": ""},
        "40012": {"access-passphrase": "wrong"},
    }
    for code, headers in cases.items():
        req = HttpRequest(get.method, get.path, get.query, get.headers | headers, get.body)
        with pytest.raises(ApiError) as exc:
            app._authenticate(req)
        assert exc.value.code == code, headers
    for skew_s in (31, -31):
        late = emulator(wall_clock=lambda s=skew_s: int(DOC_TS) / 1000 + s)
        with pytest.raises(ApiError) as exc:
            late._authenticate(get)
        assert exc.value.code == "40008"  # Request timestamp expired


def test_login_signature_check_accepts_the_documented_example() -> None:
    assert login_string_to_sign(LOGIN_TS) == b"1538054050GET/user/verify"
    login = Login(
        apiKey=KEYS.api_key, passphrase=KEYS.passphrase, timestamp=LOGIN_TS, sign=LOGIN_SIGN
    )
    now = float(LOGIN_TS)
    assert check_login(login, KEYS, now) == ("", "")
    assert check_login(login, KEYS, now + 30) == ("", "")
    bad = {
        "30011": {"apiKey": "other"},
        "30012": {"passphrase": "other"},
        "30013": {"timestamp": "15380540x0"},
        "30014": {"timestamp": LOGIN_TS + "000"},  # milliseconds: the docs' text, not their use
        "30015": {"sign": DOC_PAGE_LOGIN_SIGN},  # the docs page's own example does not verify
    }
    for code, fields in bad.items():
        changed = msgspec.structs.replace(login, **fields)
        assert check_login(changed, KEYS, now)[0] == code, fields
    assert check_login(login, KEYS, now + 31)[0] == "30014"


async def test_private_stream_login_then_subscriptions(autojump_clock: Any) -> None:
    app = emulator(wall_clock=lambda: float(LOGIN_TS))
    async with connect(app, "/v2/ws/private") as ws:
        await ws.send(subscribe("orders", "default"))
        assert (await ws.recv_json())["code"] == "30004"  # login first
        login = {
            "apiKey": KEYS.api_key,
            "passphrase": KEYS.passphrase,
            "timestamp": LOGIN_TS,
            "sign": LOGIN_SIGN,
        }
        await ws.send(json.dumps({"op": "login", "args": [login]}))
        assert await ws.recv_json() == {"event": "login", "code": "0", "msg": ""}
        for channel, scope in [
            ("orders", "default"),
            ("orders", SYMBOL),
            ("fill", "default"),
            ("positions", "default"),
            ("account", "default"),
        ]:
            await ws.send(subscribe(channel, scope))
            assert (await ws.recv_json())["event"] == "subscribe", (channel, scope)
        for channel, scope in [
            ("account", "USDT"),
            ("positions", SYMBOL),
            ("orders", "XYZ"),
            ("books", SYMBOL),
        ]:
            await ws.send(subscribe(channel, scope))
            assert (await ws.recv_json())["code"] == "30001", (channel, scope)
        await ws.send(subscribe("orders", SYMBOL, op="unsubscribe"))
        assert (await ws.recv_json())["event"] == "unsubscribe"
        await ws.send("ping")
        assert await ws.recv() == "pong"
    async with connect(app, "/v2/ws/private") as ws:  # a failed login disconnects
        login |= {"timestamp": LOGIN_TS + "000"}
        await ws.send(json.dumps({"op": "login", "args": [login]}))
        assert (await ws.recv_json())["code"] == "30014"
        assert await ws.recv() is None


# -- requests the documentation forbids -----------------------------------------------------
PLACE = "/api/v2/mix/order/place-order"


def place_body(**fields: Any) -> bytes:
    body = {
        "symbol": SYMBOL,
        "productType": "USDT-FUTURES",
        "marginMode": "crossed",
        "marginCoin": "USDT",
        "size": "0.05",
        "side": "buy",
        "orderType": "limit",
        "price": "65500.0",
        "force": "ioc",
        "clientOid": "doc-1",
        "reduceOnly": "NO",
    }
    body |= fields
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


async def place(app: BitgetEmulator, body: bytes, now_ms: int) -> tuple[int, Any]:
    status, _, answer = await call(
        app, "POST", PLACE, "", signed_headers("POST", PLACE, "", body, ts_ms=now_ms), body
    )
    return status, answer


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"size": 0.05}, "400172"),  # a number where the docs say string
        ({"price": 65500}, "400172"),
        ({"reduceOnly": True}, "400172"),  # "YES"/"NO" strings, not a boolean
        ({"reduceOnly": "yes"}, "400172"),  # upper case in requests
        ({"clientOid": "has space"}, "400172"),  # [0-9a-zA-Z-+_#]
        ({"clientOid": "x" * 50}, "400172"),  # length < 50
        ({"side": "long"}, "400172"),
        ({"marginMode": "cross"}, "400172"),
        ({"marginCoin": "usdt"}, "400172"),  # capitalised
        ({"force": None}, "400172"),  # required for limit orders
        ({"size": None}, "400172"),  # required
        ({"productType": "COIN-FUTURES"}, "40020"),
        ({"symbol": "BTCUSDT_UMCBL"}, "40034"),  # a V1 symbol
        ({"price": "65500.05"}, "45115"),  # not on the tick
        ({"size": "0.001"}, "45111"),
        ({"tradeSide": "open"}, "40774"),  # hedge-mode order on this one-way account
    ],
)
async def test_place_order_refusals(fields: dict[str, Any], code: str) -> None:
    app = emulator(wall_clock=lambda: 1.7e9)
    status, answer = await place(app, place_body(**fields), 1_700_000_000_000)
    assert (status, answer["code"], answer["data"]) == (400, code, None), answer
    (record,) = app.order_log
    assert record.outcome == "rejected" and record.reason.startswith(code)


async def test_rest_envelope_params_and_limits() -> None:
    app = emulator(wall_clock=lambda: 1.7e9)
    status, headers, answer = await call(
        app, "GET", "/api/v2/mix/market/contracts", "productType=USDT-FUTURES"
    )
    assert (status, answer["code"], answer["msg"]) == (200, "00000", "success")
    assert isinstance(answer["requestTime"], int) and headers["x-mbx-used-remain-limit"] == "19"
    btc = next(c for c in answer["data"] if c["symbol"] == SYMBOL)
    assert (btc["pricePlace"], btc["priceEndStep"], btc["sizeMultiplier"]) == ("1", "1", "0.01")
    status, _, answer = await call(app, "GET", "/api/v2/mix/market/contracts")
    assert (status, answer["code"]) == (400, "400172")  # productType is required
    for _ in range(19):
        await call(app, "GET", "/api/v2/mix/market/contracts", "productType=USDT-FUTURES")
    status, _, answer = await call(
        app, "GET", "/api/v2/mix/market/contracts", "productType=USDT-FUTURES"
    )
    assert (status, answer["code"]) == (429, "429")  # 20/s/IP
    query = "businessType=mix&symbol=BTCUSDT"
    path = "/api/v2/common/trade-rate"
    status, _, answer = await call(
        app, "GET", path, query, signed_headers("GET", path, query, ts_ms=1_700_000_000_000)
    )
    assert (status, answer["data"]) == (200, {"makerFeeRate": "0.0002", "takerFeeRate": "0.0006"})
    status, _, answer = await call(app, "GET", path, query)
    assert (status, answer["code"]) == (400, "40001")  # signed endpoint


async def test_stream_limits_answer_the_documented_codes(autojump_clock: Any) -> None:
    app = emulator()
    async with connect(app, "/v2/ws/public", pace=0) as ws:
        await ws.send("not json")
        assert (await ws.recv_json())["code"] == "30002"
        await ws.send(json.dumps({"op": "login", "args": []}))
        assert (await ws.recv_json())["code"] == "30003"
        await ws.send(subscribe("books10"))
        assert (await ws.recv_json())["code"] == "30001"
        args = [
            {"instType": "USDT-FUTURES", "channel": "books", "instId": f"SYM{i}USDT"}
            for i in range(70)
        ]
        await ws.send(json.dumps({"op": "subscribe", "args": args}))  # > 4096 bytes
        assert (await ws.recv_json())["code"] == "30002"
        await ws.send("ping")  # the 5th message in this second
        assert await ws.recv() == "pong"
        for _ in range(5):
            await ws.send("ping")
            assert await ws.recv() == "pong"
        await ws.send("ping")  # the 11th: more than 10 per second
        assert (await ws.recv_json())["code"] == "30007"
        assert await ws.recv() is None
    async with connect(app, "/v2/ws/public") as ws:
        await trio.sleep(100)
        await ws.send("ping")
        assert await ws.recv() == "pong"
        await trio.sleep(119)  # 2 minutes after the last ping: still open
        await ws.send("ping")
        assert await ws.recv() == "pong"
        await trio.sleep(121)
        assert await ws.recv() is None  # closed without a ping for 2 minutes


# -- the order record ------------------------------------------------------------------------
async def test_order_record_is_served_at_emulator_orders(autojump_clock: Any) -> None:
    app = emulator(wall_clock=lambda: 1.7e9, timeout_hold_s=5.0)
    now_ms = 1_700_000_000_000
    _, asks = app.market.book_levels("bitget", SYMBOL, 1)
    price = str((asks[0][0] * Decimal("1.002")).quantize(Decimal("0.1")))
    status, answer = await place(app, place_body(clientOid="ok-1", price=price), now_ms)
    assert status == 200 and answer["data"]["clientOid"] == "ok-1"
    status, answer = await place(app, place_body(clientOid="ok-1", price=price), now_ms)
    assert answer["code"] == "45034"  # duplicate clientOid
    app.faults.force("reject")
    assert (await place(app, place_body(clientOid="rj-1", price=price), now_ms))[1]["code"] == (
        "40754"
    )
    app.faults.force("ack_timeout_not_executed")
    status, answer = await place(app, place_body(clientOid="to-1", price=price), now_ms)
    assert (status, answer["code"]) == (500, "45001")
    app.faults.force("ack_timeout_executed")
    assert (await place(app, place_body(clientOid="to-2", price=price), now_ms))[0] == 200
    bad_sign = signed_headers("POST", PLACE, "", b"{}", ts_ms=now_ms, secret="nope")
    body = place_body(clientOid="unsigned")
    assert (await call(app, "POST", PLACE, "", bad_sign, body))[2]["code"] == "40009"
    status, _, served = await call(app, "GET", "/__emulator__/orders")
    assert status == 200 and served["venue"] == "bitget"
    rows = [
        (o["client_order_id"], o["outcome"], o["filled"], o["reason"]) for o in served["orders"]
    ]
    assert rows == [
        ("ok-1", "executed", "0.05", ""),
        ("ok-1", "rejected", "0", "45034 Duplicate clientOid"),
        ("rj-1", "rejected", "0", "40754 balance not enough"),
        ("to-1", "unknown", "0", "answer held 5.0s, then 45001; not executed"),
        ("to-2", "executed", "0.05", "answer held 5.0s"),
    ]  # the unsigned placement is not recorded
    first = served["orders"][0]
    want = {"venue": "bitget", "symbol": SYMBOL, "side": "buy", "qty": "0.05", "price": price}
    assert first | want == first and first["reduce_only"] is False
    assert app.market.order("bitget", "to-1") is None and app.market.order("bitget", "to-2")


# -- margin settings, positions, the account -------------------------------------------------
SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
SET_MARGIN_MODE = "/api/v2/mix/account/set-margin-mode"
ACCOUNT = "/api/v2/mix/account/account"
ALL_POSITION = "/api/v2/mix/position/all-position"
NOW_MS = 1_700_000_000_000


async def post(app: BitgetEmulator, path: str, **fields: Any) -> tuple[int, Any]:
    body = {"symbol": SYMBOL, "productType": "USDT-FUTURES", "marginCoin": "USDT"} | fields
    raw = json.dumps({k: v for k, v in body.items() if v is not None}).encode()
    status, _, answer = await call(
        app, "POST", path, "", signed_headers("POST", path, "", raw, ts_ms=NOW_MS), raw
    )
    return status, answer


async def get(app: BitgetEmulator, path: str, query: str) -> Any:
    status, _, answer = await call(
        app, "GET", path, query, signed_headers("GET", path, query, ts_ms=NOW_MS)
    )
    assert (status, answer["code"]) == (200, "00000"), answer
    return answer["data"]


async def settings_of(app: BitgetEmulator) -> tuple[str, str, str, str]:
    data = await get(app, ACCOUNT, f"marginCoin=USDT&productType=USDT-FUTURES&symbol={SYMBOL}")
    return (data["marginMode"], data["crossedMarginLeverage"], data["isolatedLongLever"],
            data["isolatedShortLever"])  # fmt: skip


async def open_position(
    app: BitgetEmulator, side: str, size: str, cid: str, now_ms: int = NOW_MS
) -> None:
    _, asks = app.market.book_levels("bitget", SYMBOL, 1)
    bids, _ = app.market.book_levels("bitget", SYMBOL, 1)
    far = asks[0][0] * Decimal("1.002") if side == "buy" else bids[0][0] * Decimal("0.998")
    body = place_body(clientOid=cid, side=side, size=size, price=str(far.quantize(Decimal("0.1"))))
    status, answer = await place(app, body, now_ms)
    assert status == 200, answer


async def test_set_leverage_and_margin_mode_are_kept_per_symbol_and_reported() -> None:
    app = emulator(wall_clock=lambda: NOW_MS / 1000)
    assert await settings_of(app) == ("crossed", "20", "20", "20")  # never configured
    status, answer = await post(app, SET_LEVERAGE, leverage="5")
    assert (status, answer["data"]["crossMarginLeverage"]) == (200, "5")
    assert (await post(app, SET_LEVERAGE, leverage="5"))[1]["code"] == "40814"  # no change
    status, answer = await post(app, SET_MARGIN_MODE, marginMode="isolated")
    assert (status, answer["data"]["marginMode"]) == (200, "isolated")
    assert (await post(app, SET_MARGIN_MODE, marginMode="isolated"))[1]["code"] == "00000"
    assert (await post(app, SET_LEVERAGE, leverage="7"))[1]["data"]["longLeverage"] == "7"
    assert (await post(app, SET_LEVERAGE, leverage="9", holdSide="short"))[0] == 200
    assert await settings_of(app) == ("isolated", "5", "7", "9")
    other = await get(app, ACCOUNT, "marginCoin=USDT&productType=USDT-FUTURES&symbol=ETHUSDT")
    assert (other["marginMode"], other["crossedMarginLeverage"]) == ("crossed", "20")


@pytest.mark.parametrize(
    ("path", "fields", "code"),
    [
        (SET_LEVERAGE, {"leverage": "126"}, "45045"),  # above the contract's maxLever (125)
        (SET_LEVERAGE, {"leverage": "0"}, "400172"),
        (SET_LEVERAGE, {"leverage": "2.5"}, "400172"),
        (SET_LEVERAGE, {"leverage": 20}, "400172"),  # a number where the docs say string
        (SET_LEVERAGE, {"leverage": None}, "400172"),  # nothing to set
        (SET_LEVERAGE, {"leverage": "5", "marginCoin": "usdt"}, "400172"),  # capitalised
        (SET_LEVERAGE, {"leverage": "5", "symbol": "BTCUSDT_UMCBL"}, "40034"),
        (SET_LEVERAGE, {"leverage": "5", "productType": "COIN-FUTURES"}, "40020"),
        (SET_MARGIN_MODE, {"marginMode": "cross"}, "400172"),  # crossed / isolated
        (SET_MARGIN_MODE, {"marginMode": None}, "400172"),
    ],
)
async def test_margin_setting_refusals(path: str, fields: dict[str, Any], code: str) -> None:
    app = emulator(wall_clock=lambda: NOW_MS / 1000)
    status, answer = await post(app, path, **fields)
    assert (status, answer["code"], answer["data"]) == (400, code, None), answer
    assert await settings_of(app) == ("crossed", "20", "20", "20")  # nothing changed


async def test_a_margin_mode_change_is_refused_while_a_position_is_open(
    autojump_clock: Any,
) -> None:
    app = emulator(wall_clock=lambda: NOW_MS / 1000)
    await open_position(app, "buy", "0.05", "open-1")
    assert (await post(app, SET_MARGIN_MODE, marginMode="crossed"))[1]["code"] == "00000"
    status, answer = await post(app, SET_MARGIN_MODE, marginMode="isolated")
    assert (status, answer["code"]) == (400, "45117")
    assert (await post(app, SET_LEVERAGE, leverage="10"))[0] == 200  # leverage may change
    await open_position(app, "sell", "0.05", "close-1")  # flat again
    assert (await post(app, SET_MARGIN_MODE, marginMode="isolated"))[0] == 200


def test_liquidation_price_formulas() -> None:
    d = Decimal
    mmr = d("0.004")
    # isolated long: entry × (1 − 1/L + mmr); short: entry × (1 + 1/L) / (1 + mmr)
    long_margin = isolated_margin(d("0.5"), d(60000), 10)
    assert long_margin == d(3000)
    assert liquidation_price(d("0.5"), d(60000), long_margin, mmr) == d(60000) * d("0.904")
    short = liquidation_price(d("-0.5"), d(60000), isolated_margin(d("-0.5"), d(60000), 10), mmr)
    assert short == d(60000) * d("1.1") / d("1.004")
    # conservative: never farther from the entry than maintenance on the mark's notional
    for lev in (2, 5, 20, 100, 125):
        for qty in (d("0.5"), d("-0.5")):
            m = isolated_margin(qty, d(60000), lev)
            ours = liquidation_price(qty, d(60000), m, mmr)
            # the price where margin + pnl = mmr × |qty| × price
            exact = (m / abs(qty) - d(60000)) / (mmr - 1) if qty > 0 else (
                (m / abs(qty) + d(60000)) / (1 + mmr))  # fmt: skip
            assert (ours >= exact) if qty > 0 else (ours <= exact)
    # more margin than notional: no liquidation price (<= 0)
    assert liquidation_price(d(1), d(100), d(200), mmr) < 0


async def test_positions_report_settings_mark_and_liquidation_price(autojump_clock: Any) -> None:
    app = emulator(wall_clock=lambda: NOW_MS / 1000)
    await post(app, SET_MARGIN_MODE, marginMode="isolated")
    await post(app, SET_LEVERAGE, leverage="10")
    await open_position(app, "buy", "0.5", "iso-1")
    (row,) = await get(app, ALL_POSITION, "marginCoin=USDT&productType=USDT-FUTURES")
    entry = Decimal(row["openPriceAvg"])
    assert (row["symbol"], row["holdSide"], Decimal(row["total"]), row["marginMode"],
            row["leverage"]) == (SYMBOL, "long", Decimal("0.5"), "isolated", "10")  # fmt: skip
    assert row["keepMarginRate"] == "0.004"
    want = (entry * (1 - Decimal("0.1") + Decimal("0.004"))).quantize(Decimal("0.1"))
    assert Decimal(row["liquidationPrice"]) == want
    mid = app.market.mid("bitget", "BTC")
    assert Decimal(row["markPrice"]) == Decimal(repr(mid)).quantize(Decimal("0.1"))
    # cross: from the account's balance (100 000 USDT, no other position): none above 0
    await open_position(app, "sell", "0.5", "iso-2")
    await post(app, SET_MARGIN_MODE, marginMode="crossed")
    await open_position(app, "buy", "0.5", "cross-1")
    (row,) = await get(app, ALL_POSITION, "productType=USDT-FUTURES")
    assert (row["marginMode"], row["leverage"], row["liquidationPrice"]) == ("crossed", "20", "0")
    await open_position(app, "sell", "0.5", "cross-2")
    await open_position(app, "sell", "10", "cross-3")  # a short of up to 10 BTC on 100 000
    (row,) = await get(app, ALL_POSITION, "productType=USDT-FUTURES")
    wallet = app.market.balances("bitget")[0].total
    entry, size = Decimal(row["openPriceAvg"]), Decimal(row["total"])
    want = ((entry + wallet / size) / Decimal("1.004")).quantize(Decimal("0.1"))
    assert (row["holdSide"], Decimal(row["liquidationPrice"])) == ("short", want)


async def test_position_pushes_are_snapshots_of_every_open_position(autojump_clock: Any) -> None:
    app = emulator(wall_clock=lambda: float(LOGIN_TS))
    login = {"apiKey": KEYS.api_key, "passphrase": KEYS.passphrase, "timestamp": LOGIN_TS,
             "sign": LOGIN_SIGN}  # fmt: skip
    now_ms = int(LOGIN_TS) * 1000
    async with connect(app, "/v2/ws/private") as ws:
        await ws.send(json.dumps({"op": "login", "args": [login]}))
        assert (await ws.recv_json())["event"] == "login"
        for channel in ("positions", "account"):
            await ws.send(subscribe(channel, "default"))
            assert (await ws.recv_json())["event"] == "subscribe"
        await open_position(app, "buy", "0.05", "push-1", now_ms)
        positions, account = await ws.recv_json(), await ws.recv_json()
        await open_position(app, "sell", "0.05", "push-2", now_ms)
        closed, account2 = await ws.recv_json(), await ws.recv_json()
    assert positions["arg"] == {"instType": "USDT-FUTURES", "channel": "positions",
                                "instId": "default"}  # fmt: skip
    (item,) = positions["data"]
    assert (item["instId"], item["holdSide"], Decimal(item["total"]), item["marginMode"]) == (
        SYMBOL, "long", Decimal("0.05"), "crossed")  # fmt: skip
    assert Decimal(item["markPrice"]) > 0 and "liquidationPrice" in item
    assert closed["arg"]["channel"] == "positions" and closed["data"] == []  # flat: left out
    assert account["arg"]["coin"] == "default" and account2["data"][0]["marginCoin"] == "USDT"
    assert Decimal(account2["data"][0]["equity"]) == app.market.balances("bitget")[0].total


async def test_book_frames_can_be_delayed_keeping_their_timestamps(autojump_clock: Any) -> None:
    epoch = 1_700_000_000.0
    app = emulator(wall_clock=lambda: epoch + trio.current_time())
    async with trio.open_nursery() as nursery, connect(app, "/v2/ws/public") as ws:
        await nursery.start(app.driver.run)
        await ws.send(subscribe("books"))
        await ws.recv_json()  # the ack

        async def lags(n: int) -> list[float]:
            out = []
            for _ in range(n):
                frame = await ws.recv_json()
                received = epoch + trio.current_time()
                assert frame["ts"] == int(frame["data"][0]["ts"])
                out.append(received - frame["ts"] / 1000)
            return out

        assert max(await lags(10)) < 0.01
        app.book_delay_s = 0.8
        await lags(15)  # those made before the change arrive on time
        assert all(abs(lag - 0.8) < 0.01 for lag in (await lags(10)))
        app.book_delay_s = 0.0
        await lags(20)
        assert max(await lags(10)) < 0.01
        nursery.cancel_scope.cancel()
