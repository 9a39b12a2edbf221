"""A real PostgreSQL for tests: a temporary cluster (initdb) on a free loopback port, run as
a non-root user, started and stopped on demand (to simulate an outage).

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<ver>/
bin``). Under ``CI=true`` a missing server fails the test; elsewhere it skips it. As root
(CI), the cluster belongs to the ``postgres`` user and every server command runs through
``runuser``, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_USER = "postgres"  # who runs the server when the tests run as root
ROLE = "alarmrx"
PASSWORD = "test-only-password"
START_TIMEOUT_S = 60


def bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<ver>/bin``; fail under CI, skip elsewhere."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    message = "PostgreSQL not found under /usr/lib/postgresql (apt-get install postgresql)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Database:
    """One database of a running cluster, and how to reach it."""

    name: str
    port: int
    password_file: Path

    @property
    def dsn(self) -> str:
        """A libpq keyword/value string without the password (it is in ``password_file``)."""
        return f"host=127.0.0.1 port={self.port} dbname={self.name} user={ROLE}"

    @property
    def dsn_with_password(self) -> str:
        return f"{self.dsn} password={PASSWORD}"


class PostgreSQL:
    """One cluster in a temporary directory; ``start``/``stop`` may be repeated."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="alarmrx-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.password_file = self.root / "password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self._databases = 0
        self._as_root = os.geteuid() == 0
        if self._as_root:
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o711)  # the server user enters; only the owner lists
        self._initdb()

    def _run(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self._as_root else []
        command = [*prefix, *argv]
        done = subprocess.run(command, capture_output=True, check=False, timeout=120)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {output}")
        return done

    def _initdb(self) -> None:
        pwfile = self.root / "initdb-password"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_root:
            shutil.chown(pwfile, SERVER_USER)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            ROLE,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        )
        pwfile.unlink()

    def start(self) -> None:
        """Start (fsync on, loopback only) and return once it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=on "
            "-c synchronous_commit=on -c max_connections=50 -c shared_buffers=32MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (clients see their connection closed); ``immediate``
        is an abrupt stop without a shutdown checkpoint."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self) -> Database:
        """A fresh, empty database owned by the test role."""
        self._databases += 1
        name = f"test_{self._databases}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return Database(name, self.port, self.password_file)

    def psql(self, database: str, sql: str) -> str:
        """Run ``sql`` over the local socket; its unaligned output."""
        done = self._run(
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            ROLE,
            "-d",
            database,
            "-c",
            sql,
        )
        return done.stdout.decode()

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
