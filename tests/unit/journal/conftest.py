"""Fixtures for the journal tests: a journal file in tmp_path, opened and closed for the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.journal.builders import Metrics

from alarmrx.journal import Journal


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "journal.db"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def journal(path: Path, metrics: Metrics) -> AsyncIterator[Journal]:
    opened = await Journal.open(path, metrics=metrics)
    yield opened
    await opened.close()
