"""LF … CR stream framing with a bound (docs/protocol.md, "Stream framing").

``Framer.feed`` takes bytes in any chunking; ``next_frame`` returns complete frames one at a
time. Bytes outside a frame are skipped and counted; a frame that grows past
``max_frame_bytes`` raises ``FrameTooLongError`` once and the framer resynchronises on the
next LF.

A frame whose CRC is two raw bytes (Lupusec) may carry LF or CR inside those two bytes; it is
recognised by its shape (``LF c c 0 L L L "``) and its CRC bytes are not taken as delimiters.
"""

from __future__ import annotations

from alarmrx.protocols.errors import FrameTooLongError

LF = 0x0A
CR = 0x0D
_QUOTE = 0x22
_ZERO = 0x30
_BINARY_HEAD = 8  # LF, 2 CRC bytes, 4 length digits, opening quote


def is_binary_crc_head(buf: bytes | bytearray, start: int = 0) -> bool:
    """True if the bytes at ``start`` (an LF) look like a binary-CRC frame head."""
    end = start + _BINARY_HEAD
    return len(buf) >= end and buf[start + 3] == _ZERO and buf[start + 7] == _QUOTE


class Framer:
    """Splits a byte stream into ``LF … CR`` frames."""

    __slots__ = ("_buf", "discarded_bytes", "max_frame_bytes")

    def __init__(self, *, max_frame_bytes: int = 4096) -> None:
        self._buf = bytearray()
        self.max_frame_bytes = max_frame_bytes
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def next_frame(self) -> bytes | None:
        """Return the next complete frame (LF … CR included), or None if more bytes are needed.

        Raises ``FrameTooLongError`` when a frame exceeds the bound; the oversized bytes are
        dropped and the next call continues with what follows.
        """
        buf = self._buf
        while True:
            start = buf.find(LF)
            if start < 0:
                self._discard(len(buf))
                return None
            self._discard(start)
            if len(buf) < _BINARY_HEAD:
                return None  # no valid frame is this short; wait for the head
            scan_from = 3 if is_binary_crc_head(buf) else 1
            cr = buf.find(CR, scan_from)
            lf = buf.find(LF, scan_from)
            if 0 <= lf < cr or (cr < 0 and lf >= 0):
                self._discard(lf)  # a new frame starts before this one ended: resync
                continue
            if cr < 0:
                self._check_partial()
                return None
            if cr + 1 > self.max_frame_bytes:
                self._discard(cr + 1)
                raise FrameTooLongError(f"frame of {cr + 1} bytes exceeds {self.max_frame_bytes}")
            frame = bytes(buf[: cr + 1])
            del buf[: cr + 1]
            return frame

    def _check_partial(self) -> None:
        """Wait for more bytes, unless the partial frame is already over the bound."""
        if len(self._buf) > self.max_frame_bytes:
            size = len(self._buf)
            self._discard(size)
            raise FrameTooLongError(f"over {self.max_frame_bytes} bytes without a closing CR")

    def _discard(self, count: int) -> None:
        if count:
            del self._buf[:count]
            self.discarded_bytes += count
