"""``AccountTable``: which configured account serves a frame, in O(1) per frame.

An entry's ``receiver`` and ``line`` None are wildcards. ``lookup`` tries the exact
(account, receiver, line) first, then with the line as wildcard, then the receiver, then both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from alarmrx.config.model import AccountSettings, ReceiverSettings, Settings
from alarmrx.protocols import AccountPolicy, TimestampWindow

_Where = tuple[str, str | None, str | None]
_Found = AccountSettings | None


def account_policy(entry: AccountSettings, receiver: ReceiverSettings) -> AccountPolicy:
    """What the parser needs to know about ``entry`` (``alarmrx.protocols.AccountPolicy``)."""
    check_plain = entry.check_plain_timestamp
    if check_plain is None:
        check_plain = receiver.check_plain_timestamp
    return AccountPolicy(
        key=entry.key,
        require_encryption=entry.require_encryption,
        window=TimestampWindow(
            past=timedelta(seconds=entry.window_past_s),
            future=timedelta(seconds=entry.window_future_s),
        ),
        check_plain_timestamp=check_plain,
        clock_offset=timedelta(seconds=entry.clock_offset_s),
        panel_timezone=entry.timezone,
        accept_unrecognised=receiver.unrecognised_payload == "ack",
    )


class AccountTable:
    """The configured accounts by (account, receiver, line), with their parser policies."""

    __slots__ = ("_entries", "_policies")

    def __init__(self, settings: Settings) -> None:
        self._entries: dict[_Where, AccountSettings] = {}
        self._policies: dict[_Where, AccountPolicy] = {}
        for entry in settings.accounts:
            where = (entry.account, entry.receiver, entry.line)
            self._entries[where] = entry
            self._policies[where] = account_policy(entry, settings.receiver)

    def lookup(self, account: str, receiver: str | None, line: str | None) -> _Found:
        """The most specific entry serving ``account`` under ``receiver`` and ``line``."""
        entries = self._entries
        return (
            entries.get((account, receiver, line))
            or entries.get((account, receiver, None))
            or entries.get((account, None, line))
            or entries.get((account, None, None))
        )

    def policy(self, entry: AccountSettings) -> AccountPolicy:
        """The parser policy built once for ``entry``."""
        return self._policies[(entry.account, entry.receiver, entry.line)]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[AccountSettings]:
        return iter(self._entries.values())
