"""The key reference of ``docs/configuration.md``, generated from the schema.

``python -m alarmrx.config.reference docs/configuration.md`` rewrites the part between the
markers; a test fails when the file and the schema differ.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from alarmrx.config.model import ListenAddress
from alarmrx.config.schema import Table
from alarmrx.config.sections import ROOT

BEGIN = "<!-- BEGIN GENERATED: python -m alarmrx.config.reference docs/configuration.md -->"
END = "<!-- END GENERATED -->"


def reference() -> str:
    """Markdown: a section per table, a row per key with its type, default and meaning."""
    return "\n".join(_section(table, header) for table, header in _tables(ROOT, ""))


def _tables(table: Table, prefix: str) -> Iterator[tuple[Table, str]]:
    for option in table.options:
        nested = option.check.nested
        if nested is None:
            continue
        name = f"{prefix}.{option.name}" if prefix else option.name
        header = f"[[{name}]]" if option.check.kind.startswith("array") else f"[{name}]"
        yield nested, header
        yield from _tables(nested, name)


def _section(table: Table, header: str) -> str:
    rows = [f"## `{header}`", "", table.doc, "", "| key | type | default | meaning |"]
    rows.append("| --- | --- | --- | --- |")
    defaults = {f.name: f for f in dataclasses.fields(table.model)}
    for option in table.options:
        default = option.default_doc or _default(defaults.get(option.name))
        cells = (f"`{option.name}`", option.check.kind, default, option.doc)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows) + "\n"


def _default(field: dataclasses.Field[Any] | None) -> str:
    if field is None or field.default is dataclasses.MISSING:
        return "required" if field is not None else "—"
    return f"`{toml_value(field.default)}`" if field.default is not None else "—"


def toml_value(value: Any) -> str:
    """How a default reads in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str | Path | ListenAddress | Enum):
        return f'"{value}"'
    return repr(value)


def rewrite(path: Path) -> bool:
    """Replace the generated part of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN + "\n")
    _, _, tail = rest.partition(END)
    new = f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}"
    path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    sys.stdout.write("changed\n" if rewrite(Path(sys.argv[1])) else "unchanged\n")
