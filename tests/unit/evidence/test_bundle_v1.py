"""The SQLite bundle format stays readable and unchanged: a bundle written by alarmrx before
bundles of several chains existed (``data/bundle_v1``, exported from the journal
``journal_builder.build`` writes) still verifies, and an export of that journal today gives
the same bytes."""

from __future__ import annotations

from pathlib import Path

from tests.unit.evidence.journal_builder import REQUEST, T, build

from alarmrx.evidence import export, verify_bundle
from alarmrx.evidence.bundle import HTML_NAME, JSON_NAME, README_NAME

STORED = Path(__file__).parent / "data" / "bundle_v1"


def test_a_stored_v1_bundle_still_verifies() -> None:
    proven = verify_bundle(STORED)
    assert (proven.account, proven.alarms, proven.records) == ("1234", 1, 10)
    assert proven.unanchored == () and len(proven.anchors) == 2


async def test_an_export_today_writes_the_same_bytes(tmp_path: Path) -> None:
    await build(tmp_path / "journal.db")
    export(tmp_path / "journal.db", REQUEST, tmp_path / "bundle", now=T.replace(day=4))
    for name in (JSON_NAME, HTML_NAME, README_NAME):
        assert (tmp_path / "bundle" / name).read_bytes() == (STORED / name).read_bytes(), name
