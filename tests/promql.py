"""The metric names a PromQL expression selects, for checking dashboards and alert rules
against a running daemon's ``/metrics``.

A lexer, not a regex over the whole text: string literals, label matchers (``{…}``), ranges
and subqueries (``[…]``), numbers and durations are tokens of their own; an identifier
followed by ``(`` (or by ``by``/``without``) is a function or an aggregation; the label
lists of ``by``, ``without``, ``on``, ``ignoring``, ``group_left`` and ``group_right`` are
skipped. What remains are the metric names.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<matchers>\{(?:[^{}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|[0-9][0-9a-zA-Z._]*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = GROUPING | {"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _tokens(expr: str) -> list[tuple[str, str]]:
    found = []
    for match in _TOKEN.finditer(expr):
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append((kind, match.group()))
    return found


def metric_names(expr: str) -> set[str]:
    """Every metric name ``expr`` selects; ValueError for a selector without a name
    (``{__name__=~…}``), which this check could not follow."""
    tokens = [*_tokens(expr), ("end", "")]
    names: set[str] = set()
    previous = ("", "")
    index = 0
    while index < len(tokens) - 1:
        kind, text = tokens[index]
        following, word = tokens[index + 1]
        if kind == "ident" and following == "ident" and word.lower() in GROUPING:
            following = "open"  # an aggregation with its modifier first: sum by (le) (…)
        if kind == "ident" and text.lower() in GROUPING and tokens[index + 1][0] == "open":
            index = _after_close(tokens, index + 1)
            previous = ("close", ")")
            continue
        if kind == "ident" and text.lower() not in KEYWORDS and following != "open":
            names.add(text)
        if kind == "matchers" and previous[0] != "ident":
            raise ValueError(f"a selector without a metric name in {expr!r}")
        previous = (kind, text)
        index += 1
    return names


def _after_close(tokens: list[tuple[str, str]], open_at: int) -> int:
    for index in range(open_at, len(tokens)):
        if tokens[index][0] == "close":
            return index + 1
    raise ValueError("unbalanced parentheses in a grouping label list")


def exposed_names(families: dict[str, str]) -> set[str]:
    """The names a query may use, from ``{family: type}`` as ``/metrics`` declares them: a
    histogram's only as ``_bucket``, ``_sum`` and ``_count``, a counter's with ``_total``,
    others as they are."""
    names: set[str] = set()
    for family, kind in families.items():
        if kind == "histogram":
            names.update(family + suffix for suffix in HISTOGRAM_SUFFIXES)
        elif kind == "counter":
            names.add(family if family.endswith("_total") else family + "_total")
        else:
            names.add(family)
    return names


def declared_families(exposition: str) -> dict[str, str]:
    """``{name: type}`` from the ``# TYPE`` lines of a text exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE))
