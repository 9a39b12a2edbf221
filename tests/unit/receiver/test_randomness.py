"""The pool of random pad bytes: each byte handed out once, whatever the sizes asked."""

from __future__ import annotations

from alarmrx.receiver.randomness import RandomPool


def test_pieces_have_the_size_asked_and_come_from_fresh_blocks() -> None:
    pool = RandomPool(size=64)
    pieces = [pool(n) for n in (1, 15, 31, 16, 7, 31, 31, 200, 3)]
    assert [len(p) for p in pieces] == [1, 15, 31, 16, 7, 31, 31, 200, 3]
    assert pool(0) == b""


def test_no_byte_is_handed_out_twice() -> None:
    """Pieces are consecutive slices of what the kernel gave: concatenated, 4 KiB of them
    repeat no 16-byte window, as random data would not."""
    pool = RandomPool(size=256)
    stream = b"".join(pool(n) for n in [5, 16, 31, 1] * 120)
    windows = {stream[i : i + 16] for i in range(len(stream) - 15)}
    assert len(windows) == len(stream) - 15
