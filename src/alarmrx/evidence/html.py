"""``evidence.html``: the bundle for people — a table of the alarms and a timeline of each.

Rendered from ``evidence.json`` alone, byte for byte the same every time (no clock, no
script), so ``alarmrx evidence verify`` renders it again and refuses a page that differs.
Times are shown in the account's time zone with their UTC offset, and in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

Json = Mapping[str, Any]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.late, td.invalid { background: #fdd; } td.within { background: #dfd; }
td.cancelled, td.false-alarm { background: #eee; }
.utc { color: #666; font-size: 0.85em; display: block; }
.incident { margin: 1.5em 0; }
.bar { width: 100%; max-width: 60em; height: 2.4em; display: block; }
ol.steps { list-style: none; padding-left: 0; }
ol.steps li { margin: 0.2em 0; }
.offset { display: inline-block; width: 8em; font-family: monospace; white-space: nowrap; }
ol.steps .utc { display: inline; margin-left: 0.6em; }
ol.steps br { display: none; }
code { font-size: 0.85em; word-break: break-all; }
"""

_STEPS = (
    ("verified", "Verified"),
    ("disarmed", "Disarmed"),
    ("keybox", "Key box opened"),
    ("guard_arrived", "Guard arrived"),
    ("cancelled", "Cancelled"),
    ("marked_false", "Marked false alarm"),
)
_EARLY = "Guard arrival stated before the alarm (not counted)"
_COLOURS = {
    "received": "#c00",
    "verified": "#e80",
    "disarmed": "#06c",
    "keybox": "#609",
    "alerted": "#888",
    "guard_arrived": "#080",
}
_COLOURS |= {"cancelled": "#555", "marked_false": "#555", "guard_early": "#f0f"}


def render(bundle: Json) -> str:
    """The whole page."""
    zone = str(bundle["parameters"]["timezone"])
    alarms: Sequence[Json] = bundle["alarms"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Alarm evidence: account {escape(str(bundle['account']))}</title>",
        f"<style>{STYLE}</style></head><body>",
        _header(bundle, zone),
        _table(alarms, zone),
        _timeline(alarms, zone),
        _proof(bundle, zone),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def local(text: str | None, zone: str) -> str:
    """``2025-03-03 22:14:05+01:00`` in the account's zone; ``—`` for none."""
    if not text:
        return "—"
    moment = datetime.fromisoformat(text).astimezone(ZoneInfo(zone))
    return moment.isoformat(sep=" ", timespec="seconds")


def _when(text: str | None, zone: str) -> str:
    if not text:
        return "—"
    utc = datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f'<time datetime="{escape(text)}">{local(text, zone)}</time><span class="utc">{utc}</span>'
    )


def duration(seconds: float | None) -> str:
    """``12 min 05 s``; ``—`` for none."""
    if seconds is None:
        return "—"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    minutes, rest = divmod(round(seconds), 60)
    return f"{sign}{minutes} min {rest:02d} s"


def _header(bundle: Json, zone: str) -> str:
    params = bundle["parameters"]
    name = bundle.get("account_name")
    required = params.get("required_minutes")
    level = params.get("insurance_level")
    codes = ", ".join(params.get("keybox_codes") or ()) or "none"
    rows = [
        ("Account", f"{bundle['account']}" + (f" — {name}" if name else "")),
        ("Receiver", str(bundle.get("receiver_id"))),
        (
            "Period",
            f"{local(bundle['since'], zone)} to {local(bundle['until'], zone)} "
            f"({bundle['since']} to {bundle['until']})",
        ),
        ("Time zone", zone),
        ("Insurance level", "—" if level is None else str(level)),
        ("Required reaction", "none" if required is None else f"{required} min"),
        ("Key-box codes", codes),
        ("Follow-up", f"{params.get('follow_up_s')} s after each alarm"),
        ("Exported", f"{local(bundle['exported_at'], zone)} ({bundle['exported_at']})"),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return (
        f'<h1>Alarm evidence</h1>\n<table id="summary">{cells}</table>\n'
        f"<p>{len(bundle['alarms'])} alarm(s). Every record below is in "
        "<code>evidence.json</code> with its hash-chain proof; check it with "
        "<code>alarmrx evidence verify</code> (see README.txt).</p>"
    )


_COLUMNS = (
    "Record",
    "Alarm",
    "Zone / area",
    "Received at the centre",
    "Panel time",
    "Verified",
    "Disarmed",
    "Key box",
    "Alerted",
    "Guard arrived",
    "Response",
    "Required",
    "Cancelled / false",
    "Verdict",
)


def _table(alarms: Sequence[Json], zone: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in _COLUMNS)
    rows = "\n".join(_row(alarm, zone) for alarm in alarms)
    return (
        f'<h2>Alarms</h2>\n<table id="alarms"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def _mark(mark: Json | None, zone: str) -> str:
    if mark is None:
        return "—"
    detail = f"<br>{escape(str(mark['detail']))}" if mark.get("detail") else ""
    return f"{_when(mark['at'], zone)}{detail}"


def _row(alarm: Json, zone: str) -> str:
    what = escape(f"{alarm['code']} {alarm['description']}".strip())
    where = escape(f"{_dash(alarm['zone'])} / {_dash(alarm['area'])}")
    alerted = "<br>".join(_mark(m, zone) for m in alarm["alerted"]) or "—"
    verdict = escape(str(alarm["verdict"]))
    cells = [
        str(alarm["journal_seq"]),
        what,
        where,
        _when(alarm["received_at"], zone),
        escape(alarm["panel_time"] or "—"),
        _mark(alarm["verified"], zone),
        _mark(alarm["disarmed"], zone),
        _mark(alarm["keybox"], zone),
        alerted,
        _guard(alarm, zone),
        duration(alarm["response_s"]),
        duration(alarm["required_s"]),
        _outcome(alarm, zone),
    ]
    body = "".join(f"<td>{c}</td>" for c in cells)
    css = verdict.split(":")[0].replace(" ", "-")
    return f'<tr data-seq="{alarm["journal_seq"]}">{body}<td class="{css}">{verdict}</td></tr>'


def _guard(alarm: Json, zone: str) -> str:
    """The counted arrival, then any stated before the alarm, marked as not counted."""
    note = "<br>(before the alarm: not counted)"
    early = [_mark(m, zone) + note for m in alarm["guard_arrived_before_alarm"]]
    if alarm["guard_arrived"] is None and early:
        return "<br>".join(early)
    return "<br>".join([_mark(alarm["guard_arrived"], zone), *early])


def _outcome(alarm: Json, zone: str) -> str:
    """Whether the alarm was cancelled or marked false, and when."""
    labels = (("cancelled", "Cancelled"), ("marked_false", "False alarm"))
    found = [f"{label}: {_mark(alarm[key], zone)}" for key, label in labels if alarm[key]]
    return "<br>".join(found) or "—"


def _dash(value: object) -> str:
    return "—" if value is None else str(value)


def _steps(alarm: Json) -> list[tuple[str, str, Json]]:
    steps = [
        (
            "received",
            "Alarm received",
            {"at": alarm["received_at"], "journal_seq": alarm["journal_seq"]},
        )
    ]
    steps += [(key, label, alarm[key]) for key, label in _STEPS if alarm[key] is not None]
    steps += [("alerted", "Alerted", mark) for mark in alarm["alerted"]]
    steps += [("guard_early", _EARLY, mark) for mark in alarm["guard_arrived_before_alarm"]]
    return sorted(steps, key=lambda s: (str(s[2]["at"]), s[2]["journal_seq"]))


def _timeline(alarms: Sequence[Json], zone: str) -> str:
    items = "\n".join(_incident(alarm, zone) for alarm in alarms)
    return f'<h2>Timeline</h2>\n<section id="timeline">\n{items}\n</section>'


def _incident(alarm: Json, zone: str) -> str:
    steps = _steps(alarm)
    start = datetime.fromisoformat(alarm["received_at"])
    offsets = [(datetime.fromisoformat(s[2]["at"]) - start).total_seconds() for s in steps]
    span = max([*offsets, 1.0])
    dots = "".join(
        f'<circle cx="{2 + 96 * max(o, 0) / span:.2f}%" cy="50%" r="6" '
        f'fill="{_COLOURS[kind]}"><title>{escape(label)}</title></circle>'
        for (kind, label, _), o in zip(steps, offsets, strict=True)
    )
    bar = (
        f'<svg class="bar" role="img" aria-label="timeline of record {alarm["journal_seq"]}">'
        '<line x1="2%" y1="50%" x2="98%" y2="50%" stroke="#999" stroke-width="2"/>'
        f"{dots}</svg>"
    )
    lines = "\n".join(
        f'<li data-kind="{kind}"><span class="offset">{_offset(o)}</span> '
        f"{escape(label)}: {_mark(mark, zone)}</li>"
        for (kind, label, mark), o in zip(steps, offsets, strict=True)
    )
    title = escape(f"Record {alarm['journal_seq']}: {alarm['code']} {alarm['description']}")
    return (
        f'<article class="incident" data-seq="{alarm["journal_seq"]}"><h3>{title}</h3>\n'
        f'{bar}\n<ol class="steps">\n{lines}\n</ol></article>'
    )


def _anchor(anchor: Json, zone: str) -> str:
    """One anchor: its head (one chain), or the head of each chain it names."""
    if "heads" not in anchor:
        return (
            f"<li>record {anchor['journal_seq']}: head {anchor['head_seq']} "
            f"<code>{escape(anchor['head_hash'])}</code> at {local(anchor['at'], zone)}</li>"
        )
    heads = ", ".join(
        f"chain {escape(str(h['chain']))} head {h['head_seq']} "
        f"<code>{escape(h['head_hash'])}</code>"
        for h in anchor["heads"] or ()
    )
    return (
        f"<li>record {anchor['journal_seq']} (chain {escape(str(anchor['chain']))} seq "
        f"{anchor['chain_seq']}): {heads} at {local(anchor['at'], zone)}</li>"
    )


def _offset(seconds: float) -> str:
    """``+12 min 05 s`` from the alarm's receipt; ``-0 min 25 s`` before it."""
    return duration(seconds) if seconds < 0 else f"+{duration(seconds)}"


def _proof(bundle: Json, zone: str) -> str:
    anchors = "\n".join(_anchor(a, zone) for a in bundle["anchors"]) or "<li>none</li>"
    return (
        f"<h2>Proof</h2>\n<p>{len(bundle['records'])} journal records, with the hash "
        "chain from each record used above up to the first anchor after it.</p>\n"
        f'<ul id="anchors">\n{anchors}\n</ul>'
    )
