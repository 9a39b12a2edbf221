"""Malformed and hostile configurations: ``alarmrx check`` and ``alarmrx run`` both refuse
them with exit 78 and every problem as ``file:line: dotted.key: what is wrong`` — no
traceback, no secret echoed — and the security defaults hold when nothing is said.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from alarmrx.config import load_settings

pytestmark = pytest.mark.integration

EX_CONFIG = 78
SECRET = "0011223344556677889900AABBCCDDEE"  # must never be echoed


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    expected: str  # what stderr must contain, ``{file}`` standing for the config's path
    key_file_mode: int | None = None


CASES = {
    "unknown key": Case("[receiver]\nbogus = 1\n", "{file}:2: receiver.bogus: unknown key"),
    "unknown table": Case("[receivr]\nid = 'x'\n", "{file}:1: receivr: "),
    "bad key": Case('[[accounts]]\naccount = "1234"\nkey = "XYZ"\n', "{file}:3: accounts[0].key: "),
    "key of the wrong length": Case(
        f'[[accounts]]\naccount = "1234"\nkey = "{SECRET}00"\n', "{file}:3: accounts[0].key: "
    ),
    "key file readable by others": Case(
        '[[accounts]]\naccount = "1234"\nkey_file = "{key_file}"\n',
        "{file}:3: accounts[0].key_file: ",
        key_file_mode=0o644,
    ),
    "key file readable by the group": Case(
        '[[accounts]]\naccount = "1234"\nkey_file = "{key_file}"\n',
        "is readable by group or others (mode 0640); run: chmod 600",
        key_file_mode=0o640,
    ),
    "missing key file": Case(
        '[[accounts]]\naccount = "1234"\nkey_file = "/nonexistent/key"\n',
        "{file}:3: accounts[0].key_file: cannot read",
    ),
    "two key sources": Case(
        f'[[accounts]]\naccount = "1234"\nkey = "{SECRET}"\nkey_file = "{{key_file}}"\n',
        "{file}:4: accounts[0].key_file: give only one of",
        key_file_mode=0o600,
    ),
    "TOML syntax": Case("[receiver\nid = 1\n", "{file}:1: TOML syntax"),
    "wrong type": Case(
        "[receiver]\nmax_connections = 'many'\n", "{file}:2: receiver.max_connections"
    ),
    "out of range": Case("[receiver]\nmax_frame_bytes = 1000000000\n", "receiver.max_frame_bytes"),
    "bad listen address": Case(
        "[receiver]\nlisten = ['999.1.1.1:99999']\n", "{file}:2: receiver.listen"
    ),
    "bad unknown-account policy": Case(
        "[receiver]\nunknown_accounts = 'maybe'\n", "{file}:2: receiver.unknown_accounts"
    ),
    "not UTF-8": Case("\udcff\udcfe", "{file}: not UTF-8"),
}


def _write(tmp_path: Path, case: Case) -> Path:
    key_file = tmp_path / "panel.key"
    key_file.write_text(SECRET + "\n")
    if case.key_file_mode is not None:
        key_file.chmod(case.key_file_mode)
    config = tmp_path / "alarmrx.toml"
    text = case.text.replace("{key_file}", str(key_file))
    config.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return config


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_config_is_refused_with_78(tmp_path: Path, command: str, name: str) -> None:
    case = CASES[name]
    config = _write(tmp_path, case)
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == EX_CONFIG, done.stderr
    assert case.expected.format(file=config.name) in done.stderr.replace(str(config), config.name)
    assert "Traceback" not in done.stderr
    for form in (SECRET, SECRET.lower(), SECRET[:16]):
        assert form not in done.stderr + done.stdout


def test_defaults_bind_to_loopback(tmp_path: Path) -> None:
    """Nothing said: DC-09 and metrics listen on 127.0.0.1 only."""
    config = tmp_path / "alarmrx.toml"
    config.write_text("")
    settings = load_settings(config)
    assert [a.host for a in settings.receiver.listen] == ["127.0.0.1"]
    assert settings.metrics.listen is not None
    assert settings.metrics.listen.host == "127.0.0.1"
