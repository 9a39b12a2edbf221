"""``process_*`` metrics (CPU, memory, open files) for the supervisor and every child.

prometheus-client's multiprocess mode carries only the values a child writes itself, so the
per-process figures that ``ProcessCollector`` reads from ``/proc`` would otherwise be lost. The
supervisor runs one ``ProcessCollector`` per live process through its public ``collect()`` and
labels each sample with the process's name (``supervisor``, ``writer``, ``consumers``,
``worker-0`` …): the dashboard's "Processes" row shows each one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

# (name, pid) of every process to report, read at each scrape.
Processes = Callable[[], Iterable[tuple[str, int]]]


class ChildProcessCollector(Collector):
    """The standard ``process_*`` families, one labelled sample per process."""

    def __init__(self, processes: Processes) -> None:
        self._processes = processes

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for name, pid in self._processes():
            collector = ProcessCollector(registry=None, pid=functools.partial(str, pid))
            for family in collector.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "process": name}, sample.value)
        yield from families.values()
