"""A real PostgreSQL for tests: a temporary cluster (initdb) on a free loopback port, run as
a non-root user, started and stopped on demand (to simulate an outage), and a primary with a
streaming, synchronous standby that the test can kill and promote (``Replicated``).

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<ver>/
bin``). Under ``CI=true`` a missing server fails the test; elsewhere it skips it. As root
(CI), the cluster belongs to the ``postgres`` user and every server command runs through
``runuser``, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

SERVER_USER = "postgres"  # who runs the server when the tests run as root
ROLE = "alarmrx"
PASSWORD = "test-only-password"
START_TIMEOUT_S = 60
_DETACHED: list[subprocess.Popen[bytes]] = []  # removals left running (``destroy``)
STANDBY_NAME = "standby1"  # the standby's application_name, named by synchronous_standby_names


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
    """One cluster in a temporary directory; ``start``/``stop`` may be repeated.

    ``settings`` are extra ``-c name=value`` server options. With ``primary``, the cluster is
    not created by initdb but copied from that running primary (``pg_basebackup -R``) and
    starts as its streaming standby, reporting as ``STANDBY_NAME``."""

    _templates: ClassVar[dict[Path, Path]] = {}  # server binaries -> what initdb made

    def __init__(
        self, *, settings: dict[str, str] | None = None, primary: PostgreSQL | None = None
    ) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="alarmrx-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.settings = dict(settings or {})
        self.password_file = self.root / "password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self._databases = 0
        self._as_root = os.geteuid() == 0
        self._give(self.root)
        if primary is None:
            self._run("cp", "-a", str(self._initialised()), str(self.data))
        else:
            self._base_backup(primary)

    def _give(self, directory: Path) -> None:
        """The server user enters ``directory`` (and owns it, under root); only the owner
        lists it."""
        if self._as_root:
            owner = pwd.getpwnam(SERVER_USER)
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        directory.chmod(0o711)

    def _initialised(self) -> Path:
        """A data directory as initdb makes it, for these server binaries: made once per
        test session (removed when it ends) and copied by every cluster, since initdb is a
        good part of starting one."""
        template = self._templates.get(self.bin)
        if template is None:
            template = Path(tempfile.mkdtemp(prefix="alarmrx-pg-initdb-"))
            atexit.register(shutil.rmtree, template, ignore_errors=True)
            self._give(template)
            self._initdb(template / "data")
            self._templates[self.bin] = template
        return template / "data"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", SERVER_USER, "--"] if self._as_root else []
        command = [*prefix, *argv]
        done = subprocess.run(command, capture_output=True, check=False, timeout=120)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {output}")
        return done

    def _initdb(self, data: Path) -> None:
        pwfile = self.root / "initdb-password"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_root:
            shutil.chown(pwfile, SERVER_USER)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(data),
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

    def _base_backup(self, primary: PostgreSQL) -> None:
        """Copy ``primary`` over its local socket and configure streaming from it (``-R``)
        under the name ``STANDBY_NAME``."""
        source = (
            f"host={primary.root} port={primary.port} user={ROLE} application_name={STANDBY_NAME}"
        )
        self._run(
            str(self.bin / "pg_basebackup"),
            "-D",
            str(self.data),
            "-d",
            source,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )

    def start(self) -> None:
        """Start (fsync on, loopback only) and return once it accepts connections."""
        settings = {
            "listen_addresses": "127.0.0.1",
            "fsync": "on",
            "synchronous_commit": "on",
            "max_connections": "50",
            "shared_buffers": "32MB",
            **self.settings,
        }
        options = f"-p {self.port} -k {self.root} " + " ".join(
            f"-c {name}={value}" for name, value in settings.items()
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

    def kill(self) -> None:
        """SIGKILL the server and every process of it, as when its machine dies: no
        shutdown, no checkpoint, open connections cut."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        workers = _children(pid)
        os.kill(pid, signal.SIGKILL)  # first, so it cannot restart the others
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while any(_alive(p) for p in (pid, *workers)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL {pid} still alive after SIGKILL")
            time.sleep(0.05)

    def pause(self) -> None:
        """SIGSTOP the server and every process of it: it holds its connections but answers
        nothing (a hung machine). ``resume`` undoes it."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, sig: signal.Signals) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        for member in (pid, *_children(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sig)

    def postmaster_pid(self) -> int | None:
        """The running server's process id (its ``postmaster.pid``), or None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if _alive(pid) else None

    def promote(self) -> None:
        """Turn this standby into a primary and return once it accepts writes."""
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "promote",
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

    def destroy(self, *, detach_removal: bool = False) -> None:
        """Stop the server at once and remove its files; with ``detach_removal`` a process
        of its own removes them, outliving this one: at the end of a session the cluster
        holds every test's database (thousands of files), and removing them took most of
        the session's teardown while the server stopped at once."""
        self.resume()  # a server a failed test left paused would ignore the stop
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        if detach_removal:
            removal = subprocess.Popen(
                ["rm", "-rf", "--", str(self.root)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            _DETACHED.append(removal)  # not reaped: it may outlive this process
        else:
            shutil.rmtree(self.root, ignore_errors=True)


class Replicated:
    """A primary and its streaming standby, replication synchronous: a ``COMMIT`` on the
    primary returns once the standby has flushed it (``synchronous_commit = on`` and
    ``synchronous_standby_names`` naming the standby), so what was committed survives the
    primary's death once the standby is promoted.

    The standby is configured as it would be after a failover: it names no synchronous
    standby of its own, so once promoted it commits alone."""

    def __init__(self) -> None:
        self.primary = PostgreSQL(
            settings={
                "synchronous_standby_names": STANDBY_NAME,
                "wal_level": "replica",
                "max_wal_senders": "5",
            }
        )
        self.primary.start()
        self.standby = PostgreSQL(primary=self.primary, settings={"hot_standby": "on"})
        self.standby.start()
        self.wait_synchronous()

    @property
    def ports(self) -> tuple[int, int]:
        return (self.primary.port, self.standby.port)

    def create_database(self) -> Database:
        """A database on the primary (replicated to the standby)."""
        return self.primary.create_database()

    def dsn(self, database: Database, ports: tuple[int, ...] | None = None) -> str:
        """A libpq multi-host ``dsn`` naming both servers (or the ``ports`` given, e.g. a
        proxy's), so that a client finds whichever is the primary by itself."""
        listed = ports or self.ports
        hosts = ",".join("127.0.0.1" for _ in listed)
        return (
            f"host={hosts} port={','.join(map(str, listed))} dbname={database.name} "
            f"user={ROLE} target_session_attrs=read-write"
        )

    def wait_synchronous(self, timeout: float = START_TIMEOUT_S) -> None:
        """Return once the primary streams to the standby with ``sync_state = sync``."""
        deadline = time.monotonic() + timeout
        query = "SELECT application_name, sync_state FROM pg_stat_replication"
        while self.primary.psql("postgres", query).split() != [f"{STANDBY_NAME}|sync"]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby is not synchronous after {timeout} s")
            time.sleep(0.1)

    def commits_waiting(self) -> int:
        """Sessions on the primary whose ``COMMIT`` waits for the synchronous standby."""
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
        return int(self.primary.psql("postgres", query).strip())

    def fail_over(self) -> None:
        """The primary's machine dies (SIGKILL) and the standby is promoted (resumed first,
        if it was paused)."""
        self.primary.kill()
        self.standby.resume()
        self.standby.promote()

    def destroy(self) -> None:
        self.standby.destroy()
        self.primary.destroy()


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"
