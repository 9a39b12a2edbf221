"""LineIndex finds keys in TOML text: headers, arrays of tables, dotted and quoted keys."""

from __future__ import annotations

from alarmrx.config.lines import LineIndex, key_parts

TEXT = '''\
# comment [not = a header]
top = 1

[receiver]
id = "rx1"
listen = [
  "127.0.0.1:1",   # id = "not a key"
  "[::1]:2",
]
note = """
fake = "inside a string"
"""

[[accounts]]
account = "1"

[[accounts]]
account = "2"
"key_file" = "k"

[[accounts.zones]]
zone = 1

[[accounts.zones]]
zone = 2
a.b = 3

[[accounts]]
account = "3"

[mqtt]
url = "mqtt://h"
'''


def test_finds_each_kind_of_key() -> None:
    index = LineIndex(TEXT)
    assert index.line(("top",)) == 2
    assert index.line(("receiver",)) == 4
    assert index.line(("receiver", "id")) == 5
    assert index.line(("receiver", "listen")) == 6
    assert index.line(("receiver", "note")) == 10
    assert index.line(("accounts", 0, "account")) == 15
    assert index.line(("accounts", 1, "key_file")) == 19
    assert index.line(("accounts", 1, "zones", 0, "zone")) == 22
    assert index.line(("accounts", 1, "zones", 1, "a", "b")) == 26
    assert index.line(("accounts", 2, "account")) == 29
    assert index.line(("mqtt", "url")) == 32


def test_skips_strings_and_multiline_values() -> None:
    index = LineIndex(TEXT)
    assert index.line(("receiver", "fake")) == 4  # falls back to the table
    assert index.line(("not",)) is None


def test_falls_back_to_the_longest_known_prefix() -> None:
    index = LineIndex(TEXT)
    assert index.line(("receiver", "listen", 1)) == 6
    assert index.line(("accounts", 2, "missing")) == 28
    assert index.line(("accounts", 1, "zones", 1)) == 24
    assert index.line(("nowhere", "x")) is None


def test_key_parts() -> None:
    assert key_parts('a."b.c" . d') == ["a", "b.c", "d"]
    assert key_parts("'x y'") == ["x y"]
