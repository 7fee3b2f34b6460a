"""The Hyperliquid emulator's own checks, independent of the client.

The signature check (:mod:`arbtrio.emulators.hyperliquid_signing` over
:func:`~arbtrio.emulators.hyperliquid_wire.hash_view`) against the venue documentation's
signing test vectors, copied verbatim: the official SDK vectors (phantom agent, dummy, order,
order with cloid, vault, TP/SL, createSubAccount, subAccountTransfer, scheduleCancel without
and with time) and the documentation's derived extra vectors (cancel, cancelByCloid, IOC with
cloid, expiresAfter, two-order batch, vault, noop). Then what the venue refuses and how it
answers, driven in-process through the ASGI app (no sockets): non-canonical numbers,
upper-case cloids, ``f: false``, nil cloids, bad order fields, duplicate nonces, batch
pre-validation, the IP weight budget, the WebSocket request shapes, and the order record.

Nothing here imports the client (``arbtrio.venues``): the test signs with coincurve itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
import trio
from coincurve import PrivateKey

from arbtrio.emulators.app import ApiKeys
from arbtrio.emulators.hyperliquid import _CLOSE, HyperliquidEmulator, _Conn
from arbtrio.emulators.hyperliquid_signing import (
    AGENT_TYPEHASH,
    DOMAIN_TYPEHASH,
    L1_DOMAIN_SEPARATOR,
    action_hash,
    address_of_key,
    l1_digest,
    msgpack_encode,
    recover_l1_signer,
)
from arbtrio.emulators.hyperliquid_wire import (
    DUPLICATE_NONCE,
    FAR_FROM_REFERENCE,
    INVALID_PRICE,
    INVALID_SIZE,
    IOC_CANCEL,
    MIN_NOTIONAL,
    TICK,
    ZERO_SIZE,
    Undecodable,
    canonical_number,
    hash_view,
    parse_exchange,
    wire_num,
)
from arbtrio.sim.config import default_sim_config
from arbtrio.sim.driver import MarketDriver
from arbtrio.sim.market import SimMarket

# The documentation's common inputs (§4.0): the private key of every official test, and the
# signer address it derives from it.
KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
SIGNER = "0x14791697260e4c9a71f18484c9f997b308e59325"
OTHER_KEY = "0x" + "11" * 32


class Net(NamedTuple):
    digest: str  # the EIP-712 digest (derived)
    r: str
    s: str
    v: int


class Vector(NamedTuple):
    name: str
    action: str  # JSON, key order = hash order, verbatim from the documentation
    nonce: int
    vault: str | None
    expires_after: int | None
    msgpack: str  # derived
    connection_id: str
    mainnet: Net
    testnet: Net


VECTORS = [
    Vector(
        "4.2",
        '{"type":"dummy","num":100000000000}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="82a474797065a564756d6d79a36e756dcf000000174876e800",
        connection_id="0xf528daee6a0bd11407b483cfcd9a48c56884180b70ee86f124053e5fc1bf4d57",
        mainnet=Net(
            "0xe0aabfac88a47d3e7028b6ba6a94b30c8afcfffac26cbce788cf362b1312eafa",
            "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
            "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8",
            27,
        ),
        testnet=Net(
            "0xc05ce2df9d9d18fab3570746cc27e1136a4020a28561171a24f60c2258989224",
            "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
            "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613",
            28,
        ),
    ),
    Vector(
        "4.3",
        '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739186a16101a162c3a170a3313030a173a3313030a172c2a17481a56c696d697481a3746966a3477463a867726f7570696e67a26e61",
        connection_id="0x884f2c32bb6dbdd65f6033e32fb28c0cb6f5b345db0f6471fd3366d85c9252c1",
        mainnet=Net(
            "0xa5cfed1f2d7948de30aecacc7fea3c5e05c1e759020e96239847879b906f801e",
            "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
            "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
            28,
        ),
        testnet=Net(
            "0x606be2d25f68768f876dc04a2c3c86ceafd2d6a3c3cbb963454462d6734ebfa6",
            "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
            "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
            27,
        ),
    ),
    Vector(
        "4.4",
        '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,"t":{"limit":{"tif":"Gtc"}},"c":"0x00000000000000000000000000000001"}],"grouping":"na"}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739187a16101a162c3a170a3313030a173a3313030a172c2a17481a56c696d697481a3746966a3477463a163d92230783030303030303030303030303030303030303030303030303030303030303031a867726f7570696e67a26e61",
        connection_id="0x0ba500cedd8f4ba6ded620a0b1cd04f124d9ba745e2e2893fcc763bcc1444af5",
        mainnet=Net(
            "0x54a60f6e5107c3ebbd5600ce51c5c208b66c4acdaddf159d34f380f4985f4a3f",
            "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
            "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
            27,
        ),
        testnet=Net(
            "0x40529778f312dd898fe2e3b86a6f8ad38db2e4fb6e2d8012349b6021407c5328",
            "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
            "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
            28,
        ),
    ),
    Vector(
        "4.5",
        '{"type":"dummy","num":100000000000}',
        nonce=0,
        vault="0x1719884eb866cb12b2287399b15f7db5e7d775ea",
        expires_after=None,
        msgpack="82a474797065a564756d6d79a36e756dcf000000174876e800",
        connection_id="0xde9e09a7a3da45cc694096d4bfdcd89bc1b892d05497c5ecc1f56c335945184c",
        mainnet=Net(
            "0xfc2d745b97fc2d89fbca951d3665f56f14e8b2fa19d21dbd137ab115fcd5b4f1",
            "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
            "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c",
            28,
        ),
        testnet=Net(
            "0xae91fb8ce73153ef15612f60dea044c325a342b9a8b0cbd0df8d3c8c66bef395",
            "0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
            "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60",
            27,
        ),
    ),
    Vector(
        "4.6",
        '{"type":"order","orders":[{"a":1,"b":true,"p":"100","s":"100","r":false,"t":{"trigger":{"isMarket":true,"triggerPx":"103","tpsl":"sl"}}}],"grouping":"na"}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739186a16101a162c3a170a3313030a173a3313030a172c2a17481a77472696767657283a869734d61726b6574c3a9747269676765725078a3313033a47470736ca2736ca867726f7570696e67a26e61",
        connection_id="0x430a86fb9876e901920d931f5bb20c9d011f6389bd179f39a73c09e6219adcad",
        mainnet=Net(
            "0x012ce9a26d8326e9de0e2e76709c076b94cec6b137031928ec7334c8f3c4028f",
            "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
            "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
            27,
        ),
        testnet=Net(
            "0x28f89042e8188e26f18fb164d9c705db8dcfd6a7e74e793d4917a318dd45f799",
            "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
            "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
            28,
        ),
    ),
    Vector(
        "4.7",
        '{"type":"createSubAccount","name":"example"}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="82a474797065b06372656174655375624163636f756e74a46e616d65a76578616d706c65",
        connection_id="0x9a7b5272baf65d28b0589bd50863a42ac35897553a6beb274e625b6faf7d6bb1",
        mainnet=Net(
            "0x4423e9ec1018e626f959974e00f3715aa1d91ad58815ae8f11f8c7283e70973c",
            "0x51096fe3239421d16b671e192f574ae24ae14329099b6db28e479b86cdd6caa7",
            "0xb71f7d293af92d3772572afb8b102d167a7cef7473388286bc01f52a5c5b423",
            27,
        ),
        testnet=Net(
            "0x1467a6a95a4a57ea2b1cb7af29b52aa9922df169c5ee945f641d10ccee9d6c21",
            "0xa699e3ed5c2b89628c746d3298b5dc1cca604694c2c855da8bb8250ec8014a5b",
            "0x53f1b8153a301c72ecc655b1c315d64e1dcea3ee58921fd7507e35818fcc1584",
            28,
        ),
    ),
    Vector(
        "4.8",
        '{"type":"subAccountTransfer","subAccountUser":"0x1d9470d4b963f552e6f671a81619d395877bf409","isDeposit":true,"usd":10}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="84a474797065b27375624163636f756e745472616e73666572ae7375624163636f756e7455736572d92a307831643934373064346239363366353532653666363731613831363139643339353837376266343039a969734465706f736974c3a37573640a",
        connection_id="0xd12f71eba9e3e792812bfdf01a6a92f4d4016bb0541e850b41f770891c0cc447",
        mainnet=Net(
            "0x16d4f3be13b4dfbbe7015924637e6b2cbf8f63eb3c21538c3f5ad73a4b5022c4",
            "0x43592d7c6c7d816ece2e206f174be61249d651944932b13343f4d13f306ae602",
            "0x71a926cb5c9a7c01c3359ec4c4c34c16ff8107d610994d4de0e6430e5cc0f4c9",
            28,
        ),
        testnet=Net(
            "0x16771266fdd99cee549b98d7e3aa30dcace521c450372abf12c3f804a3e96304",
            "0xe26574013395ad55ee2f4e0575310f003c5bb3351b5425482e2969fa51543927",
            "0xefb08999196366871f919fd0e138b3a7f30ee33e678df7cfaf203e25f0a4278",
            28,
        ),
    ),
    Vector(
        "4.9a",
        '{"type":"scheduleCancel"}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="81a474797065ae7363686564756c6543616e63656c",
        connection_id="0xa2887a3147b6542306b61d311a056fd1753913d63cc904f30cba61712a98f4ae",
        mainnet=Net(
            "0xb2501a589d58456ff3fcb01a4b5e82f70745856837c35dc88c9dc8eb0262cd4f",
            "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
            "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
            27,
        ),
        testnet=Net(
            "0x7ed5032a58c1a14bffb06942a63f6ea3cbc688352cb7cf0b76c26ec80c6a16ee",
            "0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
            "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df",
            28,
        ),
    ),
    Vector(
        "4.9b",
        '{"type":"scheduleCancel","time":123456789}',
        nonce=0,
        vault=None,
        expires_after=None,
        msgpack="82a474797065ae7363686564756c6543616e63656ca474696d65ce075bcd15",
        connection_id="0x4be18e445114437c5d1d9dd35a09f5601a3cc34ed4ac94a0281251b9bd8f6832",
        mainnet=Net(
            "0x9393b4b91056b0153438d4e16380db88f41a0e56d8d9e508084748b19e475598",
            "0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
            "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
            28,
        ),
        testnet=Net(
            "0x40daefeaa4ffca7e11aa99be35f1afc0a15ec5137f3240f778284d8bd6d42639",
            "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
            "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
            27,
        ),
    ),
    Vector(
        "D1",
        '{"type":"cancel","cancels":[{"a":0,"o":123456789}]}',
        nonce=1700000000000,
        vault=None,
        expires_after=None,
        msgpack="82a474797065a663616e63656ca763616e63656c739182a16100a16fce075bcd15",
        connection_id="0xdb71705050659e5985b6f2be3929a51c19b8b8216089fb39e31a8c7e67c3cdb3",
        mainnet=Net(
            "0x07ba4b6a1786785b256eae80d8d09aac30418995cafe03b0a35fcc8385a5dc23",
            "0xb310cce7be049df255902a1a096f2f79332c1611adcf3983151728e43c2db8a1",
            "0x313fd44c6ae32b8173269dc8597ce68e411d4ccfac3c82b73f032ad1bc52f940",
            28,
        ),
        testnet=Net(
            "0x2a8ceef14f7846b5323a07b84e31f1fadd1a9600800c743cf13394e205b6a578",
            "0x7ed2cd4d56239218cefb882fee7b274f0213db230075a3869896d53170a473dc",
            "0x6f940ccac6e378821877045d863e19d785c4025f51ce3189735ef9d3dc9c7c40",
            28,
        ),
    ),
    Vector(
        "D2",
        '{"type":"cancelByCloid","cancels":[{"asset":0,"cloid":"0x00000000000000000000000000000001"}]}',
        nonce=1700000000000,
        vault=None,
        expires_after=None,
        msgpack="82a474797065ad63616e63656c4279436c6f6964a763616e63656c739182a5617373657400a5636c6f6964d92230783030303030303030303030303030303030303030303030303030303030303031",
        connection_id="0x1d854324d277d0ec7ab94e7d490f930b8cabb29049f2563b612afb8d0394cd50",
        mainnet=Net(
            "0xe16f44066830c0dbe0b7ef0e7197f4f78519f0d2e779b64676a9323829a901d1",
            "0x80bc61ec5a6bd1931885c88ccb664ac5543ba861475262636445d21263b97318",
            "0x6bbfac7cec115672a533ce377a822433f48a320f1e3c3ce09d2f38184f82979c",
            27,
        ),
        testnet=Net(
            "0x2b78c9bb669f3328f012b97d3f485f74b24bd2a8359bedd4ab58d0f30ce3a7a0",
            "0x2cd955fece7370ae4966770d9cc84dd210fdb0be55c76990dac1052e9cd76545",
            "0x184f430d6943231a58efaf738b7f8fe0f67bf33bf953f14292549e5fffe91759",
            27,
        ),
    ),
    Vector(
        "D3",
        '{"type":"order","orders":[{"a":0,"b":false,"p":"95000","s":"0.001","r":false,"t":{"limit":{"tif":"Ioc"}},"c":"0x0000000000000000000000000000abcd"}],"grouping":"na"}',
        nonce=1700000000000,
        vault=None,
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739187a16100a162c2a170a53935303030a173a5302e303031a172c2a17481a56c696d697481a3746966a3496f63a163d92230783030303030303030303030303030303030303030303030303030303061626364a867726f7570696e67a26e61",
        connection_id="0xc83ab08268d4747c2277deea5c0bb3c42db0e9499801b5d738f3e372a11df112",
        mainnet=Net(
            "0xe7a173ab1c42621a43097287d44af79508cbe285c745012cc8ecfb3dcb7458de",
            "0x20847acf03692f567fa919f8e0c2c862795d743d981853b71a78ef4a6b7b0160",
            "0x59fad5da8dbb7b1d948cbdd001a61edf36113e01fa272693879f9d6ca97c908d",
            28,
        ),
        testnet=Net(
            "0xdc92ef4116521becb5333c44efc2f4f8a8ca77f54dc1ccfe781c44960ad398f7",
            "0x859d5353e6f970d88b9ed8373b92690a879e40a0ba5fe948b0242a67eb79fa1f",
            "0x224d9066e6facb10bd2728d2065fbe6b8b98785d4a56fcdc7a959b120e1d9754",
            28,
        ),
    ),
    Vector(
        "D4",
        '{"type":"order","orders":[{"a":0,"b":false,"p":"95000","s":"0.001","r":false,"t":{"limit":{"tif":"Ioc"}},"c":"0x0000000000000000000000000000abcd"}],"grouping":"na"}',
        nonce=1700000000000,
        vault=None,
        expires_after=1700000060000,
        msgpack="83a474797065a56f72646572a66f72646572739187a16100a162c2a170a53935303030a173a5302e303031a172c2a17481a56c696d697481a3746966a3496f63a163d92230783030303030303030303030303030303030303030303030303030303061626364a867726f7570696e67a26e61",
        connection_id="0xdf2bcf6f2771ef2c5036ec5e8ee4a87ebe02026df94683fba52e6b940b7ba800",
        mainnet=Net(
            "0x3211a591192db0f8166b2846b98d5a4700d03807656ffe5690700cc8909baed4",
            "0xca8804a0a02fd96a347d88a7e15f3596a16091e9e902aafeb0ff38c8db77f62e",
            "0x3c32906368bb9e1d966992f17c5b30f20d9aac7f8d7df3a2aa48eb47bcc64286",
            27,
        ),
        testnet=Net(
            "0x13eb2062a9d0533b92eeff69c63102e21610b9923e0c51425dadb6dbf35839b0",
            "0x4683095681c6a5cf6dc9ab520f96ca8c3c1869c036bab6cf9d59fd0f8cb84179",
            "0x71b30c661991a90e2516d350808d195a2ad5f6f208a39c01e51c310d0e642ba4",
            28,
        ),
    ),
    Vector(
        "D5",
        '{"type":"order","orders":[{"a":1,"b":true,"p":"3000.5","s":"0.01","r":false,"t":{"limit":{"tif":"Alo"}}},{"a":1,"b":false,"p":"3010","s":"0.01","r":false,"t":{"limit":{"tif":"Alo"}}}],"grouping":"na"}',
        nonce=1700000000000,
        vault=None,
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739286a16101a162c3a170a6333030302e35a173a4302e3031a172c2a17481a56c696d697481a3746966a3416c6f86a16101a162c2a170a433303130a173a4302e3031a172c2a17481a56c696d697481a3746966a3416c6fa867726f7570696e67a26e61",
        connection_id="0x48f6e323403f6737b5d19979d0f1be45b2eccb2b92aa4410ed3191e73241501e",
        mainnet=Net(
            "0x5c8b221e7a9ad614952bdf1a355f2f4223c33729a2653f554eb55dba58e1dc1a",
            "0xadd53eaf90f61c116aa7763e723d9026a91422747783562d7e65975143be1980",
            "0x7e85f4405309ff700fda7c150cd4851028d16c1277b5b657dc4f8f2cb884722d",
            27,
        ),
        testnet=Net(
            "0xa0a351b0cc4826a0a1d102ee0a226faadb1e98a37b969e81c026299aa695bb94",
            "0xc7a9542b8ead365376e813e84e31d584d5d148dbe7e2a8ed1e24d9d7a197fc0e",
            "0x198b0daabdc005b944613e5af6ee4726d722474ed46eb4febfd7734a6d12759d",
            27,
        ),
    ),
    Vector(
        "D6",
        '{"type":"order","orders":[{"a":0,"b":false,"p":"95000","s":"0.001","r":false,"t":{"limit":{"tif":"Ioc"}},"c":"0x0000000000000000000000000000abcd"}],"grouping":"na"}',
        nonce=1700000000000,
        vault="0x1719884eb866cb12b2287399b15f7db5e7d775ea",
        expires_after=None,
        msgpack="83a474797065a56f72646572a66f72646572739187a16100a162c2a170a53935303030a173a5302e303031a172c2a17481a56c696d697481a3746966a3496f63a163d92230783030303030303030303030303030303030303030303030303030303061626364a867726f7570696e67a26e61",
        connection_id="0x76cceaa0c51be6004f6701b3d3eb9519e1b1fd804c4b9f5b582149feb6a2ada9",
        mainnet=Net(
            "0xd8c4bfe756304154490b9555f2982b31c678ca6bcbd5953fbf212c259fb589ff",
            "0x728094e4472617732d77a86b5bdb84ffd525e7ce1d69cde057f473f5893478b4",
            "0x99937f3e8382c8ed0319c9843ff86c724721d7112e3e3aef20251fbfa1fa830",
            28,
        ),
        testnet=Net(
            "0xfd076c8dcb21ccf76375c83a8912fe4e4cba5399e922b954cac3a688e5c94100",
            "0xe549b7042975f9c2eb615bcb179377b3b4d76c6c389ad2e67d50c94242878235",
            "0x73b4c16a630600639d8f725f33698b5c40525061c1a84f580251b020a8cfe8a8",
            27,
        ),
    ),
    Vector(
        "D7",
        '{"type":"noop"}',
        nonce=1700000000000,
        vault=None,
        expires_after=None,
        msgpack="81a474797065a46e6f6f70",
        connection_id="0xef5dcef9775ebb2c5a6553314e66a6a57bd7e9b2319a869a8b17f08fa48bdcaf",
        mainnet=Net(
            "0x7ed74d02e0b55db498130e0462e3fa5856adf83d577a9157c8da3453fc03be6d",
            "0xa094d7afdcaffc2e2643f31df05a7594de12880e6558e17021d863c868a06972",
            "0x2ec74c7efddc03c04b04a660effe31f52ce3cddd2e0b80c68486ec772ca42ce2",
            28,
        ),
        testnet=Net(
            "0x770d79d1ba8d892e13b9e63456969f62e8777f6946831bd89275856e2c81d04b",
            "0x4b9af944e3380469044c5ec5d33a9da8cfb406c8e06d5b758f7b9d5bc4d095f",
            "0x862f995ef927f761c5dadc2c7a91d39dab55e6991c9b01e10b5f6ab1d3cfaeb",
            27,
        ),
    ),
]
SERVED = {"order", "cancel", "cancelByCloid", "scheduleCancel", "noop"}  # what /exchange parses
SERVED_VECTORS = [v for v in VECTORS if json.loads(v.action)["type"] in SERVED]
NETS = pytest.mark.parametrize("is_mainnet", [True, False], ids=["mainnet", "testnet"])


def net(vector: Vector, is_mainnet: bool) -> Net:
    return vector.mainnet if is_mainnet else vector.testnet


def envelope(vector: Vector, is_mainnet: bool, *, action: str | None = None,
             nonce: int | None = None, v: int | None = None) -> bytes:  # fmt: skip
    """The ``/exchange`` body a client sends for ``vector``, the action kept verbatim."""
    sig = net(vector, is_mainnet)
    signature = {"r": sig.r, "s": sig.s, "v": sig.v if v is None else v}
    return (
        '{"action":' + (action or vector.action)
        + ',"nonce":' + str(vector.nonce if nonce is None else nonce)
        + ',"signature":' + json.dumps(signature)
        + ',"vaultAddress":' + json.dumps(vector.vault)
        + ',"expiresAfter":' + json.dumps(vector.expires_after) + "}"
    ).encode()  # fmt: skip


def emulator(**options: Any) -> HyperliquidEmulator:
    market = SimMarket(default_sim_config(seed=1))
    return HyperliquidEmulator(market, MarketDriver(market), ApiKeys(private_key=KEY), **options)


def sign(action: dict[str, Any], nonce: int, *, key: str = KEY, is_mainnet: bool = False,
         vault: str | None = None, expires_after: int | None = None) -> dict[str, Any]:  # fmt: skip
    """What a correct client sends: a signature over exactly ``action`` (in its key order)."""
    digest = l1_digest(action, nonce, vault, is_mainnet, expires_after)
    raw = PrivateKey(bytes.fromhex(key[2:])).sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big")
    return {"r": hex(r), "s": hex(s), "v": 27 + raw[64]}


def body(action: dict[str, Any], nonce: int, *, signed: dict[str, Any] | None = None,
         **kw: Any) -> bytes:  # fmt: skip
    """An ``/exchange`` body for ``action``, signed over ``signed`` (default: ``action``)."""
    signature = sign(action if signed is None else signed, nonce, **kw)
    return json.dumps({"action": action, "nonce": nonce, "signature": signature,
                       "vaultAddress": None}).encode()  # fmt: skip


class Nonces:
    """Fresh nonces near the emulator's wall clock."""

    def __init__(self, emu: HyperliquidEmulator) -> None:
        self.emu = emu

    def __call__(self) -> int:
        return self.emu.now_ms()


async def call(app: Any, method: str, path: str, payload: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request through the ASGI app, in-process."""
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"content-type", b"application/json")]}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def exchange(emu: HyperliquidEmulator, payload: bytes) -> Any:
    status, raw = await call(emu, "POST", "/exchange", payload)
    assert status == 200, (status, raw)
    return json.loads(raw)


def order(a: int, b: bool, p: str, s: str, *, r: bool = False, tif: str = "Ioc",
          c: str | None = None) -> dict[str, Any]:  # fmt: skip
    """An order wire in the documented key order."""
    wire: dict[str, Any] = {"a": a, "b": b, "p": p, "s": s, "r": r, "t": {"limit": {"tif": tif}}}
    if c is not None:
        wire["c"] = c
    return wire


def order_action(*orders: dict[str, Any]) -> dict[str, Any]:
    return {"type": "order", "orders": list(orders), "grouping": "na"}


def statuses(reply: Any) -> list[Any]:
    assert reply["status"] == "ok", reply
    result: list[Any] = reply["response"]["data"]["statuses"]
    return result


# -- the signing algorithm against the documented vectors --------------------------------------
def test_eip712_constants_are_the_documented_ones() -> None:
    assert DOMAIN_TYPEHASH.hex() == (
        "8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"
    )
    assert AGENT_TYPEHASH.hex() == (
        "26f05c2f7239b6983075e58321292d77b3aa173d19b27257ac96ab362570f508"
    )
    assert L1_DOMAIN_SEPARATOR.hex() == (
        "d79297fcdf2ffcd4ae223d01edaa2ba214ff8f401d7c9300d995d17c82aa4040"
    )
    assert address_of_key(KEY) == SIGNER


def test_phantom_agent_connection_id_matches_production() -> None:
    """§4.1 (official): ETH asset 4, buy 0.0147 @ 1670.1 IOC, nonce 1677777606040, mainnet."""
    action = ('{"type":"order","orders":[{"a":4,"b":true,"p":"1670.1","s":"0.0147","r":false,'
              '"t":{"limit":{"tif":"Ioc"}}}],"grouping":"na"}')  # fmt: skip
    payload = (
        '{"action":' + action + ',"nonce":1677777606040,'
        '"signature":{"r":"0x1","s":"0x1","v":27},"vaultAddress":null}'
    ).encode()
    view = hash_view(parse_exchange(payload).action)
    assert msgpack_encode(view).hex() == (
        "83a474797065a56f72646572a66f72646572739186a16104a162c3a170a6313637302e31a173a6302e"
        "30313437a172c2a17481a56c696d697481a3746966a3496f63a867726f7570696e67a26e61"
    )
    assert "0x" + action_hash(view, 1677777606040, None).hex() == (
        "0x0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"
    )


@NETS
@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_documented_vector_hashes_and_recovers_the_signer(vector: Vector, is_mainnet: bool) -> None:
    """msgpack, connectionId and digest as documented; the documented r/s/v recover the
    documented signer. Actions /exchange serves go through its parser and re-serialisation;
    the others (dummy, createSubAccount, subAccountTransfer) are hashed as written."""
    written = json.loads(vector.action)  # dicts keep the documented key order
    if written["type"] in SERVED:
        view = hash_view(parse_exchange(envelope(vector, is_mainnet)).action)
        assert view == written and list(view) == list(written)
    else:
        view = written
    assert msgpack_encode(view).hex() == vector.msgpack
    cid = action_hash(view, vector.nonce, vector.vault, vector.expires_after)
    assert "0x" + cid.hex() == vector.connection_id
    sig = net(vector, is_mainnet)
    digest = l1_digest(view, vector.nonce, vector.vault, is_mainnet, vector.expires_after)
    assert "0x" + digest.hex() == sig.digest
    rsv = (int(sig.r, 16), int(sig.s, 16), sig.v)
    assert recover_l1_signer(
        view, vector.nonce, vector.vault, rsv, is_mainnet, vector.expires_after
    ) == SIGNER  # fmt: skip


def _after_signer(vector: Vector) -> str:
    """What the emulator says of a documented vector once the signer is accepted: the vault
    is not registered, the expiry is long past, or nonce 0 / 1700000000000 is outside the
    (now − 2 d, now + 1 d) window."""
    if vector.vault is not None:
        return f"Vault not registered: {vector.vault}"
    if vector.expires_after is not None:
        return f"Action expired at {vector.expires_after}"
    return f"Invalid nonce: nonce {vector.nonce} is outside the allowed window"


@NETS
@pytest.mark.parametrize("vector", SERVED_VECTORS, ids=[v.name for v in SERVED_VECTORS])
def test_emulator_accepts_the_documented_signature(vector: Vector, is_mainnet: bool) -> None:
    emu = emulator(is_mainnet=is_mainnet)
    assert emu.agent == SIGNER
    assert emu._verify(parse_exchange(envelope(vector, is_mainnet))) == _after_signer(vector)


@NETS
@pytest.mark.parametrize("vector", SERVED_VECTORS, ids=[v.name for v in SERVED_VECTORS])
def test_emulator_refuses_a_tampered_signature(vector: Vector, is_mainnet: bool) -> None:
    emu = emulator(is_mainnet=is_mainnet)
    sig = net(vector, is_mainnet)
    tampered = [
        envelope(vector, is_mainnet, nonce=vector.nonce + 1),
        envelope(vector, is_mainnet, v=55 - sig.v),  # the other recovery id
        envelope(vector, not is_mainnet),  # the other network's signature (source a/b)
    ]
    written = json.loads(vector.action)
    if written["type"] == "order":
        first = written["orders"][0]
        tampered.append(envelope(vector, is_mainnet, action=vector.action.replace(
            f'"s":"{first["s"]}"', f'"s":"{first["s"]}1"'
        )))  # fmt: skip
    for payload in tampered:
        error = emu._verify(parse_exchange(payload))
        assert error.startswith("L1 error: User or API Wallet 0x"), error
        assert error.endswith(" does not exist.") and SIGNER not in error


# -- the venue's re-serialisation (doc pitfalls: the signed bytes must be the venue's) ---------
VECTOR = {v.name: v for v in VECTORS}


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        # trailing zeros: the venue hashes "100", not "100.0"
        (
            "4.3",
            VECTOR["4.3"]
            .action.replace('"p":"100"', '"p":"100.0"')
            .replace('"s":"100"', '"s":"100.000"'),
        ),
        # upper-case cloid: the venue hashes it lower-case
        ("D3", VECTOR["D3"].action.replace("abcd", "ABCD")),
        # "f": false is dropped before hashing
        ("D1", VECTOR["D1"].action[:-1] + ',"f":false}'),
        # a nil cloid is absent, not nil
        ("4.3", VECTOR["4.3"].action.replace("}}}]", '}},"c":null}]')),
    ],
    ids=["trailing-zeros", "upper-case-cloid", "f-false", "nil-cloid"],
)
def test_the_venue_hashes_its_own_serialisation(name: str, sent: str) -> None:
    """The JSON may differ from the hashed form: the documented signature (over the
    canonical form) is still accepted. A client that signed what it sent is refused."""
    vector = VECTOR[name]
    emu = emulator(is_mainnet=False)
    assert emu._verify(parse_exchange(envelope(vector, False, action=sent))) == (
        _after_signer(vector)
    )
    nonce = emu.now_ms()
    as_sent = json.loads(sent)
    error = emu._verify(parse_exchange(body(as_sent, nonce)))
    assert error.startswith("L1 error: User or API Wallet 0x") and SIGNER not in error
    # ... while the same client signing the canonical form passes
    canonical = hash_view(parse_exchange(body(as_sent, nonce)).action)
    assert emu._verify(parse_exchange(body(as_sent, nonce + 1, signed=canonical))) == ""


def test_numbers_in_canonical_and_venue_form() -> None:
    cases = {"1000.0": "1000", "1670.10": "1670.1", "0.0147": "0.0147", "100": "100",
             "-0": "0", "0.000": "0", "00012.50": "12.5"}  # fmt: skip
    for text, canonical in cases.items():
        assert canonical_number(Decimal(text)) == canonical
    assert [wire_num(Decimal(x)) for x in ("68674", "0", "0.0147", "-0.0335", "113377.0")] == [
        "68674.0",
        "0.0",
        "0.0147",
        "-0.0335",
        "113377.0",
    ]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"action":{"type":"createSubAccount","name":"x"},"nonce":1,'
        b'"signature":{"r":"0x1","s":"0x1","v":27}}',  # a type this venue side does not parse
        b'{"action":{"type":"order","orders":[{"a":0,"b":true,"p":"1e3","s":"1","r":false,'
        b'"t":{"limit":{"tif":"Ioc"}}}],"grouping":"na"},"nonce":1,'
        b'"signature":{"r":"0x1","s":"0x1","v":27}}',  # exponent notation
        b'{"action":{"type":"order","orders":[{"a":0,"b":true,"p":"1","s":"1","r":false,'
        b'"t":{"limit":{"tif":"Ioc"}},"c":"0x1234"}],"grouping":"na"},"nonce":1,'
        b'"signature":{"r":"0x1","s":"0x1","v":27}}',  # cloid not 0x + 32 hex
        b'{"action":{"type":"order","orders":[{"a":0,"b":true,"p":"1","s":"1","r":false,'
        b'"t":{}}],"grouping":"na"},"nonce":1,"signature":{"r":"0x1","s":"0x1","v":27}}',
        b'{"action":{"type":"order","orders":[{"a":"0","b":true,"p":"1","s":"1","r":false,'
        b'"t":{"limit":{"tif":"Ioc"}}}],"grouping":"na"},"nonce":1,'
        b'"signature":{"r":"0x1","s":"0x1","v":27}}',  # asset as a string
        b'{"action":{"type":"noop"},"nonce":-1,"signature":{"r":"0x1","s":"0x1","v":27}}',
        b'{"action":{"type":"noop"},"nonce":1,"signature":{"r":"zz","s":"0x1","v":27}}',
    ],
)
async def test_undecodable_bodies_are_422(payload: bytes) -> None:
    """Not deserialisable into the venue's types: HTTP 422 (the emulator's reading; the
    documentation names no text for it)."""
    with pytest.raises(Undecodable):
        parse_exchange(payload)
    status, text = await call(emulator(), "POST", "/exchange", payload)
    assert status == 422
    assert text.startswith(b"Failed to deserialize the JSON body into the target type")


# -- documented refusals, end to end in-process ------------------------------------------------
async def test_order_rules_answer_the_documented_errors(autojump_clock: Any) -> None:
    """BTC has szDecimals 5 here: prices at most 1 decimal and 5 significant figures unless
    an integer, sizes at most 5 decimals, $10 minimum value."""
    emu = emulator()
    nonce = Nonces(emu)
    bids, asks = emu.market.book_levels("hyperliquid", "BTC", 1)
    near = str(int(asks[0][0]))
    cases = [
        (order(0, True, near + ".5", "0.001"), TICK),  # 6 significant figures
        (order(0, True, near + ".55", "0.001"), INVALID_PRICE),  # 2 decimals > 6 − 5
        (order(0, True, near, "0.000001"), INVALID_SIZE),  # 6 decimals > szDecimals
        (order(0, True, near, "0"), ZERO_SIZE),
        (order(0, True, near, "0.0001"), MIN_NOTIONAL),  # ≈ $6.5
        (order(0, False, str(int(bids[0][0]) + 500), "0.001"), IOC_CANCEL),  # above the bid
    ]
    for wire, error in cases:
        reply = await exchange(emu, body(order_action(wire), nonce()))
        assert statuses(reply) == [{"error": error}], wire
    # an asset outside the universe and the delisted coin at index 1
    for asset in (1, 99):
        reply = await exchange(emu, body(order_action(order(asset, True, "10", "1")), nonce()))
        assert "error" in statuses(reply)[0]
    # batch pre-validation: one error for the whole batch
    batch = order_action(order(0, True, near, "0.001"), order(0, True, "1000", "0.02"))
    assert statuses(await exchange(emu, body(batch, nonce()))) == [{"error": FAR_FROM_REFERENCE}]
    # a duplicate nonce is a whole-request failure
    n = nonce()
    first = await exchange(emu, body({"type": "noop"}, n))
    again = await exchange(emu, body({"type": "noop"}, n))
    assert first == {"status": "ok", "response": {"type": "default"}}
    assert again == {"status": "err", "response": DUPLICATE_NONCE.format(nonce=n)}
    # another key: the recovered address is unknown to the venue
    other = address_of_key(OTHER_KEY)
    reply = await exchange(emu, body({"type": "noop"}, nonce(), key=OTHER_KEY))
    assert reply == {
        "status": "err",
        "response": f"L1 error: User or API Wallet {other} does not exist.",
    }


async def test_a_marketable_ioc_fills_and_answers_the_documented_shape(
    autojump_clock: Any,
) -> None:
    emu = emulator()
    _, asks = emu.market.book_levels("hyperliquid", "BTC", 1)
    cloid = "0x000000000000000000000000000000aa"
    wire = order(0, True, str(int(asks[0][0]) + 100), "0.001", c=cloid)
    (status,) = statuses(await exchange(emu, body(order_action(wire), emu.now_ms())))
    filled = status["filled"]
    assert filled["totalSz"] == "0.001" and isinstance(filled["oid"], int)
    assert Decimal(filled["avgPx"]) == asks[0][0]
    query = json.dumps({"type": "orderStatus", "user": emu.agent, "oid": cloid}).encode()
    code, raw = await call(emu, "POST", "/info", query)
    answer = json.loads(raw)
    assert code == 200 and answer["status"] == "order"
    assert answer["order"]["status"] == "filled" and answer["order"]["order"]["cloid"] == cloid
    assert answer["order"]["order"]["origSz"] == "0.001" and answer["order"]["order"]["sz"] == "0.0"


async def test_ip_weight_budget(autojump_clock: Any) -> None:
    """1200 a minute by default; meta weighs 20, l2Book 2 (a 45 budget here)."""
    emu = emulator(ip_weight_per_minute=45)
    meta = b'{"type":"meta"}'
    book = b'{"type":"l2Book","coin":"BTC"}'
    assert [(await call(emu, "POST", "/info", meta))[0] for _ in range(3)] == [200, 200, 429]
    assert (await call(emu, "POST", "/info", book))[0] == 200  # 5 left, weight 2
    await trio.sleep(60)
    assert (await call(emu, "POST", "/info", meta))[0] == 200


async def test_info_shapes() -> None:
    emu = emulator()
    code, raw = await call(emu, "POST", "/info", b'{"type":"metaAndAssetCtxs"}')
    meta, ctxs = json.loads(raw)
    assert code == 200 and [a["name"] for a in meta["universe"]] == ["BTC", "LOOM", "ETH"]
    assert meta["universe"][1]["isDelisted"] is True and len(ctxs) == 3
    assert meta["universe"][0]["szDecimals"] == 5
    code, raw = await call(emu, "POST", "/info", b'{"type":"l2Book","coin":"BTC"}')
    book = json.loads(raw)
    bids, asks = book["levels"]
    assert 0 < len(bids) <= 20 and Decimal(bids[0]["px"]) < Decimal(asks[0]["px"])
    assert bids[0]["px"].endswith(".0") and set(bids[0]) == {"px", "sz", "n"}
    assert (await call(emu, "POST", "/info", b'{"type":"l2Book"}'))[0] == 422  # coin missing
    assert (await call(emu, "GET", "/info"))[0] == 404


# -- WebSocket request shapes ------------------------------------------------------------------
def frames(out: trio.MemoryReceiveChannel[Any]) -> list[Any]:
    got = []
    while True:
        try:
            frame = out.receive_nowait()
        except trio.WouldBlock:
            return got
        got.append(json.loads(frame))


async def test_websocket_requests() -> None:
    emu = emulator()
    send, out = trio.open_memory_channel[Any](100)
    conn = _Conn(out=send)
    emu._ws_request(conn, '{"method":"subscribe"}')
    emu._ws_request(conn, '{"method":"ping"}')
    assert frames(out) == [
        {"channel": "error",
         "data": 'Error parsing JSON into valid websocket request: {"method":"subscribe"}'},
        {"channel": "pong"},
    ]  # fmt: skip
    emu._ws_request(conn, '{"method":"subscribe","subscription":{"type":"l2Book","coin":"BTC"}}')
    ack, snapshot = frames(out)
    assert ack == {"channel": "subscriptionResponse", "data": {"method": "subscribe",
                   "subscription": {"type": "l2Book", "coin": "BTC", "nSigFigs": None,
                                    "mantissa": None}}}  # fmt: skip
    assert snapshot["channel"] == "l2Book" and snapshot["data"]["coin"] == "BTC"
    assert len(snapshot["data"]["levels"]) == 2
    post = {"method": "post", "id": 7,
            "request": {"type": "info", "payload": {"type": "l2Book", "coin": "ETH"}}}  # fmt: skip
    emu._ws_request(conn, json.dumps(post))
    (reply,) = frames(out)
    assert reply["channel"] == "post" and reply["data"]["id"] == 7
    response = reply["data"]["response"]
    assert response["type"] == "info" and response["payload"]["type"] == "l2Book"
    assert response["payload"]["data"]["coin"] == "ETH"


async def test_idle_connection_is_closed_on_the_deadline(
    autojump_clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0.7 + 0.6 - 0.7 < 0.6 in binary floating point: the guard must still close at 1.3 s
    (on a MockClock time stops at the deadline, so a guard that re-checks ``now - last``
    would spin there forever; the counter turns that into a failure)."""
    emu = emulator(idle_timeout_s=0.6)
    send, out = trio.open_memory_channel[Any](10)
    real = trio.sleep_until
    calls: list[float] = []

    async def counted(deadline: float) -> None:
        calls.append(deadline)
        assert len(calls) < 5, "the idle guard spins"
        await real(deadline)

    monkeypatch.setattr(trio, "sleep_until", counted)
    assert (0.7 + 0.6) - 0.7 < 0.6
    await emu._idle_guard(_Conn(out=send), [0.7])
    assert out.receive_nowait() is _CLOSE and trio.current_time() == 0.7 + 0.6


# -- the order record --------------------------------------------------------------------------
async def test_order_record_is_served(autojump_clock: Any) -> None:
    emu = emulator(hold_s=1.0)
    _, asks = emu.market.book_levels("hyperliquid", "BTC", 1)
    px = str(int(asks[0][0]) + 100)
    cloids = [f"0x{i:032x}" for i in range(1, 6)]
    placed = [
        order(0, True, px, "0.001", c=cloids[0]),  # executed
        order(0, True, px + ".5", "0.001", c=cloids[1]),  # rejected: tick
        order(0, True, px, "0.001", c=cloids[2]),  # withheld, not executed
        order(0, True, px, "0.001", c=cloids[3]),  # withheld after execution
    ]
    for i, wire in enumerate(placed):
        if i == 2:
            emu.faults.force("ack_timeout_not_executed")
        if i == 3:
            emu.faults.force("ack_timeout_executed")
        status, _ = await call(emu, "POST", "/exchange", body(order_action(wire), emu.now_ms()))
        assert status == (504 if i >= 2 else 200)
    # not authenticated: not recorded
    await call(emu, "POST", "/exchange", body(order_action(order(0, True, px, "0.001",
               c=cloids[4])), emu.now_ms(), key=OTHER_KEY))  # fmt: skip
    code, raw = await call(emu, "GET", "/__emulator__/orders")
    served = json.loads(raw)
    assert code == 200 and served["venue"] == "hyperliquid"
    got = [(o["client_order_id"], o["outcome"], o["filled"]) for o in served["orders"]]
    assert got == [
        (cloids[0], "executed", "0.001"),
        (cloids[1], "rejected", "0"),
        (cloids[2], "unknown", "0"),
        (cloids[3], "executed", "0.001"),
    ]
    first = served["orders"][0]
    assert (first["symbol"], first["side"], first["qty"], first["price"], first["reduce_only"]) == (
        "BTC",
        "buy",
        "0.001",
        px,
        False,
    )
    assert served["orders"][1]["reason"] == f"rejected: {TICK}"
    assert "withheld" in served["orders"][2]["reason"]
    assert "withheld" in served["orders"][3]["reason"]
    assert [r.to_json() for r in emu.order_log] == served["orders"]


async def test_websocket_post_of_an_action() -> None:
    emu = emulator()
    send, out = trio.open_memory_channel[Any](100)
    conn = _Conn(out=send)
    payload = json.loads(body({"type": "noop"}, emu.now_ms()))
    async with trio.open_nursery() as nursery:
        conn.nursery = nursery
        request = {"type": "action", "payload": payload}
        emu._ws_request(conn, json.dumps({"method": "post", "id": 8, "request": request}))
    assert frames(out) == [{"channel": "post", "data": {"id": 8, "response": {
        "type": "action", "payload": {"status": "ok", "response": {"type": "default"}},
    }}}]  # fmt: skip
    payload["nonce"] += 1  # the signature no longer matches: an L1 error, still "action"
    async with trio.open_nursery() as nursery:
        conn.nursery = nursery
        request = {"type": "action", "payload": payload}
        emu._ws_request(conn, json.dumps({"method": "post", "id": 9, "request": request}))
    (reply,) = frames(out)
    assert reply["data"]["response"]["payload"]["status"] == "err"
