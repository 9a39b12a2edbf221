"""Small builders shared by the protocol unit tests (frames built by hand, CRC computed)."""

from __future__ import annotations

from datetime import UTC, datetime

from alarmrx.protocols import AccountPolicy, DC09Message, parse_frame
from alarmrx.protocols.dc09.crc import crc16_arc

NOW = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
STAMP = "_12:00:00,03-04-2026"


def frame(body: str | bytes, *, crc: str | None = None, length: str | None = None) -> bytes:
    """LF, CRC, length, body, CR with the CRC and length computed unless given."""
    data = body.encode("latin-1") if isinstance(body, str) else body
    crc_text = crc if crc is not None else f"{crc16_arc(data):04X}"
    length_text = length if length is not None else f"{len(data):04X}"
    return b"\n" + (crc_text + length_text).encode("latin-1") + data + b"\r"


def parse(raw: bytes, policy: AccountPolicy | None = None, now: datetime = NOW) -> DC09Message:
    """parse_frame with every account served by ``policy``."""
    chosen = policy if policy is not None else AccountPolicy()
    return parse_frame(raw, accounts=lambda _h, _a: chosen, now=now)
