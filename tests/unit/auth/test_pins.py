"""PIN hashes (scrypt, salted), the rate limiter at its edges, and the card's PIN keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alarmrx.config import ConfigError, load_settings
from alarmrx.rules.auth import (
    LOCKOUT,
    MAX_FAILURES_PER_ID,
    Limiter,
    PinHash,
    hash_pin,
    redacted,
    verify_pin,
)

T = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_hash_format_parameters_and_salt() -> None:
    first, second = hash_pin("4711"), hash_pin("4711")
    assert first != second  # a fresh salt each time
    scheme, n, r, p, *_ = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    parsed = PinHash.parse(first)
    assert (len(parsed.salt), len(parsed.digest)) == (16, 32)
    assert "4711" not in first and "4711" not in repr(parsed)
    assert verify_pin("4711", first) and verify_pin("4711", second)
    assert not verify_pin("4712", first) and not verify_pin("4711", "scrypt$x")


@pytest.mark.parametrize(
    "text",
    [
        "4711",
        "scrypt$16384$8$1$AAAA",
        "scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
        "scrypt$1048576$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
        "bcrypt$1$2$3$4$5",
        "scrypt$16384$8$1$!!$AAAAAAAAAAAAAAAAAAAAAA==",
    ],
)
def test_bad_hashes_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(ValueError, match=r"^(?!.*AAAA)"):
        PinHash.parse(text)


def test_limiter_locks_at_the_fifth_failure_for_fifteen_minutes() -> None:
    limiter = Limiter(MAX_FAILURES_PER_ID)
    for minute in range(MAX_FAILURES_PER_ID - 1):
        limiter.failed("k", T + timedelta(minutes=minute))
        assert limiter.locked_until("k", T + timedelta(minutes=minute)) is None
    last = T + timedelta(minutes=4)
    limiter.failed("k", last)
    assert limiter.locked_until("k", last) == last + LOCKOUT
    limiter.failed("k", last + timedelta(minutes=1))  # while locked: not counted
    assert limiter.locked_until("k", last + LOCKOUT - timedelta(microseconds=1)) is not None
    assert limiter.locked_until("k", last + LOCKOUT) is None
    limiter.failed("k", last + LOCKOUT)  # the count starts afresh after a lockout
    assert limiter.locked_until("k", last + LOCKOUT) is None


def test_failures_older_than_the_window_and_before_a_success_are_forgotten() -> None:
    limiter = Limiter(3)
    limiter.failed("k", T)
    limiter.failed("k", T + timedelta(minutes=1))
    limiter.failed("k", T + timedelta(minutes=15))  # the first is out of the window
    assert limiter.locked_until("k", T + timedelta(minutes=15)) is None
    limiter.succeeded("k")
    limiter.failed("k", T + timedelta(minutes=16))
    assert limiter.locked_until("k", T + timedelta(minutes=16)) is None


def test_redacted_masks_pins_at_any_depth() -> None:
    request = {
        "action": "change_pin",
        "pin": "4711",
        "new_pin": "8888",
        "x": [{"pin": "1"}],
        "note": "fine",
    }
    assert redacted(request) == {
        "action": "change_pin",
        "pin": "***",
        "new_pin": "***",
        "x": [{"pin": "***"}],
        "note": "fine",
    }


CONTACT = '[[accounts]]\naccount = "1"\n[[accounts.card.contacts]]\nid_code = "1"\nname = "A"\n'


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "alarmrx.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            CONTACT + 'role = "warning"\npin = "4711"\n',
            '7: accounts[0].card.contacts[0].pin: only the factory PIN "0000" may be written '
            "here; give pin_hash",
        ),
        (
            CONTACT + 'role = "warning"\n',
            "3: accounts[0].card.contacts[0]: needs pin_hash (run: alarmrx pin-hash) or "
            "factory_pin = true",
        ),
        (
            CONTACT + 'role = "warning"\npin_hash = "scrypt$5$8$1$AAAA$AAAA"\n',
            "7: accounts[0].card.contacts[0].pin_hash: scrypt parameters out of range (n a power "
            "of 2, up to 2**17)",
        ),
        (
            CONTACT + 'role = "authorised"\nsequence = 1\nfactory_pin = true\n',
            "7: accounts[0].card.contacts[0].sequence: authorised persons are never called: no "
            "sequence",
        ),
        (
            CONTACT + 'role = "warning"\nfactory_pin = true\n[[accounts.card.contacts]]\n'
            'id_code = "1"\nname = "B"\nrole = "warning"\nfactory_pin = true\n',
            "9: accounts[0].card.contacts[1].id_code: ID code '1' is listed twice",
        ),
        (
            CONTACT + 'role = "authorised"\nfactory_pin = true\n[[accounts.card.procedures]]\n'
            'alarm = "fire"\ncontacts = ["1"]\n',
            "10: accounts[0].card.procedures[0].contacts: '1' is not a warning person on this card",
        ),
        (
            '[[accounts]]\naccount = "1"\n[accounts.card]\ncancel_window_s = 7200\n',
            "4: accounts[0].card.cancel_window_s: must be at most 3600, got 7200",
        ),
    ],
)
def test_card_problems_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert found == [expected]
    assert "4711" not in " ".join(found)


def test_the_factory_pin_may_be_written_literally(tmp_path: Path) -> None:
    path = tmp_path / "alarmrx.toml"
    path.write_text(CONTACT + 'role = "warning"\npin = "0000"\n', encoding="utf-8")
    (account,) = load_settings(path, environ={}).accounts
    assert account.card is not None and account.card.contacts[0].factory_pin is True
