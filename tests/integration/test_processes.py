"""The daemon as a supervisor of processes (docs/architecture.md): a child killed under load is
restarted and nothing that was ACKed is lost; while the journal writer is down nothing is ACKed;
readiness and ``/metrics`` cover every child."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon, exchange_tcp, frame, read_reply, write_config
from tests.hostile.support import http_get, log_events, metric, wait_until
from tests.mosquitto import Mosquitto, Subscriber

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind
from alarmrx.journal.verify import verify_chain

pytestmark = pytest.mark.integration

WORKERS = 2
PANELS = 6
RESTART_WITHIN_S = 30.0


def _config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path, accounts=['account = "1234"'], receiver=f"workers = {WORKERS}", log_level="info"
    )


class Panels:
    """Panels on their own connections, each sending its frames one at a time and, like a
    panel, sending a frame again (on a new connection if need be) until it is ACKed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.acked: list[bytes] = []
        self.retries = 0
        self.stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(PANELS)]

    def __enter__(self) -> Panels:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, number: int) -> None:
        sock: socket.socket | None = None
        for i in range(1, 1_000_000):
            data = frame("1234", f"#1234|Nri{number + 1}/BA{i:05d}", sequence=i % 9999 + 1)
            while not self.stop.is_set():
                sock = sock or self._connect()
                if sock is not None and self._exchange(sock, data):
                    self.acked.append(data)
                    break
                self.retries += 1
                if sock is not None:
                    sock.close()
                sock = None
            if self.stop.is_set():
                break
        if sock is not None:
            sock.close()

    def _connect(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None

    @staticmethod
    def _exchange(sock: socket.socket, data: bytes) -> bool:
        try:
            sock.sendall(data)
            return b'"ACK"' in read_reply(sock)
        except OSError:
            return False


def _query_count(config: Path) -> int:
    """Message records, as ``alarmrx journal query`` lists them."""
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", "journal", "query", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return sum(1 for line in lines if line["kind"] == "message")


def victim_name(daemon: Daemon, pid: int) -> str:
    """The supervisor's name for the child that had ``pid``."""
    [name] = [
        e["child"]
        for e in log_events(daemon)
        if e.get("event") == "child_started" and e.get("pid") == pid
    ]
    return str(name)


def _restarted(daemon: Daemon, child: str) -> bool:
    starts = [e for e in log_events(daemon) if e.get("event") == "child_started"]
    return sum(1 for e in starts if e.get("child") == child) >= 2


def test_readiness_and_metrics_cover_every_child(tmp_path: Path) -> None:
    with Daemon(_config(tmp_path)) as daemon:
        assert len(daemon.child_pids("worker")) == WORKERS == daemon.workers
        assert len(daemon.child_pids("writer")) == len(daemon.child_pids("consumers")) == 1
        assert http_get(daemon.metrics_port, "/readyz")[0] == 200
        with Panels(daemon.port) as panels:
            wait_until(lambda: len(panels.acked) >= 200, 60, "200 frames ACKed")
        # every worker's count, summed; workers write it every METRICS_FLUSH_S
        wait_until(
            lambda: (
                metric(daemon, "alarmrx_messages_committed_total", transport="tcp")
                >= len(panels.acked)
            ),
            10,
            "every ACKed frame counted",
        )
        # the writer sets the head it tells its subscribers; every ACKed frame is a record
        wait_until(
            lambda: metric(daemon, "alarmrx_journal_last_seq") >= len(panels.acked),
            10,
            "the writer's head counts every ACKed frame",
        )
        [worker, _] = daemon.child_pids("worker")
        os.kill(worker, signal.SIGKILL)
        wait_until(
            lambda: http_get(daemon.metrics_port, "/readyz")[0] == 503,
            10,
            "/readyz says not ready while a worker is down",
        )
        wait_until(
            lambda: http_get(daemon.metrics_port, "/readyz")[0] == 200,
            RESTART_WITHIN_S,
            "ready again",
        )
        assert metric(daemon, "alarmrx_child_restarts_total", role="worker") == 1.0
        assert daemon.terminate() == 0


def test_a_worker_killed_under_load_is_restarted_and_nothing_acked_is_lost(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    with Daemon(config) as daemon:
        with Panels(daemon.port) as panels:
            wait_until(lambda: len(panels.acked) >= 100, 60, "load going")
            victim = daemon.child_pids("worker")[0]
            os.kill(victim, signal.SIGKILL)
            wait_until(
                lambda: _restarted(daemon, victim_name(daemon, victim)),
                RESTART_WITHIN_S,
                "the worker started again",
            )
            before = len(panels.acked)
            wait_until(lambda: len(panels.acked) >= before + 100, 60, "load going on after")
        assert daemon.terminate() == 0
    stored = [r.raw for r in query(tmp_path / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert [a for a in panels.acked if a not in set(stored)] == []
    assert len(stored) == len(set(stored))  # a retry of a committed frame is recorded once
    assert _query_count(config) == len(stored) >= len(panels.acked)
    assert verify_chain(tmp_path / "journal.db").ok


def test_nothing_is_acked_while_the_writer_is_down(tmp_path: Path) -> None:
    with Daemon(_config(tmp_path)) as daemon:
        [writer] = daemon.child_pids("writer")
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(frame("1234", "#1234|Nri1/BA001", sequence=1))
            assert b'"ACK"' in read_reply(sock)  # the connection's worker is serving
            os.kill(writer, signal.SIGKILL)
            wait_until(
                lambda: not Path(f"/proc/{writer}").exists() or b"Z" in _state(writer),
                10,
                "the writer gone",
            )
            wait_until(lambda: _lost_by_workers(daemon) >= WORKERS, 10, "the workers saw it go")
            unanswered = frame("1234", "#1234|Nri1/BA002", sequence=2)
            sock.sendall(unanswered)
            wait_until(
                lambda: any(e.get("event") == "commit_failed" for e in log_events(daemon)),
                10,
                "the worker could not commit",
            )
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(4096)  # no reply: the panel will retry
            sock.setblocking(True)
            wait_until(lambda: _restarted(daemon, "writer"), RESTART_WITHIN_S, "writer back")
            wait_until(
                lambda: http_get(daemon.metrics_port, "/healthz")[0] == 200,
                RESTART_WITHIN_S,
                "the journal healthy again",
            )
            sock.settimeout(1)
            for _attempt in range(60):  # the panel's retries, until its worker reconnected
                sock.sendall(unanswered)
                if b'"ACK"' in read_reply(sock):
                    break
            else:
                pytest.fail("the retry was never ACKed after the writer came back")
        assert metric(daemon, "alarmrx_child_restarts_total", role="writer") == 1.0
        assert daemon.terminate() == 0
    stored = [r.raw for r in query(tmp_path / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert stored.count(unanswered) == 1


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1][:3]
    except FileNotFoundError:
        return b"Z"


def _lost_by_workers(daemon: Daemon) -> int:
    return sum(
        1
        for e in log_events(daemon)
        if e.get("event") == "journal_writer_lost" and str(e.get("process", "")).startswith("w")
    )


def test_a_second_daemon_does_not_share_a_running_ones_port(tmp_path: Path) -> None:
    """SO_REUSEPORT lets the workers share their port; it must not let another daemon in."""
    with Daemon(_config(tmp_path)) as daemon:
        other = tmp_path / "other"
        other.mkdir()
        config = write_config(other, accounts=['account = "1234"'])
        text = config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{daemon.port}", 1)
        config.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "alarmrx", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1
        assert "cannot start" in done.stderr
        assert "Traceback" not in done.stderr
        assert daemon.terminate() == 0


def test_sighup_reaches_every_worker(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with Daemon(config) as daemon:
        config.write_text(config.read_text() + '\n[[accounts]]\naccount = "5678"\n')
        daemon.hup()

        def reloaded() -> set[str]:
            return {
                str(e.get("process"))
                for e in log_events(daemon)
                if e.get("event") == "config_reloaded"
            }

        workers = {f"worker-{i}" for i in range(WORKERS)}
        wait_until(lambda: workers <= reloaded(), 30, "every worker reloaded")
        for n in range(1, 21):  # new connections, spread over the workers by the kernel
            with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
                sock.sendall(frame("5678", f"#5678|Nri1/BA{n:03d}", sequence=n))
                assert b'"ACK"' in read_reply(sock)
        assert daemon.terminate() == 0


def _cli(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "alarmrx", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reply: dict[str, object] = json.loads(done.stdout)
    return reply


async def test_test_mode_needs_no_word_from_the_rules_to_the_workers(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The workers ask the rules nothing: with the consumers process stopped, the frames of
    an account in test are ACKed, and once the consumers go on their events say test and
    call nobody (learnt from the journal's test.started, not from a flag of the worker)."""
    config = write_config(
        tmp_path,
        accounts=['account = "1234"', 'account = "5678"'],
        receiver=f"workers = {WORKERS}",
        mqtt=f'url = "{mosquitto.url}"\nkeepalive_s = 5',
    )
    topic = "alarmrx/v1/events/"
    async with Subscriber(mosquitto.port, f"{topic}#") as sub:
        with Daemon(config) as daemon:
            on = ("test-mode", "--config", str(config), "--on", "--duration", "1h")
            assert _cli(*on, "--account", "5678")["ok"] is True
            [consumers] = daemon.child_pids("consumers")
            os.kill(consumers, signal.SIGSTOP)
            try:
                wait_until(lambda: _state(consumers).strip() == b"T", 10, "consumers stopped")
                frames = [
                    frame("5678", "#5678|Nri1/BA01", sequence=1),
                    frame("1234", "#1234|Nri1/BA01", sequence=1),
                ]
                replies = [exchange_tcp(daemon.port, [data]) for data in frames]
                assert all(b'"ACK"' in reply for [reply] in replies)  # no rules needed
            finally:
                os.kill(consumers, signal.SIGCONT)

            def alarms(s: Subscriber, kind: str) -> dict[str, dict[str, Any]]:
                return {str(e["account"]): e for e in s.json(topic) if e.get("type") == kind}

            def seen(s: Subscriber) -> bool:
                return len(alarms(s, "panel")) == len(alarms(s, "dispatch.advice")) == 2

            await sub.wait_until(seen, within_s=30)
            panel, advised = alarms(sub, "panel"), alarms(sub, "dispatch.advice")
            assert (panel["5678"]["test"], panel["1234"]["test"]) == (True, False)
            assert advised["5678"]["alarm_id"] == panel["5678"]["id"]
            assert (advised["5678"]["dispatch"]["call"], advised["5678"]["dispatch"]["reason"]) == (
                [],
                "test mode",
            )
            assert advised["1234"]["dispatch"]["reason"] != "test mode"
            assert daemon.terminate() == 0
    bodies = [r.body for r in query(tmp_path / "journal.db") if r.kind is RecordKind.MESSAGE]
    assert len(bodies) == 2 and all("test" not in body for body in bodies)
