"""Valid DC-09 frames built on the fly, as a panel builds them.

Every frame carries the current timestamp (encrypted frames must: the receiver rejects a
timestamp more than 40 s old) and a fresh sequence number per account, so no two frames a
receiver sees are duplicates. The mix cycles through Contact ID, SIA DCS and a NULL link test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from itertools import cycle

from alarmrx.protocols import FrameHeader, encode_message
from benchmarks.accounts import BenchAccount

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


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame on its way out, with what its reply must echo."""

    frame: bytes
    header: FrameHeader
    key: bytes | None


class FrameSource:
    """Frames for the accounts of one connection, round robin, each with its own sequence."""

    def __init__(
        self,
        accounts: tuple[BenchAccount, ...],
        *,
        seed: int,
        mix: tuple[tuple[str, str], ...] = MIX,
    ) -> None:
        self._accounts = cycle(accounts)
        self._mix = cycle(mix[seed % len(mix) :] + mix[: seed % len(mix)])
        self._sequences: dict[str, int] = {}
        self._random = random.Random(seed)

    def next(self, now: datetime) -> Outgoing:
        """The next frame, stamped with ``now`` (aware, UTC)."""
        account = next(self._accounts)
        token, data = next(self._mix)
        header = FrameHeader(
            token=token,
            encrypted=account.key is not None,
            sequence="0000" if token == "NULL" else self._sequence(account.account),
            receiver=RECEIVER,
            line=LINE,
            account=account.account,
        )
        block = f"#{account.account}|{data}" if data else ""
        frame = encode_message(
            header=header,
            data=block,
            timestamp=now,
            key=account.key,
            random_bytes=self._random.randbytes,
        )
        return Outgoing(frame, header, account.key)

    def _sequence(self, account: str) -> str:
        """0001…9999, then 0001 again (DC-09 §5.5.1.5)."""
        value = self._sequences.get(account, 0) % 9999 + 1
        self._sequences[account] = value
        return f"{value:04d}"
