"""Writing results into ``docs/performance.md``.

Each run owns one section of the page, between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->``; a new run of the same section replaces it and leaves the rest of
the page (hand-written text, other sections) as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.machine import Machine
from benchmarks.stats import Summary

MS, US, MIB = 1e3, 1e6, 1024 * 1024
RSS_PER_CONNECTION_FROM = 100  # below this, page-size noise swamps the figure
HEADER = (
    "| receiver | workers | transport | mode | connections | frames/s | p50 ms | p90 ms | p99 ms "
    "| max ms | CPU µs/frame | peak RSS MiB | RSS KiB/conn | gen CPU µs/frame | failed |"
)
RATIO_HEADER = (
    "| workers | transport | mode | connections | frames/s | p50 | p99 | CPU/frame | peak RSS |"
)


def render_section(
    *,
    title: str,
    command: str,
    when: str,
    machine: Machine,
    versions: dict[str, str],
    summaries: Sequence[Summary],
    notes: Iterable[str],
) -> str:
    """One section: how it was made, the machine, the table, the ratios, the failures."""
    parts = [
        f"## {title}",
        f"Measured {when} with:\n\n```\n{command}\n```",
        _machine_table(machine, versions),
        "### Results\n\nMedians over the repetitions; *max* is the largest of any run. "
        "CPU is the receiver process's user+system time per acknowledged frame; "
        "*gen CPU* is the load generator's, for judging whether it was the limit.",
        "\n".join([HEADER, _rule(HEADER), *(_row(s) for s in summaries)]),
        _measuring_panel(summaries),
        _end_to_end(summaries),
        _ratios(summaries),
        _failures(summaries),
        *(f"> {note}" for note in notes),
    ]
    return "\n\n".join(part for part in parts if part) + "\n"


def _rule(header: str) -> str:
    columns = header.count("|") - 1
    return "|" + " --- |" * columns


def _machine_table(machine: Machine, versions: dict[str, str]) -> str:
    rows = [
        ("CPU", f"{machine.cpu}, {machine.cores} cores"),
        ("memory", machine.memory),
        ("kernel", machine.kernel),
        ("journal disk", machine.disk),
        *versions.items(),
    ]
    body = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"### Machine\n\n| | |\n| --- | --- |\n{body}"


def _row(s: Summary) -> str:
    c = s.cell
    low, high = s.frames_per_s_range
    spread = f" ({low:.0f} to {high:.0f})" if s.runs > 1 else ""
    cells = [
        c.receiver,
        _workers(c.workers),
        c.transport,
        c.mode,
        f"{c.connections:,}",
        f"{s.frames_per_s:,.0f}{spread}",
        f"{s.p50 * MS:.2f}",
        f"{s.p90 * MS:.2f}",
        f"{s.p99 * MS:.2f}",
        f"{s.max * MS:.1f}",
        f"{s.cpu_per_frame * US:.0f}",
        f"{s.peak_rss / MIB:.1f}",
        f"{s.rss_per_connection / 1024:.1f}" if c.connections >= RSS_PER_CONNECTION_FROM else "",
        f"{s.generator_cpu_per_frame * US:.0f}",
        f"{s.failed:,}",
    ]
    return "| " + " | ".join(cells) + " |"


PROBE_HEADER = (
    "| receiver | workers | transport | mode | other connections | frames/s | acked "
    "| p50 ms | p99 ms | max ms |"
)
PROBE_INTRO = (
    "### Measuring panel\n\nOne more connection, on an account of its own, sends the event "
    "mix (Contact ID and SIA DCS; one frame in ten a NULL) at a fixed rate while the others "
    "are held; its latency runs from each frame's scheduled send to its valid ACK. Its "
    "frames are not in the table above."
)


def _measuring_panel(summaries: Sequence[Summary]) -> str:
    """The one connection sending events at a fixed rate among the others."""
    rows = [_probe_row(s) for s in summaries if s.probe_rate]
    return _table(PROBE_INTRO, PROBE_HEADER, rows)


def _probe_row(s: Summary) -> str:
    rate, acked = f"{s.probe_rate:g}", f"{s.probe_acked:,}"
    return _line([*_point(s), rate, acked, *_ms(s.probe_p50, s.probe_p99, s.probe_max, digits=2)])


E2E_HEADER = (
    "| receiver | workers | transport | mode | connections | offered frames/s | events published "
    "| p50 ms | p99 ms | max ms |"
)
E2E_INTRO = (
    "### End to end: receipt to MQTT subscriber\n\nFor each event published on "
    "`alarmrx/v1/events/#`, its arrival at a subscriber (QoS 1, on a local mosquitto) "
    "minus the `received_at` in its payload. NULL link tests are not published."
)


def _end_to_end(summaries: Sequence[Summary]) -> str:
    """Receipt to subscriber, for the runs that published to MQTT."""
    rows = [_e2e_row(s) for s in summaries if s.published]
    return _table(E2E_INTRO, E2E_HEADER, rows)


def _e2e_row(s: Summary) -> str:
    offered = f"{s.offered_rate:,.0f}" if s.offered_rate else "closed loop"
    latencies = _ms(s.e2e_p50, s.e2e_p99, s.e2e_max, digits=1)
    return _line([*_point(s), offered, f"{s.published:,}", *latencies])


def _table(intro: str, header: str, rows: list[str]) -> str:
    """A subsection and its table; nothing when there are no rows."""
    return "\n".join([intro, "", header, _rule(header), *rows]) if rows else ""


def _point(s: Summary) -> list[str]:
    c = s.cell
    return [c.receiver, _workers(c.workers), c.transport, c.mode, f"{c.connections:,}"]


def _ms(*seconds: float, digits: int) -> list[str]:
    return [f"{value * MS:.{digits}f}" for value in seconds]


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _ratios(summaries: Sequence[Summary]) -> str:
    """alarmrx divided by pysiaalarm at each point both were measured."""
    by_receiver = {(s.cell.receiver, *s.cell.peer_key): s for s in summaries}
    rows = []
    for s in summaries:
        peer = by_receiver.get(("pysiaalarm", *s.cell.peer_key))
        if s.cell.receiver != "alarmrx" or peer is None:
            continue
        c = s.cell
        figures = [
            _ratio(s.frames_per_s, peer.frames_per_s),
            _ratio(s.p50, peer.p50),
            _ratio(s.p99, peer.p99),
            _ratio(s.cpu_per_frame, peer.cpu_per_frame),
            _ratio(s.peak_rss, peer.peak_rss),
        ]
        rows.append(
            f"| {_workers(c.workers)} | {c.transport} | {c.mode} | {c.connections:,} | "
            + " | ".join(figures)
            + " |"
        )
    if not rows:
        return "### alarmrx / pysiaalarm\n\nNot computed: this run did not measure both receivers."
    intro = (
        "### alarmrx / pysiaalarm\n\nEach figure of alarmrx divided by pysiaalarm's at the same "
        "point: above 1 means more frames/s, or more latency, CPU or memory. alarmrx commits "
        "every frame to its journal with fsync before the ACK; pysiaalarm acknowledges first "
        "and keeps nothing."
    )
    return "\n".join([intro, "", RATIO_HEADER, _rule(RATIO_HEADER), *rows])


def _workers(workers: int) -> str:
    return str(workers) if workers else "—"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


def _failures(summaries: Sequence[Summary]) -> str:
    lines = [
        f"- {s.cell.receiver} {s.cell.transport} {s.cell.mode} {s.cell.connections:,}: "
        + ", ".join(f"{reason} {count:,}" for reason, count in sorted(s.failures.items()))
        + _drops(s)
        for s in summaries
        if s.failures
    ]
    if not lines:
        return "Every frame sent got a valid acknowledgement."
    return "### Failed exchanges\n\n" + "\n".join(lines)


def _drops(s: Summary) -> str:
    if not s.udp_buffer_drops:
        return ""
    return (
        f" (meanwhile the kernel counted {s.udp_buffer_drops:,} datagrams dropped on full socket"
        " receive buffers, machine-wide; a lost frame waits out the reply timeout)"
    )


def write_section(path: Path, name: str, section: str, *, preamble: str) -> None:
    """Replace (or append) section ``name`` of ``path``; create the page if needed."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{section}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else preamble
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
