"""Valid DC-09 frames built on the fly, as a panel builds them.

Every frame carries the current timestamp (encrypted frames must: the receiver rejects a
timestamp more than 40 s old), a fresh sequence number per account and, when encrypted, a
fresh random pad, so no two frames a receiver sees are duplicates. The mix cycles through
Contact ID, SIA DCS and a NULL link test.

The parts of a frame that never change for one account and one kind of frame are put
together once (``_Template``); per frame only the sequence, timestamp and pad are new. The
frames are the bytes ``encode_message`` makes (a test holds the two together).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import cycle

from alarmrx.protocols import FrameHeader, encode_frame
from benchmarks.accounts import BenchAccount
from benchmarks.cipher import BLOCK, cipher_for

# (token, data block after "#account|"); a NULL carries an empty data block.
MIX: tuple[tuple[str, str], ...] = (
    ("ADM-CID", "1130 01 003"),  # burglary, zone 3
    ("SIA-DCS", "Nri1/BA004"),  # burglary alarm, zone 4
    ("ADM-CID", "3130 01 003"),  # burglary restore
    ("SIA-DCS", "Nri1/BR004"),  # burglary restore
    ("ADM-CID", "1401 01 012"),  # opening by user 12
    ("SIA-DCS", "Nri1/CL012"),  # closing by user 12
    ("ADM-CID", "1602 00 000"),  # periodic test report
    ("SIA-DCS", "Nri1/YT002"),  # battery trouble
    ("ADM-CID", "1110 01 007"),  # fire, zone 7
    ("NULL", ""),
)
LINK_TESTS: tuple[tuple[str, str], ...] = (("NULL", ""),)
RECEIVER = "1"  # the R field
LINE = "1"  # the L field (pysiaalarm requires one)
TIMESTAMP_LENGTH = len("_HH:MM:SS,MM-DD-YYYY")
PAD_FORBIDDEN = b"[]|"  # DC-09 §5.4.4.2: pad bytes are anything but these


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame on its way out, with what its reply must echo."""

    frame: bytes
    token: str
    sequence: str
    account: BenchAccount

    @property
    def key(self) -> bytes | None:
        """The account's AES key; None for a plaintext frame."""
        return self.account.key

    @property
    def addressing(self) -> str:
        """``R…L…#…`` as the frame carries it, and its ACK must echo it."""
        return addressing(self.account)

    @property
    def header(self) -> FrameHeader:
        """The frame's header, as ``parse_frame`` would read it."""
        return FrameHeader(
            token=self.token,
            encrypted=self.account.key is not None,
            sequence=self.sequence,
            receiver=RECEIVER,
            line=LINE,
            account=self.account.account,
        )


def addressing(account: BenchAccount) -> str:
    """The ``R``, ``L`` and ``#`` fields every frame for ``account`` carries."""
    return f"R{RECEIVER}L{LINE}#{account.account}"


@dataclass(frozen=True, slots=True)
class _Template:
    """What every frame of one account and one (token, data) pair has in common."""

    account: BenchAccount
    token: str
    head: str  # '"*ADM-CID"' or '"ADM-CID"': the quoted token, before the sequence
    middle: str  # 'R1L1#000001[', after the sequence
    content: str  # '#000001|1130 01 003]', before the timestamp (and encrypted with it)
    pad_length: int  # 1-16 pad bytes make an encrypted block whole (DC-09-2013)

    @classmethod
    def of(cls, account: BenchAccount, token: str, data: str) -> _Template:
        star = "*" if account.key is not None else ""
        content = (f"#{account.account}|{data}" if data else "") + "]"
        payload = 1 + len(content) + TIMESTAMP_LENGTH  # "|" + content + timestamp
        return cls(
            account=account,
            token=token,
            head=f'"{star}{token}"',
            middle=f"{addressing(account)}[",
            content=content,
            pad_length=BLOCK - payload % BLOCK,
        )


class FrameSource:
    """Frames for the accounts of one connection, round robin, each with its own sequence."""

    def __init__(
        self,
        accounts: tuple[BenchAccount, ...],
        *,
        seed: int,
        mix: tuple[tuple[str, str], ...] = MIX,
    ) -> None:
        mix = mix[seed % len(mix) :] + mix[: seed % len(mix)]
        steps = math.lcm(len(accounts), len(mix))  # then the (account, kind) pairs repeat
        templates = [
            _Template.of(accounts[step % len(accounts)], *mix[step % len(mix)])
            for step in range(steps)
        ]
        self._templates = cycle(templates)
        self._sequences: dict[str, int] = {}
        self._random = random.Random(seed)

    def next(self, now: datetime) -> Outgoing:
        """The next frame, stamped with ``now`` (aware)."""
        return self.at(now.timestamp())

    def at(self, seconds: float) -> Outgoing:
        """The next frame, stamped with ``seconds`` since the epoch."""
        template = next(self._templates)
        account = template.account
        sequence = "0000" if template.token == "NULL" else self._sequence(account.account)
        content = template.content + timestamp(int(seconds))
        if account.key is not None:
            content = self._encrypt(account.key, template.pad_length, content)
        frame = encode_frame(template.head + sequence + template.middle + content)
        return Outgoing(frame, template.token, sequence, account)

    def _sequence(self, account: str) -> str:
        """0001…9999, then 0001 again (DC-09 §5.5.1.5)."""
        value = self._sequences.get(account, 0) % 9999 + 1
        self._sequences[account] = value
        return f"{value:04d}"

    def _encrypt(self, key: bytes, pad_length: int, content: str) -> str:
        """``pad|content`` encrypted, as upper-case hex (DC-09 §5.4.4)."""
        cleartext = self._pad(pad_length) + b"|" + content.encode("ascii")
        return cipher_for(key).encrypt(cleartext).hex().upper()

    def _pad(self, length: int) -> bytes:
        """Fresh random bytes, none of them ``[``, ``]`` or ``|``."""
        pad = b""
        while len(pad) < length:
            pad += self._random.randbytes(length + 4).translate(None, PAD_FORBIDDEN)
        return pad[:length]


@lru_cache(maxsize=4)
def timestamp(second: int) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC (DC-09 §5.5.1.8), formatted once per second."""
    return time.strftime("_%H:%M:%S,%m-%d-%Y", time.gmtime(second))
