"""LF … CR stream framing with a bound (docs/protocol.md, "Stream framing").

``Framer.feed`` takes bytes in any chunking; ``next_frame`` returns complete frames one at a
time. Bytes outside a frame are skipped and counted; a frame that grows past
``max_frame_bytes`` raises ``ProtocolError`` (``frame_too_long``) once and the framer
resynchronises on the next LF.

A frame whose CRC is two raw bytes (Lupusec) may carry LF or CR inside those two bytes; it is
recognised by its shape (``LF c c 0 L L L "``) and its CRC bytes are not taken as delimiters.

A frame normally ends at the first CR. Visonic PowerLink 3.1 (``VIS-BBA``) carries binary
data with raw CR and LF bytes inside ``[…]``; such a frame is taken whole when its length
field points past the first CR (or LF) at a CR and the CRC over that body checks. Until
the bytes it announces have come, the framer waits, unless an LF inside starts what looks
like a new frame's head (then it resynchronises there, as before).
"""

from __future__ import annotations

from alarmrx.protocols.dc09.crc import crc16_arc
from alarmrx.protocols.errors import ProtocolError, RejectReason

LF = 0x0A
CR = 0x0D
_QUOTE = 0x22
_ZERO = 0x30
_BINARY_HEAD = 8  # LF, 2 CRC bytes, 4 length digits, opening quote
_HEX_HEAD = 10  # LF, 4 CRC digits, 4 length digits, opening quote
_HEX = frozenset(b"0123456789ABCDEFabcdef")


def is_binary_crc_head(buf: bytes | bytearray, start: int = 0) -> bool:
    """True if the bytes at ``start`` (an LF) look like a binary-CRC frame head."""
    end = start + _BINARY_HEAD
    return len(buf) >= end and buf[start + 3] == _ZERO and buf[start + 7] == _QUOTE


def _is_hex_head(buf: bytes | bytearray, start: int) -> bool:
    """``LF`` 4 hex digits, ``0`` and 3 hex digits, ``"`` at ``start``."""
    if len(buf) < start + _HEX_HEAD or buf[start + _HEX_HEAD - 1] != _QUOTE:
        return False
    head = buf[start + 1 : start + _HEX_HEAD - 1]
    return head[4] == _ZERO and all(byte in _HEX for byte in head)


def _ends_at(buf: bytes | bytearray, cr: int, binary: bool) -> bool:
    """The length field agrees with a frame ending at ``cr``: as hex (upper case first, the
    usual case), counting the CR too (ELDES), or read as decimal (the parser's quirks)."""
    if cr < 0:
        return False
    body = _BINARY_HEAD - 1 if binary else _HEX_HEAD - 1
    size = cr - body
    if buf.startswith(b"%04X" % size, body - 4):
        return True
    text = bytes(buf[body - 4 : body])
    return text.upper() in (b"%04X" % size, b"%04X" % (size + 1)) or text == b"%04d" % size


def _declared(buf: bytes | bytearray, binary: bool) -> tuple[int, int] | None:
    """(index of the CR the length field points at, declared CRC) of the head at 0."""
    if binary:
        length, crc, body = buf[3:7], int.from_bytes(buf[1:3], "big"), _BINARY_HEAD - 1
    elif _is_hex_head(buf, 0):
        length, crc, body = buf[5:9], int(buf[1:5], 16), _HEX_HEAD - 1
    else:
        return None
    if not all(byte in _HEX for byte in length):
        return None
    return body + int(length, 16), crc


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

    def next_frame(self, *, final: bool = False) -> bytes | None:
        """Return the next complete frame (LF … CR included), or None if more bytes are needed.

        ``final``: no more bytes will come (a UDP datagram), so a length field pointing past
        what is there is not waited for, and a frame sent without its LF … CR envelope is
        recognised by its head, length and CRC. Raises ``ProtocolError`` (``frame_too_long``)
        when a frame exceeds the bound; the oversized bytes are dropped and the next call
        continues with what follows.
        """
        buf = self._buf
        if not buf:
            return None  # all taken: the usual second call after a whole read
        while True:
            start = buf.find(LF)
            if start < 0:
                bare = self._bare() if final else None
                if bare is None:
                    self._discard(len(buf))
                return bare
            self._discard(start)
            if len(buf) < _BINARY_HEAD:
                return None  # no valid frame is this short; wait for the head
            binary = is_binary_crc_head(buf)
            scan_from = 3 if binary else 1
            cr = buf.find(CR, scan_from)
            lf = buf.find(LF, scan_from)
            declared = None if _ends_at(buf, cr, binary) else _declared(buf, binary)
            if declared is not None and declared[0] != cr:
                whole = self._by_length(declared, cr, lf, final=final)
                if whole is not None:
                    return whole or None  # the frame, or b"": wait for the rest
            if 0 <= lf < cr or (cr < 0 and lf >= 0):
                self._discard(lf)  # a new frame starts before this one ended: resync
                continue
            if cr < 0:
                self._check_partial()
                return None
            if cr + 1 > self.max_frame_bytes:
                self._discard(cr + 1)
                raise ProtocolError(
                    RejectReason.FRAME_TOO_LONG,
                    f"frame of {cr + 1} bytes exceeds {self.max_frame_bytes}",
                )
            frame = bytes(buf[: cr + 1])
            del buf[: cr + 1]
            return frame

    def _by_length(
        self, declared: tuple[int, int], cr: int, lf: int, *, final: bool
    ) -> bytes | None:
        """The frame its length field delimits, ``b""`` to wait for it, or None to cut at
        the first CR (or resynchronise) as usual."""
        buf = self._buf
        end, crc = declared
        if (cr >= 0 and end < cr) or end >= self.max_frame_bytes:
            return None  # the length field is wrong, or too large to wait for
        if len(buf) > end:
            if buf[end] == CR and crc16_arc(bytes(buf[buf.index(_QUOTE) : end])) == crc:
                frame = bytes(buf[: end + 1])
                del buf[: end + 1]
                return frame
            return None
        if final or self._new_head(lf):
            return None
        return b""  # wait for the bytes the length field announces

    def _new_head(self, lf: int) -> bool:
        """An LF at or after ``lf`` starts what looks like another frame's head. An LF too
        close to the end to tell is not one yet: more bytes decide."""
        buf = self._buf
        while lf >= 0:
            if is_binary_crc_head(buf, lf) or _is_hex_head(buf, lf):
                return True
            lf = buf.find(LF, lf + 1)
        return False

    def _bare(self) -> bytes | None:
        """A whole frame at the start of a buffer without LF, sent without the LF … CR
        envelope (OPAX): its head, its length and its CRC must all agree. A CR after it is
        part of it. Only for ``final`` input (a datagram): a stream has no delimiter to find
        such a frame by, so there it is dropped as before."""
        buf = self._buf
        for binary in (True, False):  # 2 raw CRC bytes, or 4 hex digits
            head = b"\n" + bytes(buf[: (_BINARY_HEAD if binary else _HEX_HEAD) - 1])
            if binary and not is_binary_crc_head(head):
                continue
            declared = _declared(head, binary)
            if declared is None:
                continue
            body, end = len(head) - 2, declared[0] - 1  # in ``buf``: no LF in front
            if len(buf) >= end and crc16_arc(bytes(buf[body:end])) == declared[1]:
                if buf[end : end + 1] == b"\r":
                    end += 1
                frame = bytes(buf[:end])
                del buf[:end]
                return frame
        return None

    def _check_partial(self) -> None:
        """Wait for more bytes, unless the partial frame is already over the bound."""
        if len(self._buf) > self.max_frame_bytes:
            size = len(self._buf)
            self._discard(size)
            raise ProtocolError(
                RejectReason.FRAME_TOO_LONG,
                f"over {self.max_frame_bytes} bytes without a closing CR",
            )

    def _discard(self, count: int) -> None:
        if count:
            del self._buf[:count]
            self.discarded_bytes += count
