"""docs/configuration.md and the example config agree with the schema."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from alarmrx.config.reference import BEGIN, END, reference, rewrite
from alarmrx.config.schema import Table
from alarmrx.config.sections import ROOT

REPO = Path(__file__).resolve().parents[3]


def all_tables(table: Table) -> list[Table]:
    found = [table]
    for option in table.options:
        if option.check.nested is not None:
            found += all_tables(option.check.nested)
    return found


def test_docs_match_the_schema() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    generated = text.split(BEGIN + "\n", 1)[1].split(END, 1)[0]
    assert generated.strip() == reference().strip(), (
        "run: .venv/bin/python -m alarmrx.config.reference docs/configuration.md"
    )


def test_every_model_field_has_a_key_and_a_doc() -> None:
    secrets = {"key": ("key_file", "key_credential"), "password": ("password_file",)}
    for table in all_tables(ROOT):
        names = {o.name for o in table.options}
        fields = {f.name for f in dataclasses.fields(table.model)} - {"source", "unread_secrets"}
        fields -= {f for f in secrets if f"{f}_file" in names}  # a secret kept out of the file
        assert fields <= names, table.title
        for field, sources in secrets.items():
            if field in names:
                assert set(sources) <= names
        assert all(o.doc for o in table.options)


def test_example_mentions_every_key() -> None:
    text = (REPO / "config" / "alarmrx.example.toml").read_text(encoding="utf-8")
    for table in all_tables(ROOT)[1:]:
        for option in table.options:
            if option.check.nested is None:
                assert f"{option.name} =" in text, f"{table.title}.{option.name}"


def test_rewrite_is_idempotent(tmp_path: Path) -> None:
    copy = tmp_path / "configuration.md"
    shutil.copy(REPO / "docs" / "configuration.md", copy)
    assert rewrite(copy) is False
    copy.write_text(f"intro\n{BEGIN}\nstale\n{END}\nafter\n")
    assert rewrite(copy) is True
    assert copy.read_text().endswith(f"{END}\nafter\n")
