"""Client order ids: every venue's format rule, exact round trip, distinctness."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.core.ids import (
    client_order_id,
    decode_client_order_id,
    encode_client_order_id,
    order_key,
)

# The rules each venue documents for a client order id (issue #2, venues/*.md).
VENUE_RULES = {
    "hyperliquid": re.compile(r"0x[0-9a-f]{32}"),
    "gateio": re.compile(r"t-[0-9A-Za-z_.\-]{1,28}"),
    "bybit": re.compile(r"[0-9A-Za-z_\-]{1,36}"),
    "kucoin": re.compile(r"[0-9A-Za-z_\-]{1,40}"),
    "bitget": re.compile(r"[0-9A-Za-z_\-]{1,49}"),
}
VENUES = sorted(VENUE_RULES)

keys = st.integers(min_value=0, max_value=(1 << 128) - 1)
# Any text the hash can encode (UTF-8: no lone surrogates) and without the separator.
id_chars = st.characters(codec="utf-8", exclude_characters="\x1f")
position_ids = st.text(id_chars, max_size=40)
legs = st.sampled_from(["long", "short", "long-close", "short-close"]) | st.text(
    id_chars, max_size=10
)
attempts = st.integers(min_value=0, max_value=10_000)


@given(venue=st.sampled_from(VENUES), key=keys)
def test_every_encoding_matches_its_venue_rule_and_round_trips(venue: str, key: int) -> None:
    cid = encode_client_order_id(venue, key)
    assert VENUE_RULES[venue].fullmatch(cid), cid
    assert decode_client_order_id(venue, cid) == key


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize("key", [0, 1, (1 << 128) - 1])
def test_extreme_keys_round_trip(venue: str, key: int) -> None:
    cid = encode_client_order_id(venue, key)
    assert VENUE_RULES[venue].fullmatch(cid)
    assert decode_client_order_id(venue, cid) == key


@given(venue=st.sampled_from(VENUES), pid=position_ids, leg=legs, attempt=attempts)
def test_id_is_deterministic_and_recovers_the_key(
    venue: str, pid: str, leg: str, attempt: int
) -> None:
    cid = client_order_id(venue, pid, leg, attempt)
    assert cid == client_order_id(venue, pid, leg, attempt)  # recoverable after a crash
    assert decode_client_order_id(venue, cid) == order_key(pid, leg, attempt)


@given(
    venue=st.sampled_from(VENUES),
    a=st.tuples(position_ids, legs, attempts),
    b=st.tuples(position_ids, legs, attempts),
)
def test_distinct_orders_get_distinct_ids(
    venue: str, a: tuple[str, str, int], b: tuple[str, str, int]
) -> None:
    if a != b:
        assert client_order_id(venue, *a) != client_order_id(venue, *b)


def test_attempts_and_legs_of_one_position_are_all_distinct() -> None:
    for venue in VENUES:
        ids = {
            client_order_id(venue, "pos-1", leg, attempt)
            for leg in ("long", "short")
            for attempt in range(50)
        }
        assert len(ids) == 100


def test_a_separator_inside_a_field_is_refused() -> None:
    # ("a\x1fb", "c") and ("a", "b\x1fc") would otherwise hash to the same key.
    with pytest.raises(ValueError, match="separator"):
        order_key("a\x1fb", "c", 0)
    with pytest.raises(ValueError, match="separator"):
        order_key("a", "b\x1fc", 0)


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        order_key("p", "long", -1)


@pytest.mark.parametrize(
    ("venue", "foreign"),
    [
        ("bybit", "0x" + "1" * 30),  # int(..., 16) would accept the prefix
        ("bybit", "1_" * 16),  # ... and underscores
        ("kucoin", "A" * 32),  # upper case is not what we send
        ("bitget", " " + "1" * 31),  # ... nor whitespace
        ("hyperliquid", "0x" + "g" * 32),
        ("hyperliquid", "0x" + "1" * 31),
        ("gateio", "t-" + "!" * 22),
        ("gateio", "t-" + "z" * 22),  # base62 overflow past 128 bits
        ("gateio", "t-123"),
    ],
)
def test_foreign_or_malformed_ids_are_rejected(venue: str, foreign: str) -> None:
    with pytest.raises(ValueError, match=venue):
        decode_client_order_id(venue, foreign)


def test_unknown_venue_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown venue"):
        encode_client_order_id("binance", 1)
    with pytest.raises(ValueError, match="unknown venue"):
        decode_client_order_id("binance", "1" * 32)


def test_key_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="128-bit"):
        encode_client_order_id("bybit", 1 << 128)
    with pytest.raises(ValueError, match="128-bit"):
        encode_client_order_id("bybit", -1)


def test_text_without_a_utf8_encoding_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        order_key("p-\ud800", "long", 0)
    with pytest.raises(ValueError, match="UTF-8"):
        client_order_id("bybit", "p-1", "\udfff", 0)
