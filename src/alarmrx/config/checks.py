"""The checks options are built from: each turns a TOML value into a settings value.

Type errors name the expected and the found type, never the value (it may be a secret).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from alarmrx.config.model import ListenAddress
from alarmrx.config.problems import Invalid, KeyPath, Reported
from alarmrx.config.schema import Check, Context, Table, validate_table

_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
    (datetime, "a date-time"),
    (date, "a date"),
    (time, "a time"),
)


def type_name(value: object) -> str:
    """``an integer``, ``a string`` … for messages."""
    return next((name for kind, name in _TYPE_NAMES if isinstance(value, kind)), "a value")


def expect(value: object, kind: type | tuple[type, ...], what: str) -> None:
    """Raise ``Invalid`` unless ``value`` is a ``kind`` (booleans are not numbers)."""
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise Invalid(f"expected {what}, got {type_name(value)}")


def boolean() -> Check:
    """``true`` or ``false``."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> bool:
        expect(value, bool, "true or false")
        return bool(value)

    return Check("boolean", convert)


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    """An integer within ``[minimum, maximum]``."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> int:
        expect(value, int, "an integer")
        _within(value, minimum, maximum)
        return int(value)

    return Check(f"integer{_range_text(minimum, maximum)}", convert)


def number(minimum: float | None = None, *, positive: bool = False) -> Check:
    """A number (integer or float); ``positive`` excludes 0."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> float:
        expect(value, (int, float), "a number")
        if positive and value <= 0:
            raise Invalid(f"must be above 0, got {value}")
        _within(value, minimum, None)
        return float(value)

    kind = "number > 0" if positive else f"number{_range_text(minimum, None)}"
    return Check(kind, convert)


def _within(value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise Invalid(f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise Invalid(f"must be at most {maximum}, got {value}")


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" {minimum}..{maximum}"
    return f" ≥ {minimum}" if minimum is not None else ""


def string(pattern: str | None = None, hint: str = "") -> Check:
    """A non-empty string, matching ``pattern`` when given (``hint`` says what that means)."""
    compiled = re.compile(pattern) if pattern else None

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        expect(value, str, "a string")
        if not value:
            raise Invalid("must not be empty")
        if compiled is not None and not compiled.fullmatch(value):
            raise Invalid(f"{value!r} is not {hint}")
        return str(value)

    return Check("string", convert)


def verbatim(what: str, max_length: int) -> Check:
    """A DC-09 field kept as typed: a string; an integer is refused with the quoting hint."""
    pattern = re.compile(rf"[\x21-\x7e]{{1,{max_length}}}")

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            msg = f'{what} must be a string: write it in quotes, e.g. "{value}" '
            raise Invalid(msg + '(a number loses leading zeros: "0123" is not 123)')
        expect(value, str, "a string")
        if not pattern.fullmatch(value) or set(value) & set('[]#|"'):
            msg = f'must be 1 to {max_length} printable characters without [ ] # | "'
            raise Invalid(msg)
        return str(value)

    return Check(f"string (1-{max_length} characters)", convert)


def choice(*allowed: str) -> Check:
    """One of ``allowed``."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        expect(value, str, "a string")
        if value not in allowed:
            raise Invalid(f"{value!r} is not one of: {', '.join(map(repr, allowed))}")
        return str(value)

    return Check(" | ".join(f'"{a}"' for a in allowed), convert)


def path(*, must_exist: bool = False) -> Check:
    """A file path, relative ones resolved against the config file's directory."""

    def convert(value: Any, ctx: Context, _path: KeyPath) -> Path:
        expect(value, str, "a string (a path)")
        if not value:
            raise Invalid("must not be empty")
        resolved = (ctx.base_dir / Path(value).expanduser()).resolve()
        if must_exist and not resolved.is_file():
            raise Invalid(f"{str(resolved)!r} is not a readable file")
        return resolved

    return Check("path", convert)


def timezone() -> Check:
    """An IANA time zone name, validated against the system's zone database."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        expect(value, str, "a string (an IANA time zone)")
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            msg = f"{value!r} is not a known time zone (an IANA name like 'Europe/Amsterdam')"
            raise Invalid(msg) from None
        return str(value)

    return Check("IANA time zone", convert)


def listen_addresses() -> Check:
    """One ``host:port`` string or an array of them."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[ListenAddress, ...]:
        items = [value] if isinstance(value, str) else value
        expect(items, list, "a string or an array of strings")
        if not items:
            raise Invalid("needs at least one address")
        return tuple(each(items, ctx, path, _one_address))

    return Check('array of "host:port"', convert)


def listen_or_off() -> Check:
    """A ``host:port`` string, or ``""`` / ``false`` for off."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> ListenAddress | None:
        if value is False or value == "":
            return None
        expect(value, str, 'a "host:port" string, "" or false')
        return _one_address(value)

    return Check('"host:port" | "" | false', convert)


def _one_address(value: Any) -> ListenAddress:
    expect(value, str, 'a "host:port" string')
    try:
        return ListenAddress.parse(value)
    except ValueError as err:
        raise Invalid(str(err)) from None


def integers(minimum: int = 0) -> Check:
    """An array of integers."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[int, ...]:
        expect(value, list, "an array of integers")
        return tuple(each(value, ctx, path, lambda v: integer(minimum).convert(v, ctx, path)))

    return Check("array of integers", convert)


def integer_lists(minimum: int = 0) -> Check:
    """An array of arrays of integers (``[[1, 2, 3], [10, 11]]``)."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[tuple[int, ...], ...]:
        expect(value, list, "an array of arrays of integers")
        inner, out, ok = integers(minimum), [], True
        for index, item in enumerate(value):
            try:
                out.append(inner.convert(item, ctx, (*path, index)))
            except Invalid as err:
                ctx.report((*path, index), err.message)
                ok = False
            except Reported:
                ok = False
        if not ok:
            raise Reported
        return tuple(out)

    return Check("array of arrays of integers", convert)


def each(items: list[Any], ctx: Context, path: KeyPath, convert: Any) -> list[Any]:
    """Convert every element, reporting each bad one at ``path[i]``."""
    out, ok = [], True
    for index, item in enumerate(items):
        try:
            out.append(convert(item))
        except Invalid as err:
            ctx.report((*path, index), err.message)
            ok = False
    if not ok:
        raise Reported
    return out


def table(spec: Table) -> Check:
    """A ``[table]``."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> Any:
        expect(value, dict, f"a table [{spec.title}]")
        return validate_table(value, spec, ctx, path)

    return Check("table", convert, spec)


def tables(spec: Table) -> Check:
    """An array of tables ``[[name]]``; every element is checked."""

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[Any, ...]:
        expect(value, list, f"an array of tables [[{spec.title}]]")
        built, ok = [], True
        for index, item in enumerate(value):
            try:
                if not isinstance(item, Mapping):
                    raise Invalid(f"expected a table, got {type_name(item)}")
                built.append(validate_table(item, spec, ctx, (*path, index)))
            except Invalid as err:
                ctx.report((*path, index), err.message)
                ok = False
            except Reported:
                ok = False
        if not ok:
            raise Reported
        return tuple(built)

    return Check(f"array of tables [[{spec.title}]]", convert, spec)
