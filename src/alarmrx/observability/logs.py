"""structlog set-up: JSON lines for machines, console for people; secrets never logged.

Every line has ``timestamp`` (ISO 8601, UTC), ``level`` and ``event``, plus bound fields
(``peer``, ``transport``, ``account`` …). Fields named like a secret are masked at any depth.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
SECRET_NAMES = frozenset({"key", "keys", "password", "passwd", "pin", "secret", "secrets"})
_SECRET_SUFFIXES = tuple(f"_{name}" for name in SECRET_NAMES)
_SCALARS = (str, int, float)  # bool is an int
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


@functools.lru_cache(maxsize=4096)  # field names come from the code: a small set
def is_secret(name: str) -> bool:
    """``key``, ``aes_key``, ``mqtt_password`` … are secrets; ``key_file`` is not."""
    lowered = name.lower()
    return lowered in SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def _redacted(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(str(k)) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """A structlog processor: mask secret fields, also inside nested dicts and lists."""
    for name, value in event_dict.items():
        if is_secret(name):
            event_dict[name] = REDACTED
        elif not isinstance(value, _SCALARS):  # a scalar is kept as it is
            event_dict[name] = _redacted(value)
    return event_dict


@functools.lru_cache(maxsize=8)
def _json_encoder(**options: Any) -> json.JSONEncoder:
    return json.JSONEncoder(**options)


def _dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` (the same text), with the encoder built once per set of options rather
    than on every call."""
    return _json_encoder(**options).encode(value)


def wants_json(fmt: str, stream: TextIO) -> bool:
    """``json``; or ``auto`` under systemd (``$JOURNAL_STREAM``) or off a terminal."""
    if fmt != "auto":
        return fmt == "json"
    return "JOURNAL_STREAM" in os.environ or not stream.isatty()


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set structlog up for the process; ``stream`` defaults to ``sys.stderr``."""
    out = sys.stderr if stream is None else stream
    renderer: Any
    if wants_json(fmt, out):
        renderer = structlog.processors.JSONRenderer(serializer=_dumps, sort_keys=False)
        tail: list[Any] = [structlog.processors.dict_tracebacks, renderer]
    else:
        tail = [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        # One write per line (PrintLogger writes the line and its newline apart): the daemon's
        # processes share one stderr, and a line written whole is never split by another's.
        logger_factory=_Writer(structlog.WriteLogger(out)),
        cache_logger_on_first_use=False,
    )


@dataclass(frozen=True, slots=True)
class _Writer:
    """A logger factory handing out one ``WriteLogger`` for every logger (it holds nothing
    but the stream, and ``WriteLoggerFactory`` builds one per line logged)."""

    logger: structlog.WriteLogger

    def __call__(self, *_args: Any) -> structlog.WriteLogger:
        return self.logger


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int = 0


class RateLimitedLog:
    """At most one line per ``key`` per ``interval_s``; the next line says how many were
    suppressed (``suppressed=N``). Remembers at most ``max_keys`` keys, oldest dropped first.
    """

    def __init__(
        self,
        logger: Any,
        interval_s: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._max_keys = max_keys
        self._clock = clock
        self._windows: dict[Hashable, _Window] = {}

    def log(self, level: str, key: Hashable, event: str, **fields: Any) -> bool:
        """Log ``event`` at ``level`` unless ``key`` logged within the interval; True if it did."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and now - window.started < self._interval:
            window.suppressed += 1
            return False
        if window is not None and window.suppressed:
            fields["suppressed"] = window.suppressed
        self._remember(key, now)
        getattr(self._logger, level)(event, **fields)
        return True

    def info(self, key: Hashable, event: str, **fields: Any) -> bool:
        """``log("info", …)``."""
        return self.log("info", key, event, **fields)

    def warning(self, key: Hashable, event: str, **fields: Any) -> bool:
        """``log("warning", …)``."""
        return self.log("warning", key, event, **fields)

    def error(self, key: Hashable, event: str, **fields: Any) -> bool:
        """``log("error", …)``."""
        return self.log("error", key, event, **fields)

    def _remember(self, key: Hashable, now: float) -> None:
        self._windows.pop(key, None)
        self._windows[key] = _Window(now)
        while len(self._windows) > self._max_keys:
            del self._windows[next(iter(self._windows))]
