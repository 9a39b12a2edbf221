"""Finding a Python 3.12+ and the separate environment pysiaalarm runs in.

pysiaalarm's UDP server needs Python 3.12 or later; the project itself runs on 3.11, so the
peer gets its own virtualenv (``benchmarks/.envs/pysiaalarm``, not committed), installed from
PyPI on first use.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PYSIAALARM = "pysiaalarm==3.2.2"
ENV_DIR = Path(__file__).resolve().parent / ".envs" / "pysiaalarm"
CANDIDATES = ("python3.12", "python3.13", "python3.14")
PYENV_FALLBACK = Path("/root/.pyenv/versions/3.12.1/bin/python")
_IS_312 = "import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)"


class PeerSetupError(RuntimeError):
    """The peer's environment cannot be made (no interpreter, install failed)."""


def find_python312() -> Path | None:
    """A working Python 3.12+: ``python3.12`` (or later) on PATH, else the pyenv build."""
    found = [shutil.which(name) for name in CANDIDATES]
    for candidate in [*(Path(p) for p in found if p), PYENV_FALLBACK]:
        if _works(candidate):
            return candidate
    return None


def _works(python: Path) -> bool:
    try:
        done = subprocess.run([python, "-c", _IS_312], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def pysiaalarm_python() -> Path:
    """The peer environment's interpreter, creating the environment if it is missing."""
    python = ENV_DIR / "bin" / "python"
    if _imports_pysiaalarm(python):
        return python
    base = find_python312()
    if base is None:
        tried = ", ".join([*CANDIDATES, str(PYENV_FALLBACK)])
        msg = f"pysiaalarm needs Python 3.12 or later and none was found (tried {tried})"
        raise PeerSetupError(msg)
    _run([base, "-m", "venv", "--clear", ENV_DIR], "create the pysiaalarm virtualenv")
    _run([python, "-m", "pip", "install", "--quiet", PYSIAALARM], f"pip install {PYSIAALARM}")
    return python


def _imports_pysiaalarm(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run(
        [python, "-c", "import pysiaalarm.aio"], capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


def _run(command: list[Path | str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        msg = f"could not {what}: {done.stderr.strip().splitlines()[-1:]}"
        raise PeerSetupError(msg)


def version_of(python: Path | str) -> str:
    """``Python 3.12.1`` as the interpreter reports it."""
    done = subprocess.run(
        [python, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    return (done.stdout or done.stderr).strip()
