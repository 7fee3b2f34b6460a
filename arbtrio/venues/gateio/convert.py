"""Gate.io wire objects ⇄ arbtrio domain types (pure; contracts ⇄ base units here only).

Gate sizes are contracts (signed: > 0 buy/long, < 0 sell/short); base quantity =
contracts × ``quanto_multiplier``, which :class:`Instrument` carries as
``contract_multiplier``. ``lot_size`` is one size step in base units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import structlog

from arbtrio.core.instruments import Instrument, format_decimal, from_contracts, to_contracts
from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side, VenuePosition
from arbtrio.venues.base import BadRequest
from arbtrio.venues.gateio.codecs import (
    VENUE,
    Contract,
    FuturesOrder,
    MyTrade,
    Position,
    WsOrder,
    WsPosition,
    WsUserTrade,
    id_str,
)

log = structlog.get_logger("arbtrio.venues.gateio")

ZERO = Decimal(0)
POINT = "POINT"  # Gate's point card: a fee paid in points is kept in points, never as USDT

# finish_as of an order that finished with nothing filled: the venue refused it outright.
# Anything else unfilled (ioc, cancelled, liquidated, ...) is a cancellation.
REJECTING_FINISH = frozenset({"reduce_only", "stp"})

TIF = {"IOC": "ioc", "GTC": "gtc", "FOK": "fok", "POST_ONLY": "poc", "POC": "poc"}


def instrument_from_contract(c: Contract) -> Instrument:
    """One ``/futures/usdt/contracts`` item as an Instrument (sizes in base units).

    The size step is one contract, or ``order_size_min`` on ``enable_decimal`` contracts
    whose minimum is fractional (inferred: Gate documents no separate size step).
    """
    mult = c.quanto_multiplier
    step = c.order_size_min if c.enable_decimal and c.order_size_min < 1 else Decimal(1)
    hours = max(1, round(c.funding_interval / 3600)) if c.funding_interval > 0 else 8
    return Instrument(
        venue=VENUE,
        symbol=c.name,
        asset=c.name.split("_", 1)[0],
        quote="USDT",
        tick_size=c.order_price_round,
        lot_size=step * mult,
        min_size=max(c.order_size_min, step) * mult,
        min_notional=ZERO,
        taker_fee=c.taker_fee_rate,
        maker_fee=c.maker_fee_rate,
        funding_interval_hours=hours,
        contract_multiplier=mult,
        max_leverage=int(c.leverage_max) if c.leverage_max else None,
    )


def is_tradable_contract(c: Contract) -> bool:
    return c.status == "trading" and not c.in_delisting and c.name.endswith("_USDT")


def symbols_for_hints(
    instruments: Iterable[Instrument], hints: Sequence[str]
) -> tuple[list[str], list[str]]:
    """``(venue symbols, unknown hints)``: each hint is an asset (``"BTC"``) or a venue
    symbol (``"BTC_USDT"``); an instrument matches when its ``asset`` or ``symbol`` equals
    the hint. Symbols come in hint order, each once; hints nothing matches are returned,
    never raised."""
    by_key: dict[str, list[str]] = {}
    for inst in instruments:
        by_key.setdefault(inst.symbol, []).append(inst.symbol)
        if inst.asset != inst.symbol:
            by_key.setdefault(inst.asset, []).append(inst.symbol)
    symbols: list[str] = []
    unknown: list[str] = []
    for hint in hints:
        matched = by_key.get(hint)
        if not matched:
            unknown.append(hint)
            continue
        symbols.extend(s for s in matched if s not in symbols)
    return symbols, unknown


def contracts_for(inst: Instrument, side: Side, qty: Decimal) -> Decimal:
    """Signed contracts for an order of ``qty`` base units; BadRequest if not a lot multiple."""
    try:
        contracts = to_contracts(inst, qty)
    except ValueError as exc:
        raise BadRequest(VENUE, str(exc)) from None
    if contracts <= 0:
        raise BadRequest(VENUE, f"{inst.symbol}: order qty must be > 0, got {qty}")
    return contracts if side is Side.BUY else -contracts


def wire_size(contracts: Decimal) -> int | str:
    """Integer contracts as a JSON number, fractional ones as a decimal string."""
    if contracts == contracts.to_integral_value():
        return int(contracts)
    return format_decimal(contracts)


def position(
    inst: Instrument,
    contracts: Decimal,
    entry: Decimal,
    *,
    mark: Decimal = ZERO,
    liquidation: Decimal = ZERO,
) -> VenuePosition:
    """A position of ``contracts`` (signed) in base units. A price of 0 (Gate's "none": an
    absent, ``null`` or ``""`` field decodes to 0 too) is None: no entry price when flat, no
    liquidation price when the venue has none (a flat position, or one nothing can
    liquidate)."""
    qty = from_contracts(inst, contracts)
    return VenuePosition(
        venue=VENUE,
        symbol=inst.symbol,
        qty=qty,
        entry_price=entry if qty and entry > 0 else None,
        mark_price=mark if mark > 0 else None,
        liquidation_price=liquidation if qty and liquidation > 0 else None,
    )


def position_of(inst: Instrument, p: Position | WsPosition) -> VenuePosition:
    """A REST or pushed position item as a VenuePosition (mark and liquidation price)."""
    return position(inst, p.size, p.entry_price, mark=p.mark_price, liquidation=p.liq_price)


MarginSetting = tuple[Decimal, str]  # (leverage, "cross" | "isolated")


def margin_setting(p: Position) -> MarginSetting:
    """The leverage and margin mode a position answer reports. ``pos_margin_mode`` decides
    where present (newer answers: then ``lever`` is the leverage when non-zero); otherwise
    Gate's classic encoding: ``leverage`` 0 is cross at ``cross_leverage_limit``, a positive
    ``leverage`` isolated at that leverage."""
    mode = p.pos_margin_mode.lower()
    if mode not in ("cross", "isolated"):
        mode = "cross" if p.leverage == 0 else "isolated"
    if p.lever > 0:
        return (p.lever, mode)
    if mode == "cross":
        return (p.cross_leverage_limit if p.leverage == 0 else p.leverage, mode)
    return (p.leverage, mode)


def order_status(status: str, finish_as: str, size: Decimal, left: Decimal) -> OrderStatus:
    """Unified status of a Gate order (``status`` open|finished, ``finish_as``, sizes)."""
    if status == "open":
        return OrderStatus.OPEN
    if left == 0 and size != 0:
        return OrderStatus.FILLED
    if abs(size) - abs(left) > 0:
        return OrderStatus.CANCELLED  # e.g. an IOC remainder cancelled after a partial fill
    if finish_as in REJECTING_FINISH:
        return OrderStatus.REJECTED
    return OrderStatus.CANCELLED


def filled_base(inst: Instrument, size: Decimal, left: Decimal) -> Decimal:
    return from_contracts(inst, abs(size) - abs(left))


def is_client_order_id(text: str) -> bool:
    """Whether an order's ``text`` is a client order id (``t-…``): Gate reserves the other
    values (``api``, ``web``, ``app``, ``-``, liquidation marks…) for orders it made or that
    were placed without one."""
    return text.startswith("t-")


def order_update(
    inst: Instrument, o: FuturesOrder | WsOrder, ts: float, client_order_id: str = ""
) -> OrderUpdate:
    """The order's status as an update of ``client_order_id`` (default: its ``text``)."""
    filled = filled_base(inst, o.size, o.left)
    return OrderUpdate(
        venue=VENUE,
        client_order_id=client_order_id or o.text,
        status=order_status(o.status, o.finish_as, o.size, o.left),
        filled_qty=filled,
        avg_price=o.fill_price if filled > 0 and o.fill_price > 0 else None,
        ts=ts,
        reason=o.finish_as,
    )


def trade_fee(t: MyTrade | WsUserTrade) -> tuple[Decimal, str]:
    """``(fee, currency)`` of a trade: ``fee`` is in the settle currency (USDT: ``""``, the
    quote), ``point_fee`` in points. A trade paid in points only keeps its fee in
    :data:`POINT`; one paid in both keeps the USDT part (one Fill carries one currency; the
    venue documents no such split) and logs the points part."""
    if t.point_fee and not t.fee:
        return t.point_fee, POINT
    if t.point_fee:
        log.warning("gateio.point_fee_not_booked", trade=id_str(t.id), point_fee=str(t.point_fee))
    return t.fee, ""


def fill_from_trade(
    inst: Instrument, t: MyTrade | WsUserTrade, client_order_id: str, ts: float
) -> Fill:
    """A usertrade/my_trade of order ``client_order_id`` as a Fill; the side is the sign of
    the trade's size, the fee keeps its currency (:func:`trade_fee`)."""
    fee, currency = trade_fee(t)
    return Fill(
        venue=VENUE,
        client_order_id=client_order_id,
        trade_id=id_str(t.id),
        side=Side.BUY if t.size > 0 else Side.SELL,
        qty=from_contracts(inst, abs(t.size)),
        price=t.price,
        fee=fee,
        ts=ts,
        fee_currency=currency,
        symbol=inst.symbol,
    )


def order_report(
    inst: Instrument, o: FuturesOrder, trades: Iterable[MyTrade], ts: float
) -> OrderReport:
    """The order's state and the fills of ``trades`` (the order's own: see
    :func:`trades_of`)."""
    u = order_update(inst, o, ts)
    return OrderReport(
        venue=VENUE,
        client_order_id=o.text,
        status=u.status,
        filled_qty=u.filled_qty,
        avg_price=u.avg_price,
        fills=tuple(fill_from_trade(inst, t, o.text, ts) for t in trades),
        reason=u.reason,
    )


def trades_of(o: FuturesOrder, trades: Iterable[MyTrade]) -> tuple[list[MyTrade], list[str]]:
    """``(the trades of order o, why each other one is not)``: another order's or another
    contract's trade in the answer is foreign, never booked as this order's fill."""
    own: list[MyTrade] = []
    foreign: list[str] = []
    order_id = str(o.id)
    for t in trades:
        if id_str(t.order_id) == order_id and t.contract == o.contract:
            own.append(t)
        else:
            foreign.append(f"trade {id_str(t.id)} of order {id_str(t.order_id)} ({t.contract})")
    return own, foreign


def positions_of(
    instruments: Mapping[str, Instrument], rows: Iterable[Position]
) -> tuple[list[VenuePosition], list[str]]:
    """``(the open positions of contracts arbtrio trades, why each other one is left out)``:
    a position in a contract not in ``instruments`` (inverse, delisted, untradable) is
    foreign; a flat one is no position and not reported."""
    held: list[VenuePosition] = []
    foreign: list[str] = []
    for p in rows:
        if p.size == 0:
            continue
        inst = instruments.get(p.contract)
        if inst is None:
            foreign.append(f"position of {p.size} contracts in {p.contract} (not traded here)")
            continue
        held.append(position_of(inst, p))
    return held, foreign
