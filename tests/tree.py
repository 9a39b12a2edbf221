"""The repository's own files, for the tests that read the whole tree.

Caches (``__pycache__``) and whatever lives under a dot-directory (``benchmarks/.envs``, the
benchmark's interpreters for the peers, ``.hypothesis``) are not the project's text.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_files(names: Iterable[str], suffixes: Iterable[str]) -> list[Path]:
    """Every file under (or being) each of ``names`` whose suffix is one of ``suffixes``."""
    keep = set(suffixes)
    paths: list[Path] = []
    for name in names:
        target = ROOT / name
        paths += [target] if target.is_file() else sorted(target.rglob("*"))
    return [
        path
        for path in paths
        if path.is_file() and path.suffix in keep and not _generated(path.relative_to(ROOT))
    ]


def _generated(path: Path) -> bool:
    return "__pycache__" in path.parts or any(part.startswith(".") for part in path.parts)
