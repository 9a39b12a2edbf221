"""``[journal] backend``: the PostgreSQL keys, their problems, and the daemon's refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alarmrx.config import ConfigError, load_settings

DSN = "host=db1,db2 dbname=alarmrx user=alarmrx target_session_attrs=read-write"


def write(tmp_path: Path, journal: str) -> Path:
    config = tmp_path / "alarmrx.toml"
    config.write_text(f'[receiver]\nid = "rx1"\n\n[journal]\n{journal}\n')
    return config


def problems(config: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ=environ or {})
    return [str(p) for p in caught.value.problems]


def password_file(tmp_path: Path, mode: int = 0o600) -> Path:
    secret = tmp_path / "journal.password"
    secret.write_text("s3cret\n")
    secret.chmod(mode)
    return secret


def test_sqlite_is_the_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.journal.backend == "sqlite" and settings.journal.dsn is None


def test_postgresql_with_a_password_file(tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    journal = f'backend = "postgresql"\ndsn = "{DSN}"\npassword_file = "{secret}"'
    settings = load_settings(write(tmp_path, journal), environ={})
    assert (settings.journal.dsn, settings.journal.password) == (DSN, "s3cret")
    assert "s3cret" not in repr(settings.journal)


def test_postgresql_with_a_credential(tmp_path: Path) -> None:
    password_file(tmp_path)
    journal = f'backend = "postgresql"\ndsn = "{DSN}"\npassword_credential = "journal.password"'
    settings = load_settings(
        write(tmp_path, journal), environ={"CREDENTIALS_DIRECTORY": str(tmp_path)}
    )
    assert settings.journal.password == "s3cret"


@pytest.mark.parametrize(
    ("journal", "expected"),
    [
        ('backend = "postgresql"', ':5: journal.backend: backend "postgresql" needs a dsn'),
        ('backend = "mysql"', ":5: journal.backend: 'mysql' is not one of"),
        (f'dsn = "{DSN}"', ':5: journal.dsn: only for backend = "postgresql"'),
        (
            'backend = "postgresql"\ndsn = "host=db1 bogus=1"',
            ':6: journal.dsn: not a libpq connection string: invalid connection option "bogus"',
        ),
        (
            'backend = "postgresql"\ndsn = "host=db1 password=x"',
            ":6: journal.dsn: keep the password out of the dsn",
        ),
        (
            'backend = "postgresql"\ndsn = "host=db1"\npassword = "x"',
            ":7: journal.password: unknown key",
        ),
    ],
)
def test_problems_name_file_line_and_key(tmp_path: Path, journal: str, expected: str) -> None:
    config = write(tmp_path, journal)
    found = problems(config)
    assert any(p.startswith(f"{config}{expected}") for p in found), found


def test_a_password_file_others_may_read_is_refused(tmp_path: Path) -> None:
    secret = password_file(tmp_path, 0o644)
    config = write(tmp_path, f'backend = "postgresql"\ndsn = "{DSN}"\npassword_file = "{secret}"')
    (found,) = problems(config)
    assert found.startswith(f"{config}:7: journal.password_file: ") and "chmod 600" in found
    assert "s3cret" not in found


def test_check_accepts_postgresql_and_names_the_database(tmp_path: Path) -> None:
    config = write(tmp_path, f'backend = "postgresql"\ndsn = "{DSN}"\ntakeover_s = 8')
    result = subprocess.run(
        [sys.executable, "-m", "alarmrx", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "journal: postgresql db1,db2/alarmrx, chain rx1 (consumers taken over within 8 s)" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("journal", "expected"),
    [
        ("takeover_s = 5", ':5: journal.takeover_s: only for backend = "postgresql"'),
        (f'backend = "postgresql"\ndsn = "{DSN}"\ntakeover_s = 2', ":7: journal.takeover_s: "),
    ],
)
def test_takeover_problems_name_file_line_and_key(
    tmp_path: Path, journal: str, expected: str
) -> None:
    config = write(tmp_path, journal)
    found = problems(config)
    assert any(p.startswith(f"{config}{expected}") for p in found), found
