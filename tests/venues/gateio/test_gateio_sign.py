"""Gate.io signing against the official APIv4 vectors (its "Authentication" section), verbatim,
and the WebSocket signature string."""

from __future__ import annotations

from arbtrio.venues.gateio import sign
from arbtrio.venues.hmac_sign import sha512_hex

EMPTY_SHA512 = (
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)


def test_empty_body_hash() -> None:
    assert sha512_hex(b"") == EMPTY_SHA512


def test_official_get_vector() -> None:
    expected_string = (
        "GET\n/api/v4/futures/orders\ncontract=BTC_USD&status=finished&limit=50\n"
        f"{EMPTY_SHA512}\n1541993715"
    )
    args = ("GET", "/api/v4/futures/orders", "contract=BTC_USD&status=finished&limit=50", b"")
    assert sign.rest_sign_string(*args, "1541993715") == expected_string
    assert sign.rest_sign("secret", *args, "1541993715") == (
        "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6"
        "fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
    )


def test_official_post_vector() -> None:
    body = b'{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}'
    body_hash = (
        "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b"
        "1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
    )
    assert sha512_hex(body) == body_hash
    assert sign.rest_sign_string("POST", "/api/v4/futures/orders", "", body, "1541993715") == (
        f"POST\n/api/v4/futures/orders\n\n{body_hash}\n1541993715"
    )
    assert sign.rest_sign("secret", "POST", "/api/v4/futures/orders", "", body, "1541993715") == (
        "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f"
        "c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
    )


def test_rest_headers_carry_key_timestamp_and_sign() -> None:
    query = "contract=BTC_USD&status=finished&limit=50"
    headers = sign.rest_headers(
        "key", "secret", "get", "/api/v4/futures/orders", query, b"", "1541993715"
    )
    assert headers["KEY"] == "key"
    assert headers["Timestamp"] == "1541993715"
    assert headers["SIGN"].startswith("55f84ea195d6fe57")  # method is upper-cased


def test_ws_auth_vector() -> None:
    assert sign.ws_sign_string("futures.orders", "subscribe", 1541993715) == (
        "channel=futures.orders&event=subscribe&time=1541993715"
    )
    assert sign.ws_sign("secret", "futures.orders", "subscribe", 1541993715) == (
        "4cdab02f21aba635fce8684a050806325cb4aa74a93d00c39f2084da73614d2e"
        "1d25878ca7c9ebcbde9541cddfc5ae36b1ccde10982eb82fd09f7a30a6d43d84"
    )


def test_literal_backslash_n_gives_a_different_signature() -> None:
    """gatews#22: typing "\\n" instead of newlines breaks the signature."""
    wrong = sign.rest_sign_string("GET", "/p", "", b"", "1").replace("\n", "\\n")
    assert wrong != sign.rest_sign_string("GET", "/p", "", b"", "1")
