"""An operator's shell on a node whose keys are systemd credentials: every command works
without ``$CREDENTIALS_DIRECTORY``; ``anchor`` makes a fresh export verifiable at once; a
backup taken under load restores and verifies (docs/operations.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.daemon import Daemon, exchange_tcp, frame, write_config

pytestmark = pytest.mark.integration

KEY = "00112233445566778899AABBCCDDEEFF"
TODAY = datetime.now(UTC).date()
PERIOD = ["--since", str(TODAY - timedelta(days=1)), "--until", str(TODAY + timedelta(days=2))]


def shell(*args: str) -> subprocess.CompletedProcess[str]:
    """``alarmrx …`` as an operator runs it: no credentials in the environment."""
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose only key is a credential, which the daemon alone is given."""
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "keys_1234.key").write_text(KEY + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    account = 'account = "1234"\nname = "Bakery"\nkey_credential = "keys_1234.key"'
    return write_config(tmp_path, accounts=[account])


def test_every_operator_command_runs_without_credentials(keyed: Path) -> None:
    config = str(keyed)
    events = ["#1234|Nri1/CL07", "#1234|Nri1/BA03", "#1234|Nri1/OP07"]
    with Daemon(keyed) as daemon:
        sent = [frame("1234", data, sequence=n, key=KEY) for n, data in enumerate(events, 1)]
        replies = exchange_tcp(daemon.port, sent)
        assert all(b'"*ACK"' in reply for reply in replies), replies

        checked = shell("check", "--config", config)
        assert checked.returncode == 0, checked.stderr
        assert "key: not checked, encryption required" in checked.stdout
        assert "keys_1234.key" in checked.stdout
        verified = shell("journal", "verify", "--config", config)
        assert verified.returncode == 0 and verified.stdout.startswith("journal ok"), verified
        listed = shell("journal", "query", "--config", config, "--account", "1234")
        assert listed.returncode == 0 and len(listed.stdout.splitlines()) >= 3
        report = shell("report", "openclose", "--config", config, "--account", "1234", *PERIOD)
        assert report.returncode == 0, report.stderr
        assert ",armed,7,1,CL,Closing Report," in report.stdout
        alerted = shell("alerted", "--config", config, "--account", "1234", "--who", "Guard")
        assert alerted.returncode == 0 and '"ok": true' in alerted.stdout, alerted

        bundle = keyed.parent / "evidence-1"
        exported = shell(
            "evidence",
            "export",
            "--config",
            config,
            "--account",
            "1234",
            *PERIOD,
            "--out",
            str(bundle),
        )
        assert exported.returncode == 0, exported.stderr
        assert "not anchored yet" in exported.stderr
        assert f"alarmrx anchor --config {config}" in exported.stderr
        assert shell("evidence", "verify", str(bundle)).returncode == 3

        anchored = shell("anchor", "--config", config)
        assert anchored.returncode == 0, anchored.stderr
        assert anchored.stdout.startswith("anchor record ")
        again = shell("anchor", "--config", config)
        assert again.stdout == anchored.stdout  # nothing new since: the same anchor

        bundle = keyed.parent / "evidence-2"
        exported = shell(
            "evidence",
            "export",
            "--config",
            config,
            "--account",
            "1234",
            *PERIOD,
            "--out",
            str(bundle),
        )
        assert exported.returncode == 0 and "not anchored" not in exported.stderr
        proven = shell("evidence", "verify", str(bundle))
        assert proven.returncode == 0 and "every record reaches an anchor" in proven.stdout
        assert daemon.terminate() == 0


def test_anchor_without_a_daemon_says_so(keyed: Path) -> None:
    done = shell("anchor", "--config", str(keyed))
    assert done.returncode == 1
    assert done.stderr.startswith("alarmrx anchor: no daemon answers on ")


class Load:
    """Frames on TCP, 50 per connection, until stopped (at most ``limit``); counts ACKs."""

    def __init__(self, port: int, limit: int = 20000) -> None:
        self.port, self.limit, self.acked = port, limit, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sequence = 0
        while not self._stop.is_set() and sequence < self.limit:
            batch = [
                frame("5678", f"#5678|Nri1/BA{n % 90:02d}", sequence=(sequence + n) % 9999)
                for n in range(1, 51)
            ]
            sequence += 50
            self.acked += sum(b'"ACK"' in r for r in exchange_tcp(self.port, batch))

    def start(self) -> Load:
        self._thread.start()
        return self

    def wait_for(self, count: int, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.acked < count:
            assert time.monotonic() < deadline, f"only {self.acked} ACKs"
            assert self._thread.is_alive(), "the load stopped"
            time.sleep(0.05)
        return self.acked

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_backup_under_load_restores_and_verifies(tmp_path: Path) -> None:
    config = write_config(tmp_path, accounts=['account = "5678"'])
    copy = tmp_path / "backups" / "journal-copy.db"
    copy.parent.mkdir()
    with Daemon(config) as daemon:
        load = Load(daemon.port).start()
        try:
            before = load.wait_for(300)
            done = shell("journal", "backup", "--config", str(config), "--to", str(copy))
            load.wait_for(load.acked + 100)  # the load went on while the copy was taken
        finally:
            load.stop()
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"backup written to {copy}: ")
        assert done.stdout.rstrip().endswith("; chain verified")
        assert copy.stat().st_mode & 0o077 == 0
        assert daemon.terminate() == 0

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(copy, restored / "journal.db")
    verified = shell("journal", "verify", "--journal", str(restored / "journal.db"))
    assert verified.returncode == 0, verified.stdout
    records = int(verified.stdout.split(": ")[1].split(" records")[0])
    assert records >= before  # every frame ACKed before the backup began is in it
    config = write_config(restored, accounts=['account = "5678"'])
    with Daemon(config) as daemon:
        (reply,) = exchange_tcp(daemon.port, [frame("5678", "#5678|Nri1/BA01", sequence=1)])
        assert b'"ACK"' in reply
        assert daemon.terminate() == 0
    after = shell("journal", "verify", "--config", str(config))
    assert after.returncode == 0, after.stdout
    assert int(after.stdout.split(": ")[1].split(" records")[0]) > records
