"""Coverage-guided fuzzing of the DC-09 frame parser and framer (atheris / libFuzzer).

Input layout: byte 0 picks the account policy (no key, one of the keys the conformance
vectors use, with or without the timestamp window) and the chunk size for the framer check;
the rest is the frame as it came off the wire.

What must hold for every input:
- ``parse_frame`` returns a ``DC09Message`` or raises ``ProtocolError`` — nothing else;
- an accepted frame parses the same way twice, keeps its exact bytes, and can be ACKed;
- the ``Framer`` gives the same frames whether the bytes come at once or in chunks.

Run (from the repository root; seeds come from tests/conformance/vectors):

    .venv/bin/python fuzz/fuzz_parse_frame.py --seed fuzz/corpus      # write the seeds
    .venv/bin/python fuzz/fuzz_parse_frame.py fuzz/corpus -max_total_time=600
    .venv/bin/python fuzz/fuzz_parse_frame.py --replay fuzz/corpus    # plain Python, no atheris

A crash leaves ``crash-<sha1>`` in the working directory; replay it with the file as the
only argument.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

try:
    import atheris  # type: ignore[import-untyped]  # atheris ships no type information
except ImportError:  # replay mode works without it
    atheris = None

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "conformance" / "vectors"
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def _imports() -> Iterator[None]:
    if atheris is None:
        yield
        return
    with atheris.instrument_imports(include=["alarmrx"]):
        yield


for _ in _imports():
    from alarmrx.protocols import (
        AccountPolicy,
        DC09Message,
        Framer,
        ProtocolError,
        TimestampWindow,
        encode_ack,
        parse_frame,
        parse_key,
    )


def _vector_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for path in sorted(VECTORS.glob("*/*.json")):
        cases += json.loads(path.read_text())["cases"]
    return cases


def _policies() -> list[AccountPolicy]:
    keys = sorted({str(c["key"]) for c in _vector_cases() if c.get("key")})
    plain = [AccountPolicy(window=None), AccountPolicy()]
    keyed = [
        AccountPolicy(key=parse_key(k), window=w) for k in keys for w in (None, TimestampWindow())
    ]
    return plain + keyed


POLICIES = _policies()


class FindingError(AssertionError):
    """A property of the parser or framer does not hold for this input."""


def _expect(condition: bool, detail: object) -> None:
    if not condition:  # not ``assert``: the target must check under ``python -O`` too
        raise FindingError(detail)


def check(data: bytes) -> None:
    """One fuzz input; raises AssertionError (or whatever escapes) on a finding."""
    if not data:
        return
    policy = POLICIES[data[0] % len(POLICIES)]
    frame = data[1:]
    lookup: Callable[..., AccountPolicy] = lambda _header, _account: policy  # noqa: E731
    try:
        message = parse_frame(frame, accounts=lookup, now=NOW)
    except ProtocolError:
        message = None
    if message is not None:
        _check_accepted(frame, message, policy, lookup)
    _check_framer(frame, chunk=data[0] // len(POLICIES) % 7 + 1)


def _check_accepted(
    frame: bytes, message: DC09Message, policy: AccountPolicy, lookup: Callable[..., AccountPolicy]
) -> None:
    _expect(isinstance(message, DC09Message), type(message))
    _expect(message.raw == frame, "raw bytes changed")
    again = parse_frame(frame, accounts=lookup, now=NOW)
    same = (again.header, again.events, again.content)
    _expect(same == (message.header, message.events, message.content), "parsed differently")
    key = policy.key if message.header.encrypted else None
    encode_ack(message.header, now=NOW, key=key, random_bytes=bytes)


def _frames(framer: Framer, chunks: list[bytes]) -> list[bytes | str]:
    out: list[bytes | str] = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            try:
                found = framer.next_frame()
            except ProtocolError:  # a frame too long: the framer raises nothing else
                out.append("too long")
                continue
            if found is None:
                break
            out.append(found)
    return out


def _check_framer(frame: bytes, chunk: int) -> None:
    """The same frames either way. Where an over-long partial frame is reported may differ:
    fed at once the framer can see a later LF and resync; fed in pieces it must give up on
    the partial frame as soon as it passes the bound."""
    whole = _frames(Framer(max_frame_bytes=512), [frame])
    pieces = [frame[i : i + chunk] for i in range(0, len(frame), chunk)]
    chunked = _frames(Framer(max_frame_bytes=512), pieces)
    _expect(_found(chunked) == _found(whole), (chunk, whole, chunked))


def _found(frames: list[bytes | str]) -> list[bytes | str]:
    return [f for f in frames if f != "too long"]


def seeds() -> Iterator[bytes]:
    """Every conformance frame under every policy selector that uses a matching key."""
    for case in _vector_cases():
        frame = str(case["frame"]).encode("latin-1")
        for selector in range(len(POLICIES)):
            policy = POLICIES[selector]
            key = str(case["key"]) if case.get("key") else None
            if (policy.key is None) == (key is None) and (
                key is None or policy.key == parse_key(key)
            ):
                yield bytes([selector]) + frame


def _write_seeds(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds():
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)  # noqa: S324 - a file name


def _replay(paths: list[Path]) -> int:
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p])]
    for file in files:
        check(file.read_bytes())
    print(f"replayed {len(files)} inputs without a finding")  # noqa: T201 - a command
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 2 and argv[1] == "--seed":
        _write_seeds(Path(argv[2]))
        return 0
    if len(argv) > 2 and argv[1] == "--replay":
        return _replay([Path(a) for a in argv[2:]])
    if atheris is None:
        print("atheris is not installed: use --replay DIR (pip install atheris)", file=sys.stderr)  # noqa: T201
        return 2
    atheris.Setup(argv, check)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
