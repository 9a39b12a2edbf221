"""The evidence page and the open/close report rendered by a real browser (Debian's
chromium, headless): the browser's DOM holds the alarm table and the timeline.

Under CI=true a missing chromium fails the test; elsewhere it is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.evidence.journal_builder import ACCOUNT, REQUEST, T, build

from alarmrx.cli import main
from alarmrx.evidence import export, verify_bundle

BROWSER_TIMEOUT_S = 20


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (scripts/bootstrap installs it)")
        pytest.skip("chromium is not installed")
    return path


def rendered_dom(page: Path, profile: Path) -> str:
    """The DOM after chromium loaded ``page``."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    )
    return result.stdout


async def test_the_evidence_page_has_its_table_and_timeline(tmp_path: Path) -> None:
    seqs = await build(tmp_path / "journal.db", late_alarm=True)
    export(tmp_path / "journal.db", REQUEST, tmp_path / "bundle", now=T.replace(day=4))
    verify_bundle(tmp_path / "bundle")
    dom = rendered_dom(tmp_path / "bundle" / "evidence.html", tmp_path / "profile")
    table = re.search(r'<table id="alarms">.*?</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r'<tr data-seq="(\d+)">', table.group(0))
    assert rows == [str(seqs["alarm"]), str(seqs["late_alarm"])]
    assert "2025-03-03 22:00:00+01:00" in table.group(0)  # received, in Copenhagen time
    assert '<td class="within">within</td>' in table.group(0)
    timeline = re.search(r'<section id="timeline">.*?</section>', dom, re.S)
    assert timeline is not None
    first = re.search(
        rf'<article class="incident" data-seq="{seqs["alarm"]}">.*?</article>',
        timeline.group(0),
        re.S,
    )
    assert first is not None
    kinds = re.findall(r'<li data-kind="(\w+)">', first.group(0))
    assert kinds == ["received", "verified", "alerted", "guard_arrived", "keybox", "disarmed"]
    assert first.group(0).count("<circle") == len(kinds)


async def test_the_openclose_report_renders_as_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await build(tmp_path / "journal.db")
    config = tmp_path / "alarmrx.toml"
    config.write_text(
        f'[journal]\npath = "journal.db"\n[[accounts]]\naccount = "{ACCOUNT}"\n'
        'timezone = "Europe/Copenhagen"\n',
        encoding="utf-8",
    )
    page = tmp_path / "openclose.html"
    status = main(
        [
            "report",
            "openclose",
            "--config",
            str(config),
            "--account",
            ACCOUNT,
            "--since",
            "2025-03-03",
            "--until",
            "2025-03-04",
            "--format",
            "html",
            "--out",
            str(page),
        ]
    )
    assert status == 0
    dom = rendered_dom(page, tmp_path / "profile")
    cells = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>[^<]*</td><td>(\w+)</td>", dom)
    assert cells == [
        ("1", "2025-03-03 21:30:00+01:00", "armed"),
        ("10", "2025-03-03 22:13:00+01:00", "disarmed"),
    ]
