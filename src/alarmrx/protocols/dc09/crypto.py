"""AES-CBC with a zero IV, as DC-09 specifies (standards.md §1.10).

Keys are 16, 24 or 32 bytes. Installers type them either as hex (32/48/64 digits) or as
the 16/24/32 ASCII characters themselves (Ajax, pysiaalarm); ``parse_key`` accepts both.
No PKCS#7: the DC-09 pad is part of the cleartext.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 16
_ZERO_IV = bytes(BLOCK)
_KEY_SIZES = (16, 24, 32)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

RandomBytes = Callable[[int], bytes]


class KeyFormatError(ValueError):
    """The key text is neither 32/48/64 hex digits nor 16/24/32 ASCII characters."""


def parse_key(text: str) -> bytes:
    """Return the AES key that ``text`` denotes: hex first, then ASCII characters."""
    if len(text) in (32, 48, 64) and set(text) <= _HEX_DIGITS:
        return bytes.fromhex(text)
    if len(text) in _KEY_SIZES and text.isascii() and text.isprintable():
        return text.encode("ascii")
    msg = (
        f"a key is 32, 48 or 64 hex digits or 16, 24 or 32 ASCII characters; "
        f"got {len(text)} characters"
    )
    raise KeyFormatError(msg)


@lru_cache(maxsize=4096)
def _cipher(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt whole blocks; the caller checks ``len(ciphertext) % 16 == 0``."""
    decryptor = _cipher(key).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def encrypt(key: bytes, cleartext: bytes) -> bytes:
    """Encrypt whole blocks; the caller pads to a multiple of 16."""
    encryptor = _cipher(key).encryptor()
    return encryptor.update(cleartext) + encryptor.finalize()


_PAD_FORBIDDEN = frozenset(b"[]|")


def make_pad(length: int, random_bytes: RandomBytes) -> bytes:
    """Pad bytes from ``random_bytes`` with ``[``, ``]`` and ``|`` removed (§5.4.4.2)."""
    pad = bytearray()
    while len(pad) < length:
        pad += bytes(b for b in random_bytes(length) if b not in _PAD_FORBIDDEN)
    return bytes(pad[:length])


def encrypt_block(key: bytes, body: str, random_bytes: RandomBytes, *, long_pad: bool) -> str:
    """Return the upper-case hex ciphertext of ``pad | body``.

    DC-09-2013: 1-16 pad bytes so the total is a multiple of 16; with ``long_pad`` the
    DC-09-2026 style of 16-31 bytes.
    """
    payload = b"|" + body.encode("ascii")
    pad_len = BLOCK - len(payload) % BLOCK
    if long_pad and pad_len < BLOCK:
        pad_len += BLOCK
    cleartext = make_pad(pad_len, random_bytes) + payload
    return binascii.hexlify(encrypt(key, cleartext)).decode("ascii").upper()
