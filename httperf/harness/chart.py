"""The charts: one small SVG per question a chapter asks (scenarios.QUESTIONS), hand-written.

Each is 700 pixels wide, the width of the book's text column, so it is drawn at its own size:
horizontal bars, one per server, the server's name at the left in 14 px type, the value written
at the end of each bar, nginx with one worker as a dashed line at 1.00x, and the stage of the
chapter that asks the question in its own colour. A server that cannot do the scenario has no
bar; the chart says so below the bars (n/a, not zero).
"""

from __future__ import annotations

import html

from .report import RunRecord, chart_file, cpu_us_per_request
from .results import Cell, fmt
from .scenarios import BASELINE, QUESTIONS, Question, Scenario

WIDTH = 700
NAME_X = 104  # right edge of the server names
BAR_X = 112  # where the bars start (0x)
LABEL_ROOM = 190  # right of the longest bar: its value label
ROW = 26  # pixels per server
BAR_H = 17
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

HIGHLIGHT = "#d9480f"  # the chapter's stage
STAGE = "#7fa7d4"  # the other stages
NGINX = "#3a3a3a"  # the baseline
PEER = "#a9a9a9"  # the other reference servers

# What each metric draws: (what the bar is, better when longer?) -- the unit comes from the
# scenario. "cpu" is for paced scenarios, where the rate is the client's and says nothing.
METRICS = {
    "ratio": ("ratio to nginx (1 worker)", True),
    "cpu": ("server CPU per request, ratio to nginx (1 worker)", False),
    "value": ("ratio to nginx (1 worker)", False),
}


def pick(question: Question, scenarios: list[Scenario]) -> list[Scenario]:
    """The run's scenarios for each of the question's key prefixes (the last one that
    matches: the highest rate of scenario 1)."""
    chosen = []
    for prefix in question.scenarios:
        matches = [sc for sc in scenarios if sc.key.startswith(prefix)]
        if matches:
            chosen.append(matches[-1])
    return chosen


def bar_value(metric: str, sc: Scenario, cells: dict, name: str) -> tuple[float, str] | None:
    """(ratio to nginx, the absolute number as text) for one server, or None."""
    c, base = cells.get((sc.key, name)), cells.get((sc.key, BASELINE))
    if metric == "cpu":
        us, base_us = cpu_us_per_request(c), cpu_us_per_request(base)
        if us is None or not base_us:
            return None
        return us / base_us, f"{us:,.1f} µs/req"
    if not c or c.status != "ok" or not base or base.status != "ok" or not base.value:
        return None
    return c.value / base.value, f"{fmt(c.value)} {sc.unit}"


def nice_max(v: float) -> float:
    """The axis' end: a round number a little above the longest bar."""
    for m in (1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 50, 100):
        if v <= m * 0.98:
            return m
    return v * 1.1


def ticks(top: float) -> list[float]:
    step = 0.25 if top <= 1.5 else 0.5 if top <= 3 else 1 if top <= 6 else 2 if top <= 12 else 5
    out, t = [], 0.0
    while t <= top + 1e-9:
        out.append(round(t, 2))
        t += step
    return out


def wrap(text: str, width: int = 100) -> list[str]:
    """Lines of at most `width` characters (12 px type: about 6.5 px a character)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([line] if line else [])


def chart_svg(question: Question, run: RunRecord, cells: dict[tuple[str, str], Cell]) -> str | None:
    """One question's chart, or None when the run has nothing to draw for it."""
    scs = pick(question, run.scenarios)
    names = run.names()
    what, longer_better = METRICS[question.metric]
    groups = []  # (scenario, [(name, ratio, text) or (name, None, "FAIL")])
    absent: dict[str, str] = {}  # name -> why it has no bar
    for sc in scs:
        rows = []
        for n in names:
            c = cells.get((sc.key, n))
            got = bar_value(question.metric, sc, cells, n)
            if got:
                rows.append((n, got[0], got[1]))
            elif c and c.status == "fail":
                rows.append((n, None, "FAIL"))
            elif c and c.status == "n/a":
                absent.setdefault(n, c.note or "n/a")
            elif n != BASELINE:
                absent.setdefault(n, "not measured")
        # nginx's own bar alone (every other server n/a) would answer nothing: no chart.
        if any(r[1] is not None and r[0] != BASELINE for r in rows):
            groups.append((sc, rows))
    if not groups:
        return None

    top = nice_max(max(r[1] for _, rows in groups for r in rows if r[1] is not None))
    plot_w = WIDTH - BAR_X - LABEL_ROOM

    def x_of(v: float) -> float:
        return BAR_X + v / top * plot_w

    esc = html.escape
    what_ran = (groups[0][0].title if len(groups) == 1 else
                f"scenario {groups[0][0].group}: " + ", ".join(sc.label for sc, _ in groups))
    sub = f"{what_ran} · {what} · {'longer' if longer_better else 'shorter'} is better"
    if question.metric == "cpu":
        sub = (f"{groups[0][0].title}: every server keeps up with the client's rate, so the rate "
               f"says nothing. Bars: {what}; shorter is better.")
    sub_lines = wrap(sub)
    by_reason: dict[str, list[str]] = {}  # "no TLS": stage01, ..., stage05 (said once)
    for n, why in absent.items():
        by_reason.setdefault(why, []).append(n)
    notes = [f"{', '.join(ns)} ({why})" for why, ns in by_reason.items()]
    note_lines = wrap("No bar (n/a): " + "; ".join(notes) + ".") if notes else []
    head_h = 34 + 16 * len(sub_lines) + 26
    rows_h = sum(ROW * len(rows) + (22 if len(groups) > 1 else 0) for _, rows in groups)
    foot_h = 30 + 16 * len(note_lines) + 20
    height = head_h + rows_h + foot_h

    S = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
         f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" role="img" '
         f'aria-label="{esc(question.title)}">',
         f'<title>{esc(question.title)}</title>',
         '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="12" y="26" font-size="18" font-weight="bold">{esc(question.title)}</text>']
    for i, line in enumerate(sub_lines):
        S.append(f'<text x="12" y="{48 + 16 * i}" font-size="12.5" fill="#444">{esc(line)}</text>')

    y = head_h
    plot_top = y - 6
    under = len(S)  # the axis and nginx's line go here, under the bars, once their length is known
    for sc, rows in groups:
        if len(groups) > 1:
            S.append(f'<text x="{BAR_X + 4}" y="{y + 14}" font-size="13" font-weight="bold" '
                     f'fill="#222" stroke="white" stroke-width="4" paint-order="stroke">'
                     f'{esc(sc.label)}</text>')
            y += 22
        for n, r, text in rows:
            mine = n == question.highlight
            color = (HIGHLIGHT if mine else NGINX if n == BASELINE
                     else PEER if not n.startswith("stage") else STAGE)
            weight = ' font-weight="bold"' if mine or n == BASELINE else ""
            cy = y + ROW / 2
            S.append(f'<text x="{NAME_X}" y="{cy + 5:.1f}" font-size="14" text-anchor="end"'
                     f'{weight} fill="{HIGHLIGHT if mine else "#111"}">{esc(n)}</text>')
            if r is None:
                S.append(f'<text x="{BAR_X + 4}" y="{cy + 5:.1f}" font-size="13" '
                         f'font-weight="bold" fill="#c00">FAIL</text>')
            else:
                w = max(1.5, x_of(r) - BAR_X)
                S.append(f'<rect x="{BAR_X}" y="{cy - BAR_H / 2:.1f}" width="{w:.1f}" '
                         f'height="{BAR_H}" fill="{color}"><title>{esc(n)}: {r:.2f}x nginx, '
                         f'{esc(text)}</title></rect>')
                # A white halo keeps the label readable where nginx's line crosses it.
                S.append(f'<text x="{BAR_X + w + 6:.1f}" y="{cy + 5:.1f}" font-size="13"{weight} '
                         'stroke="white" stroke-width="4" paint-order="stroke">'
                         f'{r:.2f}x <tspan fill="#555" font-weight="normal" font-size="12">'
                         f'{esc(text)}</tspan></text>')
            y += ROW
    plot_bottom = y + 2
    # The axis, and nginx's line across every row: the 1.00x every ratio is measured from.
    axis = [f'<line x1="{BAR_X}" x2="{BAR_X}" y1="{plot_top}" y2="{plot_bottom}" stroke="#888"/>']
    for t in ticks(top):
        tx = x_of(t)
        axis.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{plot_top}" y2="{plot_bottom + 5}" '
                    f'stroke="#ececec"/>')
        S.append(f'<text x="{tx:.1f}" y="{plot_bottom + 18}" font-size="11" text-anchor="middle" '
                 f'fill="#555">{t:g}x</text>')
    x1 = x_of(1.0)
    axis.append(f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{plot_top - 4}" y2="{plot_bottom}" '
                f'stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/>')
    axis.append(f'<text x="{x1 + 4:.1f}" y="{plot_top + 4}" font-size="11" fill="#000">nginx = '
                f'1.00x</text>')
    S[under:under] = axis
    y = plot_bottom + 36
    for i, line in enumerate(note_lines):
        S.append(f'<text x="12" y="{y + 16 * i}" font-size="12" fill="#555">{esc(line)}</text>')
    S.append("</svg>")
    return "\n".join(S) + "\n"


def draw_all(run: RunRecord) -> list[tuple[str, str, str]]:
    """Every question's chart for this run: (file name, question, SVG text)."""
    cells = run.cells()
    out = []
    for q in QUESTIONS:
        svg = chart_svg(q, run, cells)
        if svg:
            out.append((chart_file(q.slug), q.title, svg))
    return out
