"""The nodes benchmark (benchmarks/nodes.py), briefly: two nodes on PostgreSQL get every frame
ACKed, and a takeover is timed (the SQLite cells run the matrix's daemon, tested with it).
No timing assertions."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.nodes import NodesMeasurement, NodesOptions, render_nodes, run_nodes
from benchmarks.workers import raise_fd_limit

pytestmark = pytest.mark.integration


def test_two_nodes_on_postgresql_and_a_takeover(tmp_path: Path) -> None:
    raise_fd_limit()
    options = NodesOptions(
        backends=("postgresql",),
        nodes=(2,),
        connections=(4,),
        duration=1.0,
        takeovers=1,
        accounts=8,
        processes=1,
        workdir=tmp_path,
    )
    seen: list[NodesMeasurement] = []
    result = run_nodes(options, seen.append)
    assert [(m.cell.backend, m.cell.nodes) for m in seen] == [("postgresql", 2)]
    for m in seen:
        assert m.acked > 0, m.cell
        assert m.failed == 0, m.cell
    assert result.notes == []
    assert len(result.takeovers) == 1
    assert result.takeovers[0] > 0
    text = render_nodes(result, options, command="c", when="w", machine="m", version="v")
    assert "| postgresql | 2 | 4 |" in text
    assert "Takeover" in text
