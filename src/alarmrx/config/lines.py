"""Line numbers for TOML keys: tomllib gives values without positions, so scan the text.

The scan knows table headers (``[receiver]``), arrays of tables (``[[accounts]]``, counted,
nested ones per parent), dotted and quoted keys, and skips multi-line strings and arrays.
Lookups fall back to the longest known prefix: a missing key is reported at its table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from alarmrx.config.problems import KeyPath

_PART = r'\s*(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')\s*'
_KEYS = rf"{_PART}(?:\.{_PART})*"
_ARRAY_HEADER = re.compile(rf"^\s*\[\[({_KEYS})\]\]")
_TABLE_HEADER = re.compile(rf"^\s*\[({_KEYS})\]")
_ASSIGNMENT = re.compile(rf"^({_KEYS})=")
_ONE_PART = re.compile(_PART)


def key_parts(text: str) -> list[str]:
    """``a."b.c" . d`` -> ``["a", "b.c", "d"]``."""
    parts = []
    for match in _ONE_PART.finditer(text):
        part = match.group(0).strip()
        if part[:1] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return parts


class LineIndex:
    """Maps key paths of one TOML document to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        self._counts: dict[KeyPath, int] = {}
        self._table: KeyPath = ()
        for number, line in _logical_lines(text):
            self._scan(number, line)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path`` or of its longest known prefix; None at the top level."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None

    def _scan(self, number: int, line: str) -> None:
        if match := _ARRAY_HEADER.match(line):
            *outer, name = key_parts(match.group(1))
            parent = (*self._resolve(outer), name)
            index = self._counts.get(parent, 0)
            self._counts[parent] = index + 1
            self._table = (*parent, index)
        elif match := _TABLE_HEADER.match(line):
            self._table = self._resolve(key_parts(match.group(1)))
        elif match := _ASSIGNMENT.match(line):
            self._remember((*self._table, *key_parts(match.group(1))), number)
            return
        else:
            return
        self._remember(self._table, number)

    def _resolve(self, parts: list[str]) -> KeyPath:
        """Insert the current index after each array-of-tables name: accounts -> accounts, 2."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in self._counts:
                path = (*path, self._counts[path] - 1)
        return path

    def _remember(self, path: KeyPath, number: int) -> None:
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], number)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(number, line)`` for lines that start outside strings and brackets."""
    depth = 0
    multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if depth == 0 and multiline is None:
            yield number, line
        depth, multiline = _track(line, depth, multiline)


def _track(line: str, depth: int, multiline: str | None) -> tuple[int, str | None]:
    """Bracket depth and open multi-line string delimiter after ``line``."""
    i = 0
    while i < len(line):
        if multiline is not None:
            end = line.find(multiline, i)
            if end < 0:
                return depth, multiline
            i, multiline = end + 3, None
            continue
        char = line[i]
        if char == "#":
            break
        if line.startswith(('"""', "'''"), i):
            multiline, i = line[i : i + 3], i + 3
            continue
        if char in "\"'":
            i = _string_end(line, i)
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        i += 1
    return depth, multiline


def _string_end(line: str, start: int) -> int:
    """Index after the one-line string opening at ``start``."""
    quote, i = line[start], start + 1
    while i < len(line) and line[i] != quote:
        i += 2 if quote == '"' and line[i] == "\\" else 1
    return i + 1
