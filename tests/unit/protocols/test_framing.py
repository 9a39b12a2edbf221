"""Framer: whole, byte by byte, with trailing bytes; resync, bounds, binary CRC bytes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from alarmrx.protocols import Framer
from alarmrx.protocols.errors import ProtocolError
from alarmrx.protocols.framing import is_binary_crc_head

SPEC = b'\nCE110032"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]\r'
NULL = b'\nD3440015"NULL"0000L0#008312[]\r'
# Binary CRC 0x0A0D: both raw CRC bytes are LF and CR (body chosen by hand, CRC not checked).
BINARY_LF_CR = b'\n\n\r0015"NULL"0000L0#008312[]\r'
BINARY_CR_LF = b'\n\r\n0015"NULL"0000L0#008312[]\r'


def feed_all(framer: Framer, data: bytes, chunking: str) -> list[bytes | str]:
    """Feed ``data`` whole or one byte at a time; collect frames and reject reasons."""
    pieces: Iterable[bytes] = (
        [data] if chunking == "whole" else (data[i : i + 1] for i in range(len(data)))
    )
    out: list[bytes | str] = []
    for piece in pieces:
        framer.feed(piece)
        while True:
            try:
                got = framer.next_frame()
            except ProtocolError as err:
                out.append(err.reason.value)
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
    assert feed_all(Framer(max_frame_bytes=64), big + NULL, chunking) == ["frame_too_long", NULL]


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_framer_oversized_partial_frame_is_dropped(chunking: str) -> None:
    """A partial frame past the bound without a CR is dropped too."""
    framer = Framer(max_frame_bytes=64)
    assert feed_all(framer, b'\n00000100"' + b"x" * 100, chunking) == ["frame_too_long"]
    assert framer.buffered <= 64


def test_binary_head_needs_eight_bytes() -> None:
    """The binary-CRC shape test looks at the 0 and the quote; short buffers are not heads."""
    assert is_binary_crc_head(BINARY_LF_CR)
    assert not is_binary_crc_head(SPEC)
    assert not is_binary_crc_head(BINARY_LF_CR[:7])


# ---- frames whose data holds raw CR and LF bytes (Visonic PowerLink 3.1 `VIS-BBA`) ------
# Frames from rexchoppers/visonic-tolk test/powerlink31/vectors_test.go (vectors produced by
# msp1974/visonic_proxy, which talks to real PowerMaster panels): lower-case length field,
# raw CR/LF inside `[…]`. Also kept as conformance vectors (visonic-powerlink/).
VIS_ACK = b'\n2C2F0022"VIS-ACK"5564L001234#2A4CC3[\r\x02C\xba\n]\r'
VIS_BBA = b'\n4CE30023"VIS-BBA"0001L001234#2A4CC3[\r\xb0\x03\x18\r\n]\r'
VIS_EMPTY = b'\n0A12001d"VIS-BBA"0042L001234#2A4CC3[]\r'
VIS_BYTES = (
    b'\n2794005d"VIS-BBA"0007L001234#2A4CC3[' + bytes(range(0x40)) + b"]\r"
)  # every byte 00-3F, CR and LF and a quote among them

VIS_CASES = {
    "ack with CR LF inside": (VIS_ACK, [VIS_ACK]),
    "bba with CR CR LF inside": (VIS_BBA, [VIS_BBA]),
    "all low bytes": (VIS_BYTES, [VIS_BYTES]),
    "back to back, then DC-09": (
        VIS_ACK + VIS_BBA + VIS_EMPTY + SPEC,
        [VIS_ACK, VIS_BBA, VIS_EMPTY, SPEC],
    ),
    "garbage between": (b"zz" + VIS_BBA + b"\r\r" + VIS_BYTES, [VIS_BBA, VIS_BYTES]),
}


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "expected"), VIS_CASES.values(), ids=VIS_CASES.keys())
def test_framer_follows_the_length_past_inner_cr_and_lf(
    data: bytes, expected: list[bytes], chunking: str
) -> None:
    """A frame whose length field points past its first CR, at a CR, with a CRC that checks,
    is taken whole; trailing bytes of a next frame stay buffered."""
    assert feed_all(Framer(), data, chunking) == expected
    framer = Framer()
    assert feed_all(framer, data + b'\n0000001"', chunking) == expected
    assert framer.buffered > 0


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_framer_truncated_length_frame_resyncs_on_the_next_head(chunking: str) -> None:
    """A frame cut short (its length announces more) does not swallow the next frame: an LF
    that starts a frame head ends the wait, and the next frame comes out."""
    cut = VIS_BBA[: VIS_BBA.index(b"\r") + 1]  # then cut at its first CR, as before
    assert feed_all(Framer(), VIS_BBA[:-6] + NULL, chunking) == [cut, NULL]


@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_framer_inconsistent_length_cuts_at_the_first_cr(chunking: str) -> None:
    """When the bytes the length announces are there but do not end in a CR whose CRC
    checks, the frame is cut at its first CR as before (the parser then rejects it)."""
    bad_crc = b"\n0000" + VIS_BBA[5:]
    first_cr = bad_crc[: bad_crc.index(b"\r") + 1]
    assert feed_all(Framer(), bad_crc, chunking)[0] == first_cr


def test_framer_final_does_not_wait_for_announced_bytes() -> None:
    """A datagram is all there is: a length pointing past it is not waited for."""
    short = VIS_BBA[:-6]
    framer = Framer()
    framer.feed(short)
    assert framer.next_frame() is None
    assert framer.next_frame(final=True) == short[: short.index(b"\r") + 1]


def test_framer_does_not_wait_past_the_bound() -> None:
    """A length field announcing more than ``max_frame_bytes`` is not followed: the first CR
    or LF delimits as before."""
    out = feed_all(Framer(max_frame_bytes=64), VIS_BYTES + NULL, "whole")
    assert VIS_BYTES not in out
    assert out[-1] == NULL


@pytest.mark.parametrize(
    "data",
    [
        b'\nE5D50034"SIA-DCS"6002L0#AAA[|Nri1/CL501]_14:12:04,09-25-2019\r',  # upper case
        b'\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r',  # ELDES: CR counted
        b'\n00000039"ADM-CID"0001L0#1234[#1234|1602 00 000]\r',  # length read as decimal
    ],
)
def test_framer_takes_the_first_cr_when_the_length_agrees(data: bytes) -> None:
    """Hex, hex counting the CR, or decimal: the usual frames end at their first CR."""
    framer = Framer()
    framer.feed(data + SPEC)
    assert framer.next_frame() == data
    assert framer.next_frame() == SPEC


def test_framer_binary_head_with_a_non_hex_length_ends_at_its_cr() -> None:
    """A binary-CRC head whose length digits are not hex gives no length to follow."""
    odd = b'\n\x01\x020zz5"NULL"0000L0#1234[]\r'
    assert feed_all(Framer(), odd + NULL, "whole") == [odd, NULL]


# ---- frames without the LF … CR envelope (OPAX: binary CRC) --------------------------------
def _bare(body: bytes, *, binary: bool = True) -> bytes:
    from alarmrx.protocols.dc09.crc import crc16_arc

    crc = crc16_arc(body)
    head = crc.to_bytes(2, "big") if binary else b"%04X" % crc
    return head + b"%04X" % len(body) + body


OPAX_NULL = _bare(b'"NULL"0000R8L0#41213[]_21:00:10,02-20-2024')  # CRC C5 5B, as logged


@pytest.mark.parametrize(
    "data",
    [OPAX_NULL, OPAX_NULL + b"\r", _bare(b'"NULL"0000L0#1234[]', binary=False)],
    ids=["binary", "binary with CR", "hex"],
)
def test_framer_takes_a_whole_frame_sent_without_envelope(data: bytes) -> None:
    """A datagram without LF, but with a head, a length and a CRC that agree: one frame.
    In a stream (not final) it is dropped as before: nothing delimits it there."""
    framer = Framer()
    framer.feed(data)
    assert framer.next_frame(final=True) == data
    assert framer.buffered == 0
    framer.feed(data)
    assert framer.next_frame() is None
    assert framer.discarded_bytes == len(data)


@pytest.mark.parametrize(
    "data",
    [OPAX_NULL[:-3], b"\x00\x01" + OPAX_NULL[2:], b"xx0zzz" + OPAX_NULL[6:], b"no head here"],
    ids=["partial", "bad crc", "bad length", "garbage"],
)
def test_framer_drops_what_is_not_a_whole_bare_frame(data: bytes) -> None:
    """A partial frame, a wrong CRC or length, or garbage: dropped and counted, as before."""
    framer = Framer()
    framer.feed(data)
    assert framer.next_frame(final=True) is None
    assert framer.discarded_bytes == len(data)
