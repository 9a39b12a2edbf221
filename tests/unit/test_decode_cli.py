"""`alarmrx decode`: every notation of a pasted frame, keys, exact JSON keys, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alarmrx.cli import main

ALARMRX = str(Path(sys.executable).parent / "alarmrx")
SPEC = '87CD0037"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]'
TOP_KEYS = {"token", "encrypted", "sequence", "receiver", "line", "account", "timestamp",
            "xdata", "events", "reply"}  # fmt: skip
EVENT_KEYS = {"code", "category", "zone", "area", "user", "text"}
AJAX = (
    '85DF0078"*SIA-DCS"4480L0#EA1984[83F153789366885D5F83DD5A8D19F691DE6602D5D71342E244C040C5'
    "D10D89040444068312750F38DF7E63AD3DE8AD5A"
)
NOTATIONS = {
    "raw": "\n" + SPEC + "\r",
    "bare": SPEC,
    "angle": "<LF>" + SPEC + "<CR>",
    "backslash": "\\n" + SPEC + "\\r",
    "hex-angle": "<0x0A>" + SPEC + "<0x0d>",
    "trailing newline": SPEC + "\n",
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    status = main(["decode", *argv])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out else {}), err


@pytest.mark.parametrize("text", NOTATIONS.values(), ids=NOTATIONS.keys())
def test_decode_every_notation_as_argument(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Raw, <LF>/<CR>, \\n/\\r and <0x0A>/<0x0D> forms, with or without envelope, decode alike."""
    status, out, _ = _run(capsys, text)
    assert status == 0
    assert out == {
        "token": "ADM-CID", "encrypted": False, "sequence": "9876", "receiver": "579BDF",
        "line": "789ABC", "account": "12345A", "timestamp": None, "xdata": [],
        "events": [{"code": "110", "category": "alarm", "zone": 129, "area": None,
                    "user": None, "text": None, "qualifier": 1}],
        "reply": "ACK",
    }  # fmt: skip


@pytest.mark.parametrize("text", NOTATIONS.values(), ids=NOTATIONS.keys())
def test_decode_every_notation_on_stdin(text: str) -> None:
    """The same forms read from stdin by the installed command."""
    done = subprocess.run(
        [ALARMRX, "decode"], input=text.encode("latin-1"), capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["events"][0]["zone"] == 129


@pytest.mark.parametrize("key", ["3BD7E66AA9E2F190", b"3BD7E66AA9E2F190".hex()])
def test_decode_with_key_ascii_and_hex(capsys: pytest.CaptureFixture[str], key: str) -> None:
    """A 16-character ASCII key and the same key as 32 hex digits both decrypt."""
    status, out, _ = _run(capsys, AJAX, "--key", key)
    assert status == 0
    assert set(out) == TOP_KEYS
    assert (out["token"], out["encrypted"], out["timestamp"]) == (
        "SIA-DCS", True, "2020-08-11T16:57:20+00:00"
    )  # fmt: skip
    events = out["events"]
    assert isinstance(events, list) and set(events[0]) == EVENT_KEYS


@pytest.mark.parametrize("key", ["k" * 24, "k" * 32, "ab" * 24, "ab" * 32])
def test_decode_accepts_every_key_size(capsys: pytest.CaptureFixture[str], key: str) -> None:
    """AES-192 and AES-256 keys in either notation are accepted (and do not fit this frame)."""
    status, out, _ = _run(capsys, AJAX, "--key", key)
    assert (status, out["reject"]) == (1, "decrypt")
    assert set(out) == {"reject", "detail"}


def test_decode_reject_is_json_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A rejected frame prints reject and detail, exit 1."""
    status, out, _ = _run(capsys, SPEC.replace("87CD", "0000"))
    assert status == 1
    assert out == {"reject": "crc", "detail": "CRC declared 0000, computed 87CD"}


def test_decode_rsp_when_key_block(capsys: pytest.CaptureFixture[str]) -> None:
    """A frame carrying [K…] is answered RSP; xdata listed; null account when none."""
    from alarmrx.protocols import encode_frame

    frame = encode_frame('"SIA-DCS"0001L0[|NRP][K0011]').decode("latin-1")
    status, out, _ = _run(capsys, frame)
    assert (status, out["reply"], out["account"]) == (0, "RSP", None)
    assert out["xdata"] == [{"letter": "K", "value": "0011"}]


def test_decode_check_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    """--check-timestamp applies the window against this machine's clock."""
    status, out, _ = _run(capsys, AJAX, "--key", "3BD7E66AA9E2F190", "--check-timestamp")
    assert (status, out["reject"]) == (1, "timestamp")


@pytest.mark.parametrize("key", ["short", "ab" * 17])
def test_decode_bad_key_is_one_line(key: str) -> None:
    """A bad --key gives one line on stderr and no traceback."""
    done = subprocess.run([ALARMRX, "decode", SPEC, "--key", key], capture_output=True, check=False)
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().count("\n") == 1
    assert done.stderr.startswith(b"alarmrx decode: --key:")


def test_decode_non_byte_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """Characters beyond one byte cannot be a frame: one-line error, status 2."""
    status, _, err = _run(capsys, SPEC.replace("#12345A|", "#12345A|\u2019"))
    assert status == 2
    assert err.strip() == "alarmrx decode: the frame holds characters that are not bytes"


def test_decode_bad_key_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """In process too: exit 2 and the reason on stderr."""
    status, out, err = _run(capsys, SPEC, "--key", "short")
    assert (status, out) == (2, {})
    assert err.startswith("alarmrx decode: --key: a key is 32, 48 or 64 hex digits")
