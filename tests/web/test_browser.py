"""The capacity report in a real browser: berth served over HTTP, headless Chromium logs in
through the form and opens the report; every chart must render with its bars and figures.

The screenshot in docs/ is refreshed only with BERTH_UPDATE_SCREENSHOT=1, so that a test
run leaves the work tree as it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app, upgrade_database
from ledger.tokens import create_token
from simulator import serve
from tests.conftest import Api, new_sqlite_database
from tests.web.cdp import ROOT, Browser, ensure_chromium
from tests.web.dataset import SERVICES, load_shop, shop_simulator

SCREENSHOT = ROOT / "docs" / "capacity-report.png"


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_chromium()


@pytest.fixture
def berth(tmp_path: Path) -> Iterator[tuple[str, Flask, dict[str, str]]]:
    """berth on a free loopback port, on a SQLite file of its own, with the shop loaded."""
    url = new_sqlite_database(tmp_path)
    upgrade_database(url)
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    ctx = app.extensions["berth"].context()
    tokens = {role: create_token(ctx, f"browser-{role}", role) for role in ("viewer", "admin")}
    tokens["ops"] = create_token(ctx, "browser-ops", "ops")
    client = app.test_client()
    with serve(shop_simulator()) as sim:
        load_shop(app, Api(client, tokens["admin"]), Api(client, tokens["ops"]), sim.url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}", app, tokens
        finally:
            server.shutdown()
            thread.join(timeout=10)
            app.extensions["berth"].engine.dispose()


CHARTS = """
[...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const visible = el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  return {
    id: svg.id,
    title: svg.querySelector('title').textContent,
    labelled: svg.getAttribute('role') === 'img' && !!svg.getAttribute('aria-labelledby'),
    width: box.width,
    height: box.height,
    bars: svg.querySelectorAll('g.bar').length,
    drawn: [...svg.querySelectorAll('g.bar')].filter(g =>
      [...g.querySelectorAll('rect')].some(visible)).length,
    labels: [...svg.querySelectorAll('g.bar > text:first-child')].map(t => t.textContent),
    figures: [...svg.querySelectorAll('text.figure')].filter(visible).map(t => t.textContent),
    points: [...svg.querySelectorAll('circle.point')].filter(visible).length,
    overlays: [...svg.querySelectorAll('rect.overlay')].filter(visible).length,
    line: [...svg.querySelectorAll('polyline.line')].filter(visible).length,
  };
})
"""


def test_the_capacity_report_renders_in_chromium(
    chromium: str, berth: tuple[str, Flask, dict[str, str]], tmp_path: Path
) -> None:
    base, app, tokens = berth
    report = app.test_client().get(
        "/api/v1/reports/capacity?cluster=shop",
        headers={"Authorization": f"Bearer {tokens['viewer']}"},
    )
    (section,) = report.get_json()["clusters"]
    agents = [a["hostname"] for a in section["agents"]]
    teams = [t["team"] for t in section["teams"]]
    browser = Browser(chromium, width=1500, height=1000)
    try:
        # not logged in: the report sends the browser to the login form
        browser.goto(f"{base}/reports/capacity?cluster=shop")
        browser.wait_for("location.pathname === '/login'")
        browser.type_into("input[name=token]", tokens["viewer"])
        browser.click("form.login button")
        browser.wait_for(
            "location.pathname === '/reports/capacity' && document.querySelector('svg.chart')"
        )
        assert browser.evaluate("location.search") == "?cluster=shop"
        # the local stylesheet applied (no CDN, and the CSP lets it through)
        assert (
            browser.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
            == "rgb(31, 59, 77)"
        )
        charts = {c["id"]: c for c in browser.evaluate(CHARTS)}
        assert len(charts) == 8, list(charts)
        for chart in charts.values():
            assert chart["labelled"] and chart["title"], chart["id"]
            assert chart["width"] > 300 and chart["height"] > 30, chart
        for r in ("cpus", "mem"):
            per_agent = charts[f"agents-0-{r}"]
            assert per_agent["bars"] == per_agent["drawn"] == len(agents) == 4
            assert per_agent["labels"] == agents
            assert per_agent["overlays"] == len(agents)  # what Mesos says each one uses
            assert len(per_agent["figures"]) == len(agents)
            assert all(f.endswith("free") for f in per_agent["figures"])
            per_team = charts[f"teams-0-{r}"]
            assert per_team["bars"] == per_team["drawn"] == len(teams)
            assert per_team["labels"] == teams
            headroom = charts[f"headroom-0-{r}"]
            assert headroom["points"] == 30 and headroom["line"] == 1
            per_service = charts[f"services-0-{r}"]
            assert per_service["bars"] == per_service["drawn"] == SERVICES
            assert len(per_service["figures"]) == SERVICES
        # the figures under the charts: right-sizing and the CSV link
        assert browser.evaluate("document.querySelector('p.sizing').innerText").startswith(
            "Right-sizing: the allocations need"
        )
        assert browser.evaluate("document.querySelector('a.csv').getAttribute('href')") == (
            "/reports/capacity.csv?cluster=shop"
        )
        shot = tmp_path / "capacity-report.png"
        png = browser.screenshot(shot)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
        if os.environ.get("BERTH_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.parent.mkdir(exist_ok=True)
            SCREENSHOT.write_bytes(png)
    finally:
        browser.close()
