"""Framer: any split of a byte stream yields the frames that feeding it whole yields."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from tests.property.strategies import headers, sia_data

from alarmrx.protocols import Framer, encode_message
from alarmrx.protocols.errors import ProtocolError

GARBAGE = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    header = draw(headers("SIA-DCS", encrypted=False))
    assert header.account is not None
    data, _code, _zone = draw(sia_data(header.account))
    return encode_message(header=header, data=data)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    parts = draw(st.lists(st.tuples(GARBAGE, frames()), min_size=1, max_size=4))
    return b"".join(g + f for g, f in parts), [f for _g, f in parts]


def _drain(framer: Framer) -> list[bytes]:
    out = []
    while True:
        try:
            frame = framer.next_frame()
        except ProtocolError:  # a frame too long: the framer raises nothing else
            continue
        if frame is None:
            return out
        out.append(frame)


def _feed_in_chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    framer, out, start = Framer(), [], 0
    for cut in [*sorted(cuts), len(stream)]:
        framer.feed(stream[start:cut])
        out += _drain(framer)
        start = cut
    return out


@given(streams(), st.lists(st.integers(0, 400), max_size=10))
def test_chunking_does_not_change_frames(
    sample: tuple[bytes, list[bytes]], cuts: list[int]
) -> None:
    """Frames separated by garbage come out whole and in order, however the bytes arrive."""
    stream, expected = sample
    cuts = [min(c, len(stream)) for c in cuts]
    assert _feed_in_chunks(stream, cuts) == expected
    assert _feed_in_chunks(stream, list(range(len(stream)))) == expected
