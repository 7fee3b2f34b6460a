"""Stateful property test: several positions against sans-IO fake venues.

The fake venues execute each IOC order one of many ways: fully (one fill or two), partially,
not at all, rejected, timed out without arriving, timed out after executing, with the fill
messages lost (only the final status arrives) or the final status lost (only fills arrive).
Stream messages are delivered out of order and repeated. Queries are answered with the
venue's own record. After every step the invariants of specs/001-position-fsm.md hold; a
``settle_all`` rule (and the teardown) answers everything and checks that every position
reaches HEDGED, SETTLED or FAULTED within a bounded number of steps, with the machine's fills
matching the venue's exactly; the teardown also replays each journal into a fresh position.
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from test_position_support import BYBIT, HL, LONG_PRICE, SHORT_PRICE, D, make_spec

from arbtrio.core.events import (
    Alert,
    Command,
    Event,
    ExitSignal,
    Kill,
    LegAcked,
    LegExpired,
    LegFilled,
    LegOutcomeUnknown,
    LegRejected,
    Open,
    OperatorFlatten,
    OutcomeResolved,
    PlaceOrder,
    QueryOrder,
    Quote,
    Tick,
)
from arbtrio.core.instruments import Instrument, floor_qty
from arbtrio.core.position import (
    Condition,
    IllegalTransition,
    Position,
    PositionState,
    replay,
)
from arbtrio.core.types import Fill, OrderReport, OrderRequest, OrderStatus, Side

S = PositionState
BEHAVIORS = [
    "fill",
    "fill_split",
    "partial",
    "none",
    "reject",
    "timeout_lost",  # the order never reached the venue
    "timeout_done",  # the order executed, but the sender timed out
    "fills_lost",  # the stream's fill messages are lost; the final status arrives
    "status_lost",  # the fills arrive; the final status is lost
]
QUIET = frozenset({S.IDLE, S.HEDGED, S.SETTLED, S.FAULTED})
MAX_SETTLE_STEPS_PER_POSITION = 300
INSTRUMENTS = {HL.venue: HL, BYBIT.venue: BYBIT}


@attrs.define
class VenueOrder:
    request: OrderRequest
    status: OrderStatus
    fills: list[Fill]

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), D(0))


class FakeVenue:
    """One venue's matching and order records: deterministic given the behaviour asked for."""

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.orders: dict[str, VenueOrder] = {}
        self._trades = itertools.count(1)

    def execute(self, request: OrderRequest, behavior: str, frac: int, ts: float) -> list[Event]:
        """Execute ``request``; return the stream messages the runtime would turn into events."""
        coid = request.client_order_id
        assert coid not in self.orders, "an order was sent twice"
        if behavior == "timeout_lost":
            return [LegOutcomeUnknown(client_order_id=coid, reason="timeout", ts=ts)]
        if behavior == "reject":
            self.orders[coid] = VenueOrder(request, OrderStatus.REJECTED, [])
            return [LegRejected(client_order_id=coid, reason="insufficient margin", ts=ts)]
        qty = request.qty
        if behavior in ("partial", "status_lost"):
            qty = floor_qty(self.inst, request.qty * frac / 4)
        elif behavior == "none":
            qty = D(0)
        elif behavior == "timeout_done":
            qty = floor_qty(self.inst, request.qty * frac / 4) if frac < 4 else request.qty
        parts = [qty]
        if behavior == "fill_split" and qty > self.inst.lot_size:
            first = floor_qty(self.inst, qty / 2)
            parts = [first, qty - first]
        fills = [
            Fill(
                venue=request.venue,
                client_order_id=coid,
                trade_id=f"{request.venue}-{next(self._trades)}",
                side=request.side,
                qty=part,
                price=request.price,
                fee=part * request.price * self.inst.taker_fee,
                ts=ts,
            )
            for part in parts
            if part > 0
        ]
        status = OrderStatus.FILLED if qty == request.qty else OrderStatus.CANCELLED
        self.orders[coid] = VenueOrder(request, status, fills)
        messages: list[Event] = [LegAcked(client_order_id=coid, venue_order_id=coid, ts=ts)]
        if behavior != "fills_lost":
            messages += [
                LegFilled(
                    client_order_id=coid,
                    trade_id=f.trade_id,
                    qty=f.qty,
                    price=f.price,
                    fee=f.fee,
                    ts=ts,
                )
                for f in fills
            ]
        if behavior != "status_lost":
            messages.append(LegExpired(client_order_id=coid, filled_qty=qty, ts=ts))
        if behavior == "timeout_done":
            messages = [LegOutcomeUnknown(client_order_id=coid, reason="timeout", ts=ts), *messages]
        return messages

    def report(self, coid: str) -> OrderReport | None:
        order = self.orders.get(coid)
        if order is None:
            return None
        return OrderReport(
            venue=order.request.venue,
            client_order_id=coid,
            status=order.status,
            filled_qty=order.filled,
            avg_price=None,
            fills=tuple(order.fills),
        )


@attrs.define(eq=False)
class Book:
    """One position and everything in flight around it."""

    position: Position
    journal: list[Event] = attrs.Factory(list)
    outbox: list[Event] = attrs.Factory(list)  # stream messages not yet delivered
    requests: list[PlaceOrder] = attrs.Factory(list)  # orders not yet executed by the venue
    queries: list[QueryOrder] = attrs.Factory(list)
    delivered_fills: list[LegFilled] = attrs.Factory(list)
    alerts: list[Alert] = attrs.Factory(list)
    ever_settled: bool = False

    def quiet(self) -> bool:
        return (
            not self.outbox
            and not self.requests
            and not self.queries
            and not self.position.live_orders()
            and self.position.state in QUIET
        )


class PositionsAgainstFakeVenues(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.books: list[Book] = []
        self.venues = {name: FakeVenue(inst) for name, inst in INSTRUMENTS.items()}
        self.now = 1.0
        self.shift = D(0)
        self.rng = random.Random(0)

    @initialize(seed=st.integers(0, 2**32 - 1))
    def seed(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # -- plumbing ---------------------------------------------------------------------------
    def feed(self, book: Book, event: Event) -> list[Command]:
        book.journal.append(event)
        cmds = book.position.handle(event)
        for cmd in cmds:
            if isinstance(cmd, PlaceOrder):
                book.requests.append(cmd)
            elif isinstance(cmd, QueryOrder):
                book.queries.append(cmd)
            elif isinstance(cmd, Alert):
                book.alerts.append(cmd)
        if isinstance(event, LegFilled):
            book.delivered_fills.append(event)
        return cmds

    def quotes(self) -> dict[str, Quote]:
        mid_l, mid_s = LONG_PRICE + self.shift, SHORT_PRICE + self.shift
        return {
            HL.venue: Quote(bid=mid_l - D("0.5"), ask=mid_l + D("0.5")),
            BYBIT.venue: Quote(bid=mid_s - D("0.05"), ask=mid_s + D("0.05")),
        }

    def execute(self, book: Book, index: int, behavior: str, frac: int) -> None:
        cmd = book.requests.pop(index % len(book.requests))
        self.now += 0.01
        venue = self.venues[cmd.request.venue]
        book.outbox.extend(venue.execute(cmd.request, behavior, frac, self.now))

    def deliver(self, book: Book, index: int) -> None:
        self.now += 0.01
        self.feed(book, book.outbox.pop(index % len(book.outbox)))

    def answer(self, book: Book) -> None:
        query = book.queries.pop(0)
        self.now += 0.01
        report = self.venues[query.venue].report(query.client_order_id)
        self.feed(
            book,
            OutcomeResolved(client_order_id=query.client_order_id, report=report, ts=self.now),
        )

    def tick_all(self, dt: float) -> None:
        self.now += dt
        for book in self.books:
            if book.position.state is not S.IDLE:
                self.feed(book, Tick(ts=self.now, quotes=self.quotes()))

    def pick(self, index: int, attr: str) -> Book:
        candidates = [b for b in self.books if getattr(b, attr)]
        return candidates[index % len(candidates)]

    def any_has(self, attr: str) -> bool:
        return any(getattr(b, attr) for b in self.books)

    # -- rules ------------------------------------------------------------------------------
    @precondition(lambda self: len(self.books) < 3)
    @rule(qty=st.sampled_from(["0.01", "0.05", "1", "2.5"]))
    def open_position(self, qty: str) -> None:
        spec = make_spec(D(qty), position_id=f"p{len(self.books)}")
        book = Book(Position(spec))
        self.books.append(book)
        self.now += 0.01
        self.feed(book, Open(ts=self.now))

    @precondition(lambda self: self.any_has("requests"))
    @rule(
        which=st.integers(0, 5),
        index=st.integers(0, 3),
        behavior=st.sampled_from(BEHAVIORS),
        frac=st.integers(0, 4),
    )
    def venue_executes(self, which: int, index: int, behavior: str, frac: int) -> None:
        self.execute(self.pick(which, "requests"), index, behavior, frac)

    @precondition(lambda self: self.any_has("outbox"))
    @rule(which=st.integers(0, 5), index=st.integers(0, 7))
    def stream_delivers(self, which: int, index: int) -> None:
        self.deliver(self.pick(which, "outbox"), index)

    @precondition(lambda self: self.any_has("delivered_fills"))
    @rule(which=st.integers(0, 5), index=st.integers(0, 7))
    def stream_repeats_a_fill(self, which: int, index: int) -> None:
        book = self.pick(which, "delivered_fills")
        fill = book.delivered_fills[index % len(book.delivered_fills)]
        before = book.position.snapshot()
        assert self.feed(book, fill) == []
        assert book.position.snapshot() == before

    @precondition(lambda self: self.any_has("queries"))
    @rule(which=st.integers(0, 5))
    def venue_answers_a_query(self, which: int) -> None:
        self.answer(self.pick(which, "queries"))

    @rule(dt=st.sampled_from([0.1, 1.0, 2.5, 6.0]), shift=st.sampled_from(["-15", "0", "15"]))
    def time_passes(self, dt: float, shift: str) -> None:
        self.shift = D(shift)
        self.tick_all(dt)

    @precondition(lambda self: bool(self.books))
    @rule(which=st.integers(0, 5), signal=st.sampled_from(["exit", "flatten", "kill"]))
    def signal(self, which: int, signal: str) -> None:
        book = self.books[which % len(self.books)]
        self.now += 0.01
        event: Event
        if signal == "exit":
            event = ExitSignal(reason="converged", ts=self.now, quotes=self.quotes())
        elif signal == "flatten":
            event = OperatorFlatten(ts=self.now, quotes=self.quotes())
        else:
            event = Kill(ts=self.now, quotes=self.quotes())
        state = book.position.state
        before = book.position.snapshot()
        try:
            self.feed(book, event)
        except IllegalTransition:
            assert signal == "exit" and state in (S.IDLE, S.OPENING, S.UNWINDING)
            assert book.position.snapshot() == before

    @rule()
    def settle_all(self) -> None:
        self.drive_to_quiet()

    def drive_to_quiet(self) -> None:
        """Answer everything until every position is quiet, within a bounded number of steps."""
        budget = MAX_SETTLE_STEPS_PER_POSITION * max(1, len(self.books))
        for _ in range(budget):
            busy = [b for b in self.books if not b.quiet()]
            if not busy:
                break
            book = self.rng.choice(busy)
            if book.outbox:
                self.deliver(book, self.rng.randrange(len(book.outbox)))
            elif book.requests:
                self.execute(book, 0, self.rng.choice(BEHAVIORS), self.rng.randrange(5))
            elif book.queries:
                self.answer(book)
            else:
                self.tick_all(book.position.spec.policy.query_after_s)
        else:
            states = [(b.position.spec.position_id, b.position.state) for b in self.books]
            raise AssertionError(f"not quiet after {budget} steps: {states}")
        for book in self.books:
            assert book.position.state in (S.IDLE, S.HEDGED, S.SETTLED, S.FAULTED)
            # Once everything is answered, the machine's fills are exactly the venue's.
            for order in book.position.orders():
                record = self.venues[order.venue].orders.get(order.client_order_id)
                assert order.filled == (record.filled if record else 0), order

    # -- invariants -------------------------------------------------------------------------
    @invariant()
    def settled_absorbs(self) -> None:
        for book in self.books:
            if book.ever_settled:
                assert book.position.state is S.SETTLED
            book.ever_settled = book.position.state is S.SETTLED

    @invariant()
    def orders_and_fills_are_sane(self) -> None:
        for book in self.books:
            p = book.position
            for leg in ("long", "short"):
                assert len([o for o in p.live_orders() if o.leg == leg]) <= 1
                assert p.held(leg) >= 0
            fills_by_order: dict[str, Decimal] = {}
            for f in p.fills():
                fills_by_order[f.client_order_id] = (
                    fills_by_order.get(f.client_order_id, D(0)) + f.qty
                )
            for order in p.orders():
                assert order.filled == fills_by_order.get(order.client_order_id, D(0))
                assert order.filled <= order.qty
            keys = [(f.venue, f.trade_id) for f in p.fills()]
            assert len(keys) == len(set(keys))

    @invariant()
    def exposure_only_where_allowed(self) -> None:
        for book in self.books:
            p = book.position
            if p.state is S.IDLE:
                assert not p.orders()
            elif p.state is S.HEDGED:
                # Nothing live, and any imbalance is an untradable residual.
                assert p.live_orders() == []
                assert p.condition() is Condition.BALANCED
            elif p.state is S.SETTLED:
                assert p.live_orders() == []
                assert p.held("long") == p.held("short") == 0
            elif p.state is S.FAULTED:
                assert any(a.level == "critical" for a in book.alerts)

    @invariant()
    def settled_pnl_is_the_fills_cash_flows(self) -> None:
        for book in self.books:
            p = book.position
            if p.state is not S.SETTLED:
                continue
            cash = sum(
                ((f.qty * f.price) * (1 if f.side is Side.SELL else -1) - f.fee for f in p.fills()),
                D(0),
            )
            assert p.realized_pnl() == cash + p.funding()

    def teardown(self) -> None:
        self.drive_to_quiet()
        for book in self.books:
            again = replay(book.position.spec, book.journal)
            assert again.snapshot() == book.position.snapshot()


PositionsAgainstFakeVenues.TestCase.settings = settings(
    settings.default, stateful_step_count=40, deadline=None
)
TestPositionsAgainstFakeVenues = PositionsAgainstFakeVenues.TestCase
