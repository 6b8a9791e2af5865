"""Charts as inline SVG, made on the server: numbers in, markup out.

No JavaScript and nothing fetched: the pages must show their charts on an ops network
without internet. Every text (agent, team and service names come from users) is escaped;
every chart is an `<svg role="img">` labelled by its own `<title>`, and every bar or
point carries a `<title>` with its figures, which browsers show on hover and screen
readers read out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 680
FIGURES = 150  # room for the figures right of the bars
CHAR = 6.8  # the width of one character at 12 px, near enough for sans-serif
BAR = 16
GAP = 6
TOP = 34  # room for the legend

COLOURS = {
    "used": "#1f6f8b",
    "allocated": "#7fb3c8",
    "reserved": "#e0a030",
    "held": "#b9b9b9",
    "free": "#e6efe6",
    "headroom": "#3c8d40",
}


@dataclass(frozen=True)
class Segment:
    name: str  # a key of COLOURS
    label: str  # in the legend and hover text
    value: float


def display_unit(unit: str, values: Sequence[float]) -> str:
    """The one unit a whole chart (or table) shows its memory in: GiB once its largest
    figure reaches 10 GiB, else MiB; values stay in MiB and `fmt` converts. One unit per
    chart, so that no axis or column reads "8,755 MiB" next to "22.2 GiB"."""
    if unit == "MiB" and max((abs(v) for v in values), default=0.0) >= 10240:
        return "GiB"
    return unit


def fmt(value: float, unit: str) -> str:
    """`value` (MiB for memory) in `unit` as chosen by display_unit."""
    if unit == "GiB":
        return f"{value / 1024:,.1f} GiB"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    return f"{value:,.2f}{(' ' + unit) if unit else ''}"


def _open(chart_id: str, title: str, height: int, desc: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="sans-serif" font-size="12">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )


def _label_width(labels: Sequence[str]) -> int:
    """Room for the longest name left of the bars, within reason; longer ones are cut."""
    return int(min(max((len(label) for label in labels), default=4) * CHAR + 12, WIDTH * 0.4))


def _row_start(label: str, y: int, label_width: int) -> str:
    return (
        f'<g class="bar" data-label="{escape(label)}">'
        f'<text x="{label_width - 6}" y="{y + BAR - 4}" text-anchor="end">{escape(label)}</text>'
    )


def _row_end(figure: str, y: int) -> str:
    return (
        f'<text class="figure" x="{WIDTH - FIGURES + 6}" y="{y + BAR - 4}">'
        f"{escape(figure)}</text></g>"
    )


def _legend(items: Sequence[tuple[str, str]], x: int) -> str:
    out = ['<g class="legend">']
    for name, label in items:
        out.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[name]}" '
            'stroke="#666" stroke-width="0.5"/>'
            f'<text x="{x + 16}" y="18">{escape(label)}</text>'
        )
        x += 22 + 7 * len(label)
    out.append("</g>")
    return "".join(out)


def _empty(chart_id: str, title: str, why: str) -> Markup:
    return Markup(
        _open(chart_id, title, 40, why)
        + f'<text x="10" y="24" class="empty">{escape(why)}</text></svg>'
    )


def stacked_bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[Segment]]],
    unit: str,
    overlay: Sequence[Segment] | None = None,
) -> Markup:
    """One horizontal bar per row, its segments stacked left to right (e.g. per agent:
    allocated, reserved, held, free), scaled to the largest row's total. `overlay`, one per
    row, is a thin bar along the bottom of each row on the same scale: a figure of
    another kind that is not a part of the stack (e.g. what Mesos says is used)."""
    if not rows:
        return _empty(chart_id, title, "nothing to show")
    top = max(sum(max(s.value, 0.0) for s in segments) for _, segments in rows)
    top = max([top, *(max(o.value, 0.0) for o in overlay or ())]) or 1.0
    unit = display_unit(unit, [top, *(s.value for _, segments in rows for s in segments)])
    left = _label_width([label for label, _ in rows])
    span = WIDTH - left - FIGURES
    height = TOP + len(rows) * (BAR + GAP) + 4
    names = [(s.name, s.label) for s in rows[0][1]]
    if overlay:
        names.append((overlay[0].name, overlay[0].label))
    out = [_open(chart_id, title, height, f"{len(rows)} bars, in {unit}"), _legend(names, left)]
    for i, (label, segments) in enumerate(rows):
        y = TOP + i * (BAR + GAP)
        out.append(_row_start(label, y, left))
        x = float(left)
        for s in [*segments, *([overlay[i]] if overlay else [])]:
            width = max(s.value, 0.0) / top * span
            hover = f"{label}: {s.label} {fmt(s.value, unit)}"
            thin = overlay is not None and s is overlay[i]
            out.append(
                f'<rect class="{"overlay" if thin else "segment"} {escape(s.name)}" '
                f'x="{left if thin else x:.2f}" y="{y + BAR - 4 if thin else y}" '
                f'width="{width:.2f}" height="{4 if thin else BAR}" fill="{COLOURS[s.name]}">'
                f"<title>{escape(hover)}</title></rect>"
            )
            x += 0 if thin else width
        total = sum(s.value for s in segments)
        free = next((s.value for s in segments if s.name == "free"), None)
        out.append(_row_end(fmt(total, unit) if free is None else f"{fmt(free, unit)} free", y))
    out.append("</svg>")
    return Markup("".join(out))


def paired_bars(
    chart_id: str,
    title: str,
    rows: Sequence[tuple[str, float, float]],
    unit: str,
    names: tuple[str, str] = ("allocated", "used"),
) -> Markup:
    """Two thin bars per row (e.g. per service: allocated above, used below)."""
    if not rows:
        return _empty(chart_id, title, "nothing to show")
    top = max(max(a, b) for _, a, b in rows) or 1.0
    unit = display_unit(unit, [v for _, a, b in rows for v in (a, b)])
    left = _label_width([label for label, _, _ in rows])
    span = WIDTH - left - FIGURES
    half = BAR // 2
    height = TOP + len(rows) * (BAR + GAP) + 4
    out = [
        _open(chart_id, title, height, f"{len(rows)} pairs of bars, in {unit}"),
        _legend([(n, n) for n in names], left),
    ]
    for i, (label, first, second) in enumerate(rows):
        y = TOP + i * (BAR + GAP)
        out.append(_row_start(label, y, left))
        for k, (name, value) in enumerate(zip(names, (first, second), strict=True)):
            hover = f"{label}: {name} {fmt(value, unit)}"
            out.append(
                f'<rect class="segment {escape(name)}" x="{left}" y="{y + k * half}" '
                f'width="{max(value, 0.0) / top * span:.2f}" height="{half}" '
                f'fill="{COLOURS[name]}"><title>{escape(hover)}</title></rect>'
            )
        out.append(_row_end(f"{fmt(first, unit)} / {fmt(second, unit)}", y))
    out.append("</svg>")
    return Markup("".join(out))


def headroom_area(
    chart_id: str,
    title: str,
    days: Sequence[tuple[str, float, float]],
    unit: str,
) -> Markup:
    """Free room per day as a filled line, with each day's reservations as bars below it;
    a dashed zero line shows where the room runs out."""
    if not days:
        return _empty(chart_id, title, "nothing to show")
    height, left, right, bottom = 220, 96, WIDTH - 20, 190
    values = [f for _, f, _ in days] + [r for _, _, r in days]
    unit = display_unit(unit, values)
    high = max(max(values), 0.0) or 1.0
    low = min(min(values), 0.0)
    step = (right - left) / max(len(days) - 1, 1)

    def y(v: float) -> float:
        return bottom - (v - low) / (high - low) * (bottom - TOP)

    out = [
        _open(chart_id, title, height, f"{len(days)} days, in {unit}"),
        _legend([("headroom", "free"), ("reserved", "reserved")], left),
        f'<line x1="{left}" y1="{y(0):.2f}" x2="{right}" y2="{y(0):.2f}" stroke="#900" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{left - 6}" y="{y(high) + 4:.2f}" text-anchor="end">'
        f"{escape(fmt(high, unit))}</text>",
        f'<text x="{left - 6}" y="{y(0) + 4:.2f}" text-anchor="end">0</text>',
    ]
    bar = max(step * 0.6, 2.0)
    for i, (day, _, reserved) in enumerate(days):
        if reserved > 0:
            x = left + i * step - bar / 2
            out.append(
                f'<rect class="reserved" x="{x:.2f}" y="{y(reserved):.2f}" width="{bar:.2f}" '
                f'height="{y(0) - y(reserved):.2f}" fill="{COLOURS["reserved"]}">'
                f"<title>{escape(f'{day}: reserved {fmt(reserved, unit)}')}</title></rect>"
            )
    points = [(left + i * step, y(free)) for i, (_, free, _) in enumerate(days)]
    line = " ".join(f"{px:.2f},{py:.2f}" for px, py in points)
    area = f"{left},{y(0):.2f} {line} {points[-1][0]:.2f},{y(0):.2f}"
    out.append(
        f'<polygon class="area" points="{area}" fill="{COLOURS["headroom"]}" '
        'fill-opacity="0.25"/>'
        f'<polyline class="line" points="{line}" fill="none" stroke="{COLOURS["headroom"]}" '
        'stroke-width="2"/>'
    )
    for (day, free, _), (px, py) in zip(days, points, strict=True):
        out.append(
            f'<circle class="point" cx="{px:.2f}" cy="{py:.2f}" r="3" '
            f'fill="{COLOURS["headroom"]}"><title>{escape(f"{day}: free {fmt(free, unit)}")}'
            "</title></circle>"
        )
    for i in range(0, len(days), 7):
        out.append(
            f'<text x="{left + i * step:.2f}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(days[i][0])}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def usage_over_time(
    chart_id: str,
    title: str,
    points: Sequence[tuple[str, float | None, float | None]],
    allocated: float,
    unit: str,
) -> Markup:
    """What an instance uses over time (mean and peak per point) against what it is
    allocated, a dashed line: the gap between them is the waste right-sizing finds. A
    point without a reading is a gap in the lines, not a zero."""
    if not any(mean is not None for _, mean, _ in points):
        return _empty(chart_id, title, "no usage sampled yet")
    height, left, right, bottom = 220, 96, WIDTH - 20, 190
    values = [allocated] + [v for _, m, p in points for v in (m, p) if v is not None]
    unit = display_unit(unit, values)
    high = max(values) or 1.0
    step = (right - left) / max(len(points) - 1, 1)

    def y(v: float) -> float:
        return bottom - v / high * (bottom - TOP)

    out = [
        _open(chart_id, title, height, f"{len(points)} points, in {unit}, per instance"),
        _legend([("used", "mean"), ("reserved", "peak"), ("allocated", "allocated")], left),
        f'<line class="allocated" x1="{left}" y1="{y(allocated):.2f}" x2="{right}" '
        f'y2="{y(allocated):.2f}" stroke="{COLOURS["allocated"]}" stroke-width="2" '
        f'stroke-dasharray="6 4"><title>{escape(f"allocated {fmt(allocated, unit)}")}'
        "</title></line>",
        f'<text x="{left - 6}" y="{y(high) + 4:.2f}" text-anchor="end">'
        f"{escape(fmt(high, unit))}</text>",
        f'<text x="{left - 6}" y="{bottom + 4}" text-anchor="end">0</text>',
    ]
    for which, colour in ((1, COLOURS["used"]), (2, COLOURS["reserved"])):
        runs: list[list[str]] = [[]]
        for i, point in enumerate(points):
            value = point[which]
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{left + i * step:.2f},{y(value):.2f}")
        for run in runs:
            if run:
                out.append(
                    f'<polyline class="line" points="{" ".join(run)}" fill="none" '
                    f'stroke="{colour}" stroke-width="{2 if which == 1 else 1}"/>'
                )
    for i in (0, len(points) - 1):
        out.append(
            f'<text x="{left + i * step:.2f}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(points[i][0])}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))
