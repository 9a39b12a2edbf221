"""Authenticated commands: PINs stored as salted scrypt hashes, verified off the event loop,
and failed attempts rate-limited per ID code and per source (docs/commands.md).

- ``hash_pin`` / ``verify_pin``: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, hashlib.scrypt
  with a 16-byte random salt per PIN, n=2**14, r=8, p=1, 32-byte hash (about 0.1 s a try).
- ``AuthCore`` is a pure rule core: it folds the journaled COMMAND records, so the PINs
  changed by ``change_pin`` (only their hash is journaled) and the failed attempts survive a
  restart. The latest change of a contact's PIN wins over the configuration's hash, unless
  the configuration was edited since (each change names the fingerprint of the hash it
  replaced).
- ``Gate`` admits a command: over MQTT it needs a valid ID code and PIN of a contact on the
  account's card; the factory PIN ``0000`` admits only ``change_pin``; a warning person may
  only ``cancel`` and change their own PIN; operator-only actions are refused. From the
  control socket (the operator) no PIN is asked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alarmrx.config.card_model import FACTORY_PIN, CardSettings, ContactSettings
from alarmrx.journal import bodies
from alarmrx.journal.bodies import CommandBody
from alarmrx.journal.records import Record, RecordKind
from alarmrx.rules.commands import CommandRefused, account_field
from alarmrx.rules.derived import Derived
from alarmrx.rules.interfaces import Untimed

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
_MAX_MEMORY = 64 * 1024 * 1024  # scrypt needs 128 * n * r bytes; the parser caps n and r
PIN = re.compile(r"[0-9]{4,12}")
ID_CODE = re.compile(r"[A-Za-z0-9_.-]{1,32}")

MAX_FAILURES_PER_ID = 5
MAX_FAILURES_PER_SOURCE = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
MAX_KEYS = 10_000  # ID codes with failures remembered (docs/performance.md, "Memory")

MQTT, CLI = "mqtt", "cli"
OPERATOR_ONLY = frozenset({"mark_false", "alerted", "guard_arrived", "close_alarm"})
WARNING_ACTIONS = frozenset({"cancel", "change_pin"})
FACTORY = "factory"  # the effective credential of a contact still on the factory PIN


# -- PIN hashes ----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class PinHash:
    """A parsed ``scrypt$n$r$p$salt$hash`` string."""

    n: int
    r: int
    p: int
    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> PinHash:
        """The hash, or ``ValueError`` saying what is wrong (never echoing the text)."""
        parts = text.split("$")
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError('not "scrypt$<n>$<r>$<p>$<salt>$<hash>" (run: alarmrx pin-hash)')
        try:
            n, r, p = (int(part) for part in parts[1:4])
            salt, digest = (base64.b64decode(part, validate=True) for part in parts[4:6])
        except (ValueError, binascii.Error):
            raise ValueError("n, r, p must be integers and salt, hash base64") from None
        if n < 2 or n & (n - 1) or not 0 < r * p <= 64 or 128 * n * r > _MAX_MEMORY // 2:
            raise ValueError("scrypt parameters out of range (n a power of 2, up to 2**17)")
        if len(salt) < 8 or len(digest) < 16:
            raise ValueError("salt or hash too short")
        return cls(n=n, r=r, p=p, salt=salt, digest=digest)

    def encode(self) -> str:
        """The string stored in the configuration and the journal."""
        return f"scrypt${self.n}${self.r}${self.p}${_b64(self.salt)}${_b64(self.digest)}"

    def matches(self, pin: str) -> bool:
        """True when ``pin`` hashes to this digest (constant-time comparison)."""
        derived = _scrypt(pin, self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(derived, self.digest)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:  # noqa: PLR0917 - scrypt's own parameters
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=length)


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """``scrypt$16384$8$1$<salt>$<hash>`` for ``pin`` with a fresh random salt."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return PinHash(n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, salt=salt, digest=digest).encode()


def verify_pin(pin: str, encoded: str) -> bool:
    """True when ``pin`` matches the stored hash ``encoded``; False for a bad hash."""
    try:
        return PinHash.parse(encoded).matches(pin)
    except ValueError:
        return False


def check_new_pin(pin: object) -> str:
    """A PIN a contact may choose: 4 to 12 digits, not the factory PIN."""
    if not isinstance(pin, str) or not PIN.fullmatch(pin):
        raise CommandRefused("new_pin must be 4 to 12 digits")
    if pin == FACTORY_PIN:
        raise CommandRefused(f"new_pin must not be the factory PIN {FACTORY_PIN}")
    return pin


def fingerprint(credential: str) -> str:
    """Names a configured credential without revealing it (first 16 hex of its SHA-256)."""
    return hashlib.sha256(credential.encode()).hexdigest()[:16]


def configured_credential(contact: ContactSettings) -> str | None:
    """The configuration's credential: its hash, ``FACTORY``, or None (no PIN at all)."""
    if contact.pin_hash is not None:
        return contact.pin_hash
    return FACTORY if contact.factory_pin else None


# A hash no PIN matches in practice, checked for unknown ID codes so that the answer takes as
# long as for a known one.
_DUMMY = hash_pin("no contact", salt=b"alarmrx-dummy-salt")


# -- rate limiting ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Attempts:
    failures: deque[datetime] = field(default_factory=deque)
    locked_until: datetime | None = None


class Limiter:
    """``limit`` failures within ``window`` lock a key for ``lockout`` from the last one.

    Attempts while locked are refused unchecked and not counted; the count starts afresh
    after a lockout and after a success.
    """

    def __init__(
        self, limit: int, window: timedelta = FAILURE_WINDOW, lockout: timedelta = LOCKOUT
    ) -> None:
        self._limit, self._window, self._lockout = limit, window, lockout
        self._keys: dict[str, _Attempts] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def locked_until(self, key: str, now: datetime) -> datetime | None:
        """The end of the key's lockout, if it is locked at ``now``."""
        attempts = self._keys.get(key)
        until = attempts.locked_until if attempts else None
        return until if until is not None and now < until else None

    def failed(self, key: str, at: datetime) -> None:
        """One failed attempt at ``at`` (ignored while locked)."""
        if self.locked_until(key, at) is not None:
            return
        if key not in self._keys and len(self._keys) >= MAX_KEYS:
            self._forget(at)
        attempts = self._keys.setdefault(key, _Attempts())
        while attempts.failures and attempts.failures[0] <= at - self._window:
            attempts.failures.popleft()
        attempts.failures.append(at)
        if len(attempts.failures) >= self._limit:
            attempts.failures.clear()
            attempts.locked_until = at + self._lockout

    def _forget(self, now: datetime) -> None:
        """Make room: drop the keys with no recent failure and no lockout; failing that, the
        oldest key not locked (a running lockout is the last thing forgotten)."""
        idle = [key for key, tries in self._keys.items() if not _active(tries, now, self._window)]
        unlocked = (key for key in self._keys if self.locked_until(key, now) is None)
        for key in idle or [next(unlocked, next(iter(self._keys)))]:
            del self._keys[key]

    def succeeded(self, key: str) -> None:
        """A success forgets the key's failures (not a running lockout)."""
        attempts = self._keys.get(key)
        if attempts is not None:
            attempts.failures.clear()


def _active(attempts: _Attempts, now: datetime, window: timedelta) -> bool:
    locked = attempts.locked_until is not None and now < attempts.locked_until
    return locked or bool(attempts.failures and attempts.failures[-1] > now - window)


def id_key(account: str | None, id_code: str) -> str:
    """The rate-limit key of an ID code (ID codes are per account)."""
    return f"id|{account}|{id_code}"


def source_key(source: str) -> str:
    """The rate-limit key of a source (``mqtt``, ``cli``)."""
    return f"source|{source}"


# -- the core: PIN changes and failures from the journal --------------------------------------


@dataclass(frozen=True, slots=True)
class PinChange:
    """A PIN changed by command: its hash and the fingerprint of the credential it replaced."""

    pin_hash: str = field(repr=False)
    replaces: str


class AuthCore(Untimed):
    """Changed PINs and failed attempts, folded from COMMAND records (concludes nothing)."""

    def __init__(self) -> None:
        self.per_id = Limiter(MAX_FAILURES_PER_ID)
        self.per_source = Limiter(MAX_FAILURES_PER_SOURCE)
        self._changes: dict[tuple[str, str], PinChange] = {}
        self._noted: set[int] = set()  # applied by the runner before the fold reached them

    def handle(self, record: Record) -> list[Derived]:
        """Fold one record; a COMMAND may change a PIN or count a failure."""
        if record.kind is RecordKind.COMMAND:
            body = bodies.command(record)
            if body is not None:
                self.note(record.journal_seq, record.account, record.received_at, body)
        return []

    def note(self, journal_seq: int, account: str | None, at: datetime, body: CommandBody) -> None:
        """Apply one COMMAND body once: the runner calls this right after appending it, and
        the fold meets the same record later (or, in a race, earlier); the second is a no-op."""
        if journal_seq in self._noted:
            self._noted.discard(journal_seq)
            return
        self._noted.add(journal_seq)
        self._apply(account, at, body)

    def effective(self, account: str, contact: ContactSettings) -> str | None:
        """The contact's credential now: the latest change, unless the configuration's
        credential changed since; else the configuration's."""
        configured = configured_credential(contact)
        change = self._changes.get((account, contact.id_code))
        if change is not None and change.replaces == fingerprint(str(configured)):
            return change.pin_hash
        return configured

    def _apply(self, account: str | None, at: datetime, body: CommandBody) -> None:
        outcome, id_code, source = body.auth, body.id_code, body.source
        if outcome == "failed":
            self.per_source.failed(source_key(str(source)), at)
            if isinstance(id_code, str):
                self.per_id.failed(id_key(account, id_code), at)
        elif outcome in {"ok", "factory"} and isinstance(id_code, str):
            self.per_id.succeeded(id_key(account, id_code))
        if body.accepted_action == "change_pin":
            self._changed(account, id_code, body)

    def _changed(self, account: str | None, id_code: object, body: CommandBody) -> None:
        pin_hash, replaces = body.pin_hash, body.replaces
        if all(isinstance(v, str) for v in (account, id_code, pin_hash, replaces)):
            change = PinChange(pin_hash=str(pin_hash), replaces=str(replaces))
            self._changes[(str(account), str(id_code))] = change


# -- the gate -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admission:
    """How a command was admitted: the fields its COMMAND record carries (never a PIN)."""

    source: str
    id_code: str | None = None
    auth: str = "none"  # operator | ok | factory | failed | locked | missing | none

    def fields(self) -> dict[str, Any]:
        """``source``, ``id_code``, ``auth`` for the journal body."""
        return {"source": self.source, "id_code": self.id_code, "auth": self.auth}


class AuthRefused(CommandRefused):
    """A command refused by the gate; ``admission`` goes into its COMMAND record."""

    def __init__(self, message: str, admission: Admission) -> None:
        super().__init__(message)
        self.admission = admission


def source_of(cmd: Mapping[str, Any]) -> str:
    """``mqtt`` for the MQTT command topic; everything else comes from the operator."""
    return MQTT if cmd.get("source") == MQTT else CLI


class Gate:
    """Admits commands against the cards' contacts and the core's PINs and lockouts."""

    def __init__(self, core: AuthCore) -> None:
        self.core = core

    async def admit(
        self, cmd: Mapping[str, Any], card: CardSettings | None, now: datetime
    ) -> Admission:
        """Who sends ``cmd``; raises ``AuthRefused`` when it may not be carried out."""
        source = source_of(cmd)
        id_code = cmd.get("id_code") if isinstance(cmd.get("id_code"), str) else None
        if source == CLI:
            return Admission(source, id_code, "operator")
        if cmd.get("action") in OPERATOR_ONLY:
            raise AuthRefused(
                "this action is for operators (the control socket)", Admission(source, id_code)
            )
        pin = cmd.get("pin")
        if id_code is None or not ID_CODE.fullmatch(id_code) or not isinstance(pin, str):
            raise AuthRefused("id_code and pin are required", Admission(source, None, "missing"))
        self._not_locked(cmd, source, id_code, now)
        return await self._verify(cmd, card, source, id_code, pin)

    def _not_locked(self, cmd: Mapping[str, Any], source: str, id_code: str, now: datetime) -> None:
        account = cmd.get("account") if isinstance(cmd.get("account"), str) else None
        until = self.core.per_source.locked_until(source_key(source), now)
        until = until or self.core.per_id.locked_until(id_key(account, id_code), now)
        if until is not None:
            raise AuthRefused(
                f"too many failed attempts; try again after {until.isoformat()}",
                Admission(source, id_code, "locked"),
            )

    async def _verify(
        self, cmd: Mapping[str, Any], card: CardSettings | None, source: str, id_code: str, pin: str
    ) -> Admission:
        account = str(cmd.get("account"))
        contact = card.contact(id_code) if card is not None else None
        credential = self.core.effective(account, contact) if contact is not None else None
        matched = await asyncio.to_thread(_matches, pin, credential)
        if contact is None or not matched:
            raise AuthRefused("authentication failed", Admission(source, id_code, "failed"))
        if pin == FACTORY_PIN and cmd.get("action") != "change_pin":
            raise AuthRefused(
                "the factory PIN must be changed first (action change_pin)",
                Admission(source, id_code, "factory"),
            )
        admission = Admission(source, id_code, "factory" if pin == FACTORY_PIN else "ok")
        if contact.role == "warning" and cmd.get("action") not in WARNING_ACTIONS:
            raise AuthRefused("a warning person may only cancel and change their PIN", admission)
        return admission


def _matches(pin: str, credential: str | None) -> bool:
    """Runs in a worker thread: scrypt takes about 0.1 s."""
    if credential == FACTORY:
        return hmac.compare_digest(pin.encode(), FACTORY_PIN.encode())
    return verify_pin(pin, credential or _DUMMY) and credential is not None


# -- change_pin -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePin:
    """Change the PIN of contact ``id_code`` (the new PIN is never journaled, only its hash)."""

    account: str
    id_code: str
    new_pin: str = field(repr=False)

    def journal_fields(self) -> dict[str, Any]:
        """What the COMMAND record keeps (the hash is added once computed)."""
        return {"action": "change_pin", "id_code": self.id_code}


def parse_change_pin(cmd: Mapping[str, Any]) -> ChangePin:
    """``{"action": "change_pin", "account", "id_code", "new_pin"}``."""
    account, id_code = account_field(cmd), cmd.get("id_code")
    if not isinstance(id_code, str) or not ID_CODE.fullmatch(id_code):
        raise CommandRefused("id_code must be 1 to 32 letters, digits, '_', '.', '-'")
    return ChangePin(account=account, id_code=id_code, new_pin=check_new_pin(cmd.get("new_pin")))


async def pin_change_fields(command: ChangePin, card: CardSettings | None) -> dict[str, Any]:
    """The hash of the new PIN and the fingerprint of the credential it replaces."""
    contact = card.contact(command.id_code) if card is not None else None
    if contact is None:
        raise CommandRefused(f"no contact {command.id_code!r} on the account's card")
    replaces = fingerprint(str(configured_credential(contact)))
    pin_hash = await asyncio.to_thread(hash_pin, command.new_pin)
    return {"pin_hash": pin_hash, "replaces": replaces}


SECRET_FIELDS = frozenset({"pin", "new_pin"})
MASK = "***"


def redacted(cmd: object) -> object:
    """``cmd`` with every ``pin`` and ``new_pin`` value, at any depth, replaced by ``***``."""
    if isinstance(cmd, Mapping):
        return {k: MASK if k in SECRET_FIELDS else redacted(v) for k, v in cmd.items()}
    if isinstance(cmd, list):
        return [redacted(item) for item in cmd]
    return cmd
