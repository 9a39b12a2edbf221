"""Garbage in: parse_frame returns a message or raises a ProtocolError, never anything else."""

from __future__ import annotations

import random

from hypothesis import example, given
from hypothesis import strategies as st
from tests.property.strategies import NOW, headers, keys, sia_data

from alarmrx.protocols import (
    AccountPolicy,
    DC09Message,
    FrameHeader,
    ProtocolError,
    encode_message,
    parse_frame,
)

KEY = bytes(range(16))
POLICY = AccountPolicy(key=KEY)


def _parse(frame: bytes, policy: AccountPolicy = POLICY) -> DC09Message | ProtocolError:
    try:
        return parse_frame(frame, accounts=lambda _h, _a: policy, now=NOW)
    except ProtocolError as err:
        return err


@given(st.binary(max_size=200))
@example(b'\n\x00\x000000"\r')
@example(b'\nCE110032"SIA-DCS"9876#1[]_99:99:99,99-99-9999\r')
def test_parse_frame_on_arbitrary_bytes(data: bytes) -> None:
    """Arbitrary bytes, with or without the envelope, never raise anything but ProtocolError."""
    for frame in (data, b"\n" + data + b"\r"):
        assert isinstance(_parse(frame), DC09Message | ProtocolError)


@st.composite
def valid_frames(draw: st.DrawFn) -> tuple[bytes, AccountPolicy]:
    encrypted = draw(st.booleans())
    header = draw(headers("SIA-DCS", encrypted=encrypted))
    assert header.account is not None
    data, _code, _zone = draw(sia_data(header.account))
    key = draw(keys) if encrypted else None
    rng = random.Random(draw(st.integers(0, 2**32)))
    frame = encode_message(
        header=header, data=data, timestamp=NOW, key=key, random_bytes=rng.randbytes
    )
    return frame, AccountPolicy(key=key)


@given(valid_frames(), st.data())
def test_single_byte_change_is_never_accepted_with_other_content(
    sample: tuple[bytes, AccountPolicy], data: st.DataObject
) -> None:
    """Changing any one byte gives a ProtocolError, or the same header and content back."""
    frame, policy = sample
    original = _parse(frame, policy)
    assert isinstance(original, DC09Message)
    index = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != frame[index]))
    mutated = frame[:index] + bytes([value]) + frame[index + 1 :]
    result = _parse(mutated, policy)
    if isinstance(result, DC09Message):
        assert result.content == original.content
        assert _addressing(result.header) == _addressing(original.header)


def _addressing(header: FrameHeader) -> tuple[object, ...]:
    return header.token, header.sequence, header.receiver, header.line, header.account
