"""The HTML review report: one file that reads the video, timeline and signature pictures from
beside it. Every piece of text from the evidence is escaped (:func:`html.escape`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Iterable

from firmware.office.export.remote_data import RemoteSession
from firmware.office.export.remote_report import render_remote
from firmware.office.export.session_data import NodeSpan, SessionData
from firmware.office.export.wallclock import ClockMap, sync_text
from firmware.evidence.verify.report import VerifyReport

NS_PER_S = 1_000_000_000

STYLE = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei",sans-serif;
margin:24px;color:#222;max-width:1640px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left;vertical-align:top;font-size:14px}th{background:#f2f2f2}
.ok{background:#e5f5e0;padding:8px}.bad{background:#fee0d2;padding:8px}
.warn{background:#fff3cd;padding:8px}code{font-size:13px}img.sig{max-width:400px;
border:1px solid #ccc;margin:4px}img.photo{max-width:320px;margin:4px}
a.seek{cursor:pointer;color:#2171b5}
"""
SEEK_SCRIPT = ("function seek(t){var v=document.getElementById('review');"
               "if(v){v.currentTime=t;v.play();v.scrollIntoView();}return false;}")


@dataclass
class ReportInputs:
    """What the report shows beyond the session's records. Paths are relative to the report."""

    session: SessionData
    nodes: list[NodeSpan]
    verify: VerifyReport | None
    verify_error: str | None
    video_name: str | None
    video_t0_ns: int | None
    video_facts: dict[str, Any]
    timeline_name: str | None
    signatures: list[tuple[str, str | None, str]] = field(default_factory=list)  # png, node, name
    photos: list[tuple[str, str | None]] = field(default_factory=list)           # jpg, node
    problems: list[str] = field(default_factory=list)
    generated: str = ""
    speech: str = ""        # the speech understanding section, already HTML (export.speech)
    spoken: str = ""        # the text spoken at each node, already HTML (export.spoken)
    remote: RemoteSession | None = None     # the remote parties (export.remote_data)


class _Times:
    def __init__(self, clock: ClockMap, t0_ns: int | None) -> None:
        self.clock, self.t0 = clock, t0_ns

    def at(self, t_ns: int | None) -> str:
        """Wall time, with a link that plays the review video from there."""
        if t_ns is None:
            return "-"
        text = escape(self.clock.format(t_ns, 3))
        if self.t0 is None:
            return text
        offset = (t_ns - self.t0) / NS_PER_S
        return (f'{text} <a class="seek" href="#" onclick="return seek({max(0.0, offset):.3f})">'
                f"{offset:+.3f} s</a>")


def _node_at(nodes: list[NodeSpan], t_ns: int) -> str:
    """The id of the node running at ``t_ns`` (its end included: NEXT ends a node)."""
    for node in nodes:
        if node.start_ns <= t_ns and (node.end_ns is None or t_ns <= node.end_ns):
            return node.id
    return "-"


def _duration(a: int | None, b: int | None) -> str:
    return "-" if a is None or b is None else f"{(b - a) / NS_PER_S:.3f} s"


def _table(headers: Iterable[str], rows: list[list[str]], empty: str) -> str:
    """Cells are already HTML (escaped by the caller); no header row if ``headers`` is empty."""
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    head = f"<tr>{head}</tr>" if head else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _facts(inp: ReportInputs, times: _Times) -> list[list[str]]:
    s = inp.session
    start, template = s.start_data, s.start_data.get("template") or {}
    if not isinstance(template, dict):
        template = {"id": template}
    end_rec = s.end
    start_ns = s.first_ns
    end_ns = s.last_ns
    end_clock = s.end_data.get("clock") if isinstance(s.end_data.get("clock"), dict) else None
    quality = s.end_data.get("quality") or {}
    rows = [
        ("Device", s.device_id), ("Session", s.session_id),
        ("Template", f"{template.get('id', '-')} version {template.get('version', '-')}"
                     + (f" — {template['title']}" if template.get("title") else "")),
        ("Template SHA-256", template.get("sha256", "-")),
        ("Mode", start.get("mode", "-")), ("Elder variant", start.get("elder", "-")),
        ("Application no.", start.get("application_no", "-")),
    ]
    out = [[escape(k), escape(str(v))] for k, v in rows]
    out.append(["Start", times.at(start_ns)])
    out.append(["End", times.at(end_ns) if end_rec else
                "<b>not closed</b> (no SESSION_END: recording in progress or cut off)"])
    out.append(["Duration", escape(_duration(start_ns, end_ns))])
    sync_start = sync_text(s.clock.point_at(start_ns))
    sync_end = (("NTP synced" if end_clock.get("synced") else "CLOCK NOT SYNCED")
                if end_clock else sync_text(s.clock.point_at(end_ns)))
    out.append(["Clock", escape(f"at start: {sync_start}; at end: {sync_end}; "
                                + ("every record synced" if s.clock.all_synced()
                                   else "some records NOT synced: wall times are estimates"))])
    if end_rec and end_rec.data.get("closed_by"):
        out.append(["Closed by", escape(f"{end_rec.data['closed_by']} (complete: "
                                        f"{end_rec.data.get('complete')})")])
    out.append(["Quality verdict", escape(str(quality.get("verdict", "-")))])
    stats = s.end_data.get("stats")
    if isinstance(stats, dict):
        out.append(["Recorder", escape(", ".join(f"{k}={v}" for k, v in sorted(stats.items())))])
    for key, value in inp.video_facts.items():
        out.append([escape(key), escape(str(value))])
    return out


def _verify_block(inp: ReportInputs) -> str:
    if inp.verify_error is not None:
        return f'<div class="bad"><b>Not verified:</b> {escape(inp.verify_error)}</div>'
    report = inp.verify
    if report is None:
        return '<div class="warn">Not verified.</div>'
    notes = "".join(f"<li>{escape(n.kind)}: {escape(n.message)}</li>" for n in report.notes)
    notes = f"<p>Notes (not faults):</p><ul>{notes}</ul>" if notes else ""
    if report.ok:
        return (f'<div class="ok"><b>Verified: INTACT.</b> {report.files_checked} files, '
                f"records {report.first_seq}..{report.head_seq}, head "
                f"<code>{escape(report.head_hash)}</code>{notes}</div>")
    items = "".join(f"<li>{escape(f.text())}</li>" for f in report.findings)
    return (f'<div class="bad"><b>NOT INTACT: {len(report.findings)} findings.</b> This copy '
            f"shows what the spool holds now; it may have been changed.<ul>{items}</ul>"
            f"{notes}</div>")


def render_report(inp: ReportInputs) -> str:
    """The report as one HTML document."""
    s = inp.session
    times = _Times(s.clock, inp.video_t0_ns)
    sig_by_node: dict[str | None, list[str]] = {}
    for png, node, _ in inp.signatures:
        sig_by_node.setdefault(node, []).append(png)
    node_rows = []
    for i, n in enumerate(inp.nodes, start=1):
        evidence = [escape(e.rsplit("/", 1)[-1]) for e in n.evidence]
        evidence += [f'<a href="{escape(p)}">{escape(p)}</a>' for p in sig_by_node.get(n.id, [])]
        node_rows.append([str(i), escape(n.id), escape(n.title), escape(n.kind),
                          times.at(n.start_ns), times.at(n.end_ns),
                          escape(_duration(n.start_ns, n.end_ns)), "<br>".join(evidence)])
    refusals = [[times.at(m.at_ns), escape(m.node or _node_at(inp.nodes, m.at_ns)),
                 escape(m.label)] for m in s.marks if m.kind == "refusal"]
    presses = [[times.at(m.at_ns), escape(m.node or _node_at(inp.nodes, m.at_ns)),
                escape(m.label)] for m in s.marks if m.kind == "press"]
    prompts = [[times.at(m.at_ns), times.at(m.end_ns), escape(m.node or "-"),
                escape("replay" if m.label == "replay" else "first")]
               for m in s.marks if m.kind == "prompt"]
    gaps = [[escape(g.kind), escape(g.stream or "-"), times.at(g.start_ns), times.at(g.end_ns),
             escape(_duration(g.start_ns, g.end_ns)), escape(g.detail), str(g.seq)]
            for g in s.gaps]
    findings = [[escape(f.check), escape(f.node or "-"), times.at(f.start_ns),
                 times.at(f.end_ns), escape(f.detail)] for f in s.findings]
    parts = [
        "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>双录 review {escape(s.session_id)}</title><style>{STYLE}</style>",
        f"<script>{SEEK_SCRIPT}</script></head><body>",
        f"<h1>双录 review copy — session {escape(s.session_id)}</h1>",
        "<p>A review copy made from the sealed evidence; the evidence itself is the spool "
        "(check it with <code>dualrec verify</code>). Times are wall-clock UTC+08:00, "
        "reconstructed from the records; +N s is the position in the video.</p>",
        _verify_block(inp),
    ]
    if inp.problems:
        parts.append('<div class="warn"><b>Export problems:</b><ul>'
                     + "".join(f"<li>{escape(p)}</li>" for p in inp.problems) + "</ul></div>")
    parts += ["<h2>Session</h2>", _table((), _facts(inp, times), "")]
    if inp.video_name:
        parts.append(f'<h2>Video</h2><video id="review" controls preload="metadata" '
                     f'width="960" src="{escape(inp.video_name)}"></video>')
    if inp.timeline_name:
        parts.append(f'<h2>Timeline</h2><img id="timeline" src="{escape(inp.timeline_name)}" '
                     'alt="session timeline" style="max-width:100%">')
    parts += [
        "<h2>Nodes</h2>", _table(("#", "id", "title", "kind", "start", "end", "duration",
                                  "evidence"), node_rows, "No nodes on the record."),
        "<h2>Quality findings</h2>",
        _table(("check", "node", "start", "end", "detail"), findings,
               "No findings." if s.end else "No SESSION_END: the quality checks did not run."),
        inp.speech,
        render_remote(inp.remote, times.at),
        "<h2>Refusals (NEXT refused)</h2>",
        _table(("time", "node", "reason"), refusals, "No refusals."),
        "<h2>Gaps</h2>",
        _table(("kind", "stream", "start", "end", "duration", "detail", "record"), gaps,
               "No gaps: nothing was lost."),
        "<h2>Button presses</h2>", _table(("time", "node", "button"), presses, "No presses."),
        "<h2>Prompts played</h2>", _table(("start", "end", "node", "play"), prompts,
                                          "No prompts on the record."),
        inp.spoken,
        "<h2>Signatures</h2>",
    ]
    if inp.signatures:
        parts += [f'<figure><img class="sig" src="{escape(png)}" alt="{escape(name)}">'
                  f"<figcaption>{escape(name)} (node {escape(node or '-')})</figcaption></figure>"
                  for png, node, name in inp.signatures]
    else:
        parts.append("<p>No signatures sealed.</p>")
    if inp.photos:
        parts.append("<h2>Photos</h2>")
        parts += [f'<figure><img class="photo" src="{escape(jpg)}" alt="{escape(jpg)}">'
                  f"<figcaption>{escape(jpg)} (node {escape(node or '-')})</figcaption></figure>"
                  for jpg, node in inp.photos]
    parts.append(f"<p><small>{escape(inp.generated)}</small></p></body></html>")
    return "\n".join(parts) + "\n"
