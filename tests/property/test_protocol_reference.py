"""The fast paths of the protocol core agree with their plain reference implementations.

Each speed trick in ``protocols/`` (a wider CRC table, ...) is checked here against the
obvious code it replaced, on arbitrary input.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alarmrx.protocols.dc09.crc import crc16_arc


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
    """Pairwise table lookups give the bit-by-bit CRC for odd, even and empty input."""
    assert crc16_arc(data) == _crc16_arc_bytewise(data)
    assert crc16_arc(bytearray(data)) == _crc16_arc_bytewise(data)
