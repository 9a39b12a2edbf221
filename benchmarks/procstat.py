"""A process's CPU time and memory, read from ``/proc`` (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
# proc(5) numbers the fields from 1; after the ")" closing the name, field 3 comes first.
_FIRST_FIELD = 3
_UTIME, _STIME = 14, 15
_KIB = 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of all the process's threads so far."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = fields[_UTIME - _FIRST_FIELD], fields[_STIME - _FIRST_FIELD]
    return (int(utime) + int(stime)) / _TICKS


def status_bytes(pid: int, name: str) -> int:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmHWM`` peak RSS, ``VmRSS`` now) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0]) * _KIB
    msg = f"/proc/{pid}/status has no {name}"
    raise LookupError(msg)


def open_files(pid: int) -> int:
    """How many file descriptors the process holds."""
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def peak_rss(pid: int) -> int:
    """Peak resident set size (``VmHWM``) in bytes."""
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
