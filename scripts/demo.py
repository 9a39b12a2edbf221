"""README.md's worked examples, run for real: ``make demo`` (``scripts/demo``).

Starts a private mosquitto on a free loopback port and alarmrx on a copy of
``config/alarmrx.example.toml`` whose listeners, journal and broker are moved into a
temporary directory; plays the panel's events with ``alarmrx send``; then runs each example
of README.md as written there (``alarmrx`` commands with ``--config alarmrx.toml``,
``mosquitto_sub``/``mosquitto_pub`` reaching the private broker through their per-user
options file), with the journal numbers and times of this run in place of the README's
illustrative ones. Every command is printed with its output and checked against what README.md
shows. Exit 0 when all matched, 1 naming the first example that did not.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.journal.query import query, record_json

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "alarmrx.example.toml"
START_TIMEOUT_S = 20.0
COMMAND_TIMEOUT_S = 30.0
ACCOUNT = "1234"
REPORT_HEADER = "journal_seq,local_time,received_at,action,user,area,code,description,panel_time"


class DemoError(Exception):
    """An example did not give what README.md shows."""


def free_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1 (free now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``ready`` until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise DemoError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def expect(condition: bool, example: str, detail: str) -> None:
    """Fail the example unless ``condition``."""
    if not condition:
        raise DemoError(f"{example}: {detail}")


class Demo:
    """The private broker, the daemon, and the shell the examples run in."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.rx_port, self.metrics_port, self.broker_port = free_port(), free_port(), free_port()
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"},
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "XDG_CONFIG_HOME": str(directory / "xdg"),
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.sequence = 0

    # -- set-up ----------------------------------------------------------------------------

    def write_files(self) -> None:
        """``alarmrx.toml`` from the example, mosquitto's config, the clients' options."""
        text = EXAMPLE.read_text(encoding="utf-8")
        moves = {
            'listen = ["127.0.0.1:12128"]': f'listen = ["127.0.0.1:{self.rx_port}"]',
            'path = "var/journal.db"': 'path = "journal.db"',
            'listen = "127.0.0.1:9108"': f'listen = "127.0.0.1:{self.metrics_port}"',
            'url = "mqtt://127.0.0.1:1883"': f'url = "mqtt://127.0.0.1:{self.broker_port}"',
            'format = "auto"': 'format = "json"',
        }
        for old, new in moves.items():
            if text.count(old) != 1:
                raise DemoError(f"{EXAMPLE.name} no longer has {old!r} once")
            text = text.replace(old, new)
        (self.dir / "alarmrx.toml").write_text(text, encoding="utf-8")
        user = pwd.getpwuid(os.geteuid()).pw_name  # mosquitto drops root to this user
        (self.dir / "mosquitto.conf").write_text(
            f"listener {self.broker_port} 127.0.0.1\nallow_anonymous true\n"
            f"user {user}\npersistence false\nlog_dest stderr\nlog_type error\n"
        )
        options = self.dir / "xdg"
        options.mkdir()
        for client in ("mosquitto_pub", "mosquitto_sub"):
            (options / client).write_text(f"-h 127.0.0.1\n-p {self.broker_port}\n")

    def start(self) -> None:
        """The broker, then the daemon; return once the daemon is ready."""
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.background([mosquitto, "-c", "mosquitto.conf"], "mosquitto.log")
        wait_until("mosquitto listening", lambda: self._accepts(self.broker_port))
        self.background(["alarmrx", "run", "--config", "alarmrx.toml"], "alarmrx.log")
        wait_until("alarmrx ready (/readyz)", self._ready)

    def background(self, argv: Sequence[str], log: str) -> subprocess.Popen[bytes]:
        """A process that runs until the demo ends."""
        with (self.dir / log).open("ab") as out:
            process = subprocess.Popen(
                argv, cwd=self.dir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Stop every process the demo started, the latest first."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    def _accepts(self, port: int) -> bool:
        self._alive()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def _ready(self) -> bool:
        self._alive()
        url = f"http://127.0.0.1:{self.metrics_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                logs = "".join(p.read_text()[-2000:] for p in self.dir.glob("*.log"))
                raise DemoError(f"{process.args!r} exited {process.returncode}:\n{logs}")

    # -- the shell -------------------------------------------------------------------------

    def sh(self, line: str, *, status: int = 0) -> str:
        """Run one shell line as README.md writes it; print it and its output; its stdout."""
        print(f"$ {line}")
        done = subprocess.run(
            line,
            shell=True,
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        for text in (done.stdout, done.stderr):
            if text:
                print(text, end="" if text.endswith("\n") else "\n")
        expect(done.returncode == status, line, f"exit {done.returncode}, expected {status}")
        expect("Traceback" not in done.stderr, line, "a traceback")
        return done.stdout + done.stderr

    def reply_to(self, request: dict[str, Any]) -> dict[str, Any]:
        """README's app: subscribe to its reply topic, publish the request, read the reply."""
        topic = f"alarmrx/v1/replies/{request['request_id']}"
        received = self.dir / "reply.txt"
        print(f"$ mosquitto_sub -d -t '{topic}' -C 1 &   # -d shows its SUBACK")
        with received.open("w") as out:
            sub = subprocess.Popen(
                ["stdbuf", "-oL", "mosquitto_sub", "-d", "-t", topic, "-C", "1"],
                cwd=self.dir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until("mosquitto_sub subscribed", lambda: "SUBACK" in received.read_text())
            text = json.dumps(request, separators=(",", ":"))
            self.sh(f"mosquitto_pub -q 1 -t alarmrx/v1/commands/{ACCOUNT} -m '{text}'")
            sub.wait(COMMAND_TIMEOUT_S)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        lines = [line for line in received.read_text().splitlines() if line.startswith("{")]
        expect(len(lines) == 1, "the reply", f"expected one JSON reply, got {lines}")
        print(lines[0])
        reply: dict[str, Any] = json.loads(lines[0])
        expect(reply.get("schema") == "alarmrx.reply.v1", "the reply", f"schema of {reply}")
        expect(reply.get("request_id") == request["request_id"], "the reply", "request_id")
        return reply

    def panel(self, sia: str) -> int:
        """The panel sends one SIA DCS event; the journal_seq of its record."""
        self.sequence += 1
        out = self.sh(
            f"alarmrx send --to 127.0.0.1:{self.rx_port} --account {ACCOUNT} "
            f"--sequence {self.sequence} --sia {shlex.quote(sia)}"
        )
        expect('"ACK"' in out, f"panel event {sia}", "no ACK")
        return self.record_of(f"{self.sequence:04d}")

    def record_of(self, sequence: str) -> int:
        """The journal_seq of the panel message with this DC-09 sequence number."""
        for record in self.records():
            if record["kind"] == "message" and record["sequence"] == sequence:
                return int(record["journal_seq"])
        raise DemoError(f"no record of the frame with sequence {sequence}")

    def records(self) -> list[dict[str, Any]]:
        """The account's records as ``alarmrx journal query`` prints them, read quietly (in
        this process: the demo polls them, and a command's start-up would cost most)."""
        return [record_json(r) for r in query(self.dir / "journal.db", account=ACCOUNT)]

    def received_at(self, journal_seq: int) -> datetime:
        """When the record ``journal_seq`` of the account was received."""
        for record in self.records():
            if record["journal_seq"] == journal_seq:
                return datetime.fromisoformat(record["received_at"])
        raise DemoError(f"no record {journal_seq}")

    def derived(self, kind: str) -> list[dict[str, Any]]:
        """The account's derived records of one type (``alarm.cancelled`` …)."""
        return [r for r in self.records() if r["body"].get("type") == kind]


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def quick_start(demo: Demo) -> None:
    """README "Quick start": a frame pasted from a log decodes; the journal verifies."""
    out = demo.sh(
        "alarmrx decode '<LF>CE110032\"SIA-DCS\"9876R579BDFL789ABC#12345A[#12345A|NFA129]<CR>'"
    )
    expect('"code": "FA"' in out or '"code":"FA"' in out, "decode", "no FA event")


def cancel_over_mqtt(demo: Demo) -> None:
    """README "Cancelling an alarm": the owner's app cancels over MQTT."""
    demo.panel("Nri1/CL07")
    alarm = demo.panel("Nri1/BA03")
    print(f"# the burglary alarm is record {alarm} (README: 42)")
    request = {
        "action": "cancel",
        "request_id": "app-7f3a",
        "id_code": "1001",
        "pin": "2580",
        "journal_seq": alarm,
    }
    reply = demo.reply_to(request)
    expect(reply.get("ok") is True, "the reply", f"not ok: {reply}")
    command = reply["journal_seq"]
    wait_until("alarm.cancelled journaled", lambda: bool(demo.derived("alarm.cancelled")))
    (cancelled,) = demo.derived("alarm.cancelled")
    refs = cancelled["body"].get("refs")
    print(f"# alarm.cancelled refers to records {refs} (README: 42 and 57)")
    expect(refs == [alarm, command], "alarm.cancelled", f"refs {refs}, not [{alarm}, {command}]")
    reply = demo.reply_to({**request, "pin": "9999"})
    expect(reply.get("error") == "authentication failed", "a wrong PIN", str(reply))


def operator_commands(demo: Demo) -> None:
    """README: the operator cancels on the owner's behalf and marks an alarm false."""
    alarm = demo.panel("Nri1/BA02")
    out = demo.sh(
        f"alarmrx cancel --config alarmrx.toml --account {ACCOUNT} "
        f"--journal-seq {alarm} --id-code 1001"
    )
    expect(json.loads(out).get("ok") is True, "alarmrx cancel", out)
    alarm = demo.panel("Nri1/BA04")
    out = demo.sh(
        f"alarmrx mark-false --config alarmrx.toml --account {ACCOUNT} "
        f"--journal-seq {alarm} --police-alerted"
    )
    expect(json.loads(out).get("ok") is True, "alarmrx mark-false", out)
    wait_until("alarm.false journaled", lambda: bool(demo.derived("alarm.false")))


def reports_and_evidence(demo: Demo) -> None:
    """README "Reports and evidence": the response to an alarm, the open/close report, the
    evidence bundle and its check."""
    alarm = demo.panel("Nri1/BA03")
    demo.sh(
        f"alarmrx alerted --config alarmrx.toml --account {ACCOUNT} "
        f'--journal-seq {alarm} --who "Guard company"'
    )
    # README gives the arrival to the second: wait until that second is after the alarm's
    received = demo.received_at(alarm)
    wait_until("a second after the alarm", lambda: _whole_second(datetime.now(UTC)) > received)
    at = _whole_second(datetime.now(UTC)).astimezone().isoformat()
    demo.sh(
        f'alarmrx guard-arrived --config alarmrx.toml --account {ACCOUNT} --note "car 12" --at {at}'
    )
    demo.panel("Nri1/OP07")
    today = datetime.now(UTC).date()
    period = f"--since {today - timedelta(days=1)} --until {today + timedelta(days=2)}"
    out = demo.sh(f"alarmrx report openclose --config alarmrx.toml --account {ACCOUNT} {period}")
    lines = out.splitlines()
    expect(lines[0] == REPORT_HEADER, "report openclose", f"header {lines[0]!r}")
    rows = [line.split(",") for line in lines[1:]]
    shown = [(r[3], r[4], r[5], r[6], r[7]) for r in rows]
    expect(("armed", "7", "1", "CL", "Closing Report") in shown, "report", f"rows {shown}")
    expect(("disarmed", "7", "1", "OP", "Opening Report") in shown, "report", f"rows {shown}")

    out = demo.sh("alarmrx anchor --config alarmrx.toml")
    expect(out.startswith("anchor record "), "alarmrx anchor", out)
    out = demo.sh(
        f"alarmrx evidence export --config alarmrx.toml --account {ACCOUNT} {period} "
        "--out evidence-1234"
    )
    expect(
        re.match(r"evidence written to evidence-1234: \d+ alarm\(s\), \d+ records", out)
        is not None,
        "evidence export",
        out,
    )
    expect("not anchored" not in out, "evidence export", "records not anchored after anchor")
    out = demo.sh("ls evidence-1234")
    expect(out.split() == ["README.txt", "evidence.html", "evidence.json"], "ls", out)
    out = demo.sh("alarmrx evidence verify evidence-1234")
    expect(
        re.search(
            r"^evidence ok: account 1234, \d+ alarm\(s\), \d+ records, every hash and "
            r"link checked; every record reaches an anchor$",
            out,
            re.MULTILINE,
        )
        is not None,
        "evidence verify",
        out,
    )
    bundle = json.loads((demo.dir / "evidence-1234" / "evidence.json").read_text())
    entry = next(a for a in bundle["alarms"] if a["journal_seq"] == alarm)
    print(
        f"# evidence.json, alarm {alarm}: "
        + json.dumps(
            {
                k: entry.get(k)
                for k in ("code", "zone", "area", "response_s", "required_s", "verdict")
            }
        )
    )
    expect(
        entry["code"] == "BA" and entry["guard_arrived"] is not None,
        "evidence.json",
        f"alarm {alarm}: {entry}",
    )
    expect(entry["verdict"] == "within", "evidence.json", f"verdict {entry['verdict']}")


EXAMPLES = (quick_start, cancel_over_mqtt, operator_commands, reports_and_evidence)


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    """A temporary directory, removed afterwards unless ``keep``."""
    directory = Path(tempfile.mkdtemp(prefix="alarmrx-demo-"))
    try:
        yield directory
    finally:
        if keep:
            print(f"# kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every example; 0 when all matched README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the demo's directory")
    args = parser.parse_args(argv)
    with workspace(args.keep) as directory:
        demo = Demo(directory)
        try:
            demo.write_files()
            demo.start()
            for example in EXAMPLES:
                print(f"\n## {example.__doc__.splitlines()[0] if example.__doc__ else ''}")
                example(demo)
            out = demo.sh("alarmrx journal verify --config alarmrx.toml")
            expect(out.startswith("journal ok"), "journal verify", out)
        except (DemoError, subprocess.SubprocessError, OSError) as err:
            print(f"\ndemo FAILED: {err}", file=sys.stderr)
            return 1
        finally:
            demo.stop()
    print("\ndemo ok: every example in README.md ran and gave what it shows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
