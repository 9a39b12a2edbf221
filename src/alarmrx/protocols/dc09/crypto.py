"""AES-CBC with a zero IV, as DC-09 specifies (docs/protocol.md, "Encryption").

Keys are 16, 24 or 32 bytes. Installers type them either as hex (32/48/64 digits) or as
the 16/24/32 ASCII characters themselves (Ajax, pysiaalarm); ``parse_key`` accepts both.
No PKCS#7: the DC-09 pad is part of the cleartext.
"""

from __future__ import annotations

from binascii import b2a_hex
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


# Creating a cipher context costs more than the AES work on a frame, so each key keeps a
# context for each direction it is used in, cheaper than a new CBC context per frame.
# Decryption uses ECB and does the CBC xor here over the whole message (no state carries
# from one call to the next); encryption keeps a CBC context (``_ChainedEncryptor``). A
# context refuses to be used from two threads at once, hence one per thread.
_ECB = modes.ECB()  # noqa: S305 - the CBC chaining is done here, block by block


@lru_cache(maxsize=4096)
def _decryptor(key: bytes, thread: int) -> CipherContext:
    del thread  # part of the cache key only
    return Cipher(algorithms.AES(key), _ECB).decryptor()


class _ChainedEncryptor:
    """A CBC context kept for one key. CBC chains every block to the ciphertext block before
    it, across ``update`` calls too, so the context carries the previous message's last
    ciphertext block (``_last``) as the IV of the next. Xoring ``_last`` into a message's
    first block cancels it: each message comes out encrypted under the zero IV, in one call
    into the library instead of one per block."""

    __slots__ = ("_context", "_last")

    def __init__(self, key: bytes) -> None:
        self._context = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).encryptor()
        self._last = 0  # the context's IV so far: the zero IV

    def encrypt(self, cleartext: bytes) -> bytes:
        first = int.from_bytes(cleartext[:BLOCK]) ^ self._last
        ciphertext = self._context.update(first.to_bytes(BLOCK) + cleartext[BLOCK:])
        self._last = int.from_bytes(ciphertext[-BLOCK:])
        return ciphertext


@lru_cache(maxsize=4096)
def _encryptor(key: bytes, thread: int) -> _ChainedEncryptor:
    del thread  # part of the cache key only
    return _ChainedEncryptor(key)


def _not_whole_blocks(data: bytes) -> ValueError:
    """A shared ECB context would keep a partial block for the next caller: refused."""
    return ValueError(f"{len(data)} bytes are not whole AES blocks")


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Decrypt whole blocks; the caller checks ``len(ciphertext) % 16 == 0``.

    CBC: each decrypted block is xored with the ciphertext block before it (the IV first).
    """
    if len(ciphertext) % BLOCK:
        raise _not_whole_blocks(ciphertext)
    blocks = _decryptor(key, get_ident()).update(ciphertext)
    chain = _ZERO_IV + ciphertext[:-BLOCK]
    return (int.from_bytes(blocks) ^ int.from_bytes(chain)).to_bytes(len(ciphertext))


def encrypt(key: bytes, cleartext: bytes) -> bytes:
    """Encrypt whole blocks; the caller pads to a multiple of 16.

    CBC: each cleartext block is xored with the ciphertext block before it (the IV first).
    """
    if len(cleartext) % BLOCK:
        raise _not_whole_blocks(cleartext)
    if not cleartext:
        return b""
    return _encryptor(key, get_ident()).encrypt(cleartext)


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
    return seal(key, b"|" + body.encode("ascii"), random_bytes, long_pad=long_pad).decode("ascii")


def seal(key: bytes, payload: bytes, random_bytes: RandomBytes, *, long_pad: bool) -> bytes:
    """``encrypt_block`` for a payload already encoded with its ``|``, as ASCII bytes: what
    an encrypted ACK is built from, without a round trip through text."""
    pad_len = BLOCK - len(payload) % BLOCK
    if long_pad and pad_len < BLOCK:
        pad_len += BLOCK
    # Whole blocks by construction, and never empty (the pad is at least one byte).
    cleartext = make_pad(pad_len, random_bytes) + payload
    return b2a_hex(_encryptor(key, get_ident()).encrypt(cleartext)).upper()
