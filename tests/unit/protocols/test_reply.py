"""ACK, *ACK, NAK, DUH and outgoing frames: exact bytes and addressing echoed verbatim."""

from __future__ import annotations

import binascii
import random

import pytest
from tests.unit.protocols.helpers import NOW, frame, parse

from alarmrx.protocols import (
    CRCStyle,
    FrameHeader,
    Reply,
    encode_ack,
    encode_duh,
    encode_frame,
    encode_message,
    encode_nak,
    reply_kind,
)
from alarmrx.protocols.dc09 import crypto
from alarmrx.protocols.dc09.crc import crc16_arc

KEY = bytes(range(32))


def _header(**fields: object) -> FrameHeader:
    base: dict[str, object] = {
        "token": "SIA-DCS",
        "encrypted": False,
        "sequence": "0042",
        "receiver": None,
        "line": None,
        "account": None,
    }
    base.update(fields)
    return FrameHeader(**base)  # type: ignore[arg-type]


def test_crc_check_value() -> None:
    """CRC-16/ARC of "123456789" is 0xBB3D."""
    assert crc16_arc(b"123456789") == 0xBB3D


def test_encode_frame_hex_and_binary() -> None:
    """The spec example frames exactly; binary style writes the CRC as two raw bytes."""
    body = '"SIA-DCS"9876R579BDFL789ABC#12345A[#12345A|NFA129]'
    assert encode_frame(body) == b"\nCE110032" + body.encode() + b"\r"
    assert encode_frame(body, CRCStyle.BINARY) == b"\n\xce\x110032" + body.encode() + b"\r"


@pytest.mark.parametrize(
    ("fields", "address"),
    [
        ({}, ""),
        ({"receiver": "579BDF", "line": "789ABC", "account": "12345A"}, "R579BDFL789ABC#12345A"),
        ({"line": "", "account": "0"}, "L#0"),
        ({"receiver": "0", "account": "alarm1"}, "R0#alarm1"),
    ],
)
def test_ack_echoes_addressing_exactly(fields: dict[str, object], address: str) -> None:
    """R, L and # are echoed as received, absent fields stay absent, never 'None'."""
    ack = encode_ack(_header(**fields), now=NOW)
    body = f'"ACK"0042{address}[]'.encode()
    assert ack == b"\n" + f"{crc16_arc(body):04X}{len(body):04X}".encode() + body + b"\r"
    assert b"None" not in ack


def test_plain_ack_with_timestamp() -> None:
    """The optional plaintext timestamp is the receiver's time in UTC."""
    ack = encode_ack(_header(account="1234"), now=NOW, plain_timestamp=True)
    assert ack.endswith(b'"ACK"0042#1234[]_12:00:00,03-04-2026\r')


def test_rsp_token() -> None:
    """The reply token can be RSP."""
    assert b'"RSP"0042#1[]' in encode_ack(_header(account="1"), now=NOW, token="RSP")


@pytest.mark.parametrize("long_pad", [False, True])
def test_encrypted_ack_cleartext_is_pad_bar_bracket_timestamp(long_pad: bool) -> None:
    """*ACK: hex of AES(pad without [ ] |, '|]', timestamp); decryptable and byte-exact."""
    header = _header(encrypted=True, line="0", account="1234")
    rng = random.Random(7)
    ack = encode_ack(header, now=NOW, key=KEY, random_bytes=rng.randbytes, long_pad=long_pad)
    prefix = b'"*ACK"0042L0#1234['
    body = ack[9:-1]
    assert body.startswith(prefix)
    assert ack[1:9] == f"{crc16_arc(body):04X}{len(body):04X}".encode()
    clear = crypto.decrypt(KEY, binascii.unhexlify(body[len(prefix) :]))
    pad, tail = clear.split(b"|", 1)
    assert tail == b"]_12:00:00,03-04-2026"
    assert not set(pad) & set(b"[]|")
    assert 1 <= len(pad) <= 16 if not long_pad else 16 <= len(pad) <= 31
    assert len(clear) % 16 == 0


def test_encrypted_ack_parses_as_reply() -> None:
    """Our *ACK decrypts with our own parser (reply tokens served)."""
    from alarmrx.protocols import REPLY_DECODERS, AccountPolicy, parse_frame

    header = _header(encrypted=True, line="0", account="1234")
    ack = encode_ack(header, now=NOW, key=KEY, random_bytes=random.Random(1).randbytes)
    message = parse_frame(
        ack, accounts=lambda _h, _a: AccountPolicy(key=KEY), now=NOW, decoders=REPLY_DECODERS
    )
    assert (message.header.token, message.timestamp) == ("ACK", NOW)


def test_encrypted_replies_need_key_and_random_source() -> None:
    """Encrypting without a key or a random source is a programming error."""
    header = _header(encrypted=True)
    with pytest.raises(ValueError, match="key"):
        encode_ack(header, now=NOW)
    with pytest.raises(ValueError, match="key"):
        encode_message(header=header, data="#1|NRP")


def test_plain_ack_needs_no_time() -> None:
    """A plaintext ACK without a timestamp carries no time: built the same without one."""
    header = _header(line="0", account="1234")
    assert encode_ack(header, now=None) == encode_ack(header, now=NOW)


@pytest.mark.parametrize(("encrypted", "plain_timestamp"), [(True, False), (False, True)])
def test_an_ack_with_a_time_needs_now(encrypted: bool, plain_timestamp: bool) -> None:
    """An ACK that carries the receiver's time refuses to be built without it."""
    header = _header(encrypted=encrypted, account="1234")
    with pytest.raises(ValueError, match="now is required"):
        encode_ack(
            header,
            now=None,
            key=KEY,
            random_bytes=random.Random(1).randbytes,
            plain_timestamp=plain_timestamp,
        )


@pytest.mark.parametrize("long_pad", [False, True])
def test_seal_is_encrypt_block_as_bytes(long_pad: bool) -> None:
    """``seal`` gives the bytes of ``encrypt_block`` for the same random source."""
    body = "]_12:00:00,03-04-2026"
    text = crypto.encrypt_block(KEY, body, random.Random(5).randbytes, long_pad=long_pad)
    sealed = crypto.seal(KEY, b"|" + body.encode(), random.Random(5).randbytes, long_pad=long_pad)
    assert sealed == text.encode("ascii")
    assert text == text.upper()


def test_nak_form() -> None:
    """NAK: never encrypted, fixed addressing, the receiver's time."""
    body = b'"NAK"0000R0L0A0[]_12:00:00,03-04-2026'
    assert encode_nak(now=NOW) == b"\n" + f"{crc16_arc(body):04X}0025".encode() + body + b"\r"
    assert encode_nak(now=NOW, crc_style=CRCStyle.BINARY)[1:3] == crc16_arc(body).to_bytes(2)


def test_duh_echoes_and_mirrors_binary_crc() -> None:
    """DUH echoes sequence and addressing; a binary-CRC panel gets a binary-CRC reply."""
    header = _header(
        encrypted=True, receiver="1", line="1", account="9413", crc_style=CRCStyle.BINARY
    )
    duh = encode_duh(header)
    body = b'"DUH"0042R1L1#9413[]'
    assert duh == b"\n" + crc16_arc(body).to_bytes(2) + b"0014" + body + b"\r"
    ack = encode_ack(_header(crc_style=CRCStyle.BINARY), now=NOW)
    assert ack[3:7] == b"000B"


def test_encode_message_round_trips_xdata() -> None:
    """Outgoing frames carry xdata blocks and the timestamp."""
    from alarmrx.protocols import XData

    raw = encode_message(
        header=_header(line="0", account="1234"),
        data="#1234|NFA1",
        xdata=[XData(letter="M", value="0026B9E4268B")],
        timestamp=NOW,
    )
    message = parse(raw)
    assert message.xdata == (XData(letter="M", value="0026B9E4268B"),)
    assert message.timestamp == NOW


def test_reply_kind_rsp_for_a_key_block() -> None:
    """A message carrying a ``[K…]`` block is answered RSP; any other, ACK."""
    plain = parse(frame('"SIA-DCS"0001L0#1234[#1234|NBA1][M00AA]'))
    keyed = parse(frame('"SIA-DCS"0001L0#1234[#1234|NBA1][M00AA][K0123]'))
    assert (reply_kind(plain), reply_kind(keyed)) == (Reply.ACK, Reply.RSP)
