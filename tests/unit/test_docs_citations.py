"""The repository stands alone: code and docs cite sections of its own docs, and those exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.tree import ROOT, project_files

SEARCHED = ("src", "tests", "benchmarks", "docs", "config", "README.md")
# `docs/protocol.md, "Section"` in code; `protocol.md, "Section"` between docs pages.
CITATION = re.compile(r'(?:docs/)?(protocol|architecture)\.md,\s*(?:#\s*)?"([^"]+)"')
# Pointers outside the repository, spelled in pieces so this file does not match itself.
OUTSIDE = re.compile("|".join(("DESIGN" + r"\.md", "standards" + r"\.md", r"\.\./" + "shared")))


def _texts() -> list[tuple[Path, str]]:
    keep = (".py", ".md", ".toml", ".json", ".sh", "")
    return [(path, path.read_text(encoding="utf-8")) for path in project_files(SEARCHED, keep)]


def _headings(page: str) -> set[str]:
    text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    return {m.group(1).strip("` ") for m in re.finditer(r"^#{2,4} (.+)$", text, re.M)}


def test_nothing_points_outside_the_repository() -> None:
    """No file cites the design notes or research files that live outside the repository."""
    hits = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path, text in _texts()
        for m in OUTSIDE.finditer(text)
    ]
    assert hits == []


def _citations() -> list[tuple[str, str, str]]:
    found = []
    for path, text in _texts():
        if path == Path(__file__).resolve():
            continue
        # A citation may wrap across a comment line: join the lines first.
        flat = re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)
        found += [(str(path.relative_to(ROOT)), m[1], m[2]) for m in CITATION.finditer(flat)]
    return found


def test_there_are_citations() -> None:
    """The protocol code cites docs/protocol.md's sections (guards the pattern itself)."""
    assert len(_citations()) >= 20


@pytest.mark.parametrize(("where", "page", "section"), _citations())
def test_cited_section_exists(where: str, page: str, section: str) -> None:
    """Each cited section is a heading of the cited page."""
    assert section in _headings(page), f"{where} cites {page}.md, {section!r}"
