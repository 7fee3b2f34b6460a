"""The opening rules (core/strategy.py) and the reconciliation diff (core/reconcile.py)."""

from __future__ import annotations

from decimal import Decimal

import attrs

from arbtrio.core.position import PositionState
from arbtrio.core.reconcile import Mismatch, position_mismatches
from arbtrio.core.strategy import Episodes, OpenPair, asset_block, choose, pair_block
from arbtrio.core.types import VenuePosition

S = PositionState


@attrs.frozen
class V:
    venue: str


@attrs.frozen
class Cand:
    asset: str
    long: V
    short: V


def cand(long: str, short: str, asset: str = "BTC") -> Cand:
    return Cand(asset, V(long), V(short))


def test_asset_blocks_in_order_stopping_reconciling_busy() -> None:
    busy = [OpenPair("BTC", "bybit", "hyperliquid", S.OPENING)]
    assert asset_block("BTC", busy, stopping=True, reconciling=True) == "stopping"
    assert asset_block("BTC", busy, stopping=False, reconciling=True) == "reconciling"
    assert asset_block("BTC", busy, stopping=False, reconciling=False) == "asset_busy"
    assert asset_block("ETH", busy, stopping=False, reconciling=False) is None
    hedged = [OpenPair("BTC", "bybit", "hyperliquid", S.HEDGED)]
    assert asset_block("BTC", hedged, stopping=False, reconciling=False) is None


def test_a_pair_that_would_net_against_an_open_leg_is_blocked() -> None:
    open_pairs = [OpenPair("BTC", "bybit", "hyperliquid", S.HEDGED)]  # long bybit, short HL
    assert pair_block(cand("hyperliquid", "gateio"), open_pairs, ()) == "opposite_leg_open"
    assert pair_block(cand("kucoin", "bybit"), open_pairs, ()) == "opposite_leg_open"
    assert pair_block(cand("bybit", "gateio"), open_pairs, ()) is None  # same direction
    assert pair_block(cand("hyperliquid", "gateio", "ETH"), open_pairs, ()) is None
    settled = [OpenPair("BTC", "bybit", "hyperliquid", S.SETTLED)]
    assert pair_block(cand("hyperliquid", "gateio"), settled, ()) is None


def test_a_venue_whose_book_lacks_our_fills_blocks_its_pairs() -> None:
    assert pair_block(cand("bybit", "gateio"), [], ["gateio"]) == "book_not_refreshed"
    assert pair_block(cand("bybit", "gateio"), [], ["kucoin"]) is None


def test_choose_takes_the_best_unblocked_candidate() -> None:
    open_pairs = [OpenPair("BTC", "bybit", "hyperliquid", S.HEDGED)]
    best, second = cand("hyperliquid", "gateio"), cand("kucoin", "gateio")
    choice = choose("BTC", [best, second], open_pairs, stopping=False, reconciling=False)
    assert choice.pair is second and choice.reason is None and choice.shown is second
    blocked = choose("BTC", [best], open_pairs, stopping=False, reconciling=False)
    assert blocked.pair is None and blocked.reason == "opposite_leg_open"
    assert blocked.shown is best
    stopped = choose("BTC", [second], [], stopping=True, reconciling=False)
    assert stopped.pair is None and stopped.reason == "stopping"


def test_episodes_count_once_per_gap_and_each_reason_once_per_episode() -> None:
    ep = Episodes(gap_s=5.0)
    pair = cand("bybit", "gateio")
    ep.observe([pair], 0.0)
    ep.observe([pair], 4.0)  # still the same episode
    assert ep.seen == 1
    assert ep.reject(pair, "max_open_positions") is True
    assert ep.reject(pair, "max_open_positions") is False  # counted once
    assert ep.reject(pair, "paused") is True
    ep.observe([pair], 10.0)  # more than 5 s without showing: a new episode
    assert ep.seen == 2
    assert ep.reject(pair, "paused") is True
    assert ep.rejected == {"max_open_positions": 1, "paused": 2}


def test_position_mismatches_name_every_differing_symbol() -> None:
    expected = {("bybit", "BTCUSDT"): Decimal("0.01"), ("bybit", "ETHUSDT"): Decimal(0),
                ("gateio", "BTC_USDT"): Decimal("-0.01")}  # fmt: skip
    reported = [
        VenuePosition(venue="bybit", symbol="BTCUSDT", qty=Decimal("0.01"), entry_price=None),
        VenuePosition(venue="bybit", symbol="SOLUSDT", qty=Decimal("3"), entry_price=None),
    ]
    assert position_mismatches("bybit", expected, reported) == [
        Mismatch("bybit", "SOLUSDT", Decimal(0), Decimal("3"))  # no position explains it
    ]
    (gate,) = position_mismatches("gateio", expected, [])
    assert gate.key == "position:gateio:BTC_USDT" and gate.to_json()["journal"] == "-0.01"


def test_an_unreconciled_venue_blocks_its_pairs_and_a_mismatch_its_asset() -> None:
    pair, other = cand("bitget", "bybit"), cand("gateio", "bybit")
    assert pair_block(pair, [], (), ["bitget"]) == "reconciling"
    assert pair_block(other, [], (), ["bitget"]) is None
    choice = choose("BTC", [pair, other], [], stopping=False, unreconciled=["bitget"])
    assert choice.pair is other  # the others trade on
    blocked = choose("BTC", [pair, other], [], stopping=False, reconciling=True)
    assert blocked.pair is None and blocked.reason == "reconciling"
