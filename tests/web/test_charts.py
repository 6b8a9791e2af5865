"""The SVG charts: well-formed, labelled for screen readers, names escaped, bars to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from web import charts

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & "team"'


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # raises on markup that is not well-formed


def test_stacked_bars_escape_names_and_scale_the_segments() -> None:
    rows = [
        (EVIL, [charts.Segment("used", "used", 2.0), charts.Segment("free", "free", 6.0)]),
        ("agent-02", [charts.Segment("used", "used", 1.0), charts.Segment("free", "free", 1.0)]),
    ]
    markup = charts.stacked_bars("c1", f"cpus of {EVIL}", rows, "cores")
    assert "<script>" not in markup
    svg = _parse(markup)
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title c1-desc"
    assert svg.find(f"{SVG}title").text == f"cpus of {EVIL}"
    bars = svg.findall(f".//{SVG}g[@class='bar']")
    assert [b.get("data-label") for b in bars] == [EVIL, "agent-02"]
    widths = [[float(r.get("width")) for r in b.findall(f"{SVG}rect")] for b in bars]
    # the widest row fills the span; the others are to the same scale
    assert widths[0][0] * 3 == pytest.approx(widths[0][1])
    assert sum(widths[1]) * 4 == pytest.approx(sum(widths[0]))
    assert [t.text for t in svg.findall(f".//{SVG}text[@class='figure']")] == [
        "6.00 cores free",
        "1.00 cores free",
    ]


def test_an_overlay_is_drawn_on_the_same_scale_but_not_stacked() -> None:
    rows = [("a", [charts.Segment("allocated", "allocated", 4.0)])]
    used = [charts.Segment("used", "used", 8.0)]
    svg = _parse(charts.stacked_bars("o", "t", rows, "cores", used))
    (segment,) = svg.findall(f".//{SVG}rect[@class='segment allocated']")
    (overlay,) = svg.findall(f".//{SVG}rect[@class='overlay used']")
    assert float(overlay.get("width")) == pytest.approx(2 * float(segment.get("width")))
    assert overlay.get("x") == segment.get("x")


def test_paired_bars_and_the_headroom_area() -> None:
    pairs = charts.paired_bars("p", "mem per service", [("a", 2048, 1024), ("b", 0, 0)], "MiB")
    svg = _parse(pairs)
    assert len(svg.findall(f".//{SVG}g[@class='bar']")) == 2
    assert "2,048 MiB / 1,024 MiB" in pairs
    days = [(f"2026-12-{d:02d}", 10.0 - d, 1.0 if d == 3 else 0.0) for d in range(1, 31)]
    area = _parse(charts.headroom_area("h", "free cpus", days, "cores"))
    assert len(area.findall(f".//{SVG}circle")) == 30
    assert len(area.findall(f".//{SVG}rect[@class='reserved']")) == 1
    assert area.find(f".//{SVG}polyline") is not None


def test_an_empty_chart_says_so() -> None:
    svg = _parse(charts.stacked_bars("e", "nothing", [], "cores"))
    assert "nothing to show" in "".join(svg.itertext())
