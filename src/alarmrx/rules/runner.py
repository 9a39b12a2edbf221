"""``RulesRunner``: the asyncio adapter that drives the pure rule cores (docs/rules.md).

It tails the journal from its persisted cursor ``rules``, folds every record into the cores,
calls ``on_timer(now)`` when a deadline passes (or a frame made a restore due), appends what
the cores conclude as DERIVED records, and saves the cursor only after they are durable.

The cores are held by a ``RuleEngine`` (``engine.py``, no I/O). Start-up rebuilds it from
the journal, in two passes:

1. records up to the cursor are folded and whatever the cores conclude is dropped: those
   conclusions were appended before the cursor was saved (and a changed configuration must
   not re-judge the past);
2. records after the cursor, up to the head at start, are folded and the conclusions held
   back by key; a DERIVED record of the same key later in this pass shows a crashed run had
   already appended it, and that one is dropped. What is left is appended.

A derived record appended by this process is known by its key when the tail reads it back,
and is not folded again (the core changed its state when it concluded it).

Two clocks: the injected wall ``clock`` for commands, verification, test mode and
schedules, and supervision time (``timebase.py``: a wall reading advanced by ``monotonic``)
for silence. Frames observed and records folded live reach supervision stamped with
supervision time, not their receipt time; its conclusions are moved back onto the wall
clock (``RuleEngine.on_timer``). The runner sleeps for the distance to the earliest
deadline, each on its own clock, and at most ``MAX_SLEEP_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from alarmrx.config.card_model import CardSettings
from alarmrx.config.model import AccountSettings
from alarmrx.journal import bodies
from alarmrx.journal.errors import JournalClosedError, JournalError
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.rules.auth import (
    Admission,
    AuthRefused,
    ChangePin,
    Gate,
    pin_change_fields,
    redacted,
    source_of,
)
from alarmrx.rules.cards import (
    Cancel,
    CardCommand,
    CloseAlarm,
    MarkFalse,
    Request,
    TemporaryChange,
    parse_request,
)
from alarmrx.rules.commands import (
    Command,
    CommandRefused,
    Overtime,
    Response,
    Verify,
    command_body,
)
from alarmrx.rules.derived import Derived, DerivedType, iso, new_record
from alarmrx.rules.engine import RuleEngine
from alarmrx.rules.interfaces import NoRulesMetrics, RulesJournal, RulesMetrics
from alarmrx.rules.plans import RulePlans, plans_from
from alarmrx.rules.supervision import NEVER
from alarmrx.rules.timebase import Clock, Monotonic, SupervisionTime

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_DISPATCH_ADVICE = DerivedType.DISPATCH_ADVICE

log = structlog.get_logger("alarmrx.rules")

CURSOR = "rules"
PAGE = 500
MAX_SLEEP_S = 30.0  # wake at least this often, whatever the deadlines say
# The cursor is saved at most this often while the journal moves (at once after a pause): a
# save alone would be a commit of its own between the receiver's, and a crash refolds at most
# this much (start-up pass 2 knows what was already appended).
CURSOR_EVERY_S = 0.2
COMMAND_WAIT_S = 5.0  # how long a command waits for the runner to reach its record
RESPONSE_PAST = timedelta(hours=24)  # how late a response step may be recorded
RETRY_S, RETRY_MAX_S = 1.0, 30.0


class RulesRunner:
    """Supervision, verification and test mode over one journal; built by ``app.py``."""

    def __init__(
        self,
        journal: RulesJournal,
        plans: RulePlans,
        *,
        clock: Clock,
        metrics: RulesMetrics | None = None,
        page: int = PAGE,
        monotonic: Monotonic = time.monotonic,
        log_derived: bool = True,
    ) -> None:
        self._journal = journal
        self._log_derived = log_derived  # False: a dispatch advice's line at debug level
        self._plans = plans
        self._clock = clock
        self._supervision_time = SupervisionTime(clock, monotonic)
        self._metrics = metrics or NoRulesMetrics()
        self._page = page
        self.engine = RuleEngine(plans)
        self._outbox: list[Derived] = []  # concluded, to append (kept when an append fails)
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._advanced = asyncio.Event()
        self._serial = asyncio.Lock()  # commands, one at a time
        self._saved = 0  # the cursor as last saved
        self._save_from = 0.0  # the event loop's time from which the next save may be made

    @classmethod
    def from_accounts(
        cls,
        journal: RulesJournal,
        accounts: Iterable[AccountSettings],
        *,
        clock: Clock,
        metrics: RulesMetrics | None = None,
        monotonic: Monotonic = time.monotonic,
        log_derived: bool = True,
    ) -> RulesRunner:
        """A runner for the configured ``[[accounts]]``."""
        return cls(
            journal,
            plans_from(accounts),
            clock=clock,
            metrics=metrics,
            monotonic=monotonic,
            log_derived=log_derived,
        )

    @property
    def position(self) -> int:
        """The last journal_seq folded."""
        return self.engine.position

    # -- the interface app.py wires ----------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the cores were rebuilt from the journal."""
        return self._ready.is_set()

    async def run(self) -> None:
        """Rebuild, then follow the journal until cancelled (or the journal is closed)."""
        watching = asyncio.create_task(self._watch_journal())
        try:
            await self._follow()
        finally:
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)

    async def _follow(self) -> None:
        failures = 0
        while True:
            try:
                await (self._step() if self.ready else self._rebuild())
                failures = 0
            except JournalClosedError:
                log.info("rules_stopped", reason="journal closed")
                return
            except Exception as exc:  # noqa: BLE001 - task root: log, count, retry
                failures += 1
                self._failed(exc)
                await asyncio.sleep(min(RETRY_MAX_S, RETRY_S * 2 ** (failures - 1)))
                continue
            await self._idle()

    def observe_link(  # noqa: PLR0917 - receiver.handler.LinkObserver calls it positionally
        self,
        account: str,
        receiver: str | None,
        line: str | None,
        transport: str,
        peer: str,
        at: datetime,
    ) -> None:
        """Every accepted frame, link tests included (synchronous, O(1)), before its record
        exists. It is live: heard now in supervision time, whatever the wall clock said at
        receipt (``at``). A restore it makes waits for the frame's record, folded by the tail,
        so that it names the frame (``SupervisionCore.heard``)."""
        del peer, at
        supervision = self.engine.supervision
        if not supervision.supervises(account):
            return  # nothing to restart: not even the clock is read
        if supervision.heard(account, receiver, line, transport, self._supervision_time.now()):
            self._wake.set()

    async def command(self, cmd: object) -> dict[str, Any]:
        """Carry out a command (``commands.py``, ``cards.py``, ``auth.py``); it is journaled
        whether accepted or refused, never with a PIN. ``{"ok", "journal_seq"}`` of the
        COMMAND record, and ``"error"`` when refused or not recorded. Requests marked
        ``"source": "mqtt"`` need a contact's ID code and PIN (``auth.Gate``); commands run
        one at a time, so each sees the failed attempts before it."""
        async with self._serial:
            return await self._command(cmd)

    async def _command(self, cmd: object) -> dict[str, Any]:
        request = cmd if isinstance(cmd, Mapping) else {}
        now, parsed, extra = self._clock(), None, {}
        admission = Admission(source_of(request))
        try:
            admission = await Gate(self.engine.auth).admit(request, self._card(request), now)
            parsed = parse_request(cmd)
            await self._check(parsed)
            extra = await self._extra_fields(parsed)
            error = None
        except AuthRefused as refused:
            error, admission = str(refused), refused.admission
        except CommandRefused as refused:
            error = str(refused)
        body = {
            **command_body(redacted(cmd), _typed(parsed), error),
            **_fields(parsed),
            **admission.fields(),
            **extra,
        }
        record = NewRecord(
            kind=RecordKind.COMMAND, received_at=now, account=_account_of(cmd, parsed), body=body
        )
        try:
            result = await self._journal.append(record)
        except JournalError as err:
            log.error("command_not_recorded", error=str(err))
            return {"ok": False, "error": f"the command could not be recorded: {err}"}
        self.engine.auth.note(result.journal_seq, record.account, now, bodies.command_of(body))
        self._wake.set()
        log.info(
            "command_recorded",
            action=body.get("action"),
            account=record.account,
            accepted=error is None,
            error=error,
            journal_seq=result.journal_seq,
            source=admission.source,
            id_code=admission.id_code,
            auth=admission.auth,
        )
        reply: dict[str, Any] = {"ok": error is None, "journal_seq": result.journal_seq}
        if error is not None:
            return {**reply, "error": error}
        warning = await self._warning(parsed, now)
        if warning is not None:
            log.warning(
                "command_questionable",
                action=body.get("action"),
                account=record.account,
                journal_seq=result.journal_seq,
                warning=warning,
            )
        return reply if warning is None else {**reply, "warning": warning}

    async def folded(self, journal_seq: int) -> bool:
        """Wait (at most ``COMMAND_WAIT_S``) until the record ``journal_seq`` is folded."""
        try:
            await self._until(lambda: self.position >= journal_seq, "not folded")
        except CommandRefused:
            return False
        return True

    def in_test(self, account: str, at: datetime) -> bool:
        """True while ``account`` is in test mode at ``at`` (its current session only)."""
        return self.engine.test_mode.in_test(account, at)

    def reload(self, plans: RulePlans) -> None:
        """New per-account settings (SIGHUP); see ``SupervisionCore.configure``."""
        self._plans = self.engine.plans = plans
        now = self._clock()
        self.engine.supervision.configure(plans.supervision, self._supervision_time.now())
        self.engine.verification.configure(plans.verification, now)
        self.engine.cards.configure(plans.cards, now)
        self.engine.dispatch.configure(plans.cards, plans.accounts, now)
        self.engine.schedule.configure(plans.schedule, now)
        self.engine.alarms.configure(plans.open_max_age, now)
        self._wake.set()

    def wake(self) -> None:
        """Look at the journal and the timers now (a test that moved its clock)."""
        self._wake.set()

    # -- start-up ----------------------------------------------------------------------

    async def _rebuild(self) -> None:
        if self.position > 0:  # a retry: start from a clean engine
            self.engine = RuleEngine(self._plans)
        cursor = await self._journal.load_cursor(CURSOR)
        head = max(self._journal.last_seq, cursor)
        latest = await self._fold_until(cursor, keep=False)
        self._supervision_time.reanchor(latest)
        self.engine.supervision.start(self._supervision_time.now())
        await self._fold_until(head, keep=True)
        self._outbox = [*self.engine.release(), *self._due()]
        appended = len(self._outbox)
        await self._flush()
        self._saved, self._save_from = cursor, 0.0
        await self._save_cursor()
        self._report()
        self._ready.set()
        log.info(
            "rules_rebuilt",
            cursor=cursor,
            head=head,
            appended=appended,
            offline=self.engine.supervision.offline,
        )

    async def _fold_until(self, upto: int, *, keep: bool) -> datetime:
        """Fold the records after ``position`` up to ``upto``; hold back (``keep``) or drop
        what the cores conclude. The latest receipt time folded (``NEVER`` if none). Once
        supervision started (``keep``), no receipt time reaches it ahead of supervision time
        (after the wall clock stepped back, the journal can hold later ones)."""
        latest = NEVER
        while self.position < upto:
            page = await self._journal.read_after(self.position, limit=self._page)
            if not page:
                break
            ceiling = self._supervision_time.now()
            for record in (r for r in page if r.journal_seq <= upto):
                latest = max(latest, record.received_at)
                heard = None
                if keep:
                    heard, ceiling = self._not_ahead(record.received_at, ceiling)
                for derived in self.engine.fold(record, heard):
                    if keep:
                        self.engine.hold(derived)
            if page[-1].journal_seq > upto:
                break
        return latest

    def _not_ahead(self, at: datetime, ceiling: datetime) -> tuple[datetime, datetime]:
        """``min(at, supervision time now)``, and the reading of supervision time to use
        next: the clock is read again only for an ``at`` later than the last reading (it
        never goes back, so an earlier ``at`` is the minimum either way)."""
        if at <= ceiling:
            return at, ceiling
        ceiling = self._supervision_time.now()
        return min(at, ceiling), ceiling

    # -- following the journal -------------------------------------------------------

    async def _step(self) -> None:
        self._wake.clear()
        records = await self._journal.read_after(self.position, limit=self._page)
        live = self._supervision_time.now()  # records folded live: heard now (observe_link)
        self._outbox += [d for record in records for d in self.engine.fold(record, live)]
        self._outbox += self._due()
        await self._flush()
        await self._save_cursor()
        if records:
            self._advanced.set()
            self._advanced = asyncio.Event()
        self._report()

    async def _save_cursor(self) -> None:
        """Save ``position`` if it moved (after ``_flush``: what it concluded is durable), at
        most every ``CURSOR_EVERY_S``; a later one is left to the wake-up ``_timeout`` sets."""
        if self.position <= self._saved:
            return
        now = asyncio.get_running_loop().time()
        if now < self._save_from:
            return
        self._save_from, seq = now + CURSOR_EVERY_S, self.position
        await self._journal.save_cursor(CURSOR, seq)
        self._saved = seq

    async def _flush(self) -> None:
        """Append the outbox in one transaction, then what follows from it (``follow_ups``)
        in the next; what was not appended is kept for the next try on failure."""
        while self._outbox:
            await self._append_outbox()

    async def _append_outbox(self) -> None:
        """One append of the outbox; what follows from it (``follow_ups``) is next."""
        batch = [self.engine.flagged(d) for d in self._outbox]
        results = await self._journal.append_many([new_record(d) for d in batch])
        self._outbox = []
        # one logger bound for the batch: the module's lazy logger binds anew for every line
        logged = log.bind()
        quiet = logged.info if self._log_derived else logged.debug
        for derived, result in zip(batch, results, strict=True):
            self.engine.recorded(derived, result.journal_seq)
            kind = str(derived.type)
            self._metrics.derived_event(kind)
            # one advice per alarm follows ``[logging] events``; every other conclusion is rare
            # and stays an info line
            line = quiet if derived.type is _DISPATCH_ADVICE else logged.info
            line(
                "derived_recorded",
                type=kind,
                account=derived.account,
                journal_seq=result.journal_seq,
                refs=list(derived.refs),
                test=derived.test,
            )
        self._outbox = self.engine.follow_ups()

    async def _watch_journal(self) -> None:
        """Wake the runner whenever the journal moves, and once more when this ends (the
        journal was closed, or the runner stops). A failed wait wakes it too, so that its
        next step meets the failure and reports it; the wait is tried again ``RETRY_S``
        later."""
        seen = self._journal.last_seq
        try:
            while True:
                try:
                    await self._journal.wait_for(seen)
                except JournalClosedError:
                    return
                except Exception:  # noqa: BLE001 - the runner's step reports it
                    self._wake.set()
                    await asyncio.sleep(RETRY_S)
                    continue
                seen = self._journal.last_seq
                self._wake.set()
        finally:
            self._wake.set()

    async def _idle(self) -> None:
        """Until a new record, a wake-up, or the earliest deadline (at most ``MAX_SLEEP_S``)."""
        if self._wake.is_set() or self._journal.last_seq > self.position:
            return  # work waiting: the deadlines are not needed
        timeout = self._timeout()
        if timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()  # a new record sets it too (``_watch_journal``)

    def _due(self) -> list[Derived]:
        """What the cores conclude now, supervision on supervision time."""
        return self.engine.on_timer(self._clock(), self._supervision_time.now())

    def _timeout(self) -> float:
        """Seconds to the earliest deadline, each on its core's clock, or to the cursor's
        save; at most MAX_SLEEP_S."""
        wall, supervised = self._clock(), self._supervision_time.now()
        distances = [
            (deadline - (supervised if rule is self.engine.supervision else wall))
            for rule in self.engine.rules
            if (deadline := rule.next_deadline()) is not None
        ]
        seconds = [MAX_SLEEP_S, *(d.total_seconds() for d in distances)]
        if self.position > self._saved:
            seconds.append(self._save_from - asyncio.get_running_loop().time())
        return min(seconds)

    # -- commands --------------------------------------------------------------------

    async def _check(self, command: Request) -> None:
        """Refuse what the current state does not allow."""
        await self._until(lambda: self.ready, "the rules are still starting; try again")
        if command.account not in self.engine.plans.accounts:
            raise CommandRefused(f"account {command.account!r} is not configured")
        if isinstance(command, Verify):
            await self._check_verify(command)
        elif isinstance(command, Cancel | MarkFalse | TemporaryChange | CloseAlarm | ChangePin):
            await self._check_card(command)
        elif isinstance(command, Overtime):
            self._check_overtime(command)
        elif isinstance(command, Response):
            self._check_response(command)
        elif not command.on and self.engine.test_mode.session(command.account) is None:
            raise CommandRefused(f"account {command.account!r} is not in test mode")

    async def _check_verify(self, command: Verify) -> None:
        seq = command.journal_seq
        if not 0 < seq <= self._journal.last_seq:
            raise CommandRefused(f"there is no record {seq}")
        await self._until(lambda: self.position >= seq, "the rules have not reached it yet")
        alarms = self.engine.verification.alarms_of(command.account, seq)
        if not alarms:
            raise CommandRefused(
                f"record {seq} holds no burglary alarm of account "
                f"{command.account!r} from the last 24 hours"
            )
        if all(alarm.verified for alarm in alarms):
            raise CommandRefused(f"the alarm of record {seq} is already verified")

    def _check_overtime(self, command: Overtime) -> None:
        refusal = self.engine.schedule.overtime_refusal(
            command.account, command.until, self._clock()
        )
        if refusal is not None:
            raise CommandRefused(refusal)

    def _check_response(self, command: Response) -> None:
        seq, now = command.journal_seq, self._clock()
        if seq is not None and not 0 < seq <= self._journal.last_seq:
            raise CommandRefused(f"there is no record {seq}")
        if command.at is not None and not now - RESPONSE_PAST <= command.at <= now:
            raise CommandRefused("at must lie within the last 24 hours, not in the future")

    async def _check_card(self, command: CardCommand | ChangePin) -> None:
        if isinstance(command, Cancel | ChangePin):
            card = self.engine.plans.cards.get(command.account)
            if card is None or card.contact(command.id_code) is None:
                raise CommandRefused(f"no contact {command.id_code!r} on the account's card")
        if isinstance(command, Cancel | MarkFalse | CloseAlarm):
            seq = command.journal_seq
            if not 0 < seq <= self._journal.last_seq:
                raise CommandRefused(f"there is no record {seq}")
            await self._until(lambda: self.position >= seq, "the rules have not reached it yet")
        refusal = (
            None
            if isinstance(command, ChangePin)
            else self.engine.cards.refusal(command, self._clock())
        )
        if refusal is None and isinstance(command, CloseAlarm):
            refusal = self._close_refusal(command)
        if refusal is not None:
            raise CommandRefused(refusal)

    async def _warning(self, command: Request | None, now: datetime) -> str | None:
        """An accepted ``guard_arrived`` stated before its alarm was received: it is kept as
        the operator gave it, but the evidence export counts no response time from it."""
        if not isinstance(command, Response) or command.action != "guard_arrived":
            return None
        alarm = await self._alarm_of(command)
        arrived = command.at or now
        if alarm is None or arrived >= alarm[1]:
            return None
        return (
            f"the guard arrival ({iso(arrived)}) is before the alarm of record {alarm[0]} was "
            f"received ({iso(alarm[1])}); the evidence counts no response time from it: check "
            "--at and --journal-seq"
        )

    async def _alarm_of(self, command: Response) -> tuple[int, datetime] | None:
        """The record and receipt time of the alarm ``command`` belongs to, when known."""
        seq = command.journal_seq
        if seq is None:
            latest = self.engine.cards.latest_alarm(command.account)
            return None if latest is None else (latest.journal_seq, latest.at)
        found = await self._journal.read_after(seq - 1, limit=1)
        if not found or found[0].journal_seq != seq or found[0].account != command.account:
            return None
        return seq, found[0].received_at

    def _close_refusal(self, command: CloseAlarm) -> str | None:
        if self.engine.alarms.is_open(command.account, command.journal_seq):
            return None
        return f"the alarm of record {command.journal_seq} is not open"

    async def _extra_fields(self, command: Request) -> dict[str, Any]:
        """``change_pin``: the new PIN's hash (computed off the loop), never the PIN."""
        if not isinstance(command, ChangePin):
            return {}
        return await pin_change_fields(command, self._card({"account": command.account}))

    def _card(self, request: Mapping[str, Any]) -> CardSettings | None:
        account = request.get("account")
        return self.engine.plans.cards.get(account) if isinstance(account, str) else None

    async def _until(self, condition: Callable[[], bool], refusal: str) -> None:
        try:
            async with asyncio.timeout(COMMAND_WAIT_S):
                while not condition():
                    await (self._advanced.wait() if self.ready else self._ready.wait())
        except TimeoutError:
            raise CommandRefused(refusal) from None

    # -- reporting -------------------------------------------------------------------

    def _report(self) -> None:
        self._metrics.accounts_offline(self.engine.supervision.offline)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, JournalError):
            log.warning("rules_journal_failed", error=str(exc))
            return
        self._metrics.internal_error("pipeline")
        log.exception("rules_failed")


_OWN_FIELDS = (Cancel, MarkFalse, TemporaryChange, CloseAlarm, ChangePin)


def _typed(parsed: Request | None) -> Command | None:
    """The commands ``command_body`` knows; the others give their own fields."""
    return None if isinstance(parsed, _OWN_FIELDS) else parsed


def _fields(parsed: Request | None) -> dict[str, Any]:
    if isinstance(parsed, _OWN_FIELDS):
        return parsed.journal_fields()
    return {}


def _account_of(cmd: object, parsed: Request | None) -> str | None:
    if parsed is not None:
        return parsed.account
    account = cmd.get("account") if isinstance(cmd, Mapping) else None
    return account if isinstance(account, str) and account else None
