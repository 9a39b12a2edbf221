"""Which secrets a load reads: all (the daemon), those it can reach (``check``), or none
(commands that read the journal or talk to the daemon); what it leaves unread is listed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alarmrx.cli import main
from alarmrx.config import ConfigError, Secrets, load_settings

REPO = Path(__file__).resolve().parents[3]
HEX_KEY = "00112233445566778899AABBCCDDEEFF"
ACCOUNTS = """
[[accounts]]
account = "1234"
key_credential = "keys_1234.key"

[[accounts]]
account = "0A7F"
key_file = "secret/0A7F.key"
require_encryption = true

[mqtt]
url = "mqtt://127.0.0.1:1883"
username = "alarmrx"
password_credential = "keys_mqtt.password"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose keys live in a credential and in a file nobody here may read."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "0A7F.key").write_text(HEX_KEY)
    (secret / "0A7F.key").chmod(0o000)
    path = tmp_path / "alarmrx.toml"
    path.write_text(f'[journal]\npath = "{tmp_path}/journal.db"\n{ACCOUNTS}', encoding="utf-8")
    return path


def test_none_reads_no_key_and_lists_each_with_its_line(config: Path) -> None:
    settings = load_settings(config, environ={}, secrets=Secrets.NONE)
    first, second = settings.accounts
    assert first.key is None and first.require_encryption
    assert second.key is None and second.require_encryption
    assert settings.mqtt is not None and settings.mqtt.password is None
    unread = [str(p) for p in settings.unread_secrets]
    assert unread == [
        f"{config}:6: accounts[0].key_credential: not read: credential 'keys_1234.key' "
        "(this command needs no secrets)",
        f"{config}:10: accounts[1].key_file: not read: '{config.parent}/secret/0A7F.key' "
        "(this command needs no secrets)",
        f"{config}:16: mqtt.password_credential: not read: credential 'keys_mqtt.password' "
        "(this command needs no secrets)",
    ]


def test_all_still_needs_the_credentials_directory(config: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    messages = [p.message for p in caught.value.problems]
    assert "$CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=)" in messages


def test_available_notes_credentials_it_cannot_reach(tmp_path: Path) -> None:
    path = tmp_path / "alarmrx.toml"
    path.write_text('[[accounts]]\naccount = "1234"\nkey_credential = "keys_1234.key"\n')
    settings = load_settings(path, environ={}, secrets=Secrets.AVAILABLE)
    (note,) = settings.unread_secrets
    assert note.line == 3 and note.key == "accounts[0].key_credential"
    assert note.message.startswith("not checked: credential 'keys_1234.key': $CRED")
    assert "--credentials ID:DIR" in note.message


def test_credentials_as_the_unit_loads_them(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "1234.key").write_text(HEX_KEY + "\n")
    path = tmp_path / "alarmrx.toml"
    path.write_text('[[accounts]]\naccount = "1234"\nkey_credential = "keys_1234.key"\n')
    settings = load_settings(
        path, environ={}, secrets=Secrets.AVAILABLE, credentials=f"keys:{keys}"
    )
    assert settings.accounts[0].key == bytes.fromhex(HEX_KEY)
    assert settings.unread_secrets == ()
    plain_directory = tmp_path / "plain"
    plain_directory.mkdir()
    (plain_directory / "keys_1234.key").write_text(HEX_KEY)
    settings = load_settings(path, secrets=Secrets.AVAILABLE, credentials=str(plain_directory))
    assert settings.accounts[0].key == bytes.fromhex(HEX_KEY)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, secrets=Secrets.AVAILABLE, credentials=f"other:{keys}")
    (problem,) = caught.value.problems
    assert problem.message == (
        f"credential 'keys_1234.key' is not loaded by LoadCredential=other:{keys} (names other_…)"
    )


def test_check_without_credentials_says_what_it_did_not_check(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    (config.parent / "secret" / "0A7F.key").chmod(0o600)
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  1234 .*key: not checked, encryption required", out, re.MULTILINE)
    assert re.search(r"^  0A7F .*key: yes, encryption required", out, re.MULTILINE)
    assert "accounts: 2 (1 with a key, 1 not checked)" in out
    assert "not checked (2):" in out
    assert f"{config}:6: accounts[0].key_credential: not checked" in out


def test_check_reads_credentials_given_and_refuses_a_bad_one(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "secret" / "0A7F.key").chmod(0o600)
    keys = config.parent / "keys"
    keys.mkdir()
    (keys / "1234.key").write_text(HEX_KEY)
    (keys / "mqtt.password").write_text("s3cret")
    assert main(["check", "--config", str(config), "--credentials", f"keys:{keys}"]) == 0
    out = capsys.readouterr().out
    assert "not checked" not in out
    assert "accounts: 2 (2 with a key)" in out
    (keys / "1234.key").write_text("not a key")
    assert main(["check", "--config", str(config), "--credentials", f"keys:{keys}"]) == 78
    err = capsys.readouterr().err
    assert err.startswith(f"{config}:6: accounts[0].key_credential: ")
    assert "not a key" not in err


def test_one_credential_name_in_the_docs_the_example_and_the_unit() -> None:
    unit = (REPO / "systemd" / "alarmrx.service").read_text(encoding="utf-8")
    (ident,) = re.findall(r"^LoadCredential=([^:]+):/etc/alarmrx/keys$", unit, re.MULTILINE)
    named = re.compile(r'(?:key|password)_credential = "([^"]+)"')
    for doc in ("config/alarmrx.example.toml", "docs/configuration.md", "systemd/README.md"):
        names = named.findall((REPO / doc).read_text(encoding="utf-8"))
        assert names, doc
        assert all(name.startswith(f"{ident}_") for name in names), (doc, names)
