"""Funding: when each venue settles, what it pays, and each position's share of it.

A perp venue settles funding on a schedule (Hyperliquid hourly; the CEXs every 1, 2, 4 or
8 h per symbol): every open position of the account pays or receives
``position × mark price × rate``, longs paying when the rate is positive. So for one leg of
one of our positions::

    amount = −side_sign × held × mark × rate        (quote units, + received, − paid)

rounded half-even to ``FUNDING_QUANTUM`` (what the simulated venues book, see
``arbtrio.sim.execution.Account.apply_funding``). The venue pays once on its net position
per symbol; when several positions hold legs there, :func:`funding_shares` splits that one
rounded amount among them (largest remainder), so the legs always add up to exactly what the
venue booked, and a sole holder gets exactly the venue's amount.

:class:`FundingBooker` is the runtime's funding task. It learns the schedule from
``fetch_funding`` (``next_funding_ts``, or the interval
on the epoch grid when a venue does not say), takes the holdings of every live position at
the funding time, then asks a :data:`FundingSource` for the settlement's rate and mark
price. In simulation the source reads the simulated venue's own settlement record (what a
venue's funding-history endpoint reports); with no source or no record the runtime
estimates: the rate last published for that settlement and the mid of the book at the
funding time (or the leg's reference price when there is no usable book).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Literal

import attrs
import structlog
import trio

from arbtrio.core.events import FundingPaid, LegRole, Tick
from arbtrio.core.funding import SAME_TS_S, next_funding_time
from arbtrio.core.instruments import format_decimal, round_price
from arbtrio.runtime.market import decimal_of

if TYPE_CHECKING:
    from arbtrio.runtime.actor import PositionActor
    from arbtrio.runtime.journal import Journal
    from arbtrio.runtime.market import MarketView
    from arbtrio.runtime.positions import PositionBook
    from arbtrio.runtime.venues import VenueSupervisor

__all__ = [
    "FUNDING_QUANTUM",
    "SAME_TS_S",
    "FundingBooker",
    "FundingSettlement",
    "FundingSource",
    "funding_amount",
    "funding_shares",
    "next_funding_time",
]

log = structlog.get_logger("arbtrio.runtime")

FUNDING_QUANTUM = Decimal("1e-8")
SETTLEMENT_WAIT_S = 5.0  # how long to wait for a source's settlement record
FUNDING_LATE_S = 10.0  # a funding time found this late is not booked (holdings unknown then)


@attrs.frozen(kw_only=True)
class FundingSettlement:
    """One funding settlement of one venue symbol: the rate and mark price it used."""

    venue: str
    symbol: str
    ts: float
    rate: Decimal
    mark_price: Decimal | None  # None: no mark known (each leg uses its reference price)
    source: Literal["venue", "estimate"]


FundingSource = Callable[[str, str, float], Awaitable[FundingSettlement | None]]
"""``source(venue, symbol, funding_ts)``: the venue's settlement, or None if it has none."""


def funding_amount(leg: LegRole, held: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """What a leg holding ``held`` (base units, in its own direction) receives (+) or pays.

    Longs pay a positive rate, shorts receive it: ``−side_sign × held × mark × rate``,
    rounded half-even to :data:`FUNDING_QUANTUM`.
    """
    if held < 0:
        raise ValueError(f"held must be >= 0, got {held}")
    sign = 1 if leg == "long" else -1
    return (-sign * held * mark_price * rate).quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)


def funding_shares(
    holdings: Sequence[tuple[LegRole, Decimal]], mark_price: Decimal, rate: Decimal
) -> list[Decimal]:
    """Each holding's share of one venue settlement, adding up exactly to what the venue
    books on the net position (Σ long held − Σ short held), rounded half-even.

    Each share is its own amount rounded to :data:`FUNDING_QUANTUM`; the quanta the separate
    roundings gained or lost against the venue's single rounding go to the holdings whose
    exact amounts were rounded furthest the other way (ties: first holding first). A sole
    holding's share is exactly :func:`funding_amount`.
    """
    exact = []
    for leg, held in holdings:
        if held < 0:
            raise ValueError(f"held must be >= 0, got {held}")
        exact.append((-1 if leg == "long" else 1) * held * mark_price * rate)
    shares = [e.quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN) for e in exact]
    total = sum(exact, Decimal(0)).quantize(FUNDING_QUANTUM, rounding=ROUND_HALF_EVEN)
    missing = int((total - sum(shares, Decimal(0))) / FUNDING_QUANTUM)
    if missing:
        step = FUNDING_QUANTUM if missing > 0 else -FUNDING_QUANTUM
        # rounded down the most first when quanta are missing; up the most when in excess
        order = sorted(
            range(len(shares)),
            key=lambda i: (-(exact[i] - shares[i]) if missing > 0 else exact[i] - shares[i], i),
        )
        for i in order[: abs(missing)]:
            shares[i] += step
    return shares


# -- the funding task ------------------------------------------------------------------------
Holding = tuple["PositionActor", LegRole, Decimal]  # actor, leg, base quantity held


class FundingBooker:
    """At each venue symbol's funding time, book funding on every position holding a leg
    there: the holdings are taken at that instant, the settlement (rate, mark) is looked up
    (or estimated) in a task of its own, then each leg gets ``FundingPaid``.

    An actor is told it is owed each funding event (``funding_due``) when its holding is
    taken, and it does not end before the event arrives, so a position that settles just
    after a funding time still books that funding. Whatever happens to a booking, no actor
    is left waiting for funding that will not come.
    """

    def __init__(
        self,
        *,
        venues: VenueSupervisor,
        market: MarketView,
        positions: PositionBook,
        journal: Journal,
        source: FundingSource | None,
    ) -> None:
        self.venues = venues
        self.market = market
        self.positions = positions
        self.journal = journal
        self.source = source
        self.settlements: Counter[str] = Counter()  # by source: venue, estimate
        self._booked: dict[tuple[str, str], float] = {}  # (venue, asset) -> last funding ts

    async def run(self) -> None:
        async with trio.open_nursery() as bookings:
            while True:
                now = trio.current_time()
                upcoming = []
                for ts, venue, asset in self.schedule(now):
                    if ts > now:
                        upcoming.append(ts)
                        continue
                    self._booked[(venue, asset)] = ts
                    if now - ts > FUNDING_LATE_S:
                        log.warning("funding.missed", venue=venue, asset=asset, funding_ts=ts)
                        continue
                    holdings = self.holdings(venue, asset)
                    if holdings:
                        bookings.start_soon(self.book, venue, asset, ts, holdings)
                wait = min(upcoming, default=now + 1.0) - now
                await trio.sleep(min(max(wait, 0.0), 1.0))

    def schedule(self, now: float) -> list[tuple[float, str, str]]:
        """``(next funding time, venue, asset)`` of every symbol whose funding is known."""
        out = []
        for venue, state in self.venues.venues.items():
            for asset, rate in state.funding.items():
                after = self._booked.get((venue, asset), -math.inf)
                ts = next_funding_time(rate, now, after)
                if ts is not None:
                    out.append((ts, venue, asset))
        return out

    def holdings(self, venue: str, asset: str) -> list[Holding]:
        """Every live position's leg on ``venue`` holding ``asset`` now, with its holding;
        each such actor is owed one more funding event."""
        out: list[Holding] = []
        for actor, leg in self.positions.holding(venue, asset):
            held = actor.position.held(leg)
            if held > 0:
                actor.funding_due += 1
                out.append((actor, leg, held))
        return out

    async def book(self, venue: str, asset: str, ts: float, holdings: list[Holding]) -> None:
        """Book one settlement on ``holdings``."""
        delivered: list[Holding] = []
        try:
            await self._settle(venue, asset, ts, holdings, delivered)
        except Exception:
            log.exception("funding.booking_failed", venue=venue, asset=asset, funding_ts=ts)
        finally:
            for actor, _, _ in holdings[len(delivered) :]:
                actor.funding_due -= 1
                if actor.finished():  # wake it so that it ends
                    actor.offer(Tick(ts=trio.current_time()))

    async def _settle(
        self, venue: str, asset: str, ts: float, holdings: list[Holding], delivered: list[Holding]
    ) -> None:
        symbol = self.venues.venues[venue].instruments[asset].symbol
        settlement: FundingSettlement | None = None
        if self.source is not None:
            with trio.move_on_after(SETTLEMENT_WAIT_S):
                try:
                    settlement = await self.source(venue, symbol, ts)
                except Exception:
                    log.exception("funding.source_failed", venue=venue, symbol=symbol)
        if settlement is None:
            settlement = self.estimate(venue, asset, ts)
        self.settlements[settlement.source] += 1
        mark = settlement.mark_price
        if mark is not None:  # the venue's one amount, split among the holders
            marks = [mark] * len(holdings)
            amounts = funding_shares([(leg, held) for _, leg, held in holdings], mark,
                                     settlement.rate)  # fmt: skip
        else:  # no usable book: each leg's reference price
            marks = [
                a.position.spec.long_price if leg == "long" else a.position.spec.short_price
                for a, leg, _ in holdings
            ]
            amounts = [
                funding_amount(leg, held, m, settlement.rate)
                for (_, leg, held), m in zip(holdings, marks, strict=True)
            ]
        legs = []
        for (actor, leg, held), m, amount in zip(holdings, marks, amounts, strict=True):
            sent = await actor.send(FundingPaid(leg=leg, amount=amount, ts=trio.current_time()))
            delivered.append((actor, leg, held))
            if sent:
                legs.append(
                    {
                        "position_id": actor.position_id,
                        "leg": leg,
                        "held": format_decimal(held),
                        "mark_price": format_decimal(m),
                        "amount": format_decimal(amount),
                    }
                )
        rate, source = format_decimal(settlement.rate), settlement.source
        log.info("funding.booked", venue=venue, symbol=symbol, funding_ts=ts, rate=rate,
                 source=source, legs=legs)  # fmt: skip
        await self.journal.service(
            "funding",
            trio.current_time(),
            venue=venue,
            symbol=symbol,
            funding_ts=ts,
            rate=rate,
            mark_price=None if mark is None else format_decimal(mark),
            source=source,
            legs=legs,
        )

    def estimate(self, venue: str, asset: str, ts: float) -> FundingSettlement:
        """The rate last published for the symbol and the book's mid now, rounded to the
        venue's tick; no mark when the book is unusable."""
        state = self.venues.venues[venue]
        inst, rate = state.instruments[asset], state.funding[asset]
        mark = None
        pair = self.market.book_for(venue, asset)
        if pair is not None and pair[1].tradable and not pair[1].is_crossed():
            bid, ask = pair[1].best_bid(), pair[1].best_ask()
            if bid is not None and ask is not None and bid[0] > 0 and ask[0] > 0:
                mark = round_price(inst, (decimal_of(bid[0]) + decimal_of(ask[0])) / 2)
        return FundingSettlement(venue=venue, symbol=inst.symbol, ts=ts, rate=rate.rate,
                                 mark_price=mark, source="estimate")  # fmt: skip
