"""The import rules of docs/architecture.md ("Packages"), read from the source with ``ast``:
arrows point one way, the receiver and the rules never import each other, and the protocol
core does no I/O."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "alarmrx"

# Package (or top-level module) -> the alarmrx packages it may import besides itself.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "protocols": frozenset(),
    "journal": frozenset(),
    "evidence": frozenset({"journal"}),
    "reports": frozenset({"journal"}),
    "config": frozenset({"protocols", "rules"}),  # rule settings are parsed by the rules
    "observability": frozenset({"alarmrx", "protocols", "journal", "mqtt"}),
    "receiver": frozenset({"protocols", "journal", "config", "observability"}),
    "rules": frozenset({"protocols", "journal", "config", "evidence"}),
    "mqtt": frozenset({"protocols", "journal", "config", "evidence", "rules"}),
    "control": frozenset(),
    "processes": frozenset({"alarmrx", "app", "config", "journal", "observability", "receiver"}),
}
# The sans-IO core: no event loop, sockets, logging or clock.
PROTOCOL_CORE_MAY_NOT = frozenset({"asyncio", "socket", "logging", "structlog", "time"})


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _package(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _internal(module: str) -> str | None:
    """``alarmrx.journal.ipc`` -> ``journal``; ``alarmrx`` itself -> ``alarmrx``."""
    parts = module.split(".")
    if parts[0] != "alarmrx":
        return None
    return parts[1] if len(parts) > 1 else "alarmrx"


SOURCES = sorted(p for p in SRC.rglob("*.py") if _package(p) in MAY_IMPORT)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_a_package_imports_only_what_it_may(path: Path) -> None:
    package = _package(path)
    allowed = MAY_IMPORT[package] | {package}
    used = {name for module in _imports(path) if (name := _internal(module)) is not None}
    assert used - allowed == set(), f"{package} may import only {sorted(allowed)}"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if _package(p) == "protocols"], ids=lambda p: p.name
)
def test_the_protocol_core_does_no_io(path: Path) -> None:
    top = {module.split(".")[0] for module in _imports(path)}
    assert top & PROTOCOL_CORE_MAY_NOT == set()


def test_the_receiver_and_the_consumers_do_not_import_each_other() -> None:
    assert {"rules", "mqtt"} & MAY_IMPORT["receiver"] == set()
    assert "receiver" not in MAY_IMPORT["rules"] | MAY_IMPORT["mqtt"]


def test_the_rules_do_not_import_the_publisher() -> None:
    assert "mqtt" not in MAY_IMPORT["rules"]


def test_every_package_has_a_rule() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py")}
    roots = {"app", "cli", "commands", "__init__", "__main__"}  # wire everything together
    assert packages - roots - set(MAY_IMPORT) == set()
