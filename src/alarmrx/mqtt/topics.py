"""MQTT topic names of the contract (docs/mqtt.md), versioned under ``{topic_root}/v1/``.

An account is used verbatim as one topic level; the characters that MQTT gives a meaning in
a topic or forbids (``/`` ``+`` ``#`` NUL), the other control characters, and ``%`` itself
are written as ``%XX`` (upper-case hex of the UTF-8 bytes), like URL percent-encoding. A
message without any account goes to the level ``%none``, which no escaped account can equal.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import unquote

VERSION = "v1"
NO_ACCOUNT = "%none"

# "%" (the escape itself), "/" (level separator), "+" "#" (wildcards), NUL and the
# other C0/C1 control characters and DEL (MQTT 3.1.1 §1.5.3 / MQTT 5 §1.5.4).
_UNSAFE = re.compile(r"[%/+#\x00-\x1f\x7f-\x9f]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


@functools.lru_cache(maxsize=65536)  # a topic for every message: the regex once per account
def escape_level(account: str | None) -> str:
    """One topic level for ``account``; reversible by ``unescape_level``."""
    if account is None:
        return NO_ACCOUNT
    return _UNSAFE.sub(_percent, account)


def unescape_level(level: str) -> str | None:
    """The account a topic level names (for consumers and tests)."""
    if level == NO_ACCOUNT:
        return None
    return unquote(level, errors="strict")


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic the publisher writes, from ``topic_root`` and the receiver id."""

    root: str
    receiver_id: str

    @property
    def base(self) -> str:
        return f"{self.root}/{VERSION}"

    def events(self, account: str | None) -> str:
        return f"{self.base}/events/{escape_level(account)}"

    def state(self, account: str | None) -> str:
        return f"{self.base}/state/{escape_level(account)}"

    @property
    def status(self) -> str:
        return f"{self.base}/receivers/{escape_level(self.receiver_id)}/status"

    @property
    def anchor(self) -> str:
        """The journal's chain head as last recorded (retained; docs/evidence.md)."""
        return f"{self.base}/receivers/{escape_level(self.receiver_id)}/anchor"

    def commands(self, account: str | None) -> str:
        """Where commands for an account will be read (not served yet)."""
        return f"{self.base}/commands/{escape_level(account)}"
