"""Every signing vector of the official Python SDK's signing tests and the derived extras
(``specs/010-hyperliquid.md``), verbatim, plus nonce rules."""

from __future__ import annotations

import threading

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtrio.venues.hyperliquid import sign_l1_action
from arbtrio.venues.hyperliquid.signing import (
    NonceSource,
    Signer,
    action_hash,
    address_of,
    float_to_int_for_hashing,
    float_to_wire,
    l1_digest,
    recover_l1_signer,
    sign_user_signed_action,
    user_signed_digest,
)

KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"

# msgpack hex strings copied verbatim from the doc (too long to wrap safely)
ORDER_CLOID_HEX = "83a474797065a56f72646572a66f72646572739187a16101a162c3a170a3313030a173a3313030a172c2a17481a56c696d697481a3746966a3477463a163d92230783030303030303030303030303030303030303030303030303030303030303031a867726f7570696e67a26e61"  # noqa: E501
D3_HEX = "83a474797065a56f72646572a66f72646572739187a16100a162c2a170a53935303030a173a5302e303031a172c2a17481a56c696d697481a3746966a3496f63a163d92230783030303030303030303030303030303030303030303030303030303061626364a867726f7570696e67a26e61"  # noqa: E501
D5_HEX = "83a474797065a56f72646572a66f72646572739286a16101a162c3a170a6333030302e35a173a4302e3031a172c2a17481a56c696d697481a3746966a3416c6f86a16101a162c2a170a433303130a173a4302e3031a172c2a17481a56c696d697481a3746966a3416c6fa867726f7570696e67a26e61"  # noqa: E501


def test_address_of_official_key() -> None:
    assert address_of(KEY) == "0x14791697260e4c9a71f18484c9f997b308e59325"


# The SDK's test_phantom_agent_creation_matches_production
def test_phantom_agent_connection_id() -> None:
    action = {
        "type": "order",
        "orders": [
            {
                "a": 4,
                "b": True,
                "p": "1670.1",
                "s": "0.0147",
                "r": False,
                "t": {"limit": {"tif": "Ioc"}},
            }
        ],
        "grouping": "na",
    }
    assert msgpack.packb(action).hex() == (
        "83a474797065a56f72646572a66f72646572739186a16104a162c3a170a6313637302e31a173a6302e"
        "30313437a172c2a17481a56c696d697481a3746966a3496f63a867726f7570696e67a26e61"
    )
    cid = action_hash(action, 1677777606040, None)
    assert "0x" + cid.hex() == "0x0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"


ORDER_GTC = {
    "type": "order",
    "orders": [
        {"a": 1, "b": True, "p": "100", "s": "100", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    ],
    "grouping": "na",
}
ORDER_CLOID = {
    "type": "order",
    "orders": [
        {
            "a": 1,
            "b": True,
            "p": "100",
            "s": "100",
            "r": False,
            "t": {"limit": {"tif": "Gtc"}},
            "c": "0x00000000000000000000000000000001",
        }
    ],
    "grouping": "na",
}
ORDER_TPSL = {
    "type": "order",
    "orders": [
        {
            "a": 1,
            "b": True,
            "p": "100",
            "s": "100",
            "r": False,
            "t": {"trigger": {"isMarket": True, "triggerPx": "103", "tpsl": "sl"}},
        }
    ],
    "grouping": "na",
}
DUMMY = {"type": "dummy", "num": float_to_int_for_hashing(1000)}
SUB_TRANSFER = {
    "type": "subAccountTransfer",
    "subAccountUser": "0x1d9470d4b963f552e6f671a81619d395877bf409",
    "isDeposit": True,
    "usd": 10,
}

# (name, action, vault, msgpack hex, connectionId, mainnet (digest, r, s, v), testnet (...))
OFFICIAL = [
    (
        "4.2 dummy",
        DUMMY,
        None,
        "82a474797065a564756d6d79a36e756dcf000000174876e800",
        "0xf528daee6a0bd11407b483cfcd9a48c56884180b70ee86f124053e5fc1bf4d57",
        (
            "0xe0aabfac88a47d3e7028b6ba6a94b30c8afcfffac26cbce788cf362b1312eafa",
            "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
            "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8",
            27,
        ),
        (
            "0xc05ce2df9d9d18fab3570746cc27e1136a4020a28561171a24f60c2258989224",
            "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
            "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613",
            28,
        ),
    ),
    (
        "4.3 order",
        ORDER_GTC,
        None,
        "83a474797065a56f72646572a66f72646572739186a16101a162c3a170a3313030a173a3313030a172c2"
        "a17481a56c696d697481a3746966a3477463a867726f7570696e67a26e61",
        "0x884f2c32bb6dbdd65f6033e32fb28c0cb6f5b345db0f6471fd3366d85c9252c1",
        (
            "0xa5cfed1f2d7948de30aecacc7fea3c5e05c1e759020e96239847879b906f801e",
            "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
            "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
            28,
        ),
        (
            "0x606be2d25f68768f876dc04a2c3c86ceafd2d6a3c3cbb963454462d6734ebfa6",
            "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
            "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
            27,
        ),
    ),
    (
        "4.4 order with cloid",
        ORDER_CLOID,
        None,
        ORDER_CLOID_HEX,
        "0x0ba500cedd8f4ba6ded620a0b1cd04f124d9ba745e2e2893fcc763bcc1444af5",
        (
            "0x54a60f6e5107c3ebbd5600ce51c5c208b66c4acdaddf159d34f380f4985f4a3f",
            "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
            "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
            27,
        ),
        (
            "0x40529778f312dd898fe2e3b86a6f8ad38db2e4fb6e2d8012349b6021407c5328",
            "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
            "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
            28,
        ),
    ),
    (
        "4.5 dummy with vault",
        DUMMY,
        VAULT,
        "82a474797065a564756d6d79a36e756dcf000000174876e800",
        "0xde9e09a7a3da45cc694096d4bfdcd89bc1b892d05497c5ecc1f56c335945184c",
        (
            "0xfc2d745b97fc2d89fbca951d3665f56f14e8b2fa19d21dbd137ab115fcd5b4f1",
            "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
            "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c",
            28,
        ),
        (
            "0xae91fb8ce73153ef15612f60dea044c325a342b9a8b0cbd0df8d3c8c66bef395",
            "0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
            "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60",
            27,
        ),
    ),
    (
        "4.6 tpsl",
        ORDER_TPSL,
        None,
        "83a474797065a56f72646572a66f72646572739186a16101a162c3a170a3313030a173a3313030a172c2"
        "a17481a77472696767657283a869734d61726b6574c3a9747269676765725078a3313033a47470736ca2"
        "736ca867726f7570696e67a26e61",
        "0x430a86fb9876e901920d931f5bb20c9d011f6389bd179f39a73c09e6219adcad",
        (
            "0x012ce9a26d8326e9de0e2e76709c076b94cec6b137031928ec7334c8f3c4028f",
            "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
            "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
            27,
        ),
        (
            "0x28f89042e8188e26f18fb164d9c705db8dcfd6a7e74e793d4917a318dd45f799",
            "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
            "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
            28,
        ),
    ),
    (
        "4.7 createSubAccount",
        {"type": "createSubAccount", "name": "example"},
        None,
        "82a474797065b06372656174655375624163636f756e74a46e616d65a76578616d706c65",
        "0x9a7b5272baf65d28b0589bd50863a42ac35897553a6beb274e625b6faf7d6bb1",
        (
            "0x4423e9ec1018e626f959974e00f3715aa1d91ad58815ae8f11f8c7283e70973c",
            "0x51096fe3239421d16b671e192f574ae24ae14329099b6db28e479b86cdd6caa7",
            "0xb71f7d293af92d3772572afb8b102d167a7cef7473388286bc01f52a5c5b423",
            27,
        ),
        (
            "0x1467a6a95a4a57ea2b1cb7af29b52aa9922df169c5ee945f641d10ccee9d6c21",
            "0xa699e3ed5c2b89628c746d3298b5dc1cca604694c2c855da8bb8250ec8014a5b",
            "0x53f1b8153a301c72ecc655b1c315d64e1dcea3ee58921fd7507e35818fcc1584",
            28,
        ),
    ),
    (
        "4.8 subAccountTransfer",
        SUB_TRANSFER,
        None,
        "84a474797065b27375624163636f756e745472616e73666572ae7375624163636f756e7455736572d92a"
        "307831643934373064346239363366353532653666363731613831363139643339353837376266343039"
        "a969734465706f736974c3a37573640a",
        "0xd12f71eba9e3e792812bfdf01a6a92f4d4016bb0541e850b41f770891c0cc447",
        (
            "0x16d4f3be13b4dfbbe7015924637e6b2cbf8f63eb3c21538c3f5ad73a4b5022c4",
            "0x43592d7c6c7d816ece2e206f174be61249d651944932b13343f4d13f306ae602",
            "0x71a926cb5c9a7c01c3359ec4c4c34c16ff8107d610994d4de0e6430e5cc0f4c9",
            28,
        ),
        (
            "0x16771266fdd99cee549b98d7e3aa30dcace521c450372abf12c3f804a3e96304",
            "0xe26574013395ad55ee2f4e0575310f003c5bb3351b5425482e2969fa51543927",
            "0xefb08999196366871f919fd0e138b3a7f30ee33e678df7cfaf203e25f0a4278",
            28,
        ),
    ),
    (
        "4.9a scheduleCancel",
        {"type": "scheduleCancel"},
        None,
        "81a474797065ae7363686564756c6543616e63656c",
        "0xa2887a3147b6542306b61d311a056fd1753913d63cc904f30cba61712a98f4ae",
        (
            "0xb2501a589d58456ff3fcb01a4b5e82f70745856837c35dc88c9dc8eb0262cd4f",
            "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
            "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
            27,
        ),
        (
            "0x7ed5032a58c1a14bffb06942a63f6ea3cbc688352cb7cf0b76c26ec80c6a16ee",
            "0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
            "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df",
            28,
        ),
    ),
    (
        "4.9b scheduleCancel time",
        {"type": "scheduleCancel", "time": 123456789},
        None,
        "82a474797065ae7363686564756c6543616e63656ca474696d65ce075bcd15",
        "0x4be18e445114437c5d1d9dd35a09f5601a3cc34ed4ac94a0281251b9bd8f6832",
        (
            "0x9393b4b91056b0153438d4e16380db88f41a0e56d8d9e508084748b19e475598",
            "0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
            "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
            28,
        ),
        (
            "0x40daefeaa4ffca7e11aa99be35f1afc0a15ec5137f3240f778284d8bd6d42639",
            "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
            "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
            27,
        ),
    ),
]


@pytest.mark.parametrize("vector", OFFICIAL, ids=[v[0] for v in OFFICIAL])
@pytest.mark.parametrize("is_mainnet", [True, False], ids=["mainnet", "testnet"])
def test_official_l1_vectors(vector: tuple, is_mainnet: bool) -> None:  # type: ignore[type-arg]
    _name, action, vault, packed, cid, main, test = vector
    assert msgpack.packb(action).hex() == packed
    connection_id = action_hash(action, 0, vault)
    assert "0x" + connection_id.hex() == cid
    digest, r, s, v = main if is_mainnet else test
    assert "0x" + l1_digest(connection_id, is_mainnet).hex() == digest
    assert sign_l1_action(KEY, action, 0, vault, is_mainnet) == {"r": r, "s": s, "v": v}
    signer = recover_l1_signer(action, 0, vault, {"r": r, "s": s, "v": v}, is_mainnet)
    assert signer == address_of(KEY)


# Derived vectors, not official (nonce 1700000000000):
# (name, action, vault, expires, cid, main, test)
D3_ACTION = {
    "type": "order",
    "orders": [
        {
            "a": 0,
            "b": False,
            "p": "95000",
            "s": "0.001",
            "r": False,
            "t": {"limit": {"tif": "Ioc"}},
            "c": "0x0000000000000000000000000000abcd",
        }
    ],
    "grouping": "na",
}
DERIVED = [
    (
        "D1 cancel",
        {"type": "cancel", "cancels": [{"a": 0, "o": 123456789}]},
        None,
        None,
        "82a474797065a663616e63656ca763616e63656c739182a16100a16fce075bcd15",
        "0xdb71705050659e5985b6f2be3929a51c19b8b8216089fb39e31a8c7e67c3cdb3",
        (
            "0x07ba4b6a1786785b256eae80d8d09aac30418995cafe03b0a35fcc8385a5dc23",
            "0xb310cce7be049df255902a1a096f2f79332c1611adcf3983151728e43c2db8a1",
            "0x313fd44c6ae32b8173269dc8597ce68e411d4ccfac3c82b73f032ad1bc52f940",
            28,
        ),
        (
            "0x2a8ceef14f7846b5323a07b84e31f1fadd1a9600800c743cf13394e205b6a578",
            "0x7ed2cd4d56239218cefb882fee7b274f0213db230075a3869896d53170a473dc",
            "0x6f940ccac6e378821877045d863e19d785c4025f51ce3189735ef9d3dc9c7c40",
            28,
        ),
    ),
    (
        "D2 cancelByCloid",
        {
            "type": "cancelByCloid",
            "cancels": [{"asset": 0, "cloid": "0x00000000000000000000000000000001"}],
        },
        None,
        None,
        "82a474797065ad63616e63656c4279436c6f6964a763616e63656c739182a5617373657400a5636c6f6964"
        "d92230783030303030303030303030303030303030303030303030303030303030303031",
        "0x1d854324d277d0ec7ab94e7d490f930b8cabb29049f2563b612afb8d0394cd50",
        (
            "0xe16f44066830c0dbe0b7ef0e7197f4f78519f0d2e779b64676a9323829a901d1",
            "0x80bc61ec5a6bd1931885c88ccb664ac5543ba861475262636445d21263b97318",
            "0x6bbfac7cec115672a533ce377a822433f48a320f1e3c3ce09d2f38184f82979c",
            27,
        ),
        (
            "0x2b78c9bb669f3328f012b97d3f485f74b24bd2a8359bedd4ab58d0f30ce3a7a0",
            "0x2cd955fece7370ae4966770d9cc84dd210fdb0be55c76990dac1052e9cd76545",
            "0x184f430d6943231a58efaf738b7f8fe0f67bf33bf953f14292549e5fffe91759",
            27,
        ),
    ),
    (
        "D3 IOC with cloid",
        D3_ACTION,
        None,
        None,
        D3_HEX,
        "0xc83ab08268d4747c2277deea5c0bb3c42db0e9499801b5d738f3e372a11df112",
        (
            "0xe7a173ab1c42621a43097287d44af79508cbe285c745012cc8ecfb3dcb7458de",
            "0x20847acf03692f567fa919f8e0c2c862795d743d981853b71a78ef4a6b7b0160",
            "0x59fad5da8dbb7b1d948cbdd001a61edf36113e01fa272693879f9d6ca97c908d",
            28,
        ),
        (
            "0xdc92ef4116521becb5333c44efc2f4f8a8ca77f54dc1ccfe781c44960ad398f7",
            "0x859d5353e6f970d88b9ed8373b92690a879e40a0ba5fe948b0242a67eb79fa1f",
            "0x224d9066e6facb10bd2728d2065fbe6b8b98785d4a56fcdc7a959b120e1d9754",
            28,
        ),
    ),
    (
        "D4 D3 with expiresAfter",
        D3_ACTION,
        None,
        1700000060000,
        D3_HEX,
        "0xdf2bcf6f2771ef2c5036ec5e8ee4a87ebe02026df94683fba52e6b940b7ba800",
        (
            "0x3211a591192db0f8166b2846b98d5a4700d03807656ffe5690700cc8909baed4",
            "0xca8804a0a02fd96a347d88a7e15f3596a16091e9e902aafeb0ff38c8db77f62e",
            "0x3c32906368bb9e1d966992f17c5b30f20d9aac7f8d7df3a2aa48eb47bcc64286",
            27,
        ),
        (
            "0x13eb2062a9d0533b92eeff69c63102e21610b9923e0c51425dadb6dbf35839b0",
            "0x4683095681c6a5cf6dc9ab520f96ca8c3c1869c036bab6cf9d59fd0f8cb84179",
            "0x71b30c661991a90e2516d350808d195a2ad5f6f208a39c01e51c310d0e642ba4",
            28,
        ),
    ),
    (
        "D5 two ALO",
        {
            "type": "order",
            "orders": [
                {
                    "a": 1,
                    "b": True,
                    "p": "3000.5",
                    "s": "0.01",
                    "r": False,
                    "t": {"limit": {"tif": "Alo"}},
                },
                {
                    "a": 1,
                    "b": False,
                    "p": "3010",
                    "s": "0.01",
                    "r": False,
                    "t": {"limit": {"tif": "Alo"}},
                },
            ],
            "grouping": "na",
        },
        None,
        None,
        D5_HEX,
        "0x48f6e323403f6737b5d19979d0f1be45b2eccb2b92aa4410ed3191e73241501e",
        (
            "0x5c8b221e7a9ad614952bdf1a355f2f4223c33729a2653f554eb55dba58e1dc1a",
            "0xadd53eaf90f61c116aa7763e723d9026a91422747783562d7e65975143be1980",
            "0x7e85f4405309ff700fda7c150cd4851028d16c1277b5b657dc4f8f2cb884722d",
            27,
        ),
        (
            "0xa0a351b0cc4826a0a1d102ee0a226faadb1e98a37b969e81c026299aa695bb94",
            "0xc7a9542b8ead365376e813e84e31d584d5d148dbe7e2a8ed1e24d9d7a197fc0e",
            "0x198b0daabdc005b944613e5af6ee4726d722474ed46eb4febfd7734a6d12759d",
            27,
        ),
    ),
    (
        "D6 D3 with vault",
        D3_ACTION,
        VAULT,
        None,
        D3_HEX,
        "0x76cceaa0c51be6004f6701b3d3eb9519e1b1fd804c4b9f5b582149feb6a2ada9",
        (
            "0xd8c4bfe756304154490b9555f2982b31c678ca6bcbd5953fbf212c259fb589ff",
            "0x728094e4472617732d77a86b5bdb84ffd525e7ce1d69cde057f473f5893478b4",
            "0x99937f3e8382c8ed0319c9843ff86c724721d7112e3e3aef20251fbfa1fa830",
            28,
        ),
        (
            "0xfd076c8dcb21ccf76375c83a8912fe4e4cba5399e922b954cac3a688e5c94100",
            "0xe549b7042975f9c2eb615bcb179377b3b4d76c6c389ad2e67d50c94242878235",
            "0x73b4c16a630600639d8f725f33698b5c40525061c1a84f580251b020a8cfe8a8",
            27,
        ),
    ),
    (
        "D7 noop",
        {"type": "noop"},
        None,
        None,
        "81a474797065a46e6f6f70",
        "0xef5dcef9775ebb2c5a6553314e66a6a57bd7e9b2319a869a8b17f08fa48bdcaf",
        (
            "0x7ed74d02e0b55db498130e0462e3fa5856adf83d577a9157c8da3453fc03be6d",
            "0xa094d7afdcaffc2e2643f31df05a7594de12880e6558e17021d863c868a06972",
            "0x2ec74c7efddc03c04b04a660effe31f52ce3cddd2e0b80c68486ec772ca42ce2",
            28,
        ),
        (
            "0x770d79d1ba8d892e13b9e63456969f62e8777f6946831bd89275856e2c81d04b",
            "0x4b9af944e3380469044c5ec5d33a9da8cfb406c8e06d5b758f7b9d5bc4d095f",
            "0x862f995ef927f761c5dadc2c7a91d39dab55e6991c9b01e10b5f6ab1d3cfaeb",
            27,
        ),
    ),
]


@pytest.mark.parametrize("vector", DERIVED, ids=[v[0] for v in DERIVED])
@pytest.mark.parametrize("is_mainnet", [True, False], ids=["mainnet", "testnet"])
def test_derived_l1_vectors(vector: tuple, is_mainnet: bool) -> None:  # type: ignore[type-arg]
    _name, action, vault, expires, packed, cid, main, test = vector
    nonce = 1700000000000
    assert msgpack.packb(action).hex() == packed
    connection_id = action_hash(action, nonce, vault, expires)
    assert "0x" + connection_id.hex() == cid
    digest, r, s, v = main if is_mainnet else test
    assert "0x" + l1_digest(connection_id, is_mainnet).hex() == digest
    got = sign_l1_action(KEY, action, nonce, vault, is_mainnet, expires_after=expires)
    assert got == {"r": r, "s": s, "v": v}


# User-signed actions (testnet): the SDK's test_sign_usd_transfer_action and kin
USD_SEND_TYPES = [
    ("hyperliquidChain", "string"),
    ("destination", "string"),
    ("amount", "string"),
    ("time", "uint64"),
]


@pytest.mark.parametrize(
    ("primary", "digest", "r", "s", "v"),
    [
        (
            "HyperliquidTransaction:UsdSend",
            "0xcacf7585cc49ca60c6c5fb3001e226c0ca03c46252c893eea574c78907b7cebe",
            "0x637b37dd731507cdd24f46532ca8ba6eec616952c56218baeff04144e4a77073",
            "0x11a6a24900e6e314136d2592e2f8d502cd89b7c15b198e1bee043c9589f9fad7",
            27,
        ),
        (
            "HyperliquidTransaction:Withdraw",
            "0x8080d06f566813165cec60d85300445133b3439e9c92e10b93ed510372608899",
            "0x8363524c799e90ce9bc41022f7c39b4e9bdba786e5f9c72b20e43e1462c37cf9",
            "0x58b1411a775938b83e29182e8ef74975f9054c8e97ebf5ec2dc8d51bfc893881",
            28,
        ),
    ],
)
def test_official_user_signed_vectors(primary: str, digest: str, r: str, s: str, v: int) -> None:
    message = {
        "destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a",
        "amount": "1",
        "time": 1687816341423,
    }
    assert "0x" + user_signed_digest(message, USD_SEND_TYPES, primary, False).hex() == digest
    got = sign_user_signed_action(KEY, message, USD_SEND_TYPES, primary, False)
    assert got == {"r": r, "s": s, "v": v}
    assert "signatureChainId" not in message  # the input is not mutated


# The SDK's test_float_to_int_for_hashing, and float_to_wire results
def test_float_to_int_for_hashing() -> None:
    assert float_to_int_for_hashing(123123123123) == 12312312312300000000
    assert float_to_int_for_hashing(0.00001231) == 1231
    assert float_to_int_for_hashing(1.033) == 103300000
    with pytest.raises(ValueError):
        float_to_int_for_hashing(0.000012312312)


@pytest.mark.parametrize(
    ("x", "wire"),
    [
        (100, "100"),
        (100.0, "100"),
        (1670.1, "1670.1"),
        (0.0147, "0.0147"),
        (1e-8, "0.00000001"),
        (0.1 + 0.2, "0.3"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
    ],  # the SDK gives "-0" for -0.0; we never send negative zero
)
def test_float_to_wire(x: float, wire: str) -> None:
    assert float_to_wire(x) == wire


@pytest.mark.parametrize("x", [1.123456789, 1e-9])
def test_float_to_wire_refuses_rounding(x: float) -> None:
    with pytest.raises(ValueError):
        float_to_wire(x)


# -- nonces ------------------------------------------------------------------------------
def test_nonces_strictly_increase_within_one_millisecond() -> None:
    source = NonceSource(clock_ms=lambda: 1_700_000_000_000)
    nonces = [source.next() for _ in range(5)]
    assert nonces == list(range(1_700_000_000_000, 1_700_000_000_005))


def test_nonces_follow_the_clock_and_never_go_back() -> None:
    now = [1000]
    source = NonceSource(clock_ms=lambda: now[0])
    assert source.next() == 1000
    now[0] = 5000
    assert source.next() == 5000
    now[0] = 10  # clock stepped back
    assert source.next() == 5001


def test_nonces_unique_across_threads() -> None:
    source = NonceSource(clock_ms=lambda: 42)
    out: list[int] = []

    def worker() -> None:
        out.extend(source.next() for _ in range(500))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == 2000


@given(st.integers(min_value=0, max_value=2**63), st.booleans())
def test_signer_round_trips_through_recovery(nonce: int, is_mainnet: bool) -> None:
    signer = Signer(KEY, is_mainnet=is_mainnet)
    sig = signer.sign(D3_ACTION, nonce)
    assert sig == sign_l1_action(KEY, D3_ACTION, nonce, None, is_mainnet)
    assert recover_l1_signer(D3_ACTION, nonce, None, sig, is_mainnet) == signer.address
    assert KEY not in repr(signer)
