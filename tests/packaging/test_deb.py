"""``make deb``: the Debian package builds, lintian finds no error in it, and, installed
(CI runs as root), it has its user, unit, configuration and docs, and the installed
``alarmrx check`` accepts the installed configuration (docs/operations.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI") == "true"


def need(condition: bool, reason: str) -> None:
    """Skip on a developer's machine; fail in CI, which must have everything."""
    if not condition:
        if CI:
            pytest.fail(f"{reason} (CI installs it: scripts/bootstrap test, run as root)")
        pytest.skip(reason)


def run(*command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True, slots=True)
class Built:
    """The package ``packaging/build-deb`` made, and what the build printed on stderr (where
    its own lintian run reports)."""

    deb: Path
    stderr: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need(shutil.which("dpkg-deb") is not None, "dpkg-deb is missing")
    need(shutil.which("lintian") is not None, "lintian is missing")
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "DEB_OUT": str(out)}
    built = subprocess.run(
        [str(REPO / "packaging" / "build-deb")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=REPO,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("alarmrx_*.deb")
    return Built(path, built.stderr)


@pytest.fixture(scope="module")
def deb(built: Built) -> Path:
    return built.deb


def test_lintian_reports_no_error(built: Built) -> None:
    # The build runs lintian on the package it made whenever lintian is installed (the
    # fixture requires it) and fails on an error: its run is this check, not repeated here.
    script = (REPO / "packaging" / "build-deb").read_text(encoding="utf-8")
    assert 'lintian --fail-on error "$deb"' in script
    assert not [line for line in built.stderr.splitlines() if line.startswith("E:")]


def test_the_package_holds_what_the_unit_names(deb: Path) -> None:
    listing = run("dpkg-deb", "--contents", str(deb)).stdout
    for path in (
        "./opt/alarmrx/bin/alarmrx",
        "./lib/systemd/system/alarmrx.service",
        "./etc/alarmrx/alarmrx.toml",
        "./opt/alarmrx/share/doc/alarmrx/README.md",
        "./usr/share/doc/alarmrx/copyright",
    ):
        assert f" {path}\n" in listing, path
    unit = (REPO / "systemd" / "alarmrx.service").read_text(encoding="utf-8")
    assert "Documentation=file:///opt/alarmrx/share/doc/alarmrx/README.md" in unit
    assert run("dpkg-deb", "--field", str(deb), "Package").stdout.strip() == "alarmrx"


@pytest.fixture
def installed(deb: Path) -> Iterator[Path]:
    need(os.geteuid() == 0, "installing the package needs root")
    need(
        not Path("/opt/alarmrx").exists() or run("dpkg", "-s", "alarmrx").returncode == 0,
        "/opt/alarmrx exists and is not the package's",
    )
    done = run("dpkg", "-i", str(deb), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield Path("/opt/alarmrx/bin/alarmrx")
    finally:
        purged = run("dpkg", "--purge", "alarmrx", timeout=300)
        assert purged.returncode == 0, purged.stderr
        assert not Path("/opt/alarmrx").exists()


def test_installed_check_accepts_the_installed_config(installed: Path) -> None:
    checked = run(str(installed), "check", "--config", "/etc/alarmrx/alarmrx.toml")
    assert checked.returncode == 0, checked.stderr
    assert "/etc/alarmrx/alarmrx.toml: ok" in checked.stdout
    assert "journal: /var/lib/alarmrx/journal.db" in checked.stdout
    assert run("id", "-u", "alarmrx").returncode == 0  # the unit's User=
    assert Path("/etc/alarmrx/keys").stat().st_mode & 0o777 == 0o700
    assert Path("/opt/alarmrx/share/doc/alarmrx/docs/operations.md").is_file()
    venv = Path("/opt/alarmrx/pyvenv.cfg").read_text(encoding="utf-8")
    assert "home = /usr/bin\n" in venv  # Debian's python3, which the package depends on
    if shutil.which("systemd-analyze"):
        unit = "/lib/systemd/system/alarmrx.service"
        verified = run("systemd-analyze", "verify", unit)
        assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
