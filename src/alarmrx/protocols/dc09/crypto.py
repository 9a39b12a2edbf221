"""AES-CBC with a zero IV, as DC-09 specifies (docs/protocol.md, "Encryption").

Keys are 16, 24 or 32 bytes. Installers type them either as hex (32/48/64 digits) or as
the 16/24/32 ASCII characters themselves (Ajax, pysiaalarm); ``parse_key`` accepts both.
No PKCS#7: the DC-09 pad is part of the cleartext.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from threading import get_ident

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

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


# Creating a cipher context costs more than the AES work on a frame, so each key keeps an
# ECB context for each direction it is used in, and CBC with the zero IV is done here by
# xoring blocks, cheaper than a new CBC context per frame. ECB contexts carry no state from
# one call to the next, so sharing one is safe; but a context refuses to be used from two
# threads at once, hence one per thread.
_ECB = modes.ECB()  # noqa: S305 - the CBC chaining is done here, block by block


@lru_cache(maxsize=4096)
def _decryptor(key: bytes, thread: int) -> CipherContext:
    del thread  # part of the cache key only
    return Cipher(algorithms.AES(key), _ECB).decryptor()


@lru_cache(maxsize=4096)
def _encryptor(key: bytes, thread: int) -> CipherContext:
    del thread  # part of the cache key only
    return Cipher(algorithms.AES(key), _ECB).encryptor()


def _check_whole_blocks(data: bytes) -> None:
    """A shared ECB context would keep a partial block for the next caller: refuse it."""
    if len(data) % BLOCK:
        msg = f"{len(data)} bytes are not whole AES blocks"
        raise ValueError(msg)


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt whole blocks; the caller checks ``len(ciphertext) % 16 == 0``.

    CBC: each decrypted block is xored with the ciphertext block before it (the IV first).
    """
    _check_whole_blocks(ciphertext)
    blocks = _decryptor(key, get_ident()).update(ciphertext)
    chain = _ZERO_IV + ciphertext[:-BLOCK]
    return (int.from_bytes(blocks) ^ int.from_bytes(chain)).to_bytes(len(ciphertext))


def encrypt(key: bytes, cleartext: bytes) -> bytes:
    """Encrypt whole blocks; the caller pads to a multiple of 16.

    CBC: each cleartext block is xored with the ciphertext block before it (the IV first).
    """
    _check_whole_blocks(cleartext)
    update = _encryptor(key, get_ident()).update
    out = []
    previous = 0
    for start in range(0, len(cleartext), BLOCK):
        block = int.from_bytes(cleartext[start : start + BLOCK]) ^ previous
        out.append(update(block.to_bytes(BLOCK)))
        previous = int.from_bytes(out[-1])
    return b"".join(out)


_PAD_FORBIDDEN = b"[]|"


def make_pad(length: int, random_bytes: RandomBytes) -> bytes:
    """Pad bytes from ``random_bytes`` with ``[``, ``]`` and ``|`` removed (§5.4.4.2)."""
    pad = b""
    while len(pad) < length:
        pad += random_bytes(length).translate(None, _PAD_FORBIDDEN)
    return pad[:length]


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
    return encrypt(key, cleartext).hex().upper()
