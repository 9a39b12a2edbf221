"""``fast_init`` keeps a frozen dataclass's constructor contract while storing faster."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from alarmrx.protocols import Event, FrameHeader
from alarmrx.protocols.contact_id import Payload
from alarmrx.protocols.dc09.message import Category
from alarmrx.protocols.fastinit import fast_init


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Generated:
    """The same fields as FrameHeader, with the constructor dataclasses generates."""

    token: str
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str | None
    account: str | None
    crc_style: str = "hex"


def _shape(cls: type) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]


def test_signature_is_the_dataclass_one() -> None:
    """Keyword-only fields stay keyword-only, with the same names and defaults."""
    shape = _shape(FrameHeader)
    assert [(n, k) for n, k, _ in shape] == [(n, k) for n, k, _ in _shape(_Generated)]
    assert shape[-1][2] == "hex"
    assert [p.kind for p in inspect.signature(Payload).parameters.values()] == [
        inspect.Parameter.POSITIONAL_OR_KEYWORD
    ] * 3


def test_values_defaults_and_frozen() -> None:
    """Every field is stored, defaults apply, the instance stays frozen and replaceable."""
    event = Event(code="BA", category=Category.ALARM, description="Burglary", zone=4)
    assert (event.code, event.zone, event.area, event.old) == ("BA", 4, None, False)
    assert event == Event(code="BA", category=Category.ALARM, description="Burglary", zone=4)
    assert hash(event) == hash(dataclasses.replace(event))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.zone = 5  # type: ignore[misc]
    assert dataclasses.replace(event, zone=5).zone == 5
    assert Payload("1", (event,), frozenset()).events == (event,)


def test_wrong_calls_fail_as_before() -> None:
    """Missing or positional arguments to keyword-only fields raise TypeError."""
    with pytest.raises(TypeError, match="missing"):
        Event(code="BA")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Event("BA", Category.ALARM, "Burglary")  # type: ignore[call-arg]


def test_default_factory_is_refused() -> None:
    """A field with a default_factory would need the generated code dataclasses writes."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="default_factory"):
        fast_init(WithFactory)
