"""The demo starts with a day of usage behind it: its simulators' clocks start behind, and
`flask demo --usage-history-hours` samples that time before berth serves, so that
recommendations and right-sizing answer from the first minute."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from flask import Flask

from ledger import demo
from simulator import Simulator, serve
from simulator.demo import populate


def test_the_demo_samples_its_history_and_brings_the_clock_to_now(
    app: Flask, viewer: Any, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the demo runs on its embedded default, SQLite")
    behind = 2 * 3600.0
    sim = Simulator(agents=6, seed=3, now=lambda: time.time() - behind)
    populate(sim, ["/demo"], seed=3)
    with serve(sim) as server:
        monkeypatch.setattr(demo, "DEMO", {"histo": (server.url, [("histo", "/demo", 0.0)])})
        ctx = app.extensions["berth"].context(actor="test")
        demo.load_demo(ctx)
        said = demo.usage_history(ctx, 2, every_minutes=5)
        assert "histo: 25 rounds" in said
        clock = requests.get(f"{server.url}/_sim/clock", timeout=5).json()["epoch"]
        assert abs(clock - time.time()) < 5  # Marathon's time is the wall clock's again
        recs = viewer.get("/api/v1/environments/histo/recommendations").get_json()
        measured = [a for a in recs["allocations"] if a["recommended"]]
        assert len(measured) == len(recs["allocations"]) > 0
        assert all(1.9 <= a["hours_observed"] <= 2.2 for a in measured)
        sized = viewer.get("/api/v1/clusters/histo/right-sizing").get_json()
        assert sized["measured"] == len(measured)
        # a second start keeps the usage it has: the clock is only brought to now
        assert demo.usage_history(ctx, 2, every_minutes=5) == ""
