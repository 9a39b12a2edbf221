"""load_settings: the example files load, and each kind of problem names file:line: key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alarmrx.config import (
    ConfigError,
    ListenAddress,
    MQTTSettings,
    ReceiverSettings,
    Settings,
    load_settings,
)

REPO = Path(__file__).resolve().parents[3]
HEX_KEY = "00112233445566778899AABBCCDDEEFF"


def write(tmp_path: Path, text: str, name: str = "alarmrx.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    settings = load_settings(path, environ={})
    assert settings.source == path
    assert settings.receiver.listen


def test_example_has_every_key_and_the_two_accounts() -> None:
    settings = load_settings(REPO / "config" / "alarmrx.example.toml", environ={})
    plain, aes = settings.accounts
    assert (plain.account, plain.key, plain.require_encryption) == ("1234", None, False)
    assert aes.account == "0A7F"
    assert aes.key == bytes.fromhex(HEX_KEY)
    assert aes.require_encryption
    assert [(z.zone, z.neighbours) for z in aes.zones] == [
        (1, (2,)),
        (2, (1, 3)),
        (3, (2, 4)),
        (4, (3,)),
    ]
    text = (REPO / "config" / "alarmrx.example.toml").read_text()
    for model in (ReceiverSettings, MQTTSettings):
        for field in dataclasses.fields(model):
            assert f"{field.name} =" in text, field.name


def test_minimal_config_journal_goes_to_the_repo_var(tmp_path: Path) -> None:
    settings = load_settings(REPO / "config" / "minimal.toml", environ={})
    assert settings.journal.path == REPO / "var" / "journal.db"
    assert settings.receiver.unknown_accounts == "accept"
    assert settings.mqtt is None


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings == Settings(
        source=tmp_path / "alarmrx.toml",
        journal=dataclasses.replace(settings.journal, path=tmp_path / "var" / "journal.db"),
    )
    assert settings.receiver.listen == (ListenAddress(host="127.0.0.1", port=12128),)
    assert settings.metrics.listen == ListenAddress(host="127.0.0.1", port=9108)


def test_unknown_key_suggests_the_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, "[receiver]\nid = 'a'\nidle_timeout = 5\n")
    assert problems(path) == [
        f"{path}:3: receiver.idle_timeout: unknown key; did you mean 'idle_timeout_s'?"
    ]


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, "\n[reciever]\nid = 'a'\n")
    assert problems(path) == [f"{path}:2: reciever: unknown key; did you mean 'receiver'?"]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "[receiver]\nmax_connections = '20'\nnak_on_corrupt = 1\n")
    assert problems(path) == [
        f"{path}:2: receiver.max_connections: expected an integer, got a string",
        f"{path}:3: receiver.nak_on_corrupt: expected true or false, got an integer",
    ]


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "[journal]\nretention_days = 30\n")
    assert problems(path) == [f"{path}:2: journal.retention_days: must be at least 42, got 30"]


@pytest.mark.parametrize(
    ("listen", "message"),
    [
        ('"127.0.0.1"', "'127.0.0.1' is not host:port"),
        ('"::1:12128"', "'::1:12128' is not host:port"),
        ('"127.0.0.1:70000"', "port 70000 is above 65535"),
        ('"300.1.1.1:1"', "'300.1.1.1' is not an IP address or host name"),
        ('"[zz::1]:1"', "'zz::1' is not an IP address or host name"),
    ],
)
def test_bad_listen_address(tmp_path: Path, listen: str, message: str) -> None:
    path = write(tmp_path, f'[receiver]\nlisten = ["127.0.0.1:1", {listen}]\n')
    (found,) = problems(path)
    assert found.startswith(f"{path}:2: receiver.listen[1]: {message}")


def test_listen_forms(tmp_path: Path) -> None:
    text = '[receiver]\nlisten = "[::1]:0"\n[metrics]\nlisten = false\n'
    settings = load_settings(write(tmp_path, text), environ={})
    assert settings.receiver.listen == (ListenAddress(host="::1", port=0),)
    assert str(settings.receiver.listen[0]) == "[::1]:0"
    assert settings.metrics.listen is None


def test_integer_account_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "[[accounts]]\naccount = 123\n")
    (found,) = problems(path)
    assert found.startswith(
        f'{path}:2: accounts[0].account: account must be a string: write it in quotes, e.g. "123"'
    )


def test_bad_key_length_never_shows_the_key(tmp_path: Path) -> None:
    text = f'[[accounts]]\naccount = "1"\n\n[[accounts]]\naccount = "2"\nkey = "{HEX_KEY}AB"\n'
    (found,) = problems(write(tmp_path, text))
    assert ":6: accounts[1].key: a key is 32, 48 or 64 hex digits" in found
    assert HEX_KEY not in found


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "1234.key"
    key_file.parent.mkdir()
    key_file.write_text(HEX_KEY + "\n")
    key_file.chmod(0o644)
    path = write(tmp_path, '[[accounts]]\naccount = "1234"\nkey_file = "keys/1234.key"\n')
    (found,) = problems(path)
    assert found.startswith(f"{path}:3: accounts[0].key_file: '{key_file}' is readable by group")
    key_file.chmod(0o600)
    (account,) = load_settings(path, environ={}).accounts
    assert account.key == bytes.fromhex(HEX_KEY)
    assert account.require_encryption
    assert HEX_KEY.lower() not in repr(account).lower()


def test_key_credential_reads_the_credentials_directory(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "panel.key").write_text("ABCDEFGHIJKLMNOP")
    path = write(tmp_path, '[[accounts]]\naccount = "1"\nkey_credential = "panel.key"\n')
    settings = load_settings(path, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.accounts[0].key == b"ABCDEFGHIJKLMNOP"
    (found,) = problems(path, environ={})
    assert "accounts[0].key_credential: $CREDENTIALS_DIRECTORY is not set" in found


def test_only_one_key_source(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(HEX_KEY)
    (tmp_path / "k").chmod(0o600)
    text = f'[[accounts]]\naccount = "1"\nkey = "{HEX_KEY}"\nkey_file = "k"\n'
    (found,) = problems(write(tmp_path, text))
    assert found.endswith(":4: accounts[0].key_file: give only one of key, key_file")


def test_duplicate_account(tmp_path: Path) -> None:
    text = (
        '[[accounts]]\naccount = "1234"\n\n[[accounts]]\naccount = "1234"\nline = "2"\n\n'
        '[[accounts]]\naccount = "1234"\n'
    )
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:9: accounts[2].account: same account, receiver and line as accounts[0]"
    ]


def test_bad_toml_syntax_is_one_problem_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[receiver]\nid = "rx1"\nlisten = [\n"a",\n= 3\n')
    (found,) = problems(path)
    assert found.startswith(f"{path}:5: TOML syntax: ")


def test_several_problems_at_once_in_file_order(tmp_path: Path) -> None:
    text = """\
[receiver]
listen = ["nowhere"]
max_frame_bytes = 10

[logging]
level = "loud"

[mqtt]
url = "http://broker"
qos = 0

[[accounts]]
account = "1"
timezone = "Mars/Olympus"

[[accounts.zones]]
zone = 1
neighbours = [1]
"""
    path = write(tmp_path, text)
    found = problems(path)
    assert [p.split(": ")[0:2] for p in found] == [
        [f"{path}:2", "receiver.listen[0]"],
        [f"{path}:3", "receiver.max_frame_bytes"],
        [f"{path}:6", "logging.level"],
        [f"{path}:9", "mqtt.url"],
        [f"{path}:10", "mqtt.qos"],
        [f"{path}:14", "accounts[0].timezone"],
    ]


def test_zone_problems_point_into_the_nested_table(tmp_path: Path) -> None:
    text = (
        '[[accounts]]\naccount = "1"\n[[accounts.zones]]\nzone = 1\n'
        "[[accounts.zones]]\nzone = 2\nneighbours = [2]\n"
    )
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:7: accounts[0].zones[1].neighbours: a zone is not its own neighbour"
    ]


def test_missing_required_key_points_at_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, '[[accounts]]\naccount = "1"\n\n[[accounts]]\nname = "no number"\n')
    assert problems(path) == [f"{path}:4: accounts[1].account: required key is missing"]


def test_mqtt_cross_checks(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    text = '[mqtt]\nurl = "mqtt://h:1883"\npassword = "p"\n'
    (found,) = problems(write(tmp_path, text))
    assert found.endswith(":3: mqtt.password: a password needs a username")
    text = '[mqtt]\nurl = "mqtt://h"\ntls_ca = "ca.pem"\n'
    (found,) = problems(write(tmp_path, text))
    assert found.endswith(":2: mqtt.url: TLS files need an mqtts:// url")
    text = '[mqtt]\nurl = "mqtts://h"\ntls_ca = "ca.pem"\nusername = "u"\npassword = "p"\n'
    mqtt = load_settings(write(tmp_path, text), environ={}).mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.port, mqtt.tls, mqtt.tls_ca) == ("h", 8883, True, tmp_path / "ca.pem")
    assert "p'" not in repr(mqtt)


@pytest.mark.parametrize("make", ["missing", "directory", "binary"])
def test_unreadable_file_is_one_problem(tmp_path: Path, make: str) -> None:
    path = tmp_path / "alarmrx.toml"
    if make == "directory":
        path.mkdir()
    elif make == "binary":
        path.write_bytes(b"\xff\xfe[receiver]")
    (found,) = problems(path)
    assert found.startswith(f"{path}: ")


def test_require_encryption_needs_a_key_and_can_be_turned_off(tmp_path: Path) -> None:
    path = write(tmp_path, '[[accounts]]\naccount = "1"\nrequire_encryption = true\n')
    (found,) = problems(path)
    expected = "accounts[0].require_encryption: needs a key (key, key_file or key_credential)"
    assert found == f"{path}:3: {expected}"
    text = f'[[accounts]]\naccount = "1"\nkey = "{HEX_KEY}"\nrequire_encryption = false\n'
    (account,) = load_settings(write(tmp_path, text), environ={}).accounts
    assert account.key is not None
    assert account.require_encryption is False


def test_password_file_must_be_private(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.password"
    secret.write_text("s3cret\n")
    secret.chmod(0o640)
    text = '[mqtt]\nurl = "mqtt://h"\nusername = "u"\npassword_file = "mqtt.password"\n'
    path = write(tmp_path, text)
    (found,) = problems(path)
    assert found.startswith(f"{path}:4: mqtt.password_file: '{secret}' is readable by group")
    secret.chmod(0o600)
    mqtt = load_settings(path, environ={}).mqtt
    assert mqtt is not None
    assert mqtt.password == "s3cret"


def test_key_problems_show_even_when_the_account_has_others(tmp_path: Path) -> None:
    path = write(tmp_path, '[[accounts]]\naccount = 1234\nkey = "short"\n')
    assert [p.split(": ")[1] for p in problems(path)] == [
        "accounts[0].account",
        "accounts[0].key",
    ]


def test_unrecognised_payload_policy(tmp_path: Path) -> None:
    """`ack` by default (accounts accept what they cannot decode), `duh` strict, anything
    else a problem naming file:line: receiver.unrecognised_payload."""
    assert load_settings(write(tmp_path, "")).receiver.unrecognised_payload == "ack"
    strict = load_settings(write(tmp_path, '[receiver]\nunrecognised_payload = "duh"\n'))
    assert strict.receiver.unrecognised_payload == "duh"
    [problem] = problems(write(tmp_path, '[receiver]\nunrecognised_payload = "maybe"\n'))
    assert problem.startswith(f"{tmp_path / 'alarmrx.toml'}:2: receiver.unrecognised_payload: ")


def test_account_policies_follow_the_unrecognised_payload_policy(tmp_path: Path) -> None:
    """The parser policy of every configured account carries the receiver's choice."""
    from alarmrx.config import AccountTable

    for choice, accepted in (("ack", True), ("duh", False)):
        text = f'[receiver]\nunrecognised_payload = "{choice}"\n[[accounts]]\naccount = "1234"\n'
        table = AccountTable(load_settings(write(tmp_path, text)))
        entry = table.lookup("1234", None, None)
        assert entry is not None
        assert table.policy(entry).accept_unrecognised is accepted
