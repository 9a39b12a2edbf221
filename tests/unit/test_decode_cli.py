"""`alarmrx decode`: every notation of a pasted frame, bytes in, replies, keys, exact JSON keys,
exit codes, and every documented example."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alarmrx.cli import main
from alarmrx.protocols.dc09.crc import crc16_arc

ALARMRX = str(Path(sys.executable).parent / "alarmrx")
SPEC = '87CD0037"ADM-CID"9876R579BDFL789ABC#12345A[#12345A|1110 00 129]'
TOP_KEYS = {
    "token",
    "encrypted",
    "sequence",
    "receiver",
    "line",
    "account",
    "timestamp",
    "xdata",
    "events",
    "quirks",
    "reply",
}
EVENT_KEYS = {"code", "category", "description", "address", "zone", "area", "user", "text"}
ROOT = Path(__file__).resolve().parents[2]
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
        "token": "ADM-CID",
        "encrypted": False,
        "sequence": "9876",
        "receiver": "579BDF",
        "line": "789ABC",
        "account": "12345A",
        "timestamp": None,
        "xdata": [],
        "events": [
            {
                "code": "110",
                "category": "alarm",
                "description": "Fire",
                "address": "129",
                "zone": 129,
                "area": None,
                "user": None,
                "text": None,
                "qualifier": 1,
            }
        ],
        "quirks": [],
        "reply": "ACK",
    }


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
        "SIA-DCS",
        True,
        "2020-08-11T16:57:20+00:00",
    )
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


def _wire(body: bytes, *, binary_crc: bool = False) -> bytes:
    """CRC and length in front of a body (from the opening quote), no LF/CR envelope."""
    crc = crc16_arc(body)
    head = crc.to_bytes(2, "big") if binary_crc else f"{crc:04X}".encode()
    return head + f"{len(body):04X}".encode() + body


@pytest.mark.parametrize(
    ("text", "encoding"), [("Küche", "latin-1"), ("Küche", "utf-8"), ("Salle à manger", "utf-8")]
)
def test_decode_argument_is_bytes(
    capsys: pytest.CaptureFixture[str], text: str, encoding: str
) -> None:
    """The argument is taken as the bytes the shell passed (os.fsencode): Latin-1 and UTF-8
    text in a frame keep their bytes, so length and CRC check and the frame decodes."""
    body = f'"SIA-DCS"0001L0#1234[#1234|NBA1^{text}^]'.encode(encoding)
    status, out, _ = _run(capsys, os.fsdecode(_wire(body)))
    assert status == 0, out
    events = out["events"]
    assert isinstance(events, list)
    assert (events[0]["code"], events[0]["zone"]) == ("BA", 1)
    if encoding == "latin-1":
        assert events[0]["text"] == text


def test_decode_binary_crc_on_stdin() -> None:
    """Raw bytes on stdin: a binary CRC (OPAX, as logged in a public Go receiver's notes)."""
    body = b'"ADM-CID"0379R0L0#10064[10064|1602 00 000]_00:00:43,02-21-2024'
    wire = b"\n" + _wire(body, binary_crc=True) + b"\r"
    assert wire[1:3] == b"\xc1~"  # the bytes the source shows as 'Á~'
    done = subprocess.run([ALARMRX, "decode"], input=wire, capture_output=True, check=False)
    assert done.returncode == 0, done.stdout
    out = json.loads(done.stdout)
    assert (out["account"], out["quirks"]) == ("10064", ["binary_crc", "data_account_without_hash"])
    assert out["events"][0]["code"] == "602"


def test_decode_binary_crc_shown_as_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """A log that showed the binary CRC bytes as Latin-1 characters, pasted in a UTF-8
    terminal ('Á' arrives as two bytes): read one byte per character, the frame decodes."""
    text = 'Á~003E"ADM-CID"0379R0L0#10064[10064|1602 00 000]_00:00:43,02-21-2024'
    status, out, _ = _run(capsys, text)
    assert (status, out["account"], out["timestamp"]) == (0, "10064", "2024-02-21T00:00:43+00:00")


def test_decode_keeps_the_first_error(capsys: pytest.CaptureFixture[str]) -> None:
    """When neither reading parses, the error of the bytes as given is reported."""
    status, out, _ = _run(capsys, 'Á~003E"ADM-CID"0379R0L0#10064[10064|1602 00 001]')
    assert (status, out["reject"]) == (1, "framing")  # as Latin-1 it would be "length"


def test_decode_second_reading_only_for_corrupt_frames(capsys: pytest.CaptureFixture[str]) -> None:
    """An intact frame the receiver would not serve is not read again another way."""
    body = b'"*SIA-DCS"0001L0#1234[00112233445566778899AABBCCDDEEFF]'
    status, out, _ = _run(capsys, os.fsdecode(_wire(body)) + "é")
    assert (status, out["reject"]) == (1, "length")
    unserved = '"ZZZ"0001L0#1234[Küche]'.encode()  # intact as UTF-8; one byte short as Latin-1
    status, out, _ = _run(capsys, os.fsdecode(_wire(unserved)))
    assert (status, out["reject"]) == (1, "unsupported_token")


def test_decode_journal_notation(capsys: pytest.CaptureFixture[str]) -> None:
    """The journal's raw notation (`<0xNN>` for any byte) pastes back as is."""
    body = b'"NULL"0000R8L0#41213[]_21:00:10,02-20-2024'
    wire = _wire(body, binary_crc=True)
    assert wire[:2] == b"\xc5["
    status, out, _ = _run(capsys, "<LF><0xC5>" + wire[1:].decode() + "<CR>")
    assert (status, out["token"], out["quirks"]) == (0, "NULL", ["binary_crc"])


# Receiver replies from outside: the Swissdotnet SIA-DC-09 library's serialisation tests
# (GitHub file id 67473628572; the key there is ABCD repeated 8 times) and a Go DC-09 client's tests
# (GitHub file id 71589553470, body only: CRC and length added here).
REPLIES = {
    "ack": (
        '2729002e"ACK"0001L0#080027E62A64[]_16:07:07,04-14-2015',
        None,
        ("ACK", False, "080027E62A64", "2015-04-14T16:07:07+00:00"),
    ),
    "nak": (
        '<LF>3C830025"NAK"0000R0L0A0[]_16:09:09,04-14-2015<CR>',
        None,
        ("NAK", False, None, "2015-04-14T16:09:09+00:00"),
    ),
    "encrypted-ack": (
        '\nE34C0062"*ACK"0001R5678L1234#080027E62A64[14F088FF5DCB19D1908069507EAB97C7CDB20F1C'
        "6EFA550BB59864D54B2DFA1C\r",
        "ABCDABCDABCDABCDABCDABCDABCDABCD",
        ("ACK", True, "080027E62A64", "2015-04-14T16:08:12+00:00"),
    ),
    "duh": (_wire(b'"DUH"0007R0075L0001#001465[]').decode(), None, ("DUH", False, "001465", None)),
}


@pytest.mark.parametrize("case", REPLIES.values(), ids=REPLIES.keys())
def test_decode_receiver_replies(
    capsys: pytest.CaptureFixture[str], case: tuple[str, str | None, tuple[object, ...]]
) -> None:
    """ACK, NAK with its timestamp, DUH and an encrypted *ACK (with --key) decode; a reply
    is not answered, so `reply` is null."""
    frame, key, expected = case
    status, out, _ = _run(capsys, frame, *(("--key", key) if key else ()))
    assert status == 0, out
    assert set(out) == TOP_KEYS
    assert (out["token"], out["encrypted"], out["account"], out["timestamp"]) == expected
    assert (out["events"], out["reply"]) == ([], None)


def test_decode_rsp_reply(capsys: pytest.CaptureFixture[str]) -> None:
    """RSP, the answer to a frame with a [K…] block, decodes like the other replies."""
    from alarmrx.protocols import FrameHeader, encode_ack

    header = FrameHeader(
        token="SIA-DCS", encrypted=False, sequence="0001", receiver=None, line="0", account="1234"
    )
    frame = encode_ack(header, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), token="RSP")
    status, out, _ = _run(capsys, frame.decode("latin-1"))
    assert (status, out["token"], out["reply"], out["account"]) == (0, "RSP", None, "1234")


def _documented_examples() -> list[str]:
    """Every `alarmrx decode …` command line in a sh block of README.md and docs/."""
    commands = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            commands += [line for line in block.splitlines() if "alarmrx decode" in line]
    return commands


def test_documented_examples_exist() -> None:
    """The README and docs show decode with notation, a key, a reply and stdin."""
    examples = _documented_examples()
    assert len(examples) >= 4
    assert any("--key" in e for e in examples)
    assert any('"NAK"' in e or '"ACK"' in e for e in examples)
    assert any("| " in e for e in examples)


@pytest.mark.parametrize("command", _documented_examples())
def test_documented_example_runs(command: str) -> None:
    """Each documented `alarmrx decode` line runs as written and decodes its frame."""
    line = command.replace(".venv/bin/alarmrx", shlex.quote(ALARMRX))
    done = subprocess.run(
        ["bash", "-c", line], cwd=ROOT, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "token" in json.loads(done.stdout)


def test_decode_bad_key_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """In process too: exit 2 and the reason on stderr."""
    status, out, err = _run(capsys, SPEC, "--key", "short")
    assert (status, out) == (2, {})
    assert err.startswith("alarmrx decode: --key: a key is 32, 48 or 64 hex digits")


@pytest.mark.parametrize("body_end", ["|NBA1^<LF> sign^]", "|NBA1^Caf\xe9 \\n^]"])
def test_decode_reads_journal_query_raw(capsys: pytest.CaptureFixture[str], body_end: str) -> None:
    """`alarmrx journal query` prints raw in a notation decode reads back exactly, even a frame
    holding a literal '<LF>', a backslash-n or a non-ASCII byte, with a binary CRC."""
    from alarmrx.journal.query import escape_raw

    body = f'"SIA-DCS"0001L0#1234[#1234{body_end}'.encode("latin-1")
    raw = b"\n" + _wire(body, binary_crc=True) + b"\r"
    status, out, _ = _run(capsys, escape_raw(raw))
    assert status == 0, out
    assert out["quirks"] == ["binary_crc"]
    events = out["events"]
    assert isinstance(events, list)
    assert events[0]["text"] == body_end[6:-2]
