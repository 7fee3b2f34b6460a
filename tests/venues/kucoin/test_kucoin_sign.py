"""KuCoin signing: the official universal SDK's HMAC vector, and vectors computed with the
documented algorithm (``specs/014-kucoin.md``, *Orders and account*: signing), verbatim."""

from __future__ import annotations

from arbtrio.venues.hmac_sign import hmac_sha256_b64
from arbtrio.venues.kucoin import sign

SECRET = "test_api_secret"
TS = "1234567890000"


def test_official_sdk_vector() -> None:
    assert hmac_sha256_b64(SECRET, "test_plain") == "jie/gxS38wLFFaBwl/cAzFbAzlI8MIny96jSXrB+iP4="


def test_passphrase_vector() -> None:
    assert sign.passphrase_sign(SECRET, "test_passphrase") == (
        "Ikr9KjwgA4urCb5Az1TNKgQELW10z84iOq+wsZsRRz0="
    )


def test_post_order_vector() -> None:
    body = (
        '{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"XBTUSDTM","leverage":3,'
        '"type":"limit","price":"0.1","size":1,"timeInForce":"GTC"}'
    )
    assert sign.rest_prehash(TS, "POST", "/api/v1/orders", body) == (
        f"{TS}POST/api/v1/orders{body}"
    )
    assert sign.rest_sign(SECRET, TS, "POST", "/api/v1/orders", body) == (
        "SUhO3SdXQ0RdPji5Vp/aK4cm4963UIN8247Y3jIoots="
    )


def test_get_with_query_vector() -> None:
    endpoint = "/api/v1/orders?status=active&symbol=XBTUSDTM"
    assert sign.rest_sign(SECRET, TS, "GET", endpoint, "") == (
        "Yk2pHWui7U7KDghp3Sd/pKHkMp4UowSSkei20rxqlXU="
    )


def test_bullet_private_vector() -> None:
    assert sign.rest_sign(SECRET, TS, "post", "/api/v1/bullet-private", "") == (
        "BBoTSoWSZ3+R93yQqfpt3CL5eAJYXZEbxBVQgEs++Qc="
    )


def test_headers_use_key_version_2_and_the_signed_passphrase() -> None:
    headers = sign.rest_headers(
        "key",
        SECRET,
        "test_passphrase",
        TS,
        "GET",
        "/api/v1/orders?status=active&symbol=XBTUSDTM",
        "",
    )
    assert headers == {
        "KC-API-KEY": "key",
        "KC-API-SIGN": "Yk2pHWui7U7KDghp3Sd/pKHkMp4UowSSkei20rxqlXU=",
        "KC-API-TIMESTAMP": TS,
        "KC-API-PASSPHRASE": "Ikr9KjwgA4urCb5Az1TNKgQELW10z84iOq+wsZsRRz0=",
        "KC-API-KEY-VERSION": "2",
    }
