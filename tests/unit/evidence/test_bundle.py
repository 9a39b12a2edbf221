"""Evidence bundles from a real journal: the alarm table, the chain to the anchors, and
verification without the journal — every changed byte of a record, link, the table or the
pages fails, naming the record or file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.unit.evidence.journal_builder import REQUEST, T, build

from alarmrx.evidence import BundleError, export, verify_bundle
from alarmrx.evidence.bundle import JSON_NAME, write

NOW = T.replace(day=4)


@pytest.fixture
async def bundle_dir(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    seqs = await build(tmp_path / "journal.db")
    export(tmp_path / "journal.db", REQUEST, tmp_path / "bundle", now=NOW)
    return tmp_path / "bundle", seqs


def load(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / JSON_NAME).read_text(encoding="utf-8"))
    return data


def save(directory: Path, data: dict[str, Any]) -> None:
    (directory / JSON_NAME).write_text(
        json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


async def test_the_alarm_row_holds_every_time(bundle_dir: tuple[Path, dict[str, int]]) -> None:
    directory, seqs = bundle_dir
    (row,) = load(directory)["alarms"]
    assert row["journal_seq"] == seqs["alarm"] and row["code"] == "BA"
    assert row["received_at"] == "2025-03-03T21:00:00.000000+00:00"
    assert row["panel_time"] == "2025-03-03T20:59:56+00:00"
    assert row["verified"]["journal_seq"] == seqs["verified"]
    assert [m["detail"] for m in row["alerted"]] == ["Guard company"]
    assert row["guard_arrived"] == {
        "at": "2025-03-03T21:11:00.000000+00:00",
        "journal_seq": seqs["guard"],
        "detail": "car 12",
    }
    assert row["keybox"]["journal_seq"] == seqs["keybox"]
    assert row["disarmed"]["journal_seq"] == seqs["disarmed"]  # not the other account's OP
    assert (row["response_s"], row["required_s"], row["verdict"]) == (660.0, 900.0, "within")


async def test_the_chain_runs_to_each_records_first_anchor(
    bundle_dir: tuple[Path, dict[str, int]],
) -> None:
    directory, seqs = bundle_dir
    data = load(directory)
    carried = [r["journal_seq"] for r in data["records"]]
    assert carried == list(range(seqs["alarm"], seqs["anchor2"] + 1))  # links included
    assert [a["journal_seq"] for a in data["anchors"]] == [seqs["anchor1"], seqs["anchor2"]]
    proven = verify_bundle(directory)
    assert proven.unanchored == () and proven.alarms == 1
    assert proven.anchored[seqs["alarm"]] == seqs["anchor1"]
    assert proven.anchored[seqs["disarmed"]] == seqs["anchor2"]


FIELDS = (
    "received_at",
    "kind",
    "account",
    "body",
    "raw_base64",
    "prev_hash",
    "hash",
    "journal_seq",
    "priority",
    "peer",
)


def changed(value: Any) -> Any:
    """``value`` with one character (or the number) changed."""
    if isinstance(value, int):
        return value + 1
    if not value:
        return "AA==" if value == "" else "x"  # empty raw gets a byte; null gets text
    middle = len(value) // 2
    new = "B" if value[middle] != "B" else "C"
    if value[middle] in "0123456789abcdef" and len(value) == 64:
        new = "0" if value[middle] != "0" else "1"  # stay hex
    return value[:middle] + new + value[middle + 1 :]


async def test_any_changed_field_of_any_record_fails_naming_it(
    bundle_dir: tuple[Path, dict[str, int]],
) -> None:
    directory, _ = bundle_dir
    original = load(directory)
    for index, record in enumerate(original["records"]):
        for name in FIELDS:
            data = json.loads(json.dumps(original))
            data["records"][index][name] = changed(record[name])
            save(directory, data)
            with pytest.raises(BundleError, match=r"record \d+") as caught:
                verify_bundle(directory)
            named = {
                record["journal_seq"],
                record["journal_seq"] + 1,
                data["records"][index]["journal_seq"],
            }
            assert any(f"record {seq}" in str(caught.value) for seq in named), (name, caught)
    save(directory, original)
    verify_bundle(directory)


async def test_every_byte_flip_fails(bundle_dir: tuple[Path, dict[str, int]]) -> None:
    directory, _ = bundle_dir
    for name in ("evidence.json", "evidence.html", "README.txt"):
        path = directory / name
        original = path.read_bytes()
        for position in range(0, len(original), max(1, len(original) // 300)):
            flipped = bytearray(original)
            flipped[position] ^= 0x01
            path.write_bytes(bytes(flipped))
            with pytest.raises(BundleError):
                verify_bundle(directory)
        path.write_bytes(original)
    verify_bundle(directory)


async def test_an_edited_table_or_page_is_named(bundle_dir: tuple[Path, dict[str, int]]) -> None:
    directory, _ = bundle_dir
    data = load(directory)
    data["alarms"][0]["guard_arrived"]["at"] = "2025-03-03T21:05:00.000000+00:00"
    save(directory, data)
    with pytest.raises(BundleError, match=r"alarms\[0\] \(record 2\)"):
        verify_bundle(directory)
    data["alarms"] = []
    save(directory, data)
    with pytest.raises(BundleError, match="the records give 1 alarm"):
        verify_bundle(directory)


async def test_a_removed_link_leaves_the_alarm_unanchored(
    bundle_dir: tuple[Path, dict[str, int]],
) -> None:
    directory, seqs = bundle_dir
    data = load(directory)
    data["records"] = [r for r in data["records"] if r["journal_seq"] != seqs["alarm"] + 1]
    write(data, directory)  # pages rendered again: only the proof is short
    assert verify_bundle(directory).unanchored == (seqs["alarm"],)


async def test_a_record_after_the_last_anchor_is_carried_alone(tmp_path: Path) -> None:
    seqs = await build(tmp_path / "journal.db", late_alarm=True)
    done = export(tmp_path / "journal.db", REQUEST, tmp_path / "bundle", now=NOW)
    assert (done.alarms, done.unanchored) == (2, (seqs["late_alarm"],))
    proven = verify_bundle(tmp_path / "bundle")
    assert proven.unanchored == (seqs["late_alarm"],)
    row = load(tmp_path / "bundle")["alarms"][1]
    assert (row["verdict"], row["disarmed"], row["response_s"]) == ("no guard arrival", None, None)


async def test_an_empty_period_makes_an_empty_bundle(tmp_path: Path) -> None:
    await build(tmp_path / "journal.db")
    request = type(REQUEST)(
        account="nobody", since=T, until=T.replace(day=4), params=REQUEST.params
    )
    done = export(tmp_path / "journal.db", request, tmp_path / "bundle", now=NOW)
    assert (done.alarms, done.records) == (0, 0)
    assert verify_bundle(tmp_path / "bundle").alarms == 0
