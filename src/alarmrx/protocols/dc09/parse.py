"""``parse_frame``: one ``LF … CR`` frame in, a ``DC09Message`` or a ``ProtocolError`` out.

Order of checks: shape, length, CRC (over the exact bytes, before any decoding), header,
account, decryption, content grammar, timestamp test, payload. Every failure raises a
``ProtocolError`` whose reason decides the reply; once the header has parsed the
error carries it, so the reply can echo the addressing. An account whose policy accepts
unrecognised payloads gets an intact frame whose token, content grammar or payload is not
understood back as a message marked ``unrecognised`` instead (docs/protocol.md).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

import msgspec

from alarmrx.protocols import contact_id, sia_dcs
from alarmrx.protocols.contact_id import Payload
from alarmrx.protocols.dc09 import crypto
from alarmrx.protocols.dc09.crc import crc16_arc
from alarmrx.protocols.dc09.grammar import (
    HEADER_RE,
    HEX_BYTES_RE,
    HEX_TEXT_RE,
    LINK_TEST_TOKENS,
    REPLY_TOKENS,
    TIMESTAMP_RE,
)
from alarmrx.protocols.dc09.message import (
    AccountPolicy,
    CRCStyle,
    DC09Message,
    Event,
    FrameHeader,
    Quirk,
    TimestampWindow,
    Unrecognised,
    XData,
)
from alarmrx.protocols.errors import ProtocolError, RejectReason
from alarmrx.protocols.framing import CR, LF, is_binary_crc_head

# (header, account) -> policy; the header gives the receiver and line fields, since one
# account number may be served differently under different line prefixes.
AccountLookup = Callable[[FrameHeader, str | None], AccountPolicy | None]
Decoder = Callable[[str], Payload]

_QUOTE = 0x22
_TRAILING_JUNK = frozenset(b"\x00\n ")


def _decode_empty(data: str) -> Payload:
    """NULL and replies carry no events; whatever is in their data block is ignored."""
    del data
    return Payload(account=None, events=(), quirks=frozenset())


MESSAGE_DECODERS: Mapping[str, Decoder] = {
    "SIA-DCS": sia_dcs.decode,
    "ADM-CID": contact_id.decode,
    # HB (Heng Bo) panels: Contact ID data under their own token (captainwong/ademco_hb,
    # docs/README.md); their private codes 17xx come out as unknown codes.
    "HENG-BO": contact_id.decode,
    **dict.fromkeys(LINK_TEST_TOKENS, _decode_empty),
}
REPLY_DECODERS: Mapping[str, Decoder] = dict.fromkeys(REPLY_TOKENS, _decode_empty)


def parse_frame(
    frame: bytes,
    *,
    accounts: AccountLookup,
    now: datetime,
    decoders: Mapping[str, Decoder] = MESSAGE_DECODERS,
) -> DC09Message:
    """Parse one frame (``LF`` … ``CR`` included).

    ``accounts`` maps the frame's header and account (None when it has none) to the
    account's policy, or to None when the account is not served. ``now`` is the receiver's
    time (aware, UTC).
    Returns the message or raises a ``ProtocolError``, and nothing else.
    """
    quirks: set[Quirk] = set()
    crc_style, declared_crc, length_text, body = _split(frame, quirks)
    _check_length(length_text, len(body), quirks)
    _check_crc(declared_crc, body, quirks)
    header, end = _parse_header(body, crc_style, quirks)
    rest = body[end:]
    try:
        return _parse_after_header(
            header, rest, quirks=quirks, accounts=accounts, now=now, decoders=decoders, raw=frame
        )
    except ProtocolError as err:
        err.header = header
        raise


# A frame head without its LF: 2 raw CRC bytes or 4 hex digits, then `0LLL"`.
_BARE_HEAD = re.compile(rb'(?s:..|[0-9A-Fa-f]{4})0[0-9A-Fa-f]{3}"')


def _split(frame: bytes, quirks: set[Quirk]) -> tuple[CRCStyle, int, bytes, bytes]:
    if frame[:1] != b"\n" and _BARE_HEAD.match(frame):
        # Sent without the LF … CR envelope (OPAX, binary CRC): parsed as if it had one;
        # the length and CRC checks decide as for any frame, and ``raw`` keeps what came.
        quirks.add(Quirk.NO_ENVELOPE)
        frame = b"\n" + frame + (b"" if frame.endswith(b"\r") else b"\r")
    end = _frame_end(frame, quirks)
    if end < 10 or frame[0] != LF:
        msg = "a frame is LF, CRC, length, body, CR"
        raise ProtocolError(RejectReason.FRAMING, msg)
    if frame[9] != _QUOTE and is_binary_crc_head(frame):
        quirks.add(Quirk.BINARY_CRC)
        return CRCStyle.BINARY, int.from_bytes(frame[1:3], "big"), frame[3:7], frame[7 : end - 1]
    crc_text = frame[1:5]
    if frame[9] != _QUOTE or not HEX_BYTES_RE.fullmatch(crc_text):
        msg = "no 4-hex-digit CRC and 4-digit length before the opening quote"
        raise ProtocolError(RejectReason.FRAMING, msg)
    if not crc_text.isupper() and not crc_text.isdigit():
        quirks.add(Quirk.LOWERCASE_HEX)
    return CRCStyle.HEX, int(crc_text, 16), frame[5:9], frame[9 : end - 1]


def _frame_end(frame: bytes, quirks: set[Quirk]) -> int:
    """Index after the closing CR; NUL, LF or space after it (one UDP datagram) is a quirk."""
    end = len(frame)
    while end and frame[end - 1] in _TRAILING_JUNK:
        end -= 1
    if end < len(frame):
        quirks.add(Quirk.TRAILING_BYTES)
    return end if end and frame[end - 1] == CR else 0


def _check_length(text: bytes, actual: int, quirks: set[Quirk]) -> None:
    if not HEX_BYTES_RE.fullmatch(text):
        msg = f"length field {text.decode('latin-1')!r} is not 0LLL hex"
        raise ProtocolError(RejectReason.LENGTH, msg)
    if not text.isdigit() and not text.isupper():
        quirks.add(Quirk.LOWERCASE_HEX)  # Visonic PowerLink 3.1 (`001d`)
    declared = int(text, 16)
    if declared == actual:
        return
    if declared == actual + 1:
        quirks.add(Quirk.LENGTH_INCLUDES_CR)  # ELDES
        return
    if text.isdigit() and int(text, 10) == actual:
        quirks.add(Quirk.DECIMAL_LENGTH)
        return
    msg = f"length field says {declared} bytes, the body has {actual}"
    raise ProtocolError(RejectReason.LENGTH, msg)


def _check_crc(declared: int, body: bytes, quirks: set[Quirk]) -> None:
    computed = crc16_arc(body)
    if computed == declared:
        return
    # ELDES counts the CR in both fields; only a length that did so lets the CRC do so, which
    # keeps a corrupted body from passing as "CRC over body + CR" (1 in 65 536).
    if Quirk.LENGTH_INCLUDES_CR in quirks and crc16_arc(body + b"\r") == declared:
        quirks.add(Quirk.CRC_INCLUDES_CR)
        return
    msg = f"CRC declared {declared:04X}, computed {computed:04X}"
    raise ProtocolError(RejectReason.CRC, msg)


def _parse_header(body: bytes, crc_style: CRCStyle, quirks: set[Quirk]) -> tuple[FrameHeader, int]:
    try:
        text = body[:64].decode("ascii")
    except UnicodeDecodeError:
        text = body[: _first_non_ascii(body)].decode("ascii")
    match = HEADER_RE.match(text)
    if match is None:
        msg = f"header {text[:40]!r} does not match '\"token\"seq[R…][L…][#acct]['"
        raise ProtocolError(RejectReason.FRAMING, msg)
    star, token, sequence, receiver, line, account = match.groups()
    if line is None:
        quirks.add(Quirk.MISSING_LINE)
    elif line == "":
        quirks.add(Quirk.EMPTY_LINE)
    if not account:
        quirks.add(Quirk.MISSING_ACCOUNT)
        account = None
    header = FrameHeader(
        token=token,
        encrypted=bool(star),
        sequence=sequence,
        receiver=receiver,
        line=line,
        account=account,
        crc_style=crc_style,
    )
    return header, match.end()


def _first_non_ascii(data: bytes) -> int:
    return next(i for i, byte in enumerate(data) if byte > 0x7F)


def _parse_after_header(
    header: FrameHeader,
    rest: bytes,
    *,
    quirks: set[Quirk],
    accounts: AccountLookup,
    now: datetime,
    decoders: Mapping[str, Decoder],
    raw: bytes,
) -> DC09Message:
    decoder = decoders.get(header.token)
    policy = None if decoder is not None else _unserved_token(accounts, header, rest)
    if header.token in LINK_TEST_TOKENS and header.sequence != "0000":
        quirks.add(Quirk.NULL_NONZERO_SEQUENCE)
    if header.encrypted:
        policy = policy or _policy(accounts, header, header.account)
        content = _decrypt(policy, rest, quirks)
    else:
        # Latin-1 maps every byte to one character, so nothing is lost: DC-09 lets some
        # xdata blocks carry Windows-1252 or UTF-8 text (ioBroker.sia issue #63).
        content = rest.decode("latin-1")
    decoded = _decode_content(header, content, decoder, accounts, policy)
    payload, policy = decoded.payload, decoded.policy
    if policy is None:
        policy = _policy(accounts, header, header.account or payload.account)
    if not header.encrypted and policy.require_encryption:
        msg = "plaintext frame for an account that requires encryption"
        raise ProtocolError(RejectReason.ENCRYPTION_REQUIRED, msg)
    timestamp = _timestamp(decoded.timestamp, policy, now, encrypted=header.encrypted)
    quirks |= payload.quirks
    _account_quirks(header.account, payload.account, quirks)
    return DC09Message(
        header=header,
        data_account=payload.account,
        events=payload.events,
        xdata=decoded.xdata,
        timestamp=timestamp,
        content=content,
        quirks=frozenset(quirks),
        raw=raw,
        unrecognised=decoded.unrecognised,
    )


# gc=False: its fields are values that never refer back to it, so it is in no reference
# cycle and the garbage collector need not track it.
class _Content(msgspec.Struct, frozen=True, gc=False):
    """The content after the header, decoded as far as the frame allows (one per frame, so
    a Struct, built in C)."""

    payload: Payload
    xdata: tuple[XData, ...]
    timestamp: str | None
    policy: AccountPolicy | None  # looked up already, when deciding on an unrecognised frame
    unrecognised: Unrecognised | None = None


def _decode_content(
    header: FrameHeader,
    content: str,
    decoder: Decoder | None,
    accounts: AccountLookup,
    policy: AccountPolicy | None,
) -> _Content:
    """Split and decode the content; what cannot be understood raises, unless the account
    accepts unrecognised payloads (then the frame is kept with what could be decoded)."""
    try:
        data, xdata, timestamp = _split_content(content, encrypted=header.encrypted)
    except ProtocolError as err:
        if header.encrypted:  # a plaintext layout only; an encrypted one failed to decrypt
            raise
        policy = _accepting(err, accounts, header, content, policy)
        return _Content(_nothing(content), (), None, policy, _unrecognised(err))
    if decoder is None:  # a token no decoder serves, from an account that accepts it
        unserved = ProtocolError(
            RejectReason.UNSUPPORTED_TOKEN, f"token {header.token!r} is not decoded"
        )
        return _Content(_nothing(data), xdata, timestamp, policy, _unrecognised(unserved))
    try:
        return _Content(decoder(data), xdata, timestamp, policy)
    except ProtocolError as err:
        policy = _accepting(err, accounts, header, data, policy)
        payload = _partial(decoder, data)
        return _Content(payload, xdata, timestamp, policy, _unrecognised(err))


def _unserved_token(accounts: AccountLookup, header: FrameHeader, rest: bytes) -> AccountPolicy:
    """The policy for a token without a decoder, if its account accepts unrecognised
    payloads; replies (ACK, NAK, DUH, RSP) are never accepted as messages."""
    err = ProtocolError(RejectReason.UNSUPPORTED_TOKEN, f"token {header.token!r} is not served")
    if header.token in REPLY_TOKENS:
        raise err
    text = "" if header.encrypted else rest.decode("latin-1")
    return _accepting(err, accounts, header, text, None)


def _accepting(
    err: ProtocolError,
    accounts: AccountLookup,
    header: FrameHeader,
    data: str,
    policy: AccountPolicy | None,
) -> AccountPolicy:
    """The account's policy if it accepts unrecognised payloads; else ``err`` is raised."""
    if policy is None:
        policy = accounts(header, header.account or _data_account(data))
    if policy is None or not policy.accept_unrecognised:
        raise err
    return policy


def _data_account(data: str) -> str | None:
    """``acct`` of a data block starting ``#acct|``, read without the payload's grammar."""
    bar = data.find("|")
    if not data.startswith("#") or bar < 0 or "]" in data[:bar]:
        return None
    return data[1:bar] or None


def _partial(decoder: Decoder, data: str) -> Payload:
    """The events of the ``|``-separated blocks that decode on their own, when the whole
    data block does not (SIA DCS: ``#1234|NBA1|N??|NFA2`` keeps BA 1 and FA 2)."""
    account = _data_account(data)
    blocks = sia_dcs.split_blocks(data)[1 if data.startswith("#") else 0 :]
    events: list[Event] = []
    for block in blocks:
        try:
            events += decoder(block).events
        except ProtocolError:
            continue  # this block is what was not understood
    return Payload(account=account, events=tuple(events), quirks=frozenset())


def _nothing(data: str) -> Payload:
    return Payload(account=_data_account(data), events=(), quirks=frozenset())


def _unrecognised(err: ProtocolError) -> Unrecognised:
    return Unrecognised(reason=err.reason.value, detail=err.detail)


def _policy(accounts: AccountLookup, header: FrameHeader, account: str | None) -> AccountPolicy:
    policy = accounts(header, account)
    if policy is None:
        msg = f"account {account!r} is not served" if account else "frame names no account"
        raise ProtocolError(RejectReason.UNKNOWN_ACCOUNT, msg)
    return policy


def _decrypt(policy: AccountPolicy, hex_text: bytes, quirks: set[Quirk]) -> str:
    if policy.key is None:
        msg = "encrypted frame for an account without a key"
        raise ProtocolError(RejectReason.NO_KEY, msg)
    if not hex_text or len(hex_text) % 32:
        raise _not_blocks(hex_text)
    try:
        ciphertext = binascii.unhexlify(hex_text)  # strict: hex digits only
    except binascii.Error as err:
        raise _not_blocks(hex_text) from err
    if not hex_text.isupper() and not hex_text.isdigit():
        quirks.add(Quirk.LOWERCASE_HEX)
    return _strip_pad(crypto.decrypt(policy.key, ciphertext), quirks)


def _not_blocks(hex_text: bytes) -> ProtocolError:
    """The error for a ciphertext that is not whole AES blocks in hex (its text built only
    when it is raised)."""
    msg = f"ciphertext of {len(hex_text)} characters is not whole AES blocks in hex"
    return ProtocolError(RejectReason.DECRYPT, msg)


# A wrong key gives random cleartext. It is told from a right one by the cleartext's
# structure, not its character set (x-data may be UTF-8 or Windows-1252): a pad free of
# '[', then '|' (or, DC-09-2026 style with empty data, directly ']'), then a data block free
# of control characters, then the layout `] [x…]* _timestamp` that ``_split_content`` checks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WRONG_KEY = "wrong key or corrupted ciphertext"


def _strip_pad(clear: bytes, quirks: set[Quirk]) -> str:
    bar, close = clear.find(b"|"), clear.find(b"]")
    if bar >= 0 and (close < 0 or bar < close):
        pad, content = clear[:bar], clear[bar + 1 :]
    elif close >= 0:
        quirks.add(Quirk.NO_PAD_SEPARATOR)  # DC-09-2026 style, empty data
        pad, content = clear[:close], clear[close:]
    else:
        msg = f"no pad separator after decryption: {_WRONG_KEY}"
        raise ProtocolError(RejectReason.DECRYPT, msg)
    if b"[" in pad:
        msg = f"'[' in the pad: {_WRONG_KEY}"
        raise ProtocolError(RejectReason.DECRYPT, msg)
    if len(pad) >= crypto.BLOCK:
        quirks.add(Quirk.LONG_PAD)
    text = content.decode("latin-1")  # every byte kept; x-data text is decoded per letter
    end = text.find("]")
    if _CONTROL.search(text, 0, end if end >= 0 else len(text)):
        msg = f"control characters in the decrypted data block: {_WRONG_KEY}"
        raise ProtocolError(RejectReason.DECRYPT, msg)
    return text


def _split_content(content: str, *, encrypted: bool) -> tuple[str, tuple[XData, ...], str | None]:
    """``data]`` then ``[x…]`` blocks then ``_timestamp``; nothing may follow."""
    reason = RejectReason.DECRYPT if encrypted else RejectReason.FRAMING
    close = _data_end(content)
    if close < 0:
        raise ProtocolError(reason, "data block has no closing ']'")
    data, tail = content[:close], content[close + 1 :]
    xdata: list[XData] = []
    while tail.startswith("["):
        end = tail.find("]")
        if end < 0:
            raise ProtocolError(reason, "extended data block has no closing ']'")
        xdata.append(_xdata(tail[1:end]))
        tail = tail[end + 1 :]
    timestamp = None
    if tail.startswith("_"):
        timestamp, tail = tail[1:20], tail[20:]
    if tail:
        raise ProtocolError(reason, f"unexpected {tail[:20]!r} after the data")
    return data, tuple(xdata), timestamp


# x-data letters whose value is text in a stated character set: `I` alarm text in UTF-8
# (DC-09-2026, siadc09) else Windows-1252 (pysiaalarm), `P` programming data in Windows-1252
# (DC-09-2013 TOC; docs/protocol.md, "Extended data"). Any other non-ASCII value is read as Latin-1.
TEXT_CODECS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"I": ("utf-8", "cp1252"), "P": ("cp1252",)}
)


def _xdata(block: str) -> XData:
    """``letter value`` of one ``[x…]`` block (``[]``: both empty), its text decoded."""
    letter, value = block[:1], block[1:]
    if value.isascii():
        return XData(letter=letter, value=value)
    raw = value.encode("latin-1")  # the bytes as received (content is Latin-1)
    for codec in TEXT_CODECS.get(letter, ()):
        try:
            return XData(letter=letter, value=raw.decode(codec), encoding=codec)
        except UnicodeDecodeError:
            continue
    return XData(letter=letter, value=value, encoding="latin-1")


def _data_end(content: str) -> int:
    """Index of the ']' closing the data block, skipping ``^text^``."""
    if "^" not in content:
        return content.find("]")  # the common case, without a loop in Python
    in_text = False
    for i, char in enumerate(content):
        if char == "^":
            in_text = not in_text
        elif char == "]" and not in_text:
            return i
    return -1


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timestamp(
    text: str | None, policy: AccountPolicy, now: datetime, *, encrypted: bool
) -> datetime | None:
    if text is None:
        if encrypted:
            msg = "encrypted frame without a timestamp"
            raise ProtocolError(RejectReason.TIMESTAMP, msg)
        return None
    stamp = _panel_time(text, policy.panel_timezone) + policy.clock_offset
    if policy.window is not None and (encrypted or policy.check_plain_timestamp):
        _check_window(stamp, now, policy.window)
    return stamp


# Panels send the same timestamp text many times within a second or two, so the parsed time
# is kept: a hit costs a fraction of parsing it. A bad text raises every time.
@lru_cache(maxsize=1024)
def _panel_time(text: str, zone_name: str | None) -> datetime:
    """``HH:MM:SS,MM-DD-YYYY`` in the named zone (UTC for None), converted to UTC."""
    match = TIMESTAMP_RE.fullmatch(text)
    zone = _zone(zone_name) if zone_name else UTC
    try:
        if match is None:
            raise ValueError(text)
        hour, minute, second, month, day, year = map(int, match.groups())
        local = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as err:
        msg = f"timestamp {text!r} is not HH:MM:SS,MM-DD-YYYY"
        raise ProtocolError(RejectReason.TIMESTAMP, msg) from err
    return local.astimezone(UTC)  # itself when in UTC


def _check_window(stamp: datetime, now: datetime, window: TimestampWindow) -> None:
    skew = stamp - now
    if -window.past <= skew <= window.future:
        return
    second = timedelta(seconds=1)
    msg = (
        f"panel time is {skew / second:+.0f} s from the receiver's "
        f"(window -{window.past / second:.0f}/+{window.future / second:.0f} s)"
    )
    raise ProtocolError(RejectReason.TIMESTAMP, msg)


def _account_quirks(header: str | None, data: str | None, quirks: set[Quirk]) -> None:
    account = header if header is not None else data
    if header is not None and data and data != header:
        quirks.add(Quirk.ACCOUNT_MISMATCH)
    if account is None:
        return
    # Decimal (in Latin-1 only 0-9) is the usual account and needs no regex.
    if not account.isdecimal() and not HEX_TEXT_RE.fullmatch(account):
        quirks.add(Quirk.NON_HEX_ACCOUNT)
    if len(account) < 3:
        quirks.add(Quirk.SHORT_ACCOUNT)
