"""The benchmark harness, briefly: every frame it sends must get a valid acknowledgement.

A few seconds against the stub receiver and, once ``alarmrx run`` exists, the daemon; no
timing assertions. pysiaalarm's environment is not needed (it is a benchmark-only peer).
The reply checker is also fed wrong replies, to prove it would notice them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from benchmarks.accounts import make_accounts
from benchmarks.frames import FrameSource, Outgoing
from benchmarks.receivers import alarmrx_available
from benchmarks.replies import check_reply

from alarmrx.protocols import FrameHeader, encode_ack, encode_duh, encode_frame, encode_nak

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 10

pytestmark = pytest.mark.integration


def _receivers() -> list[str]:
    return ["stub", "alarmrx"] if alarmrx_available() else ["stub"]


def test_every_frame_gets_a_valid_ack(tmp_path: Path) -> None:
    receivers = _receivers()
    results = tmp_path / "results.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--receivers",
        ",".join(receivers),
        "--transports",
        "tcp,udp",
        "--modes",
        "plain,aes128",
        "--connections",
        str(CONNECTIONS),
        "--duration",
        "1.5",
        "--repetitions",
        "1",
        "--processes",
        "1",
        "--accounts",
        "20",
        "--reply-timeout",
        "3",
        "--output",
        str(tmp_path / "performance.md"),
        "--json",
        str(results),
        "--workdir",
        str(tmp_path / "work"),
        "--fail-on-errors",
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=150, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    measurements = json.loads(results.read_text(encoding="utf-8"))["measurements"]
    assert {m["cell"]["receiver"] for m in measurements} == set(receivers)
    assert len(measurements) == 4 * len(receivers)
    for m in measurements:
        assert m["connected"] == CONNECTIONS, m["cell"]
        assert m["acked"] > 0, m["cell"]
        assert m["failures"] == {}, (m["cell"], m["samples"])
    assert "<!-- bench:matrix -->" in (tmp_path / "performance.md").read_text(encoding="utf-8")


def _sent(mode: str, index: int = 0) -> Outgoing:
    account = make_accounts(2, mode)[index : index + 1]
    return FrameSource(account, seed=0).next(datetime.now(UTC))


def _ack(header: FrameHeader, key: bytes | None) -> bytes:
    return encode_ack(header, now=datetime.now(UTC), key=key, random_bytes=random.randbytes)


@pytest.mark.parametrize("mode", ["plain", "aes128", "aes256"])
def test_the_checker_accepts_a_matching_ack(mode: str) -> None:
    sent = _sent(mode)
    assert check_reply(_ack(sent.header, sent.key), sent, now=datetime.now(UTC)) is None


def test_the_checker_names_each_wrong_reply() -> None:
    sent = _sent("aes128")
    other = _sent("aes128", index=1)  # another account, with another key
    plain = FrameHeader(**{**_fields(sent.header), "encrypted": False})
    wrong_sequence = FrameHeader(**{**_fields(sent.header), "sequence": "0042"})
    now = datetime.now(UTC)
    cases = {
        encode_nak(now=now): "reply_nak",
        encode_duh(sent.header): "reply_duh",
        _ack(plain, None): "encryption_mismatch",
        _ack(wrong_sequence, sent.key): "sequence_mismatch",
        _ack(other.header, sent.key): "account_mismatch",
        _ack(sent.header, other.key): "invalid_decrypt",
        encode_frame('"ACK"0001R1L1#000001[]')[:-3] + b"\r": "invalid_length",
    }
    for reply, reason in cases.items():
        assert check_reply(reply, sent, now=now) == reason, reply


def test_the_stub_may_answer_encrypted_frames_in_plaintext() -> None:
    sent = _sent("aes256")
    plain = FrameHeader(**{**_fields(sent.header), "encrypted": False})
    reply = _ack(plain, None)
    assert check_reply(reply, sent, now=datetime.now(UTC), encrypted_acks=False) is None


def _fields(header: FrameHeader) -> dict[str, object]:
    return {name: getattr(header, name) for name in FrameHeader.__slots__}
