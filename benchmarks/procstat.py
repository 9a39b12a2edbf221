"""A receiver's CPU time and memory, read from ``/proc`` (Linux only).

A receiver may be several processes (alarmrx's supervisor and its children): every figure is
summed over the process and its descendants alive when it is read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
# proc(5) numbers the fields from 1; after the ")" closing the name, field 3 comes first.
_FIRST_FIELD = 3
_UTIME, _STIME = 14, 15
_KIB = 1024


_PPID = 4


def _fields(pid: int) -> list[str]:
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return stat[stat.rindex(")") + 2 :].split()


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_fields(int(entry.name))[_PPID - _FIRST_FIELD])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _summed(pid: int, one: Callable[[int], float]) -> float:
    total = 0.0
    for member in tree(pid):
        try:
            total += one(member)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited meanwhile
    return total


def _own_cpu_seconds(pid: int) -> float:
    fields = _fields(pid)
    utime, stime = fields[_UTIME - _FIRST_FIELD], fields[_STIME - _FIRST_FIELD]
    return (int(utime) + int(stime)) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of all the receiver's threads and processes so far."""
    return _summed(pid, _own_cpu_seconds)


def _own_status_bytes(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0]) * _KIB
    msg = f"/proc/{pid}/status has no {name}"
    raise LookupError(msg)


def status_bytes(pid: int, name: str) -> int:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmHWM`` peak RSS, ``VmRSS`` now) in bytes,
    summed over the receiver's processes."""
    return int(_summed(pid, lambda member: _own_status_bytes(member, name)))


def open_files(pid: int) -> int:
    """How many file descriptors the receiver's processes hold."""
    return int(_summed(pid, lambda member: sum(1 for _ in Path(f"/proc/{member}/fd").iterdir())))


def peak_rss(pid: int) -> int:
    """Peak resident set size (``VmHWM``) in bytes (the sum of each process's peak)."""
    return status_bytes(pid, "VmHWM")


def udp_receive_buffer_errors() -> int:
    """Datagrams the kernel dropped because a socket's receive buffer was full (all sockets)."""
    lines = [
        line.split() for line in Path("/proc/net/snmp").read_text(encoding="ascii").splitlines()
    ]
    names, values = (row for row in lines if row[0] == "Udp:")
    return int(values[names.index("RcvbufErrors")])


def rss(pid: int) -> int:
    """Current resident set size (``VmRSS``) in bytes."""
    return status_bytes(pid, "VmRSS")


def _role(pid: int, root: int) -> str:
    """``supervisor`` for the receiver's own process, else the role an alarmrx child plays
    (``python -m alarmrx.processes.child ROLE``), else ``other``."""
    if pid == root:
        return "supervisor"
    words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if b"alarmrx.processes.child" in words:
        return words[words.index(b"alarmrx.processes.child") + 1].decode()
    return "other"


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds so far of the receiver's processes, summed by role."""
    roles: dict[str, float] = {}
    for member in tree(pid):
        try:
            role = _role(member, pid)
            roles[role] = roles.get(role, 0.0) + _own_cpu_seconds(member)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return roles
