"""Typed views of record bodies: msgspec Structs read from ``Record.body``.

The journal stores a body as JSON (``canonical.py``; the hash chain covers those bytes);
these Structs are a typed *view* of it and change nothing that is stored. A record read from
a row keeps that JSON (``Record.stored_body``) and its view is decoded straight from it; the
view of any other record is converted from ``Record.body`` (``msgspec.convert``): the same
view either way. A field a body lacks takes its default, a field the view does not name is
ignored, so journals written by earlier versions read as they are. ``view(record)`` builds
the view once per record and keeps it with the record (``Record.typed``), so the publisher
and every rule reading the same record decode it once.

- MESSAGE: ``MessageBody`` (``receiver/body.py`` writes it), its ``events`` ``EventBody``;
- DERIVED: one Struct per derived type, a tagged union on ``type`` (``DerivedBody`` and its
  subclasses; a type this version does not know reads as ``OtherDerived``);
- COMMAND: ``CommandBody`` (``rules/commands.py``, ``rules/cards.py``, ``rules/auth.py``);
- ANCHOR: ``AnchorBody``; CHECKPOINT: ``CheckpointBody``; REJECTED: ``RejectedBody``.

A body that does not fit its view (never one the daemon wrote) keeps every field that does,
so one odd value never hides the rest of the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, get_args

import msgspec

from alarmrx.journal.records import Record, RecordKind

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_ANCHOR, _COMMAND, _DERIVED, _MESSAGE = (
    RecordKind.ANCHOR,
    RecordKind.COMMAND,
    RecordKind.DERIVED,
    RecordKind.MESSAGE,
)

Label = int | str | None  # a zone, area or user: a number, or text verbatim


class _Body(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A typed view of a stored body (JSON data holds no cycles: not tracked by the GC)."""


class EventBody(_Body, frozen=True, kw_only=True):
    """One event of a MESSAGE body (``receiver/body.py``, ``event_body``)."""

    code: str | None = None
    category: str | None = None
    description: str | None = None
    address: str | None = None
    zone: Label = None
    area: Label = None
    user: Label = None
    text: str | None = None
    qualifier: int | None = None
    peripheral: str | None = None
    time: str | None = None
    date: str | None = None
    old: bool = False
    verified: bool | None = None  # never written by the receiver; read by the publisher

    @property
    def contact_id(self) -> bool:
        """A Contact ID event (it has a qualifier)."""
        return self.qualifier is not None


class XDataBody(_Body, frozen=True, kw_only=True, omit_defaults=True):
    """One ``[x…]`` block; ``encoding`` only when its text was not plain ASCII."""

    letter: str | None = None
    value: str | None = None
    encoding: str | None = None


class UnrecognisedBody(_Body, frozen=True, kw_only=True):
    """Why a frame accepted without being understood was not."""

    reason: str | None = None
    detail: str | None = None


class _Frame(_Body, frozen=True, kw_only=True):
    """What an event on ``events/{account}`` takes from its record's body besides its own
    fields: the frame's (a derived body holds them when it is about a frame)."""

    token: str | None = None
    encrypted: bool = False
    sequence: str | None = None
    receiver: str | None = None
    line: str | None = None
    panel_time: str | None = None
    xdata: tuple[XDataBody, ...] = ()
    test: bool | None = None  # a MESSAGE: written by earlier versions' receivers in test mode
    verified: bool | None = None
    link: str | None = None  # a link hint (``rules/state.py``)


class MessageBody(_Frame, frozen=True, kw_only=True):
    """A MESSAGE body: the decoded frame (``receiver/body.py``, ``message_body``)."""

    header_account: str | None = None
    data_account: str | None = None
    events: tuple[EventBody, ...] = ()
    quirks: tuple[str, ...] = ()
    clock: dict[str, Any] | None = None
    unrecognised: UnrecognisedBody | None = None


class _DerivedFields(_Frame, frozen=True, kw_only=True):
    """What every DERIVED body holds (``rules/derived.py``, ``body``)."""

    key: str | None = None
    code: str | None = None
    category: str | None = None
    description: str | None = None
    address: str | None = None
    zone: Label = None
    area: Label = None
    user: Label = None
    text: str | None = None
    qualifier: int | None = None
    refs: tuple[int, ...] = ()
    command_seq: int | None = None


class DerivedBody(_DerivedFields, frozen=True, kw_only=True, tag_field="type"):
    """A DERIVED body of a type this version writes; ``type`` is its tag."""

    @property
    def type(self) -> str:
        """The derived type, as stored."""
        tag = self.__struct_config__.tag
        return tag if isinstance(tag, str) else ""


class PathBody(DerivedBody, frozen=True, kw_only=True):
    """A supervision conclusion about one path (``path``) or the account."""

    path: int | str | None = None
    last_seen: str | None = None


class SupervisionLost(PathBody, frozen=True, kw_only=True, tag="supervision.lost"):
    """Nothing heard from the account for too long."""


class SupervisionRestored(PathBody, frozen=True, kw_only=True, tag="supervision.restored"):
    """The account was heard again."""


class PathFault(PathBody, frozen=True, kw_only=True, tag="supervision.path_fault"):
    """One path of a dual-path account went silent."""


class PathRestored(PathBody, frozen=True, kw_only=True, tag="supervision.path_restored"):
    """The path was heard again."""


class AlarmVerified(DerivedBody, frozen=True, kw_only=True, tag="alarm.verified"):
    """Burglary alarms verified (``alarms``: ``{journal_seq, index, …}``)."""

    alarms: tuple[dict[str, Any], ...] = ()
    verified_by: str | None = None  # ``rule``, ``camera``, ``operator``, …


class TestStarted(DerivedBody, frozen=True, kw_only=True, tag="test.started"):
    """Test mode until ``until``."""

    __test__ = False  # not a pytest test class, despite the name

    until: str | None = None
    duration_s: float | None = None


class TestEnded(DerivedBody, frozen=True, kw_only=True, tag="test.ended"):
    """The session ``started`` (its key) ended."""

    __test__ = False  # not a pytest test class, despite the name

    started: str | None = None
    reason: str | None = None
    until: str | None = None


class OnAlarmBody(DerivedBody, frozen=True, kw_only=True):
    """A conclusion about the alarm(s) of record ``alarm_seq`` (``index``: one event of it;
    None: every one)."""

    alarm_seq: int | None = None
    index: int | None = None


class AlarmCancelled(OnAlarmBody, frozen=True, kw_only=True, tag="alarm.cancelled"):
    """A contact cancelled the alarm(s) of record ``alarm_seq``."""


class AlarmFalse(OnAlarmBody, frozen=True, kw_only=True, tag="alarm.false"):
    """An operator marked the alarm of record ``alarm_seq`` false."""


class AlarmClosed(OnAlarmBody, frozen=True, kw_only=True, tag="alarm.closed"):
    """An operator closed the alarm(s) of record ``alarm_seq``."""


class AlarmExpired(OnAlarmBody, frozen=True, kw_only=True, tag="alarm.expired"):
    """An open alarm aged out or was pushed out."""


class DispatchAdvice(OnAlarmBody, frozen=True, kw_only=True, tag="dispatch.advice"):
    """The advice (``dispatch``) for the alarm event ``alarm_seq``/``index``."""

    dispatch: dict[str, Any] | None = None


class CardBody(DerivedBody, frozen=True, kw_only=True):
    """A card change: given (``card``, ``since``, ``until``), cleared (``ends``), or a
    temporary change (``note``, ``until``)."""

    card: str | None = None
    since: str | None = None
    until: str | None = None
    ends: str | None = None
    note: str | None = None


class CardYellow(CardBody, frozen=True, kw_only=True, tag="card.yellow"):
    """A yellow card was given."""


class CardRed(CardBody, frozen=True, kw_only=True, tag="card.red"):
    """A red card was given."""


class CardCleared(CardBody, frozen=True, kw_only=True, tag="card.cleared"):
    """The card ``ends`` names has expired."""


class CardTemporary(CardBody, frozen=True, kw_only=True, tag="card.temporary"):
    """A temporary change ``note`` until ``until``."""


class LateToArm(DerivedBody, frozen=True, kw_only=True, tag="schedule.late_to_arm"):
    """Not armed by the closing time."""


class UnexpectedDisarm(DerivedBody, frozen=True, kw_only=True, tag="schedule.unexpected_disarm"):
    """Disarmed outside the open periods."""


class NotArmedEvening(DerivedBody, frozen=True, kw_only=True, tag="schedule.not_armed_evening"):
    """Not armed in the evening window."""


class Overtime(DerivedBody, frozen=True, kw_only=True, tag="schedule.overtime"):
    """The premises stay open until ``until``."""

    until: str | None = None


class RearmMissing(DerivedBody, frozen=True, kw_only=True, tag="rearm.missing"):
    """Not armed again after an alarm."""


class PayloadUnrecognised(DerivedBody, frozen=True, kw_only=True, tag="payload.unrecognised"):
    """A frame acknowledged but not understood (``text``: the frame as received)."""

    message_seq: int | None = None
    reason: str | None = None
    detail: str | None = None


class OtherDerived(_DerivedFields, frozen=True, kw_only=True):
    """A derived body of a type this version does not know (or without one)."""

    type: str | None = None


AnyDerived = (
    SupervisionLost
    | SupervisionRestored
    | PathFault
    | PathRestored
    | AlarmVerified
    | TestStarted
    | TestEnded
    | AlarmCancelled
    | AlarmFalse
    | AlarmClosed
    | AlarmExpired
    | DispatchAdvice
    | CardYellow
    | CardRed
    | CardCleared
    | CardTemporary
    | LateToArm
    | UnexpectedDisarm
    | NotArmedEvening
    | Overtime
    | RearmMissing
    | PayloadUnrecognised
)


class CommandBody(_Body, frozen=True, kw_only=True):
    """A COMMAND body: the action, its outcome, the typed fields of the actions and the
    request as sent (``rules/commands.py``, ``command_body``; ``rules/cards.py``;
    ``rules/auth.py``)."""

    action: str | None = None
    accepted: bool = False
    error: str | None = None
    request: Any = None
    journal_seq: int | None = None
    id_code: str | None = None
    by: str | None = None
    note: str | None = None
    who: str | None = None
    at: str | None = None
    on: bool | None = None
    duration_s: float | None = None
    until: str | None = None
    police_alerted: bool | None = None
    auth: str | None = None
    source: str | None = None
    pin_hash: str | None = None
    replaces: str | None = None

    @property
    def accepted_action(self) -> str | None:
        """The action of an accepted command; None for a refused one."""
        return self.action if self.accepted is True else None


class AnchorHead(_Body, frozen=True, kw_only=True):
    """One chain's head in a several-chains ANCHOR body (the PostgreSQL journal's)."""

    chain: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None


class AnchorBody(_Body, frozen=True, kw_only=True):
    """An ANCHOR body (``evidence/anchor.py``): one chain's ``head_seq`` and ``head_hash``,
    or several chains' ``heads``."""

    head_seq: int | None = None
    head_hash: str | None = None
    heads: tuple[AnchorHead, ...] | None = None
    at: str | None = None


class CheckpointBody(_Body, frozen=True, kw_only=True):
    """A CHECKPOINT body (``journal/prune.py``)."""

    pruned_through_seq: int | None = None
    pruned_through_hash: str | None = None
    pruned_records: int | None = None
    before: str | None = None


class RejectedBody(_Body, frozen=True, kw_only=True):
    """A REJECTED body (a sampled rejected frame)."""

    reason: str | None = None
    detail: str | None = None
    token: str | None = None
    sequence: str | None = None


Body = (
    MessageBody
    | AnyDerived
    | OtherDerived
    | CommandBody
    | AnchorBody
    | CheckpointBody
    | RejectedBody
)

_VIEWS: Mapping[RecordKind, Any] = {
    RecordKind.MESSAGE: MessageBody,
    RecordKind.DERIVED: AnyDerived,
    RecordKind.COMMAND: CommandBody,
    RecordKind.ANCHOR: AnchorBody,
    RecordKind.CHECKPOINT: CheckpointBody,
    RecordKind.REJECTED: RejectedBody,
}

T = TypeVar("T")


# A derived body's class by its ``type``: msgspec caches what it knows of a Struct class,
# not of a union of them, so a body is converted to its own class, never to ``AnyDerived``.
_DERIVED_BY_TYPE: Mapping[str, type[DerivedBody]] = {
    shape.__struct_config__.tag: shape for shape in get_args(AnyDerived)
}


def _shape(body: Mapping[str, Any], shape: Any) -> Any:
    """``shape``, or for ``AnyDerived`` the class of the body's ``type`` (``OtherDerived``
    for a type this version does not know, or none)."""
    if shape is not AnyDerived:
        return shape
    tag = body.get("type")
    return _DERIVED_BY_TYPE.get(tag, OtherDerived) if isinstance(tag, str) else OtherDerived


def _convert(body: Mapping[str, Any], shape: Any) -> Any:
    if shape is AnchorBody:
        return anchor_of(body)
    concrete = _shape(body, shape)
    try:
        return msgspec.convert(body, concrete, strict=False)
    except msgspec.ValidationError:
        return _tolerant(body, concrete)


def _tolerant(body: Mapping[str, Any], shape: Any) -> Any:
    """The view of the fields that fit, one by one (events one by one)."""
    kept: dict[str, Any] = {}
    for name, value in body.items():
        fitting = value
        if name == "events" and isinstance(value, list):
            fitting = [e for e in value if _fits({"events": [e]}, shape)]
        if _fits({**kept, name: fitting}, shape):
            kept[name] = fitting
    return msgspec.convert(kept, shape, strict=False)


def _fits(body: Mapping[str, Any], shape: Any) -> bool:
    try:
        msgspec.convert(body, shape, strict=False)
    except msgspec.ValidationError:
        return False
    return True


_DECODERS: Mapping[RecordKind, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(shape, strict=shape is AnchorBody) for kind, shape in _VIEWS.items()
}


def view(record: Record) -> Body:
    """The typed view of ``record.body``, built once per record."""
    typed = record.typed
    if typed is None:
        typed = _decoded(record)
        object.__setattr__(record, "typed", typed)  # a cache beside the frozen fields
    return typed  # type: ignore[no-any-return]


def _decoded(record: Record) -> Any:
    """Straight from the body as stored when the record has it (the same view as from the
    decoded body), else from ``body``; a body that does not fit goes field by field."""
    if record.stored_body is not None:
        try:
            return _DECODERS[record.kind].decode(record.stored_body)
        except msgspec.ValidationError:
            pass
    return _convert(record.body, _VIEWS[record.kind])


def _as(record: Record, kind: RecordKind, shape: type[T]) -> T | None:
    if record.kind is not kind:
        return None
    typed = view(record)
    return typed if isinstance(typed, shape) else None


def of_kind(kind: RecordKind, body: Mapping[str, Any]) -> Body:
    """The typed view of a body read without its ``Record`` (a sealed record of an evidence
    bundle: its stored kind and its parsed JSON), with the views and tolerance of ``view``."""
    typed: Body = _convert(body, _VIEWS[kind])
    return typed


def command_of(body: Mapping[str, Any]) -> CommandBody:
    """The typed view of a COMMAND body not read from the journal (one just appended)."""
    typed: CommandBody = _convert(body, CommandBody)
    return typed


def derived_of(body: Mapping[str, Any]) -> DerivedBody | OtherDerived:
    """The typed view of a derived body not read from the journal (a rule's own
    conclusion, ``rules/derived.py``'s ``body``)."""
    typed: DerivedBody | OtherDerived = _convert(body, AnyDerived)
    return typed


def anchor_of(body: Mapping[str, Any]) -> AnchorBody:
    """The typed view of an ANCHOR body read without its ``Record`` (a sealed record of an
    evidence bundle, a PostgreSQL journal's anchor row).

    Strict, unlike the other views: an anchor names hashes and places exactly, so a
    ``head_seq`` of ``"7"`` or ``true`` is no place. A field that does not fit is left out;
    ``heads`` that do not fit read as an empty list, which names no head (and never as the
    single-chain form)."""
    try:
        return msgspec.convert(body, AnchorBody)
    except msgspec.ValidationError:
        pass
    kept: dict[str, Any] = {}
    for name, value in body.items():
        if _fits_strictly({**kept, name: value}, AnchorBody):
            kept[name] = value
    if "heads" in body and "heads" not in kept:
        kept["heads"] = []
    return msgspec.convert(kept, AnchorBody)


def _fits_strictly(body: Mapping[str, Any], shape: Any) -> bool:
    try:
        msgspec.convert(body, shape)
    except msgspec.ValidationError:
        return False
    return True


def message(record: Record) -> MessageBody | None:
    """The MESSAGE body of ``record``; None for another kind. (Every record the publisher
    and the rules read goes through here: the cached view first, no generic path.)"""
    if record.kind is not _MESSAGE:
        return None
    typed = record.typed if record.typed is not None else view(record)
    return typed if type(typed) is MessageBody else None


def derived(record: Record) -> DerivedBody | OtherDerived | None:
    """The DERIVED body of ``record``; None for another kind."""
    if record.kind is not _DERIVED:
        return None
    typed = view(record)
    return typed if isinstance(typed, DerivedBody | OtherDerived) else None


def command(record: Record) -> CommandBody | None:
    """The COMMAND body of ``record``; None for another kind."""
    return _as(record, _COMMAND, CommandBody)


def anchor(record: Record) -> AnchorBody | None:
    """The ANCHOR body of ``record``; None for another kind."""
    return _as(record, _ANCHOR, AnchorBody)
