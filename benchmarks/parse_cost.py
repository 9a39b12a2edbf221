"""CPU per frame of the protocol core alone: ``parse_frame``, ``encode_ack`` and the framer.

Frames are built with ``encode_message`` as ``benchmarks.frames`` builds them (one account,
key as the load benchmark derives it), then each call is timed with ``timeit``, best of
several repeats, and printed in microseconds per call.

A/B against another copy of the source tree (run both in the same session, alternating)::

    .venv/bin/python -m benchmarks.parse_cost
    PYTHONPATH=/tmp/src_before/src .venv/bin/python -m benchmarks.parse_cost
"""

from __future__ import annotations

import argparse
import os
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import alarmrx.protocols
from alarmrx.protocols import AccountPolicy, FrameHeader, Framer, encode_ack, parse_frame
from alarmrx.protocols.priority import message_priority
from benchmarks.accounts import make_accounts
from benchmarks.frames import FrameSource

# frame kind -> the (token, data block) FrameSource sends
KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "SIA-DCS": (("SIA-DCS", "Nri1/BA004"),),
    "ADM-CID": (("ADM-CID", "1130 01 003"),),
    "NULL": (("NULL", ""),),
}
# Frame kind -> the data block of the i-th distinct frame, for parsing frames never seen
# before: more distinct blocks and timestamps than the parser keeps (4 096 and 1 024).
VARIED: dict[str, Callable[[int], str]] = {
    "SIA-DCS": lambda i: f"Nri{1 + i % 8}/BA{i // 8 % 1000:03d}",
    "ADM-CID": lambda i: f"1130 {1 + i % 8:02d} {i // 8 % 1000:03d}",
    "NULL": lambda _: "",
}
DISTINCT = 6000
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def _time(call: Callable[[], object], number: int, repeat: int) -> float:
    """Best µs per call over ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def _row(mode: str, kind: str, number: int, repeat: int) -> tuple[float, ...]:
    """µs per call of parse_frame (the same frame, then each frame new), encode_ack and
    message_priority for one frame kind."""
    account = make_accounts(1, mode)[0]
    out = FrameSource((account,), seed=0, mix=KINDS[kind]).next(NOW)
    policy = AccountPolicy(key=account.key)

    def lookup(_header: FrameHeader, _account: str | None) -> AccountPolicy:
        return policy

    message = parse_frame(out.frame, accounts=lookup, now=NOW)  # a broken frame fails here
    header = message.header

    def parse() -> object:
        return parse_frame(out.frame, accounts=lookup, now=NOW)

    def ack() -> object:
        return encode_ack(header, now=NOW, key=account.key, random_bytes=os.urandom)

    def priority() -> object:
        return message_priority(message.events)

    return (
        _time(parse, number, repeat),
        _fresh_cost(mode, kind, lookup, repeat),
        _time(ack, number, repeat),
        _time(priority, number, repeat),
    )


def _fresh_cost(
    mode: str, kind: str, lookup: Callable[[FrameHeader, str | None], AccountPolicy], repeat: int
) -> float:
    """µs per parse_frame over frames with a different block and second each."""
    token = KINDS[kind][0][0]
    mix = tuple((token, VARIED[kind](i)) for i in range(DISTINCT))
    source = FrameSource(make_accounts(1, mode), seed=0, mix=mix)
    stamps = [NOW + timedelta(seconds=i) for i in range(DISTINCT)]
    frames = [(source.next(stamp).frame, stamp) for stamp in stamps]

    def parse_all() -> None:
        for frame, now in frames:
            parse_frame(frame, accounts=lookup, now=now)

    return _time(parse_all, 1, max(2, repeat // 2)) / DISTINCT


def _framer_cost(number: int, repeat: int) -> float:
    """µs per frame to feed a stream of frames in 1 400-byte chunks and pull them out."""
    accounts = make_accounts(8, "aes128")
    source = FrameSource(accounts, seed=1)
    stream = b"".join(source.next(NOW).frame for _ in range(200))
    chunks = [stream[i : i + 1400] for i in range(0, len(stream), 1400)]

    def drain() -> None:
        framer = Framer()
        for chunk in chunks:
            framer.feed(chunk)
            while framer.next_frame() is not None:
                pass

    runs = max(1, number // 200)
    return _time(drain, runs, repeat) / 200


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=4000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats; the best is kept")
    args = parser.parse_args()
    print(f"alarmrx from {Path(alarmrx.protocols.__file__).parent}")
    print(f"{'mode':<7} {'kind':<8} {'parse µs':>9} {'new µs':>8} {'ack µs':>8} {'prio µs':>8}")
    for mode in ("plain", "aes128", "aes256"):
        for kind in KINDS:
            parse, fresh, ack, prio = _row(mode, kind, args.number, args.repeat)
            print(f"{mode:<7} {kind:<8} {parse:9.2f} {fresh:8.2f} {ack:8.2f} {prio:8.2f}")
    print(f"framer  mixed    {_framer_cost(args.number, args.repeat):9.2f} µs per frame")


if __name__ == "__main__":
    main()
