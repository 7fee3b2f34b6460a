"""KuCoin Futures wire objects ⇄ arbtrio domain types (pure; lots ⇄ base units here only).

Sizes are lots: base quantity = lots × ``multiplier`` (Instrument.contract_multiplier);
``lot_size`` in base units is ``lotSize × multiplier``. KuCoin calls bitcoin XBT: the
canonical asset is "BTC".
"""

from __future__ import annotations

from decimal import Decimal

from arbtrio.core.instruments import Instrument, from_contracts, to_contracts
from arbtrio.core.types import Fill, OrderReport, OrderStatus, OrderUpdate, Side, VenuePosition
from arbtrio.venues.base import BadRequest
from arbtrio.venues.kucoin.codecs import VENUE, Contract, OrderChange, OrderDetail, TradeFill

ZERO = Decimal(0)
ASSET_ALIASES = {"XBT": "BTC"}
TIF = {"IOC": "IOC", "GTC": "GTC"}


def instrument_from_contract(c: Contract) -> Instrument:
    hours = max(1, round(c.fundingRateGranularity / 3_600_000))
    lot = c.lotSize * c.multiplier
    return Instrument(
        venue=VENUE,
        symbol=c.symbol,
        asset=ASSET_ALIASES.get(c.baseCurrency, c.baseCurrency),
        quote=c.quoteCurrency,
        tick_size=c.tickSize,
        lot_size=lot,
        min_size=lot,
        min_notional=ZERO,
        taker_fee=c.takerFeeRate,
        maker_fee=c.makerFeeRate,
        funding_interval_hours=hours,
        contract_multiplier=c.multiplier,
        max_leverage=c.maxLeverage,
    )


def is_tradable_contract(c: Contract) -> bool:
    """Open, linear, USDT-settled perpetuals only."""
    return (
        c.status == "Open"
        and not c.isInverse
        and c.settleCurrency == "USDT"
        and c.type == "FFWCSX"
        and c.multiplier > 0
    )


def lots_for(inst: Instrument, qty: Decimal) -> int:
    """Lots for ``qty`` base units; BadRequest unless a positive whole number of lots."""
    try:
        lots = to_contracts(inst, qty)
    except ValueError as exc:
        raise BadRequest(VENUE, str(exc)) from None
    if lots <= 0 or lots != lots.to_integral_value():
        raise BadRequest(VENUE, f"{inst.symbol}: {qty} is not a positive whole number of lots")
    return int(lots)


def done_status(size: Decimal, filled: Decimal) -> OrderStatus:
    """A finished order: FILLED when all of it filled, else CANCELLED (IOC remainder)."""
    return OrderStatus.FILLED if filled == size and size > 0 else OrderStatus.CANCELLED


def order_update(inst: Instrument, o: OrderChange, ts: float) -> OrderUpdate:
    status = done_status(o.size, o.filledSize) if o.status == "done" else OrderStatus.OPEN
    return OrderUpdate(
        venue=VENUE,
        client_order_id=o.clientOid,
        status=status,
        filled_qty=from_contracts(inst, o.filledSize),
        avg_price=None,  # KuCoin's order events carry no average; fills carry prices
        ts=ts,
        reason=o.type if status.is_terminal else "",
    )


def fill_from_match(inst: Instrument, o: OrderChange, fee_rate: Decimal, ts: float) -> Fill:
    """A ``type: match`` order event as a Fill. KuCoin does not send the fee here: it is
    ``notional × fee_rate`` (the account's rate for the match's liquidity); the exact amount
    is in ``GET /api/v1/fills`` (what :meth:`query_order` reports)."""
    if o.matchPrice is None or o.matchSize is None or not o.tradeId:
        raise ValueError("match event without matchPrice/matchSize/tradeId")
    qty = from_contracts(inst, o.matchSize)
    return Fill(
        venue=VENUE,
        client_order_id=o.clientOid,
        trade_id=o.tradeId,
        side=Side.BUY if o.side == "buy" else Side.SELL,
        qty=qty,
        price=o.matchPrice,
        fee=qty * o.matchPrice * fee_rate,
        ts=ts,
    )


def fill_from_trade(inst: Instrument, t: TradeFill, client_order_id: str, ts: float) -> Fill:
    return Fill(
        venue=VENUE,
        client_order_id=client_order_id,
        trade_id=t.tradeId,
        side=Side.BUY if t.side == "buy" else Side.SELL,
        qty=from_contracts(inst, t.size),
        price=t.price,
        fee=t.fee,
        ts=ts,
    )


def position(inst: Instrument, lots: Decimal, entry: Decimal) -> VenuePosition:
    """A position of ``lots`` (signed) in base units; no entry price when flat or 0."""
    qty = from_contracts(inst, lots)
    return VenuePosition(
        venue=VENUE, symbol=inst.symbol, qty=qty, entry_price=entry if qty and entry else None
    )


def order_report(
    inst: Instrument, o: OrderDetail, fills: list[TradeFill], ts: float
) -> OrderReport:
    status = done_status(o.size, o.filledSize) if o.status == "done" else OrderStatus.OPEN
    filled = from_contracts(inst, o.filledSize)
    avg = None
    if filled > 0:
        avg = o.avgDealPrice or (o.filledValue / filled if o.filledValue else None)
    return OrderReport(
        venue=VENUE,
        client_order_id=o.clientOid,
        status=status,
        filled_qty=filled,
        avg_price=avg,
        fills=tuple(fill_from_trade(inst, t, o.clientOid, ts) for t in fills),
    )
