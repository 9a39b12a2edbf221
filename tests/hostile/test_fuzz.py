"""The parser's fuzz target (fuzz/fuzz_parse_frame.py): its seeds replayed under plain Python,
then a short coverage-guided atheris run (CI 10 s; ``ALARMRX_HOSTILE=full``: 5 minutes).

Where atheris is not installed (it ships wheels for Linux x86_64 only) the atheris run is
skipped, or fails under ``CI=true``; the replay always runs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.hostile.support import scale

pytestmark = pytest.mark.integration

TARGET = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_parse_frame.py"
FUZZ_S = scale(10, 300)


def _target() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_parse_frame", TARGET)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeds_replay_without_a_finding() -> None:
    target = _target()
    seeds = list(target.seeds())
    assert len(seeds) > 50
    for seed in seeds:
        target.check(seed)


@pytest.mark.timeout(scale(120, 900))  # the full variant runs minutes
def test_short_atheris_run_finds_nothing(tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        message = "atheris is not installed (pip install atheris; Linux x86_64 wheels only)"
        if os.environ.get("CI") == "true" and sys.platform == "linux":
            pytest.fail(message)
        pytest.skip(message)
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(TARGET), "--seed", str(corpus)], check=True, timeout=60)
    done = subprocess.run(
        [sys.executable, str(TARGET), str(corpus), f"-max_total_time={FUZZ_S}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=FUZZ_S + 120,
        check=False,
    )
    assert done.returncode == 0, _finding(done.stderr)
    assert "DONE" in done.stderr
    assert not list(tmp_path.glob("crash-*"))


def _finding(stderr: str) -> str:
    """The Python traceback atheris printed, and the input it wrote (not the progress lines)."""
    start = stderr.find("=== Uncaught Python exception")
    return stderr[start:][:6000] if start >= 0 else stderr[-4000:]
