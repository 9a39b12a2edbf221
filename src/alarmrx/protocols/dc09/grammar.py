"""The DC-09 frame grammar (docs/protocol.md, "Frame layout"), transcribed once.

``<LF><crc><0LLL>"[*]token"<seq>[R<receiver>][L<line>][#<account>][<data>][<x…>]*[_ts]<CR>``
"""

from __future__ import annotations

import re

# After the length field: the quoted token, sequence, optional R/L/# fields, opening '['.
# Everything is captured verbatim so the reply echoes exactly what was received.
HEADER_RE = re.compile(
    r'"(?P<star>\*?)(?P<token>[^"*]*)"'
    r"(?P<sequence>[0-9]{4})"
    r"(?:R(?P<receiver>[0-9A-Fa-f]{0,6}))?"
    r"(?:L(?P<line>[0-9A-Fa-f]{0,6}))?"
    r"(?:#(?P<account>[^\[#]{0,16}))?"
    r"\["
)

# _HH:MM:SS,MM-DD-YYYY (docs/protocol.md, "Timestamp"), UTC unless the account says otherwise.
TIMESTAMP_RE = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2}),([0-9]{2})-([0-9]{2})-([0-9]{4})")

HEX_DIGITS = frozenset("0123456789ABCDEFabcdef")
# Hex digits only (CRC, length, ciphertext: one or more; an account: any number).
HEX_BYTES_RE = re.compile(rb"[0-9A-Fa-f]+")
HEX_TEXT_RE = re.compile(r"[0-9A-Fa-f]*")

# Tokens of DC-09 §5.5 and Annex H (docs/protocol.md, "Tokens"). Only some carry payloads we decode;
# the rest parse and get DUH.
KNOWN_TOKENS = frozenset(
    {
        "NULL",
        "XNM",
        "ACK",
        "NAK",
        "DUH",
        "RSP",
        "SIA-PUL",
        "ACR-SF",
        "ADM-CID",
        "ADM-41E",
        "ADM-42E",
        "ADM-HS",
        "DSC-43",
        "FBI-SF",
        "ITI-I",
        "SCN-S8",
        "SCN-S16",
        "SCN-S24",
        "SCT",
        "SES-SS",
        "SIA-DCS",
        "SIA-S2K",
        "SK-FSK1",
        "SK-FSK2",
    }
)
LINK_TEST_TOKENS = frozenset({"NULL", "XNM"})
REPLY_TOKENS = frozenset({"ACK", "NAK", "DUH", "RSP"})
