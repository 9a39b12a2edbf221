"""A cheaper ``__init__`` for the frozen, slotted dataclasses built once or more per frame.

A frozen dataclass's generated ``__init__`` stores each field with
``object.__setattr__(self, name, value)``, looked up afresh for every field; storing through
each slot's own descriptor instead, bound once, does the same work in about half the time.
The class stays a frozen dataclass: same fields, signature, defaults, equality, hash, repr
and ``replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen slotted dataclass an ``__init__`` that stores through slot descriptors.

    Apply above ``@dataclass``. Fields with a ``default_factory`` are not supported.
    """
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # T is a dataclass here
    if any(f.default_factory is not dataclasses.MISSING for f in fields):
        msg = f"{cls.__name__}: fast_init does not support default_factory"
        raise TypeError(msg)
    namespace: dict[str, Any] = {f"_set_{f.name}": getattr(cls, f.name).__set__ for f in fields}
    namespace |= {f"_default_{f.name}": f.default for f in fields}
    params = [_param(f) for f in fields if not f.kw_only]
    keyword = [_param(f) for f in fields if f.kw_only]
    params += ["*", *keyword] if keyword else []
    body = "".join(f"\n    _set_{f.name}(self, {f.name})" for f in fields)
    exec(f"def __init__(self, {', '.join(params)}):{body}", namespace)  # noqa: S102 - source built from the class's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {f.name: f.type for f in fields} | {"return": None}
    cls.__init__ = init  # type: ignore[method-assign]  # replacing the generated one
    return cls


def _param(field: dataclasses.Field[Any]) -> str:
    has_default = field.default is not dataclasses.MISSING
    return f"{field.name}=_default_{field.name}" if has_default else field.name
