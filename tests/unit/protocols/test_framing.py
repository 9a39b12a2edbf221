"""Framer: whole, byte by byte, with trailing bytes; resync, bounds, binary CRC bytes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from alarmrx.protocols import Framer
from alarmrx.protocols.errors import FrameTooLongError
from alarmrx.protocols.framing import is_binary_crc_head

SPEC = b'\nCE110032"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]\r'
NULL = b'\nD3440015"NULL"0000L0#008312[]\r'
# Binary CRC 0x0A0D: both raw CRC bytes are LF and CR (body chosen by hand, CRC not checked).
BINARY_LF_CR = b'\n\n\r0015"NULL"0000L0#008312[]\r'
BINARY_CR_LF = b'\n\r\n0015"NULL"0000L0#008312[]\r'


def feed_all(framer: Framer, data: bytes, chunking: str) -> list[bytes | str]:
    """Feed ``data`` whole or one byte at a time; collect frames and 'too_long' markers."""
    pieces: Iterable[bytes] = (
        [data] if chunking == "whole" else (data[i : i + 1] for i in range(len(data)))
    )
    out: list[bytes | str] = []
    for piece in pieces:
        framer.feed(piece)
        while True:
            try:
                got = framer.next_frame()
            except FrameTooLongError:
                out.append("too_long")
                continue
            if got is None:
                break
            out.append(got)
    return out


CASES = {
    "one frame": (SPEC, [SPEC]),
    "two frames back to back": (SPEC + NULL, [SPEC, NULL]),
    "garbage before and between": (b"xx\r" + SPEC + b"junk" + NULL, [SPEC, NULL]),
    "lone LF then a frame (resync)": (b"\n12" + SPEC, [SPEC]),
    "LF inside an unfinished frame restarts": (SPEC[:20] + NULL, [NULL]),
    "binary CRC bytes LF CR": (BINARY_LF_CR, [BINARY_LF_CR]),
    "binary CRC bytes CR LF": (BINARY_CR_LF + SPEC, [BINARY_CR_LF, SPEC]),
    "short tail waits": (SPEC + b"\n12", [SPEC]),
}


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "expected"), CASES.values(), ids=CASES.keys())
def test_framer_splits_frames(data: bytes, expected: list[bytes], chunking: str) -> None:
    """Frames come out whole in order, however the bytes arrive."""
    assert feed_all(Framer(), data, chunking) == expected


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "expected"), CASES.values(), ids=CASES.keys())
def test_framer_trailing_bytes_stay_buffered(
    data: bytes, expected: list[bytes], chunking: str
) -> None:
    """Bytes of a next, unfinished frame are kept and do not change the frames before it."""
    framer = Framer()
    assert feed_all(framer, data + b'\n0000001"', chunking) == expected
    assert framer.buffered > 0


def test_framer_counts_discarded_bytes() -> None:
    """Bytes outside frames are counted."""
    framer = Framer()
    assert feed_all(framer, b"abc" + SPEC + b"\0", "whole") == [SPEC]
    assert framer.discarded_bytes == 4
    assert framer.buffered == 0


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_framer_oversized_frame_raises_once_then_resyncs(chunking: str) -> None:
    """A frame longer than the bound is dropped with one error; the next frame comes out."""
    big = b'\n00000100"' + b"x" * 100 + b"\r"
    assert feed_all(Framer(max_frame_bytes=64), big + NULL, chunking) == ["too_long", NULL]


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_framer_oversized_partial_frame_is_dropped(chunking: str) -> None:
    """A partial frame past the bound without a CR is dropped too."""
    framer = Framer(max_frame_bytes=64)
    assert feed_all(framer, b'\n00000100"' + b"x" * 100, chunking) == ["too_long"]
    assert framer.buffered <= 64


def test_binary_head_needs_eight_bytes() -> None:
    """The binary-CRC shape test looks at the 0 and the quote; short buffers are not heads."""
    assert is_binary_crc_head(BINARY_LF_CR)
    assert not is_binary_crc_head(SPEC)
    assert not is_binary_crc_head(BINARY_LF_CR[:7])
