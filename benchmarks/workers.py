"""Running the load in several processes, each an asyncio loop with its share of links.

The parent waits until every process has connected, lets the caller take its "before"
readings, then gives all processes one start time on the shared monotonic clock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import cast

from benchmarks.load import LoadResult, SharePlan, run_share

READY_TIMEOUT = 120.0
START_DELAY = 0.1
RESULT_GRACE = 30.0


class LoadError(RuntimeError):
    """A generator process failed or did not answer in time."""


def raise_fd_limit(wanted: int = 65_536) -> int:
    """Raise the open-files limit for 1 000+ connections (the hard one too, where allowed).

    Receivers started afterwards inherit it. Returns the soft limit now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, hard, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
    except (ValueError, OSError):  # not privileged: the hard limit is as far as we may go
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_load(plans: list[SharePlan], before_start: Callable[[int], None]) -> LoadResult:
    """Run every share in its own process; ``before_start(connected)`` runs at the barrier."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[str, object]] = context.Queue()
    go, start_at = context.Event(), context.Value("d", 0.0)
    processes = [
        context.Process(target=_child, args=(plan, results, go, start_at), daemon=True)
        for plan in plans
    ]
    for process in processes:
        process.start()
    try:
        connected = sum(cast(int, _expect(results, "ready", READY_TIMEOUT)) for _ in plans)
        before_start(connected)
        start_at.value = time.monotonic() + START_DELAY
        go.set()
        timeout = max(plan.duration + plan.reply_timeout for plan in plans) + RESULT_GRACE
        merged = LoadResult()
        for _ in plans:
            merged.add(cast(LoadResult, _expect(results, "result", timeout)))
    finally:
        _reap(processes)
    return merged


def _expect(
    results: multiprocessing.Queue[tuple[str, object]], kind: str, timeout: float
) -> object:
    try:
        got, value = results.get(timeout=timeout)
    except queue.Empty:
        msg = f"no generator process reported {kind!r} within {timeout:.0f} s"
        raise LoadError(msg) from None
    if got != kind:
        msg = f"a generator process failed: {value}"
        raise LoadError(msg)
    return value


def _reap(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()


def _child(
    plan: SharePlan,
    results: multiprocessing.Queue[tuple[str, object]],
    go: Event,
    start_at: Synchronized[float],
) -> None:
    """Process entry: run the share on uvloop if installed, else the default loop."""
    raise_fd_limit()

    async def wait_go() -> float:
        if not await asyncio.to_thread(go.wait, READY_TIMEOUT):
            msg = "the parent never gave the start"
            raise LoadError(msg)
        return start_at.value

    def ready(connected: int) -> None:
        results.put(("ready", connected))

    try:
        result = _loop_runner()(run_share(plan, ready, wait_go))
    except Exception:  # noqa: BLE001 - process root: the parent gets the traceback as text
        results.put(("error", traceback.format_exc()))
        return
    results.put(("result", result))


def _loop_runner() -> Callable[..., LoadResult]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return cast(Callable[..., LoadResult], uvloop.run)
