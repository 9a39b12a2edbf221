"""The benchmark's accounts and keys, one deterministic set per encryption mode.

Keys are ASCII hex characters (16 for AES-128, 32 for AES-256) because pysiaalarm takes a
key as 16/24/32 hex characters and uses those characters themselves as the AES key. alarmrx
is given the same bytes written as 32/64 hex digits, so both receivers hold one key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# mode name -> key length in bytes (None: plaintext)
MODES: dict[str, int | None] = {"plain": None, "aes128": 16, "aes256": 32}


@dataclass(frozen=True, slots=True)
class BenchAccount:
    """One simulated panel account and its AES key (None in plaintext mode)."""

    account: str
    key: bytes | None

    @property
    def key_text(self) -> str | None:
        """The key as pysiaalarm takes it: the ASCII characters themselves."""
        return None if self.key is None else self.key.decode("ascii")

    @property
    def key_hex(self) -> str | None:
        """The key as 32/64 hex digits, unambiguous for alarmrx's ``parse_key``."""
        return None if self.key is None else self.key.hex().upper()


def make_accounts(count: int, mode: str) -> tuple[BenchAccount, ...]:
    """``count`` accounts ``000001``…; keys derived from the account number and mode."""
    size = MODES[mode]
    return tuple(_account(index, size) for index in range(count))


def _account(index: int, size: int | None) -> BenchAccount:
    account = f"{index + 1:06d}"
    if size is None:
        return BenchAccount(account, None)
    digest = hashlib.sha256(f"alarmrx-bench-{account}".encode()).hexdigest().upper()
    return BenchAccount(account, digest[:size].encode("ascii"))
