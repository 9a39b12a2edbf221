"""Intact frames that are not understood, through the running daemon (issue 12 §1): ACKed,
journaled raw, raised as payload.unrecognised on MQTT and counted; or refused when the
receiver is configured strict. Over TCP (split inside the binary data) and UDP."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_udp, frame, read_reply, write_config
from tests.mosquitto import Mosquitto, Subscriber

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind

pytestmark = pytest.mark.integration

ROOT = "alarmrx/v1"
KEY = "0123456789ABCDEF0123456789ABCDEF"
# rexchoppers/visonic-tolk test/powerlink31/vectors_test.go: raw CR and LF inside [...].
VIS_BBA = b'\n4CE30023"VIS-BBA"0001L001234#2A4CC3[\r\xb0\x03\x18\r\n]\r'
VIS_ACK = b'\n2C2F0022"VIS-ACK"5564L001234#2A4CC3[\r\x02C\xba\n]\r'
ACCOUNTS = ['account = "2A4CC3"', f'account = "5678"\nkey = "{KEY}"']


def _metric(daemon: Daemon, name: str) -> float:
    url = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    lines = [line for line in text.splitlines() if line.startswith(name + "{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def _records(daemon: Daemon, kind: RecordKind) -> list:
    return [r for r in query(daemon.directory / "journal.db") if r.kind is kind]


async def test_vendor_frames_are_acked_journaled_and_raised(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """VIS-BBA over TCP (sent in two pieces cut between its inner CR and LF) and VIS-ACK over
    UDP: both ACKed with their addressing, journaled byte for byte, raised on MQTT as
    payload.unrecognised with the raw text, and counted."""
    config = write_config(tmp_path, accounts=ACCOUNTS, mqtt=f'url = "{mosquitto.url}"')
    async with Subscriber(mosquitto.port, f"{ROOT}/#") as sub:
        with Daemon(config) as daemon:
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
                cut = VIS_BBA.index(b"\r\n") + 1
                sock.sendall(VIS_BBA[:cut])
                sock.sendall(VIS_BBA[cut:])
                assert b'"ACK"0001L001234#2A4CC3[]' in read_reply(sock)
            assert b'"ACK"5564L001234#2A4CC3[]' in exchange_udp(daemon.port, VIS_ACK)

            def raised(s: Subscriber) -> list[dict]:
                found = s.json(f"{ROOT}/events/2A4CC3")
                return [e for e in found if e.get("type") == "payload.unrecognised"]

            await sub.wait_until(lambda s: len(raised(s)) == 2)
            texts = sorted(e["text"] for e in raised(sub))
            assert texts == sorted(f.decode("latin-1") for f in (VIS_BBA, VIS_ACK))
            assert {e["priority"] for e in raised(sub)} == {"trouble"}
            assert _metric(daemon, "alarmrx_frames_unrecognised_total") == 2
            messages = _records(daemon, RecordKind.MESSAGE)
            assert sorted(r.raw for r in messages) == sorted([VIS_BBA, VIS_ACK])
            assert all(r.body["events"] == [] for r in messages)
            assert {r.body["unrecognised"]["reason"] for r in messages} == {"unsupported_token"}


def test_encrypted_unrecognised_payload_gets_an_encrypted_ack(tmp_path: Path) -> None:
    """An encrypted frame whose data block is not understood: *ACK, journaled."""
    with Daemon(write_config(tmp_path, accounts=ACCOUNTS)) as daemon:
        sent = frame("5678", "#5678|N%%%", sequence=4, key=KEY)  # no packet grammar knows
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(sent)
            assert b'"*ACK"0004L0#5678[' in read_reply(sock)
        [record] = _records(daemon, RecordKind.MESSAGE)
        assert record.raw == sent and record.body["unrecognised"]["reason"] == "payload"


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_strict_receiver_still_refuses(tmp_path: Path, transport: str) -> None:
    """unrecognised_payload = "duh": today's strict answer, nothing journaled."""
    config = write_config(tmp_path, accounts=ACCOUNTS, receiver='unrecognised_payload = "duh"')
    with Daemon(config) as daemon:
        if transport == "udp":
            reply = exchange_udp(daemon.port, VIS_BBA)
        else:
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
                sock.sendall(VIS_BBA)
                reply = read_reply(sock)
        assert b'"DUH"0001L001234#2A4CC3[]' in reply
        assert _records(daemon, RecordKind.MESSAGE) == []


def test_unknown_account_and_bad_crc_keep_their_answers(tmp_path: Path) -> None:
    """Not configured: DUH; a CRC that does not check: no reply."""
    with Daemon(write_config(tmp_path, accounts=['account = "1234"'])) as daemon:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(VIS_BBA)
            assert b'"DUH"' in read_reply(sock)
            sock.settimeout(0.7)
            sock.sendall(b"\n0000" + VIS_BBA[5:])
            assert read_reply(sock) == b""
        assert _records(daemon, RecordKind.MESSAGE) == []


def test_frame_without_envelope_over_udp_is_acked(tmp_path: Path) -> None:
    """OPAX sends binary-CRC frames without LF and CR: a datagram holding one is ACKed
    (binary CRC, as the panel wrote it), and its event journaled byte for byte."""
    from alarmrx.protocols.dc09.crc import crc16_arc

    body = b'"ADM-CID"0028L0#41213[#41213|1602 00 000]'
    bare = crc16_arc(body).to_bytes(2, "big") + b"%04X" % len(body) + body
    with Daemon(write_config(tmp_path, accounts=['account = "41213"'])) as daemon:
        reply = exchange_udp(daemon.port, bare)
        assert reply.endswith(b'"ACK"0028L0#41213[]\r') and reply[3:7] == b"0013"
        [record] = _records(daemon, RecordKind.MESSAGE)
        assert record.raw == bare and "no_envelope" in record.body["quirks"]
