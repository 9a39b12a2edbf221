"""CRC-16/ARC as DC-09 uses it (docs/protocol.md, "Length and CRC").

Polynomial 0x8005 reflected (0xA001), init 0, no final xor. Check value for ``b"123456789"``
is 0xBB3D. Computed by ``fastcrc`` (compiled, table-driven): the receiver takes a CRC over
every frame it reads and every reply it writes, which in pure Python was one of the
largest costs per frame. tests/property/test_protocol_reference.py checks it against the
bitwise definition.
"""

from __future__ import annotations

from collections.abc import Callable

from fastcrc import crc16

crc16_arc: Callable[[bytes | bytearray], int] = crc16.arc
"""Return the CRC-16/ARC of ``data``."""
