"""Limit-IOC matching and account keeping: never beyond qty, never through the limit,
reduce-only never grows a position, and balances reconcile exactly with fills, fees, funding."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.book import L2Book
from arbtrio.core.instruments import Instrument
from arbtrio.core.types import OrderStatus, Side
from arbtrio.sim.execution import (
    DUPLICATE_CLIENT_ORDER_ID,
    Account,
    book_levels_for,
    match_ioc,
)

TICK = Decimal("0.5")
LOT = Decimal("0.001")

INST = Instrument(
    venue="bybit",
    symbol="BTCUSDT",
    asset="BTC",
    quote="USDT",
    tick_size=TICK,
    lot_size=LOT,
    min_size=Decimal("0.002"),
    min_notional=Decimal("5"),
    taker_fee=Decimal("0.00055"),
    maker_fee=Decimal("0.0002"),
    funding_interval_hours=8,
)

prices = st.integers(min_value=180, max_value=220).map(lambda i: i * TICK)
# Level sizes include non-lot-multiples (an external book may have them).
sizes = st.integers(min_value=1, max_value=5000).map(lambda i: Decimal(i) / 2000)
ladders = st.lists(st.tuples(prices, sizes), max_size=12, unique_by=lambda lv: lv[0])
quantities = st.integers(min_value=0, max_value=3000).map(lambda i: i * LOT)


@given(ladders, st.sampled_from(Side), quantities, prices, st.none() | quantities)
def test_match_never_beyond_qty_nor_through_limit(levels, side, qty, limit, max_qty):
    takes = match_ioc(levels, side, qty, limit, LOT, max_qty)
    total = sum((q for _, q in takes), Decimal(0))
    assert total <= qty
    if max_qty is not None:
        assert total <= max_qty
    available = dict(levels)
    for price, take in takes:
        assert take > 0 and take % LOT == 0
        assert take <= available[price]
        assert price <= limit if side is Side.BUY else price >= limit
    # Best price first, and greedy: every level strictly better than the last one taken is
    # exhausted (to the lot), so nothing better was skipped.
    taken_prices = [p for p, _ in takes]
    assert taken_prices == sorted(taken_prices, reverse=side is Side.SELL)
    if takes and total < min(qty, max_qty if max_qty is not None else qty):
        # Short of the target: every level within the limit was used to the lot.
        for price, size in levels:
            within = price <= limit if side is Side.BUY else price >= limit
            if within and size >= LOT:
                taken = dict(takes).get(price, Decimal(0))
                assert size - taken < LOT


def deep_ladder(side: Side) -> list[tuple[Decimal, Decimal]]:
    """The side a ``side`` order takes: asks above 100 for a buy, bids below for a sell."""
    if side is Side.BUY:
        return [(Decimal(100) + i * TICK, Decimal("0.75")) for i in range(20)]
    return [(Decimal(100) - (i + 1) * TICK, Decimal("0.75")) for i in range(20)]


order_steps = st.lists(
    st.tuples(
        st.sampled_from(Side),
        st.integers(min_value=1, max_value=4000).map(lambda i: i * LOT),
        st.booleans(),  # reduce-only
        st.integers(min_value=0, max_value=8),  # limit: ticks away from the touch
        st.none() | st.integers(min_value=1, max_value=1000).map(lambda i: i * LOT),  # max_fill
    ),
    max_size=25,
)
funding_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=24),  # after which order
        st.integers(min_value=-300, max_value=300).map(lambda i: Decimal(i) / 1_000_000),
    ),
    max_size=5,
)


@given(order_steps, funding_steps)
def test_reduce_only_never_grows_and_balances_reconcile(steps, fundings):
    account = Account("bybit", "USDT", Decimal(10_000))
    cash_flow = Decimal(0)
    fees = Decimal(0)
    booked_funding = Decimal(0)
    seen_trades: set[str] = set()
    for i, (side, qty, reduce_only, ticks, max_fill) in enumerate(steps):
        before = account.position("BTCUSDT")
        levels = deep_ladder(side)
        limit = levels[0][0] + ticks * TICK * side.sign
        ex = account.execute(
            INST, levels, side=side, qty=qty, price=limit, reduce_only=reduce_only,
            client_order_id=f"c{i}", now=float(i), max_fill=max_fill,
        )  # fmt: skip
        after = account.position("BTCUSDT")
        assert ex.filled_qty <= qty
        assert ex.filled_qty == sum((f.qty for f in ex.fills), Decimal(0))
        assert after == before + side.sign * ex.filled_qty
        if reduce_only:
            assert abs(after) <= abs(before)
            assert after == 0 or before == 0 or (after > 0) == (before > 0)  # never flips
            if before == 0 or (before > 0) == (side is Side.BUY):
                assert ex.status is OrderStatus.REJECTED
        for fill in ex.fills:
            assert fill.trade_id not in seen_trades
            seen_trades.add(fill.trade_id)
            assert fill.price <= limit if side is Side.BUY else fill.price >= limit
            assert fill.fee == fill.qty * fill.price * INST.taker_fee
            cash_flow -= side.sign * fill.qty * fill.price
            fees += fill.fee
        for after_step, rate in fundings:
            if after_step == i:
                payment = account.apply_funding("BTCUSDT", rate, Decimal(100), float(i))
                if payment is not None:
                    booked_funding += payment.amount
                    assert payment.amount == (-after * Decimal(100) * rate).quantize(
                        Decimal("1e-8")
                    )
        # The identity, exact at every step.
        assert account.fees == fees
        assert account.funding == booked_funding
        assert account.realized == cash_flow + account.open_cost("BTCUSDT")
        (balance,) = account.balances()
        assert (
            balance.total
            == Decimal(10_000) + cash_flow + account.open_cost("BTCUSDT") - fees + booked_funding
        )
    positions = account.positions()
    if account.position("BTCUSDT") == 0:
        assert positions == []
    else:
        assert positions[0].qty == account.position("BTCUSDT")


def test_duplicate_client_order_id_is_rejected_and_the_first_kept():
    account = Account("bybit", "USDT", Decimal(1000))
    first = account.execute(
        INST, deep_ladder(Side.BUY), side=Side.BUY, qty=Decimal("0.06"), price=Decimal(101),
        reduce_only=False, client_order_id="same", now=1.0,
    )  # fmt: skip
    assert first.status is OrderStatus.FILLED
    again = account.execute(
        INST, deep_ladder(Side.SELL), side=Side.SELL, qty=Decimal("0.06"), price=Decimal(90),
        reduce_only=False, client_order_id="same", now=2.0,
    )  # fmt: skip
    assert again.status is OrderStatus.REJECTED
    assert again.reason == DUPLICATE_CLIENT_ORDER_ID
    assert again.fills == ()
    report = account.order("same")
    assert report is not None and report.status is OrderStatus.FILLED
    assert report.fills == first.fills
    assert account.position("BTCUSDT") == Decimal("0.06")


def test_rejections_name_the_problem_and_are_remembered():
    account = Account("bybit", "USDT", Decimal(1000))
    cases = {
        "lot": (Decimal("0.0015"), Decimal(101), False, "multiple of the lot"),
        "tick": (Decimal("0.01"), Decimal("100.3"), False, "not a valid price"),
        "size": (Decimal("0.001"), Decimal(101), False, "below the minimum size"),
        "notional": (Decimal("0.002"), Decimal(101), False, "below the minimum 5"),
        "ro": (Decimal("0.01"), Decimal(101), True, "no open position"),
    }
    for cid, (qty, price, ro, words) in cases.items():
        ex = account.execute(
            INST, deep_ladder(Side.BUY), side=Side.BUY, qty=qty, price=price,
            reduce_only=ro, client_order_id=cid, now=0.0,
        )  # fmt: skip
        assert ex.status is OrderStatus.REJECTED, cid
        assert words in ex.reason, (cid, ex.reason)
        report = account.order(cid)
        assert report is not None and report.status is OrderStatus.REJECTED
    assert account.order("never") is None
    assert account.fills == []


def test_reduce_only_is_clipped_to_the_position():
    account = Account("bybit", "USDT", Decimal(1000))
    account.execute(
        INST, deep_ladder(Side.BUY), side=Side.BUY, qty=Decimal("0.05"), price=Decimal(101),
        reduce_only=False, client_order_id="open", now=0.0,
    )  # fmt: skip
    ex = account.execute(
        INST, deep_ladder(Side.SELL), side=Side.SELL, qty=Decimal("0.2"), price=Decimal(90),
        reduce_only=True, client_order_id="close", now=1.0,
    )  # fmt: skip
    assert ex.filled_qty == Decimal("0.05")
    assert ex.status is OrderStatus.CANCELLED  # the clipped remainder is cancelled
    assert account.position("BTCUSDT") == 0
    wrong_way = account.execute(
        INST, deep_ladder(Side.BUY), side=Side.BUY, qty=Decimal("0.01"), price=Decimal(101),
        reduce_only=True, client_order_id="grow", now=2.0,
    )  # fmt: skip
    assert wrong_way.status is OrderStatus.REJECTED


def test_fifo_realised_pnl_is_exact():
    account = Account("bybit", "USDT", Decimal(0))
    account.execute(
        INST, [(Decimal("100.5"), Decimal("0.06"))], side=Side.BUY, qty=Decimal("0.06"),
        price=Decimal("100.5"), reduce_only=False, client_order_id="a", now=0,
    )  # fmt: skip
    account.execute(
        INST, [(Decimal("103"), Decimal("0.06"))], side=Side.BUY, qty=Decimal("0.06"),
        price=Decimal("103"), reduce_only=False, client_order_id="b", now=0,
    )  # fmt: skip
    account.execute(
        INST, [(Decimal("110"), Decimal("1"))], side=Side.SELL, qty=Decimal("0.08"),
        price=Decimal("110"), reduce_only=True, client_order_id="c", now=0,
    )  # fmt: skip
    # FIFO: 0.06 × (110 − 100.5) + 0.02 × (110 − 103)
    assert account.realized == Decimal("0.57") + Decimal("0.14")
    (pos,) = account.positions()
    assert pos.qty == Decimal("0.04") and pos.entry_price == Decimal(103)


def test_paper_mode_executes_against_an_external_book():
    book = L2Book("bybit", "BTCUSDT")
    book.apply_snapshot([(99.5, 0.004), (99.0, 1.0)], [(100.5, 0.0035), (101.0, 1.0)], ts=1.0)
    account = Account("bybit", "USDT", Decimal(1000))
    asks = book_levels_for(book, Side.BUY)
    assert asks == [(Decimal("100.5"), Decimal("0.0035")), (Decimal("101.0"), Decimal("1.0"))]
    ex = account.execute(
        INST, asks, side=Side.BUY, qty=Decimal("0.06"), price=Decimal("101"),
        reduce_only=False, client_order_id="paper", now=2.0,
    )  # fmt: skip
    # 0.0035 floors to 0.003 (the lot); the rest at 101.
    assert [(f.price, f.qty) for f in ex.fills] == [
        (Decimal("100.5"), Decimal("0.003")),
        (Decimal("101.0"), Decimal("0.057")),
    ]
    assert ex.status is OrderStatus.FILLED
    bids = book_levels_for(book, Side.SELL, depth=1)
    assert bids == [(Decimal("99.5"), Decimal("0.004"))]
