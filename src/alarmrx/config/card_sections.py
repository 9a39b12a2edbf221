"""The keys of the account card (docs/commands.md): ``[accounts.card]``, its
``[[accounts.card.contacts]]`` and ``[[accounts.card.procedures]]``.

``sections.ACCOUNT`` lists ``CARD_OPTIONS``. A contact's PIN is given only as a salted scrypt
hash (``pin_hash``, from ``alarmrx pin-hash``); the plain ``pin = "0000"`` is accepted for
the factory PIN alone, which must be changed (command ``change_pin``) before anything else.
"""

from __future__ import annotations

from typing import Any

from alarmrx.config import checks as c
from alarmrx.config.card_model import (
    FACTORY_PIN,
    CardSettings,
    ContactSettings,
    ProcedureSettings,
)
from alarmrx.config.problems import Invalid, KeyPath
from alarmrx.config.schema import Check, Context, Option, Table

ALARM_TYPES = ("holdup", "fire", "intrusion", "trouble", "other")
SERVICES = ("police", "fire_brigade", "ambulance", "guard")
MAX_CANCEL_WINDOW_S = 3600.0
_ID_CODE = (r"[A-Za-z0-9_.-]{1,32}", "1 to 32 letters, digits, '_', '.', '-'")


def _pin_hash() -> Check:
    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        c.expect(value, str, 'a string "scrypt$…" (run: alarmrx pin-hash)')
        from alarmrx.rules.auth import PinHash  # noqa: PLC0415 - config loads first

        try:
            return PinHash.parse(value).encode()
        except ValueError as err:
            raise Invalid(str(err)) from None

    return Check('"scrypt$n$r$p$salt$hash"', convert)


def _factory_pin() -> Check:
    def convert(value: Any, _ctx: Context, _path: KeyPath) -> str:
        if value != FACTORY_PIN:
            msg = f'only the factory PIN "{FACTORY_PIN}" may be written here; give pin_hash'
            raise Invalid(msg)
        return FACTORY_PIN

    return Check(f'"{FACTORY_PIN}"', convert)


def _strings(
    allowed: tuple[str, ...] | None = None, pattern: tuple[str, str] | None = None
) -> Check:
    one = c.choice(*allowed) if allowed else c.string(*(pattern or (None, "")))

    def convert(value: Any, ctx: Context, path: KeyPath) -> tuple[str, ...]:
        c.expect(value, list, "an array of strings")
        return tuple(c.each(value, ctx, path, lambda v: one.convert(v, ctx, path)))

    return Check("array of strings", convert)


def _build_contact(values: dict[str, Any], _ctx: Context) -> ContactSettings:
    factory = values.pop("pin", None) is not None or bool(values.get("factory_pin"))
    hashed = values.get("pin_hash") is not None
    if hashed and factory:
        raise Invalid("give either pin_hash or the factory PIN, not both", key="pin_hash")
    if not hashed and not factory:
        raise Invalid("needs pin_hash (run: alarmrx pin-hash) or factory_pin = true")
    if values.get("role") == "authorised" and values.get("sequence") is not None:
        raise Invalid("authorised persons are never called: no sequence", key="sequence")
    return ContactSettings(**{**values, "factory_pin": bool(factory)})


CONTACT = Table(
    "accounts.card.contacts",
    ContactSettings,
    (
        Option("id_code", c.string(*_ID_CODE), "The ID code the person gives with the PIN."),
        Option("name", c.string(), "The person's name."),
        Option(
            "role",
            c.choice("authorised", "warning"),
            "`authorised`: may cancel and send commands, never called; `warning`: called "
            "in `sequence` order, may cancel.",
        ),
        Option(
            "sequence",
            c.integer(1),
            "Call order of a warning person (1 first).",
            "the listing order",
        ),
        Option("phone", c.string(), "The number to call."),
        Option(
            "pin_hash",
            _pin_hash(),
            "The PIN as a salted scrypt hash: `alarmrx pin-hash` prints it.",
        ),
        Option("pin", _factory_pin(), 'Only `"0000"`: the factory PIN, to be changed first.'),
        Option("factory_pin", c.boolean(), "The PIN is the factory PIN `0000`."),
    ),
    "The people who may cancel and send commands; warning persons are also called.",
    build=_build_contact,
)

PROCEDURE = Table(
    "accounts.card.procedures",
    ProcedureSettings,
    (
        Option("alarm", c.choice(*ALARM_TYPES), "The alarm type (its priority class)."),
        Option(
            "services",
            _strings(SERVICES),
            "Services to alert: `police`, `fire_brigade`, `ambulance`, `guard`.",
            "holdup, intrusion: police; fire: fire_brigade",
        ),
        Option(
            "contacts",
            _strings(pattern=_ID_CODE),
            "ID codes of the warning persons to call, in order.",
            "every warning person by sequence",
        ),
        Option("note", c.string(), "An instruction for this alarm type."),
    ),
    "Whom to alert for one type of alarm; the dispatch advice of every alarm event.",
)


def _build_card(values: dict[str, Any], _ctx: Context) -> CardSettings:
    card = CardSettings(**values)
    ids = [contact.id_code for contact in card.contacts]
    for index, id_code in enumerate(ids):
        if id_code in ids[:index]:
            raise Invalid(
                f"ID code {id_code!r} is listed twice", key=("contacts", index, "id_code")
            )
    warning = {x.id_code for x in card.contacts if x.role == "warning"}
    alarms: list[str] = []
    for index, procedure in enumerate(card.procedures):
        if procedure.alarm in alarms:
            raise Invalid(
                "a second procedure for this alarm type", key=("procedures", index, "alarm")
            )
        alarms.append(procedure.alarm)
        for id_code in procedure.contacts or ():
            if id_code not in warning:
                raise Invalid(
                    f"{id_code!r} is not a warning person on this card",
                    key=("procedures", index, "contacts"),
                )
    return card


def _cancel_window() -> Check:
    number = c.number(positive=True)

    def convert(value: Any, ctx: Context, path: KeyPath) -> float:
        seconds = float(number.convert(value, ctx, path))
        if seconds > MAX_CANCEL_WINDOW_S:
            raise Invalid(f"must be at most {MAX_CANCEL_WINDOW_S:.0f}, got {value}")
        return seconds

    return Check(number.kind, convert)


CARD = Table(
    "accounts.card",
    CardSettings,
    (
        Option("object_name", c.string(), "The protected object's name."),
        Option("address", c.string(), "Its address."),
        Option("installer", c.string(), "The installer and how to reach them."),
        Option("instructions", c.string(), "General instructions for the operator."),
        Option(
            "holdup_link",
            c.boolean(),
            "A hold-up link is registered with the police; without it a hold-up alarm's "
            "advice says the police are not alerted directly.",
        ),
        Option(
            "cancel_window_s",
            _cancel_window(),
            "An alarm cancelled by a contact this soon after its receipt never counts as "
            "a false alarm.",
        ),
        Option("contacts", c.tables(CONTACT), "`[[accounts.card.contacts]]`."),
        Option("procedures", c.tables(PROCEDURE), "`[[accounts.card.procedures]]`."),
    ),
    "The account card: the protected object, its contacts, the procedure per alarm type.",
    build=_build_card,
)

CARD_OPTIONS = (
    Option("card", c.table(CARD), "The account card: `[accounts.card]` (docs/commands.md)."),
)
