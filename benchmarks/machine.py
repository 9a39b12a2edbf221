"""The machine a run was measured on, for the report."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """What the numbers depend on."""

    cpu: str
    cores: int
    memory: str
    kernel: str
    python: str
    disk: str


def describe(journal_dir: Path) -> Machine:
    """Read the machine's facts from ``/proc`` and ``/sys``."""
    return Machine(
        cpu=_cpuinfo("model name") or platform.processor() or "unknown",
        cores=os.cpu_count() or 0,
        memory=_meminfo(),
        kernel=f"{platform.system()} {platform.release()}",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        disk=_disk(journal_dir),
    )


def _cpuinfo(key: str) -> str | None:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _meminfo() -> str:
    first = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()[0]
    kib = int(first.split()[1])
    return f"{kib / 1024 / 1024:.1f} GiB"


def _disk(path: Path) -> str:
    """Device, file system and (for a block device) whether it spins, for ``path``."""
    target = str(path.resolve())
    best = ("?", "?", "")
    for line in Path("/proc/mounts").read_text(encoding="utf-8").splitlines():
        device, mount, fstype = line.split()[:3]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best[2]):
            best = (device, fstype, mount)
    device, fstype, mount = best
    return f"{device} ({fstype}, mounted at {mount}{_rotational(device)})"


def _rotational(device: str) -> str:
    name = Path(device).name
    flag = Path(f"/sys/block/{name}/queue/rotational")
    if not flag.exists():
        return ""
    return ", rotational" if flag.read_text(encoding="ascii").strip() == "1" else ", not rotational"


def interpreter() -> str:
    """The generator's own interpreter, with its event loop."""
    try:
        loop = f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        loop = "asyncio"
    return f"{sys.executable} ({platform.python_version()}, {loop})"
