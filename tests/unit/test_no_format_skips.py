"""The formatter formats everything: no ``fmt: skip`` / ``fmt: off`` in the repository's code."""

from __future__ import annotations

from tests.tree import ROOT, project_files

MARKERS = ("# fmt: " + "skip", "# fmt: " + "off")  # split, so this file does not match itself


def test_no_code_opts_out_of_the_formatter() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in project_files(("src", "tests", "benchmarks", "fuzz", "scripts"), (".py",))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(marker in line for marker in MARKERS)
    ]
    assert found == []
