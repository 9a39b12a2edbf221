"""encode_message -> parse_frame gives back what was encoded, plain and encrypted."""

from __future__ import annotations

import random
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from tests.property.strategies import NOW, cid_data, headers, keys, sia_data, skews

from alarmrx.protocols import AccountPolicy, FrameHeader, Quirk, encode_message, parse_frame


def _random(seed: int) -> random.Random:
    return random.Random(seed)


@st.composite
def messages(draw: st.DrawFn, *, encrypted: bool) -> tuple[FrameHeader, str, str, int]:
    token = draw(st.sampled_from(["SIA-DCS", "ADM-CID"]))
    header = draw(headers(token, encrypted=encrypted))
    assert header.account is not None
    data_of = sia_data if token == "SIA-DCS" else cid_data
    data, code, zone = draw(data_of(header.account))
    return header, data, code, zone


@given(messages(encrypted=False), st.none() | skews)
def test_round_trip_plain(sample: tuple[FrameHeader, str, str, int], when: datetime | None) -> None:
    """A plaintext frame parses to its header, data account, event code and zone."""
    header, data, code, zone = sample
    frame = encode_message(header=header, data=data, timestamp=when)
    message = parse_frame(frame, accounts=lambda _h, _a: AccountPolicy(), now=NOW)
    assert message.header == header
    assert message.data_account == header.account
    assert [(e.code, e.zone) for e in message.events] == [(code, zone)]
    assert message.timestamp == when
    assert message.raw == frame


@given(messages(encrypted=True), keys, st.booleans(), skews, st.integers(0, 2**32))
def test_round_trip_encrypted(
    sample: tuple[FrameHeader, str, str, int],
    key: bytes,
    long_pad: bool,
    when: datetime,
    seed: int,
) -> None:
    """AES-128/192/256, 1-16 or 16-31 pad bytes, hex or binary CRC: the content survives."""
    header, data, code, zone = sample
    rng = _random(seed)
    frame = encode_message(
        header=header,
        data=data,
        timestamp=when,
        key=key,
        random_bytes=rng.randbytes,
        long_pad=long_pad,
    )
    policy = AccountPolicy(key=key, require_encryption=True)
    message = parse_frame(frame, accounts=lambda _h, _a: policy, now=NOW)
    assert message.header == header
    assert [(e.code, e.zone) for e in message.events] == [(code, zone)]
    assert message.timestamp == when
    assert message.content.startswith(data + "]")
    # A pad of 16 bytes or more reads as the long style (docs/protocol.md, "Replies"): every
    # long pad does, and so does a short (1-16) pad of exactly 16 bytes.
    if long_pad:
        assert Quirk.LONG_PAD in message.quirks
