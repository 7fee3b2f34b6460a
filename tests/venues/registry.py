"""The five venues as the conformance suite (``test_conformance.py``) sees them.

One :class:`Venue` entry per venue holds everything the shared tests need to know about it:
the emulator and the client (and their options), the test credentials, the traded symbol,
how to read what the emulator published for a book, and the venue's own answers — its
error codes and words, contract multiplier, funding interval, which refusals it has. A
shared test reads only the entry, never the venue's name; a venue-specific value lives
here, a venue-specific *check* stays in that venue's wire file. A new venue is one entry
in :data:`VENUES`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Literal

import attrs
import trio
from trio.testing import MockClock

from arbtrio.core.book import L2Book
from arbtrio.core.ids import client_order_id
from arbtrio.core.instruments import round_price
from arbtrio.core.types import OrderRequest, Side
from arbtrio.emulators.bitget import BitgetEmulator
from arbtrio.emulators.bybit import BybitEmulator
from arbtrio.emulators.gateio import GateEmulator
from arbtrio.emulators.hyperliquid import HyperliquidEmulator
from arbtrio.emulators.kucoin import KucoinEmulator
from arbtrio.sim.config import FaultRates
from arbtrio.venues.base import (
    AuthenticationFailed,
    BadRequest,
    Credentials,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueHealth,
)
from arbtrio.venues.bitget.client import BitgetClient
from arbtrio.venues.bybit.client import BybitClient
from arbtrio.venues.gateio.client import GateClient
from arbtrio.venues.hyperliquid.client import HyperliquidClient
from arbtrio.venues.kucoin.client import KucoinClient
from arbtrio.venues.reconnect import Backoff
from venues.rig import Rig, open_rig

__all__ = [
    "BITGET",
    "BYBIT",
    "GATEIO",
    "GUARD_S",
    "HYPERLIQUID",
    "KUCOIN",
    "REFUSALS",
    "VENUES",
    "Expect",
    "Ladders",
    "Venue",
    "ladders_of",
    "market_ladders",
    "open_venue",
    "order_request",
    "published_ladders",
    "raises",
]

Ladders = tuple[list[tuple[float, float]], list[tuple[float, float]]]
GUARD_S = 20.0  # virtual seconds: bounds a hung wait, never an assertion about speed
FAST = Backoff(base=0.05, cap=0.2)

REFUSALS = (
    "reject_fault",  # the venue refuses the order (the simulator's reject fault)
    "reduce_only",  # reduce-only with no position to reduce
    "min_notional",  # below the venue's minimum order value
    "off_tick",  # a price between two ticks
    "off_lot",  # a quantity between two lots
    "unsupported_tif",  # a time in force the (emulated) venue does not take
    "duplicate_cid",  # a client order id used before: the first may be live, query it
    "unknown_query",  # query of an order never placed
    "unknown_cancel",  # cancel of an order never placed
)
"""The refusal cases of ``test_refusals_map_to_unified_errors``; a venue's ``refusals``
names the ones it has and how it answers each."""


@attrs.frozen
class Expect:
    """How a venue answers one case: the unified error class, and what the venue says —
    its ``code`` as the error carries it, and/or a regex its message matches."""

    error: type[VenueError]
    code: str | None = None
    match: str | None = None

    def check(self, exc: BaseException) -> None:
        assert isinstance(exc, self.error), f"{exc!r} is not a {self.error.__name__}"
        if self.code is not None:
            assert isinstance(exc, VenueError) and exc.code == self.code, f"{exc!r}: code"
        if self.match is not None:
            assert re.search(self.match, str(exc)), f"{exc!r} does not match {self.match!r}"


async def raises(expect: Expect, call: Awaitable[Any]) -> VenueError:
    """Await ``call``; it must raise as ``expect`` says. Returns the error."""
    try:
        await call
    except VenueError as exc:
        expect.check(exc)
        return exc
    raise AssertionError(f"no {expect.error.__name__} raised")


def market_ladders(depth: int) -> Callable[[Rig, str], Ladders]:
    """What a venue that publishes each tick's book as the market has it last sent: the
    market's ``depth`` levels (a book that follows the stream equals them at every tick)."""

    def read(r: Rig, symbol: str) -> Ladders:
        bids, asks = r.market.book_levels(r.client.name, symbol, depth)
        return [(float(p), float(s)) for p, s in bids], [(float(p), float(s)) for p, s in asks]

    return read


def published_ladders(r: Rig, symbol: str) -> Ladders:
    """The emulator's own record of the book it published (``_published``, base units)."""
    pub = r.emulator._published[symbol]
    return [(float(p), float(s)) for p, s in pub.bids], [(float(p), float(s)) for p, s in pub.asks]


def published_seq(r: Rig, symbol: str) -> int:
    """The update id of the last change the emulator published for ``symbol``."""
    seq: int = r.emulator._published[symbol].id
    return seq


@attrs.frozen(kw_only=True)
class Venue:
    """One venue, as the conformance suite drives it (module docstring)."""

    name: str
    emulator: Callable[..., Any]
    client: Callable[..., Any]
    credentials: Credentials
    seed: int  # the simulated market's seed
    symbol: str  # the traded symbol
    symbols: tuple[str, ...]  # every symbol the venue lists (the simulator's instruments)
    default_rest_url: str  # where ``create_client()`` points without a URL
    emulator_options: Mapping[str, Any] = attrs.field(factory=dict)
    client_options: Mapping[str, Any] = attrs.field(factory=dict)
    pass_ws_url: bool = True  # False: the stream URL comes from a REST answer (KuCoin)

    # -- instruments: compared field by field with the simulator's --------------------------
    instrument_fields: tuple[str, ...]
    contract_multiplier: Decimal  # base units per contract of ``symbol`` (1: no contracts)
    funding_interval_hours: int
    funding_next_ts: bool  # the funding answer carries the next funding time

    # -- books -------------------------------------------------------------------------------
    book_depth: int  # levels per side the client keeps (and the emulator publishes)
    book_updates: int  # changes to see before comparing (the venue's pace: KuCoin one a level)
    published: Callable[[Rig, str], Ladders]  # what the emulator last published
    published_seq: Callable[[Rig, str], int] | None  # its update id, where it keeps one
    size_tolerance: float  # relative: 0 for base-unit sizes, else contracts times a multiplier
    resync_faults: tuple[str, ...]  # emulator faults that lose or corrupt a book update
    malformed_frames: tuple[str, ...]  # public frames that must count as malformed
    malformed_fault: str | None  # the emulator fault that sends a malformed public frame

    # -- orders ------------------------------------------------------------------------------
    order_qty: Decimal  # an order size every case can use (above minimums, a few levels)
    min_notional_bps: int = -9990  # a one-lot order's price (bps through the touch) too small
    place_path: tuple[str, str]  # (method, path) of order placement: its budgets back off
    quote: str  # the balance currency
    numeric_order_ids: bool  # the venue's order ids are decimal numbers
    stream_acks: bool  # the order stream delivers an OrderAck before the fills
    update_avg_price: bool  # the stream's terminal update carries the average fill price
    finished_cancel: Expect | None  # cancel of a filled IOC (None: a no-op)
    rejected_query: Literal["not_found", "rejected"]  # the query after a refused placement
    refusals: Mapping[str, Expect]  # of REFUSALS, the cases the venue has
    rate_limit: Expect
    retry_after: float | None  # the retry-after a rate limit gives (None: any)
    order_health: Callable[[Any], VenueHealth]  # the order stream's health
    drop_private: Callable[[Any], None] | None = None  # the emulator drops the order stream
    balance_at_mark: bool = False  # the balance is equity: cash + open positions' pnl at mid

    # -- authentication ----------------------------------------------------------------------
    public_refusal: str  # the words of a public client's refusal to trade
    bad_credentials: Mapping[str, Credentials]  # case → credentials the venue refuses
    auth: Mapping[str, Expect]  # case (of bad_credentials, and "clock_skew") → the refusal
    clock_skew_s: float = -600.0  # the client's wall clock this far off: outside the window
    signed_calls: Callable[[Rig], list[Callable[[], Awaitable[Any]]]]
    stream_auth: Expect | None  # the private stream's refusal of bad_credentials["secret"]
    before_private_stream: Callable[[Rig], None] | None = None  # skip what would fail first
    auth_failures: Callable[[Any], int] | None = None  # the emulator's count, if it keeps one

    def __str__(self) -> str:
        return self.name

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of ``credentials`` and ``bad_credentials`` (none may be echoed)."""
        out = []
        for creds in (self.credentials, *self.bad_credentials.values()):
            out += [creds.api_secret, creds.passphrase, creds.private_key]
        return tuple(s for s in out if s)


# -- how each venue publishes, signs and refuses ---------------------------------------------
def cex_signed_calls(r: Rig) -> list[Callable[[], Awaitable[Any]]]:
    return [r.client.fetch_balances, r.client.fetch_positions]


def hyperliquid_signed_calls(r: Rig) -> list[Callable[[], Awaitable[Any]]]:
    """Hyperliquid's reads are unsigned (``/info`` by address): an order is the signed call."""

    async def place() -> Any:
        await r.client.load_instruments()
        return await r.client.place_order(order_request(r, Side.BUY, "0.01", "auth"))

    return [place]


def gate_drop_private(emulator: Any) -> None:
    for conn in list(emulator._private_conns):
        conn.kill()


def kucoin_drop_private(emulator: Any) -> None:
    for conn in [c for c in emulator._conns if c.state["private"]]:
        conn.kill()


def gate_skip_uid_lookup(r: Rig) -> None:
    r.client._uid = r.emulator.user_id  # the REST lookup would fail first


HL_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"


def _evolve(creds: Credentials, **changes: str) -> Credentials:
    return attrs.evolve(creds, **changes)


_BYBIT = Credentials(api_key="test-key", api_secret="test_secret")
_BITGET = Credentials(api_key="test-key", api_secret="test_secret", passphrase="test-pass")
_GATE = Credentials(api_key="gate-test-key", api_secret="gate-test-secret")
_KUCOIN = Credentials(api_key="kc-test-key", api_secret="kc-test-secret", passphrase="kc-pass")
_HL = Credentials(private_key=HL_KEY)

# the Instrument fields each client fills in as the simulator has them
_HL_FIELDS = (
        "symbol", "asset", "quote", "tick_size", "lot_size", "min_notional", "sig_figs",
        "max_price_decimals", "funding_interval_hours", "contract_multiplier",
)  # fmt: skip
_BYBIT_FIELDS = (
        "symbol", "asset", "quote", "tick_size", "lot_size", "min_size", "min_notional",
        "taker_fee", "funding_interval_hours", "contract_multiplier",
)  # fmt: skip
_BITGET_FIELDS = (
        "symbol", "asset", "quote", "tick_size", "lot_size", "min_size", "min_notional",
        "taker_fee", "maker_fee", "funding_interval_hours", "contract_multiplier",
)  # fmt: skip
_GATE_FIELDS = (
        "symbol", "asset", "quote", "tick_size", "lot_size", "taker_fee",
        "funding_interval_hours", "contract_multiplier",
)  # fmt: skip
_KUCOIN_FIELDS = (
        "symbol", "asset", "quote", "tick_size", "lot_size", "taker_fee",
        "funding_interval_hours", "contract_multiplier",
)  # fmt: skip

HYPERLIQUID = Venue(
    name="hyperliquid",
    emulator=HyperliquidEmulator,
    client=HyperliquidClient,
    credentials=_HL,
    seed=7,
    symbol="BTC",
    symbols=("BTC", "ETH"),
    default_rest_url="https://api.hyperliquid.xyz",
    emulator_options={"hold_s": 3.0, "heartbeat_s": 0.2},
    client_options={"request_timeout": 1.0, "ping_interval": 0.5, "stale_after": 1.0},
    instrument_fields=_HL_FIELDS,
    contract_multiplier=Decimal(1),
    funding_interval_hours=1,
    funding_next_ts=True,
    book_depth=20,
    book_updates=3,
    published=market_ladders(20),
    published_seq=None,
    size_tolerance=0.0,
    resync_faults=(),  # full snapshots: nothing to lose
    malformed_frames=('{"channel":"l2Book","data":{"coin":"BTC","time":',),
    malformed_fault="bad_checksum",  # one truncated frame
    order_qty=Decimal("0.01"),
    min_notional_bps=20,  # one lot at the touch is below $10; a far price is refused first
    place_path=("POST", "/exchange"),
    quote="USDC",
    numeric_order_ids=True,
    stream_acks=True,
    update_avg_price=True,
    finished_cancel=Expect(OrderNotFound),
    balance_at_mark=True,
    rejected_query="rejected",
    refusals={
        "reject_fault": Expect(OrderRejected, match="Insufficient margin to place order"),
        "reduce_only": Expect(OrderRejected, match="Reduce only order would increase position"),
        "min_notional": Expect(OrderRejected, match=r"minimum value of \$10"),
        "off_tick": Expect(BadRequest, match="at most 5 significant figures"),
        "off_lot": Expect(BadRequest, match="not a positive multiple"),
        "unsupported_tif": Expect(OrderRejected, match="limit IOC orders only"),
        # duplicate_cid: the venue answers "Duplicate cloid", which the client raises as
        # OrderRejected, not OutcomeUnknown (the first order may be live): not pinned here.
        "unknown_query": Expect(OrderNotFound),
        "unknown_cancel": Expect(OrderNotFound),
    },
    rate_limit=Expect(RateLimited),
    retry_after=10.0,  # the client's penalty_s: the venue's 429 names none
    order_health=lambda client: client.order_health,
    # drop_private: not here. An order placed while the order stream is down gets its fill
    # from the userFills snapshot on resubscribe but no terminal update, even past the
    # 60 s periodic re-query (seen with disconnect_all(): reported, not pinned).
    public_refusal="no credentials",
    bad_credentials={"secret": Credentials(private_key="0x" + "11" * 32)},
    auth={
        "secret": Expect(AuthenticationFailed, match="does not exist"),
        # a nonce outside the venue's window (T - 2 days, T + 1 day) is a bad request
        "clock_skew": Expect(BadRequest, match="outside the allowed window"),
    },
    clock_skew_s=-3 * 86_400.0,
    signed_calls=hyperliquid_signed_calls,
    stream_auth=None,  # the order stream subscribes by address: nothing to sign
)

BYBIT = Venue(
    name="bybit",
    emulator=BybitEmulator,
    client=BybitClient,
    credentials=_BYBIT,
    seed=3,
    symbol="BTCUSDT",
    symbols=("BTCUSDT", "ETHUSDT"),
    default_rest_url="https://api.bybit.com",
    emulator_options={"page_size": 1},  # instruments come in pages of one
    instrument_fields=_BYBIT_FIELDS,
    contract_multiplier=Decimal(1),
    funding_interval_hours=8,
    funding_next_ts=True,
    book_depth=50,
    book_updates=3,
    published=market_ladders(50),
    published_seq=None,
    size_tolerance=0.0,
    resync_faults=("sequence_gap",),
    malformed_frames=(
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,'
        '"data":{"s":"BTCUSDT","b":[["NaN","1"]],"a":[],"u":5}}',
    ),
    malformed_fault=None,
    order_qty=Decimal("0.005"),
    place_path=("POST", "/v5/order/create"),
    quote="USDT",
    numeric_order_ids=False,
    stream_acks=False,
    update_avg_price=True,
    finished_cancel=Expect(OrderNotFound),
    rejected_query="not_found",
    refusals={
        "reject_fault": Expect(OrderRejected, code="110007"),
        "reduce_only": Expect(OrderRejected, code="110017"),
        "min_notional": Expect(OrderRejected, code="110094"),
        "off_tick": Expect(BadRequest, code="10001"),
        "off_lot": Expect(OrderRejected, code="110017"),  # the venue's code for off-step too
        "unsupported_tif": Expect(BadRequest, code="10001"),
        "duplicate_cid": Expect(OutcomeUnknown, code="110072", match="already used"),
        "unknown_query": Expect(OrderNotFound),
        "unknown_cancel": Expect(OrderNotFound, code="110001"),
    },
    rate_limit=Expect(RateLimited, code="10006"),
    retry_after=None,
    order_health=lambda client: client.private_health,
    public_refusal="public-data only",
    bad_credentials={
        "secret": _evolve(_BYBIT, api_secret="not-the-secret"),
        "key": _evolve(_BYBIT, api_key="other-bybit-key"),
    },
    auth={
        "secret": Expect(AuthenticationFailed, code="10004"),
        "key": Expect(AuthenticationFailed, code="10003"),
        "clock_skew": Expect(AuthenticationFailed, code="10002"),
    },
    clock_skew_s=-30.0,
    signed_calls=cex_signed_calls,
    stream_auth=Expect(AuthenticationFailed, match="auth refused"),
)

BITGET = Venue(
    name="bitget",
    emulator=BitgetEmulator,
    client=BitgetClient,
    credentials=_BITGET,
    seed=3,
    symbol="BTCUSDT",
    symbols=("BTCUSDT", "ETHUSDT"),
    default_rest_url="https://api.bitget.com",
    instrument_fields=_BITGET_FIELDS,
    contract_multiplier=Decimal(1),
    funding_interval_hours=8,
    funding_next_ts=False,
    book_depth=50,
    book_updates=3,
    published=market_ladders(50),
    published_seq=None,
    size_tolerance=0.0,
    resync_faults=("sequence_gap", "bad_checksum"),
    malformed_frames=(
        '{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books",'
        '"instId":"BTCUSDT"},"data":[{"asks":[["abc","1"]],"bids":[],"checksum":0,'
        '"seq":1,"ts":"1"}],"ts":1}',
    ),
    malformed_fault=None,  # bad_checksum is a wrong checksum: a resync
    order_qty=Decimal("0.05"),
    place_path=("POST", "/api/v2/mix/order/place-order"),
    quote="USDT",
    numeric_order_ids=False,
    stream_acks=False,
    update_avg_price=True,
    finished_cancel=Expect(OrderNotFound),
    rejected_query="not_found",
    refusals={
        "reject_fault": Expect(OrderRejected, code="40754"),
        "reduce_only": Expect(OrderRejected, code="40762"),
        "min_notional": Expect(OrderRejected, code="45110"),
        "off_tick": Expect(OrderRejected, code="45115"),
        "off_lot": Expect(OrderRejected, code="45111"),
        "unsupported_tif": Expect(BadRequest, code="400172"),
        "duplicate_cid": Expect(OutcomeUnknown, code="45034", match="already used"),
        "unknown_query": Expect(OrderNotFound, code="40109"),
        "unknown_cancel": Expect(OrderNotFound, code="22001"),
    },
    rate_limit=Expect(RateLimited, code="429"),
    retry_after=None,
    order_health=lambda client: client.private_health,
    public_refusal="public-data only",
    bad_credentials={
        "secret": _evolve(_BITGET, api_secret="nope-not-the-secret"),
        "passphrase": _evolve(_BITGET, passphrase="not-the-passphrase"),
        "key": _evolve(_BITGET, api_key="other-bitget-key"),
    },
    auth={
        "secret": Expect(AuthenticationFailed, code="40009"),
        "key": Expect(AuthenticationFailed, code="40006"),
        "passphrase": Expect(AuthenticationFailed, code="40012"),
        "clock_skew": Expect(AuthenticationFailed, code="40008"),
    },
    clock_skew_s=-60.0,
    signed_calls=cex_signed_calls,
    stream_auth=Expect(AuthenticationFailed, match="30015"),
)

GATEIO = Venue(
    name="gateio",
    emulator=GateEmulator,
    client=GateClient,
    credentials=_GATE,
    seed=5,
    symbol="BTC_USDT",
    symbols=("BTC_USDT", "ETH_USDT"),
    default_rest_url="https://api.gateio.ws/api/v4",
    instrument_fields=_GATE_FIELDS,
    contract_multiplier=Decimal("0.0001"),
    funding_interval_hours=8,
    funding_next_ts=True,
    book_depth=50,
    book_updates=6,
    published=published_ladders,
    published_seq=published_seq,
    size_tolerance=1e-6,
    resync_faults=("sequence_gap",),
    malformed_frames=(
        '{"time":1,"channel":"futures.order_book_update","event":"update","result":{"s":',
    ),
    malformed_fault="bad_checksum",
    order_qty=Decimal("0.01"),
    place_path=("POST", "/futures/usdt/orders"),
    quote="USDT",
    numeric_order_ids=True,
    stream_acks=False,
    update_avg_price=True,
    finished_cancel=None,
    rejected_query="not_found",
    refusals={
        "reject_fault": Expect(OrderRejected, code="INSUFFICIENT_AVAILABLE"),
        "reduce_only": Expect(OrderRejected, code="POSITION_EMPTY"),
        "off_tick": Expect(BadRequest, code="INVALID_PARAM_VALUE"),
        "off_lot": Expect(BadRequest, match="not a multiple of the lot"),  # the client's check
        "unsupported_tif": Expect(BadRequest, code="INVALID_PARAM_VALUE", match="tif"),
        "duplicate_cid": Expect(OutcomeUnknown, match="duplicate"),
        "unknown_query": Expect(OrderNotFound),
        "unknown_cancel": Expect(OrderNotFound),
    },
    rate_limit=Expect(RateLimited),
    retry_after=None,
    order_health=lambda client: client.health,
    drop_private=gate_drop_private,
    public_refusal="no API credentials",
    bad_credentials={
        "secret": _evolve(_GATE, api_secret="wrong-gate-secret"),
        "key": _evolve(_GATE, api_key="other-gate-key"),
    },
    auth={
        "secret": Expect(AuthenticationFailed, match="INVALID_SIGNATURE"),
        "key": Expect(AuthenticationFailed, match="INVALID_KEY"),
        "clock_skew": Expect(AuthenticationFailed, match="REQUEST_EXPIRED"),
    },
    signed_calls=cex_signed_calls,
    stream_auth=Expect(AuthenticationFailed, match="code 4"),
    before_private_stream=gate_skip_uid_lookup,
    auth_failures=lambda emulator: emulator.auth_failures,
)

KUCOIN = Venue(
    name="kucoin",
    emulator=KucoinEmulator,
    client=KucoinClient,
    credentials=_KUCOIN,
    seed=7,
    symbol="XBTUSDTM",
    symbols=("XBTUSDTM", "ETHUSDTM"),
    default_rest_url="https://api-futures.kucoin.com",
    pass_ws_url=False,
    instrument_fields=_KUCOIN_FIELDS,
    contract_multiplier=Decimal("0.001"),
    funding_interval_hours=8,
    funding_next_ts=True,
    book_depth=50,
    book_updates=21,  # one push per changed level
    published=published_ladders,
    published_seq=published_seq,
    size_tolerance=1e-6,
    resync_faults=("sequence_gap",),
    malformed_frames=('{"topic":"/contractMarket/level2:","type":"message","data":{"seq',),
    malformed_fault="bad_checksum",  # KuCoin has no checksum: a malformed push
    order_qty=Decimal("0.01"),
    place_path=("POST", "/api/v1/orders"),
    quote="USDT",
    numeric_order_ids=False,
    stream_acks=False,
    update_avg_price=False,
    finished_cancel=None,
    rejected_query="not_found",
    refusals={
        "reject_fault": Expect(OrderRejected, code="300003"),
        "reduce_only": Expect(OrderRejected, code="300009"),
        "off_tick": Expect(BadRequest, code="100001"),
        "off_lot": Expect(BadRequest, match=r"whole number of lots|not a multiple"),
        "unsupported_tif": Expect(BadRequest, code="100001", match="IOC"),
        "duplicate_cid": Expect(OutcomeUnknown, match="duplicate"),
        "unknown_query": Expect(OrderNotFound),
        "unknown_cancel": Expect(OrderNotFound),
    },
    rate_limit=Expect(RateLimited),
    retry_after=1.0,
    order_health=lambda client: client.health,
    drop_private=kucoin_drop_private,
    public_refusal="no API credentials",
    bad_credentials={
        "secret": _evolve(_KUCOIN, api_secret="wrong-kc-secret"),  # the passphrase is signed too
        "passphrase": _evolve(_KUCOIN, passphrase="wrong-kc-pass"),
        "key": _evolve(_KUCOIN, api_key="other-kc-key"),
    },
    auth={
        "secret": Expect(AuthenticationFailed, match="400004"),
        "passphrase": Expect(AuthenticationFailed, match="400004"),
        "key": Expect(AuthenticationFailed, match="400003"),
        "clock_skew": Expect(AuthenticationFailed, match="400002"),
    },
    signed_calls=cex_signed_calls,
    stream_auth=Expect(AuthenticationFailed, match="400004"),
    auth_failures=lambda emulator: emulator.auth_failures,
)

VENUES: tuple[Venue, ...] = (HYPERLIQUID, BYBIT, BITGET, GATEIO, KUCOIN)


_UNSET: Any = object()


@asynccontextmanager
async def open_venue(
    venue: Venue,
    *,
    faults: FaultRates | None = None,
    credentials: Credentials | None = _UNSET,
    emulator_options: Mapping[str, Any] | None = None,
    **client_options: Any,
) -> AsyncIterator[Rig]:
    """``venue``'s emulator over a fresh simulated market and its client against it
    (``credentials`` default: the venue's test keys), on Trio's MockClock only."""
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, MockClock), "the conformance suite runs on MockClock only"
    async with open_rig(
        venue.emulator,
        venue.client,
        seed=venue.seed,
        emulator_credentials=venue.credentials,
        credentials=venue.credentials if credentials is _UNSET else credentials,
        backoff=FAST,
        faults=faults,
        emulator_kwargs={**venue.emulator_options, **(emulator_options or {})},
        pass_ws_url=venue.pass_ws_url,
        symbol=venue.symbol,
        **{**venue.client_options, **client_options},
    ) as r:
        yield r


def order_request(
    r: Rig,
    side: Side,
    qty: Decimal | str,
    key: str,
    *,
    through_bps: int = 20,
    symbol: str | None = None,
    **fields: Any,
) -> OrderRequest:
    """An IOC-priced limit order ``through_bps`` through the market's far touch (negative:
    that far behind it), on the instrument's price grid."""
    venue = r.client.name
    symbol = symbol or r.symbol
    inst = r.market.instrument(venue, symbol)
    bids, asks = r.market.book_levels(venue, symbol, 1)
    top = asks[0][0] if side is Side.BUY else bids[0][0]
    raw = top * (1 + side.sign * Decimal(through_bps) / 10_000)
    price = round_price(inst, raw, "down" if side is Side.BUY else "up")
    return OrderRequest(
        venue=venue, symbol=symbol, side=side, qty=Decimal(qty), price=price,
        client_order_id=client_order_id(venue, key, side.value, 0), **fields,
    )  # fmt: skip


def ladders_of(book: L2Book) -> Ladders:
    return book.levels(Side.BUY), book.levels(Side.SELL)
