"""One frame in, one reply (or none) out: parse, journal, then reply — shared by TCP and UDP.

The rule this module exists for: the ACK is built only once the journal reported the record
durable. If the commit fails, or does not come back within ``COMMIT_TIMEOUT_S``, the panel
gets no reply and retries.

``receive`` is the transports' entry: it answers through a callback, at once for what needs
no commit (a NULL link test, a rejected frame) and from the journal's commit otherwise — no
task or future per frame. ``handle`` is the same as a coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from alarmrx.config import AccountTable, ReceiverSettings
from alarmrx.journal.errors import JournalError
from alarmrx.journal.records import AppendResult, NewRecord, RecordKind
from alarmrx.observability.logs import RateLimitedLog
from alarmrx.protocols import (
    CORRUPT_REASONS,
    AccountPolicy,
    DC09Message,
    FrameHeader,
    ProtocolError,
    Quirk,
    Reply,
    encode_ack,
    encode_duh,
    encode_nak,
    parse_frame,
    reply_kind,
)
from alarmrx.protocols.priority import Priority, message_priority
from alarmrx.receiver.body import dedupe_key, message_body
from alarmrx.receiver.deadlines import CommitDeadlines, Waiting
from alarmrx.receiver.limits import FrameRateLimits, UnknownAccounts
from alarmrx.receiver.metrics import ReceiverMetrics
from alarmrx.receiver.receipts import STEP_LOGGED_S, Receipt, ReceiptClock
from alarmrx.receiver.sink import Sink

log = structlog.get_logger("alarmrx.receiver")
# One line per (event, reason) a minute at most: a flood must not flood the logs.
limited = RateLimitedLog(log, interval_s=60.0)

# A panel waits about 1-5 s for its reply; past this the reply would be useless, so the
# frame goes unanswered and the panel retries (a late commit then dedupes the retry).
COMMIT_TIMEOUT_S = 5.0

Clock = Callable[[], datetime]
# (account, receiver, line, transport, peer, at): every accepted frame, NULLs included, so the
# supervision rule sees link tests that are not journaled (docs/architecture.md, "Invariants").
LinkObserver = Callable[[str, str | None, str | None, str, str, datetime], None]
_UNKNOWN_POLICY = AccountPolicy()
# What the journal's commit hands back: one result per record, or why it failed.
Committed = list[AppendResult] | JournalError | TimeoutError
# Reply -> its token as plain text, read per frame: an enum's ``.value`` is a Python-level
# property.
REPLY_TEXT = {reply: reply.value for reply in Reply}
# Enum members read per frame, looked up once: a member is a Python-level class attribute.
_MESSAGE = RecordKind.MESSAGE
_LONG_PAD = Quirk.LONG_PAD


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(msgspec.Struct, frozen=True):
    """What became of one frame: the reply bytes (None = stay silent) and its kind.

    A Struct rather than a dataclass: one or two are built per frame, and a Struct is built
    in C."""

    reply: bytes | None
    kind: Reply
    message: DC09Message | None = None
    error: ProtocolError | None = None


Answer = Callable[[Outcome], None]


class _Pending(msgspec.Struct):
    """A message whose record is on its way to the journal, with the key its ACK is
    encrypted with, found when it was parsed (a reload meanwhile may remove the account).
    One per frame, so a Struct (built in C)."""

    message: DC09Message
    transport: str
    answer: Answer
    peer: str
    received_at: datetime
    key: bytes | None
    kind: Reply  # the positive reply the message gets once durable (``reply_kind``)
    settled: bool = False


class FrameHandler:
    """Parses a frame against the account table, journals it and builds the reply."""

    def __init__(
        self,
        *,
        settings: ReceiverSettings,
        accounts: AccountTable,
        sink: Sink,
        metrics: ReceiverMetrics,
        clock: Clock = _utc_now,
        random_bytes: Callable[[int], bytes] = os.urandom,
        clock_state: Callable[[], dict[str, Any]] = dict,
        on_link: LinkObserver | None = None,
        reject_samples_per_minute: int = 60,
        log_events: bool = True,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self._sink = sink
        self._metrics = metrics
        self._clock = clock
        self._random = random_bytes
        self._clock_state = clock_state
        self._on_link = on_link
        self._unknown = UnknownAccounts(settings.max_unknown_accounts)
        self._rate = FrameRateLimits(
            connection_rate=settings.connection_rate,
            connection_burst=settings.connection_burst,
            peer_rate=settings.peer_rate,
            peer_burst=settings.peer_burst,
        )
        self._samples = _Sampler(per_minute=reject_samples_per_minute)
        self._receipts = ReceiptClock()
        self._deadlines = CommitDeadlines(COMMIT_TIMEOUT_S, self._expired)
        # (header, account, policy) of the configured account ``lookup`` found last: an
        # encrypted frame's ACK is encrypted with the key the parser decrypted it with.
        self._found: tuple[FrameHeader, str | None, AccountPolicy] | None = None
        # A concrete logger: structlog's module-level proxy binds a new one on every call,
        # costly for a debug line that is then dropped.
        self._log = log.bind()
        # One line per accepted message (docs/operations.md, "Logs"); debug when turned off,
        # and None when that level is filtered out, so its fields are not even gathered.
        level = logging.INFO if log_events else logging.DEBUG
        line = self._log.info if log_events else self._log.debug
        self._log_committed = line if self._log.is_enabled_for(level) else None

    @property
    def waiting(self) -> int:
        """Frames whose commit has not come back yet (and not given up on)."""
        return len(self._deadlines)

    def reload(self, settings: ReceiverSettings, accounts: AccountTable) -> None:
        """Swap in new accounts and keys; connections and limits' state are kept."""
        self.settings = settings
        self.accounts = accounts

    def admitted(self, peer: str, peer_ip: str, transport: str) -> bool:
        """Whether the frame rates let a frame from ``peer`` (host:port) in now; a refusal is
        counted and logged under the limit that refused it."""
        refused = self._rate.refused(peer, peer_ip, time.monotonic())
        if refused is None:
            return True
        self._metrics.limit_hit(refused)
        limited.warning(
            (refused, peer_ip), "limit_hit", limit=refused, peer=peer, transport=transport
        )
        return False

    def oversized(
        self, err: ProtocolError, *, peer: str, transport: str, received_at: datetime
    ) -> Outcome:
        """The answer to a frame the framer refused as longer than ``max_frame_bytes``: the
        ``frame_bytes`` limit counted, then rejected like any corrupt frame (silence, or a
        NAK with ``nak_on_corrupt``)."""
        self._metrics.limit_hit("frame_bytes")
        return self._rejected(err, b"", peer, transport, received_at)

    def lookup(self, header: FrameHeader, account: str | None) -> AccountPolicy | None:
        """The parser's account lookup: configured accounts, then the unknown policy."""
        if account is not None:
            entry = self.accounts.lookup(account, header.receiver, header.line)
            if entry is not None:
                policy = self.accounts.policy(entry)
                self._found = (header, account, policy)
                return policy
        if self.settings.unknown_accounts != "accept" or account is None:
            return None
        if self._unknown.admit(account):
            return _UNKNOWN_POLICY
        self._metrics.limit_hit("unknown_accounts")
        limited.warning(
            "unknown_accounts", "limit_hit", limit="unknown_accounts", cap=len(self._unknown)
        )
        return None

    async def handle(
        self, frame: bytes, *, peer: str, transport: str, received_at: datetime
    ) -> Outcome:
        """``receive`` as a coroutine. Raises only on a bug."""
        answered: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

        def answer(outcome: Outcome) -> None:
            if not answered.done():
                answered.set_result(outcome)

        self.receive(frame, peer=peer, transport=transport, received_at=received_at, answer=answer)
        return await answered

    def receive(
        self, frame: bytes, *, peer: str, transport: str, received_at: datetime, answer: Answer
    ) -> None:
        """Parse ``frame`` and journal it; ``answer`` gets the outcome exactly once, maybe
        before this returns. Raises only on a bug."""
        try:
            message = parse_frame(frame, accounts=self.lookup, now=received_at)
        except ProtocolError as err:
            answer(self._rejected(err, frame, peer, transport, received_at))
            return
        for quirk in message.quirks:
            self._metrics.quirk_seen(quirk.value)
        if message.unrecognised is not None:
            self._unrecognised(message, peer, transport)
        key = self._key(message.header)
        account = message.account or ""
        receipt = self._stamp(received_at)  # ``receipt.at is received_at`` unless raised
        if self._on_link is not None:
            header = message.header
            self._on_link(account, header.receiver, header.line, transport, peer, receipt.at)
        if message.is_null:
            self._metrics.link_test(transport)
            answer(self._reply(message, key, reply_kind(message)))
            return
        body = message_body(message, self._clock_state())
        if receipt.at is not received_at:
            body |= receipt.body()  # {} when not raised after all
        kind = reply_kind(message)
        record = NewRecord(
            kind=_MESSAGE,
            received_at=receipt.at,
            account=message.account,
            body=body,
            raw=message.raw,
            peer=peer,
            transport=transport,
            reply=REPLY_TEXT[kind],
            priority=int(_priority(message)),
            dedupe_key=dedupe_key(message),
        )
        pending = _Pending(message, transport, answer, peer, received_at, key, kind)
        try:
            self._sink.submit((record,), functools.partial(self._committed, pending))
        except JournalError as err:
            self._committed(pending, err)
            return
        self._deadlines.watch(pending)

    def _committed(self, pending: _Pending, result: Committed) -> None:
        """The journal's answer (or the deadline's): ACK only what is durable. The frame is
        answered whatever happens here, so its connection's later replies never wait on it."""
        if pending.settled:
            return  # given up on at the deadline; the retry will be recognised as a repeat
        pending.settled = True
        outcome = None
        try:
            outcome = self._settle(pending, result)
        except Exception:  # a callback root: a bug costs this reply (the panel retries), no more
            log.exception("reply_failed", account=pending.message.account)
            self._metrics.internal_error("reply")
        finally:
            pending.answer(outcome or Outcome(reply=None, kind=Reply.NONE, message=pending.message))

    def _settle(self, pending: _Pending, result: Committed) -> Outcome:
        message = pending.message
        if not isinstance(result, list):
            # Not durable, so no ACK: the panel retries. /healthz and the journal's gauge
            # report the fault; the journal retries on the next append.
            account = message.account or ""
            error = str(result) or f"no commit within {COMMIT_TIMEOUT_S} s"
            limited.error("commit_failed", "commit_failed", account=account, error=error)
            return Outcome(reply=None, kind=Reply.NONE, message=message)
        appended = result[0]
        if appended.duplicate:
            self._metrics.duplicate(pending.transport)
        else:
            self._metrics.committed(pending.transport)
        outcome = self._reply(message, pending.key, pending.kind)
        if self._log_committed is not None:
            self._log_line(pending, appended, outcome)
        return outcome

    def _log_line(self, pending: _Pending, appended: AppendResult, outcome: Outcome) -> None:
        """The ``message_committed`` line (docs/operations.md, "Logs")."""
        assert self._log_committed is not None  # noqa: S101 - only called when it is on
        message = pending.message
        latency_s = (self._clock() - pending.received_at).total_seconds()
        self._log_committed(
            "message_committed",
            account=message.account or "",
            seq=message.header.sequence,
            codes=[event.code for event in message.events],
            reply=outcome.kind.value,
            latency_ms=round(latency_s * 1000, 1),
            journal_seq=appended.journal_seq,
            duplicate=appended.duplicate,
            transport=pending.transport,
            peer=pending.peer,
        )

    def _expired(self, waiting: Waiting) -> None:
        assert isinstance(waiting, _Pending)  # noqa: S101 - only _Pending is watched
        self._committed(waiting, TimeoutError())

    def _key(self, header: FrameHeader) -> bytes | None:
        """The key an encrypted frame was decrypted with (its ACK is encrypted with it)."""
        if not header.encrypted:
            return None
        found = self._found
        if found is not None and found[0] is header and found[1] == header.account:
            return found[2].key  # what the parser found for this frame's account
        policy = self.lookup(header, header.account)
        return policy.key if policy is not None else None

    def _reply(self, message: DC09Message, key: bytes | None, kind: Reply) -> Outcome:
        """ACK (or RSP), padded like the panel's own frame unless ``long_pad`` forces 16-31.
        The clock is read only for an ACK that carries the time."""
        header, settings = message.header, self.settings
        reply = encode_ack(
            header,
            now=self._clock() if header.encrypted or settings.ack_timestamp else None,
            key=key,
            random_bytes=self._random,
            long_pad=settings.long_pad or _LONG_PAD in message.quirks,
            plain_timestamp=settings.ack_timestamp,
            token=REPLY_TEXT[kind],
        )
        return Outcome(reply=reply, kind=kind, message=message)

    def _unrecognised(self, message: DC09Message, peer: str, transport: str) -> None:
        """An intact frame accepted without being understood: counted and logged here, raised
        to an operator by the rules (``payload.unrecognised``)."""
        unrecognised = message.unrecognised
        assert unrecognised is not None  # noqa: S101 - only called for such a message
        self._metrics.unrecognised(transport, unrecognised.reason)
        limited.warning(
            ("payload_unrecognised", message.account),
            "payload_unrecognised",
            reason=unrecognised.reason,
            detail=unrecognised.detail,
            token=message.header.token,
            account=message.account,
            peer=peer,
            transport=transport,
        )

    def _rejected(
        self, err: ProtocolError, frame: bytes, peer: str, transport: str, received_at: datetime
    ) -> Outcome:
        kind = err.reply
        if kind is Reply.NONE and self.settings.nak_on_corrupt and err.reason in CORRUPT_REASONS:
            kind = Reply.NAK
        reply = self._error_reply(kind, err)
        self._metrics.rejected(transport, err.reason.value)
        header = err.header
        limited.warning(
            ("frame_rejected", err.reason),
            "frame_rejected",
            reason=err.reason.value,
            detail=err.detail,
            reply=kind.value,
            peer=peer,
            transport=transport,
            account=header.account if header is not None else None,
        )
        if self._samples.take(received_at):
            self._sample(
                err, frame=frame, peer=peer, transport=transport, received_at=received_at, kind=kind
            )
        return Outcome(reply=reply, kind=kind if reply is not None else Reply.NONE, error=err)

    def _stamp(self, received_at: datetime) -> Receipt:
        """The receipt time to record: never earlier than one already recorded."""
        receipt = self._receipts.stamp(received_at)
        if receipt.at is not received_at and receipt.raised_s >= STEP_LOGGED_S:
            limited.warning(
                "clock_stepped_back",
                "clock_stepped_back",
                by_s=receipt.raised_s,
                detail="receipt times held at the latest one until the clock catches up",
            )
        return receipt

    def _error_reply(self, kind: Reply, err: ProtocolError) -> bytes | None:
        if kind is Reply.NAK:
            style = err.header.crc_style if err.header is not None else None
            return encode_nak(now=self._clock(), **({"crc_style": style} if style else {}))
        if kind is Reply.DUH and err.header is not None:
            return encode_duh(err.header)
        return None

    def _sample(
        self,
        err: ProtocolError,
        *,
        frame: bytes,
        peer: str,
        transport: str,
        received_at: datetime,
        kind: Reply,
    ) -> None:
        """Keep a bounded sample of rejected frames in the journal, for diagnosis."""
        header = err.header
        receipt = self._stamp(received_at)
        record = NewRecord(
            kind=RecordKind.REJECTED,
            received_at=receipt.at,
            account=header.account if header is not None else None,
            body={
                "reason": err.reason.value,
                "detail": err.detail,
                "token": header.token if header else None,
                "sequence": header.sequence if header else None,
            }
            | receipt.body(),
            raw=frame[:4096],
            peer=peer,
            transport=transport,
            reply=kind.value,
        )
        try:
            self._sink.submit((record,), self._sampled)  # the reply does not wait for it
        except JournalError:
            self._metrics.internal_error("reject_sample")

    def _sampled(self, result: list[AppendResult] | JournalError) -> None:
        if not isinstance(result, list):
            self._metrics.internal_error("reject_sample")


def _priority(message: DC09Message) -> Priority:
    """The record's priority class: a frame nobody understood may be an alarm, so it is
    never handled after troubles."""
    priority = message_priority(message.events)
    return min(priority, Priority.TROUBLE) if message.unrecognised is not None else priority


class _Sampler:
    """At most ``per_minute`` samples in any calendar minute."""

    __slots__ = ("_count", "_minute", "per_minute")

    def __init__(self, *, per_minute: int) -> None:
        self.per_minute = per_minute
        self._minute: tuple[int, ...] = ()
        self._count = 0

    def take(self, now: datetime) -> bool:
        minute = now.timetuple()[:5]
        if minute != self._minute:
            self._minute, self._count = minute, 0
        self._count += 1
        return self._count <= self.per_minute
