"""The benchmark harness, briefly: every frame it sends must get a valid acknowledgement.

A few seconds against the stub receiver and, once ``alarmrx run`` exists, the daemon; no
timing assertions. pysiaalarm's environment is not needed (it is a benchmark-only peer).
The reply checker is also fed wrong replies, to prove it would notice them, and the
generator's shortcuts (frames from templates, kept AES contexts, the quick reply check) are
held to alarmrx's own encoder, cipher and parser.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from benchmarks.accounts import make_accounts
from benchmarks.cipher import KeyCipher
from benchmarks.frames import MIX, FrameSource, Outgoing
from benchmarks.receivers import alarmrx_available
from benchmarks.replies import acknowledges, check_reply

from alarmrx.protocols import (
    AccountPolicy,
    FrameHeader,
    encode_ack,
    encode_duh,
    encode_frame,
    encode_message,
    encode_nak,
    parse_frame,
)
from alarmrx.protocols.dc09 import crypto

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
        "0.5",  # every cell still acknowledges hundreds of frames and the probe's few
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
        "--probe-rate",
        "10",
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
        assert m["connected"] == CONNECTIONS + 1, m["cell"]  # and the measuring panel
        assert m["acked"] > 0, m["cell"]
        assert m["failures"] == {}, (m["cell"], m["samples"])
        assert m["probe_acked"] > 0, m["cell"]  # the measuring panel, on its own link
    assert "<!-- bench:matrix -->" in (tmp_path / "performance.md").read_text(encoding="utf-8")


def _sent(mode: str, index: int = 0) -> Outgoing:
    account = make_accounts(2, mode)[index : index + 1]
    return FrameSource(account, seed=0).next(datetime.now(UTC))


def _ack(header: FrameHeader, key: bytes | None) -> bytes:
    return encode_ack(header, now=datetime.now(UTC), key=key, random_bytes=random.randbytes)


@pytest.mark.parametrize("mode", ["plain", "aes128", "aes256"])
def test_the_checker_accepts_a_matching_ack(mode: str) -> None:
    sent = _sent(mode)
    ack = _ack(sent.header, sent.key)
    assert check_reply(ack, sent, now=datetime.now(UTC)) is None
    # and it does so on the quick path, which is what the generator runs
    assert acknowledges(ack, sent, now=datetime.now(UTC).timestamp(), encrypted_acks=True)


@pytest.mark.parametrize("mode", ["plain", "aes128", "aes256"])
def test_frames_are_what_alarmrx_makes_and_parses(mode: str) -> None:
    source = FrameSource(make_accounts(3, mode), seed=4)
    now = datetime.now(UTC)
    seen = set()
    for _ in range(2 * len(MIX)):
        sent = source.next(now)
        policy = AccountPolicy(key=sent.key)
        message = parse_frame(sent.frame, accounts=lambda _h, _a, p=policy: p, now=now)
        assert message.header == sent.header
        data = message.content.rpartition("]")[0]
        assert data in {f"#{sent.account.account}|{d}" if d else "" for _, d in MIX}
        plain = encode_message(
            header=msgspec.structs.replace(sent.header, encrypted=False), data=data, timestamp=now
        )
        if sent.key is None:
            assert sent.frame == plain  # byte for byte what alarmrx's encoder makes
        else:
            assert message.content == plain.decode("ascii")[-len(message.content) - 1 : -1]
        seen.add(sent.frame)
    assert len(seen) == 2 * len(MIX)  # every frame differs: sequence, timestamp or pad


def test_a_kept_cipher_encrypts_each_message_afresh() -> None:
    key = make_accounts(1, "aes256")[0].key
    assert key is not None
    cipher = KeyCipher(key)
    for length in (16, 48, 32, 64):
        cleartext = random.randbytes(length)
        ciphertext = cipher.encrypt(cleartext)
        assert ciphertext == crypto.encrypt(key, cleartext)
        assert cipher.decrypt(ciphertext) == cleartext


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
        assert not acknowledges(reply, sent, now=now.timestamp(), encrypted_acks=True), reply


def test_the_quick_check_takes_a_zero_padded_ack_without_separator() -> None:
    """pysiaalarm pads its *ACK with "0"s and no "|" (DC-09-2026 style)."""
    sent = _sent("aes128")
    assert sent.key is not None
    now = datetime.now(UTC)
    content = "]" + now.strftime("_%H:%M:%S,%m-%d-%Y")
    cleartext = content.zfill(len(content) + 16 - len(content) % 16).encode("ascii")
    block = crypto.encrypt(sent.key, cleartext).hex().upper()
    reply = encode_frame(f'"*ACK"{sent.sequence}{sent.addressing}[{block}')
    assert acknowledges(reply, sent, now=now.timestamp(), encrypted_acks=True)
    assert check_reply(reply, sent, now=now) is None


def test_an_encrypted_ack_outside_the_window_is_refused() -> None:
    sent = _sent("aes128")
    now = datetime.now(UTC)
    stale = encode_ack(
        sent.header, now=now - timedelta(seconds=60), key=sent.key, random_bytes=random.randbytes
    )
    assert not acknowledges(stale, sent, now=now.timestamp(), encrypted_acks=True)
    assert check_reply(stale, sent, now=now) == "invalid_timestamp"


def test_the_stub_may_answer_encrypted_frames_in_plaintext() -> None:
    sent = _sent("aes256")
    plain = FrameHeader(**{**_fields(sent.header), "encrypted": False})
    reply = _ack(plain, None)
    assert check_reply(reply, sent, now=datetime.now(UTC), encrypted_acks=False) is None


def _fields(header: FrameHeader) -> dict[str, object]:
    return {name: getattr(header, name) for name in FrameHeader.__slots__}


def test_the_log_cost_benchmark_runs() -> None:
    """``benchmarks/log_cost.py``, whose figures docs/performance.md quotes, still runs."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.log_cost", "--number", "50", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["events = true", "events = false"]
    assert all(line.endswith(" µs") for line in lines)
