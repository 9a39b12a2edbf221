"""The fast paths of the protocol core agree with their plain reference implementations.

Each speed trick in ``protocols/`` (a wider CRC table, ...) is checked here against the
obvious code it replaced, on arbitrary input.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from alarmrx.protocols import format_timestamp
from alarmrx.protocols.dc09 import crypto
from alarmrx.protocols.dc09.crc import crc16_arc

aes_keys = st.sampled_from([16, 24, 32]).flatmap(
    lambda size: st.binary(min_size=size, max_size=size)
)
whole_blocks = st.integers(0, 8).flatmap(lambda n: st.binary(min_size=16 * n, max_size=16 * n))


def _crc16_arc_bytewise(data: bytes) -> int:
    """CRC-16/ARC one bit at a time, straight from the definition (reflected 0xA001)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@given(st.binary(max_size=300))
def test_crc16_arc_matches_bitwise_definition(data: bytes) -> None:
    """The compiled CRC gives the bit-by-bit CRC for odd, even and empty input, bytes or
    bytearray (the framer hands it either)."""
    assert crc16_arc(data) == _crc16_arc_bytewise(data)
    assert crc16_arc(bytearray(data)) == _crc16_arc_bytewise(data)


def _cbc_zero_iv(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


@given(aes_keys, whole_blocks)
def test_cbc_by_ecb_matches_cbc_mode(key: bytes, data: bytes) -> None:
    """CBC chained by hand over one ECB context per key equals the library's CBC mode."""
    reference = _cbc_zero_iv(key)
    assert crypto.encrypt(key, data) == reference.encryptor().update(data)
    assert crypto.decrypt(key, data) == reference.decryptor().update(data)
    assert crypto.decrypt(key, crypto.encrypt(key, data)) == data


@given(aes_keys, st.lists(whole_blocks, max_size=6))
def test_each_message_is_encrypted_under_the_zero_iv(key: bytes, messages: list[bytes]) -> None:
    """The kept CBC context carries its chaining from one message to the next; every message
    still equals its own encryption under the zero IV, empty ones included."""
    for data in messages:
        assert crypto.encrypt(key, data) == _cbc_zero_iv(key).encryptor().update(data)
    assert crypto.encrypt(key, b"") == b""


@pytest.mark.parametrize("size", [1, 15, 17, 33])
def test_cbc_refuses_partial_blocks(size: int) -> None:
    """A partial block raises, as the library's finalize did, and leaves nothing behind."""
    key = bytes(range(16))
    with pytest.raises(ValueError, match="whole AES blocks"):
        crypto.decrypt(key, bytes(size))
    with pytest.raises(ValueError, match="whole AES blocks"):
        crypto.encrypt(key, bytes(size))
    block = bytes(16)
    assert crypto.decrypt(key, block) == _cbc_zero_iv(key).decryptor().update(block)


def test_cbc_from_several_threads() -> None:
    """Each thread has its own cipher contexts: one shared context raises "Already borrowed"
    when a thread enters it while another is inside (likely with 4 KiB at a time)."""
    key = bytes(range(16))
    data = [bytes([n]) * 4096 for n in range(16)]
    expected = [_cbc_zero_iv(key).decryptor().update(d) for d in data]

    def run(_: int) -> bool:
        pairs = list(zip(data, expected, strict=True))
        return all(crypto.decrypt(key, d) == e for _ in range(10) for d, e in pairs)

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, range(8)))


def _make_pad_by_generator(length: int, random_bytes: crypto.RandomBytes) -> bytes:
    pad = bytearray()
    while len(pad) < length:
        pad += bytes(b for b in random_bytes(length) if b not in b"[]|")
    return bytes(pad[:length])


@given(st.integers(0, 40), st.integers(0, 2**32))
def test_make_pad_matches_generator(length: int, seed: int) -> None:
    """The pad takes the same bytes from the same random source as a byte-by-byte filter."""

    # A source rich in forbidden bytes, so refills happen.
    def source(rng: random.Random) -> crypto.RandomBytes:
        return lambda n: bytes(rng.choice(b"[]|ab\x00") for _ in range(n))

    pad = crypto.make_pad(length, source(random.Random(seed)))
    assert pad == _make_pad_by_generator(length, source(random.Random(seed)))
    assert len(pad) == length
    assert not set(pad) & set(b"[]|")


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


# Hypothesis takes naive bounds and draws the zone apart; years 1 and 9999 could leave the
# range once shifted to UTC.
_FIRST, _LAST = datetime(2, 1, 1), datetime(9998, 12, 31)  # noqa: DTZ001


@given(st.datetimes(min_value=_FIRST, max_value=_LAST, timezones=offsets))
def test_format_timestamp_matches_strftime(moment: datetime) -> None:
    """Fields formatted by hand read as strftime's ``_%H:%M:%S,%m-%d-%Y`` in UTC."""
    assert format_timestamp(moment) == moment.astimezone(UTC).strftime("_%H:%M:%S,%m-%d-%Y")
