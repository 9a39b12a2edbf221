"""AccountTable: exact (account, receiver, line) first, then wildcards; policies built once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alarmrx.config import AccountSettings, AccountTable, ReceiverSettings, Settings
from alarmrx.protocols import AccountPolicy


def table(*entries: AccountSettings, check_plain: bool = False) -> AccountTable:
    receiver = ReceiverSettings(check_plain_timestamp=check_plain)
    return AccountTable(Settings(source=Path("x.toml"), receiver=receiver, accounts=entries))


ANY = AccountSettings(account="1234", name="any")
ON_LINE_2 = AccountSettings(account="1234", line="2", name="line 2")
ON_RECEIVER_9 = AccountSettings(account="1234", receiver="9", name="receiver 9")
EXACT = AccountSettings(account="1234", receiver="9", line="2", name="exact")


def test_most_specific_entry_wins() -> None:
    accounts = table(ANY, ON_LINE_2, ON_RECEIVER_9, EXACT)
    assert accounts.lookup("1234", "9", "2") is EXACT
    assert accounts.lookup("1234", "9", "3") is ON_RECEIVER_9
    assert accounts.lookup("1234", "8", "2") is ON_LINE_2
    assert accounts.lookup("1234", None, None) is ANY
    assert accounts.lookup("1234", "8", "3") is ANY
    assert len(accounts) == 4
    assert list(accounts) == [ANY, ON_LINE_2, ON_RECEIVER_9, EXACT]


def test_account_is_matched_verbatim() -> None:
    accounts = table(AccountSettings(account="0123"))
    assert accounts.lookup("123", None, None) is None
    assert accounts.lookup("0123", None, None) is not None


def test_no_wildcard_no_match() -> None:
    accounts = table(EXACT)
    assert accounts.lookup("1234", None, None) is None
    assert accounts.lookup("1234", "9", None) is None


def test_policy_carries_key_window_and_receiver_default() -> None:
    key = bytes(16)
    entry = AccountSettings(
        account="1",
        key=key,
        require_encryption=True,
        window_past_s=5,
        clock_offset_s=-2,
        timezone="Europe/Amsterdam",
    )
    plain_override = AccountSettings(account="2", check_plain_timestamp=False)
    accounts = table(entry, plain_override, check_plain=True)
    policy = accounts.policy(entry)
    assert isinstance(policy, AccountPolicy)
    assert (policy.key, policy.require_encryption) == (key, True)
    assert policy.window is not None
    assert policy.window.past == timedelta(seconds=5)
    assert policy.clock_offset == timedelta(seconds=-2)
    assert policy.panel_timezone == "Europe/Amsterdam"
    assert policy.check_plain_timestamp is True
    assert accounts.policy(plain_override).check_plain_timestamp is False
