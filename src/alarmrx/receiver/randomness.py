"""``RandomPool``: the random bytes of ACK pads, drawn from the kernel a block at a time."""

from __future__ import annotations

import os

POOL_BYTES = 4096


class RandomPool:
    """A ``random_bytes`` source: ``os.urandom`` read ``size`` bytes at a time and handed out
    in pieces, each byte once. An encrypted ACK needs 1-31 pad bytes (docs/protocol.md,
    "Encryption"), and each ``os.urandom`` call is a system call.

    Build one per process, after any fork: a copy inherited across a fork would hand out
    the same bytes as its parent.
    """

    __slots__ = ("_block", "_size", "_taken")

    def __init__(self, size: int = POOL_BYTES) -> None:
        self._size = size
        self._block = b""
        self._taken = 0

    def __call__(self, count: int) -> bytes:
        """``count`` random bytes never handed out before."""
        start, end = self._taken, self._taken + count
        if end > len(self._block):
            self._block = os.urandom(max(self._size, count))
            start, end = 0, count
        self._taken = end
        return self._block[start:end]
