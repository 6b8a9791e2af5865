"""GET /api/v1/reports/capacity: figures that agree with the capacity answers, a stable CSV."""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from flask import Flask

from simulator import serve
from tests import factories as f
from tests.integration.conftest import dead_url  # noqa: F401  (a fixture)
from tests.web.conftest import login
from tests.web.dataset import GROWN, load_shop, shop_simulator

URL = "/api/v1/reports/capacity"


def test_report_figures_agree_with_the_capacity_answers(viewer: Any, shop: Any) -> None:
    for scope, capacity_url in (
        ("cluster=shop", "/api/v1/clusters/shop/capacity"),
        ("environment=production", "/api/v1/environments/production/capacity"),
    ):
        report = viewer.get(f"{URL}?{scope}")
        assert report.status_code == 200, report.get_json()
        (section,) = report.get_json()["clusters"]
        capacity = viewer.get(capacity_url).get_json()
        for part in ("totals", "allocated", "used", "free"):
            for r in ("cpus", "mem"):
                assert section[part][r] == pytest.approx(capacity[part][r]), (scope, part, r)
        assert section["reserved"]["cpus"] == pytest.approx(capacity["reserved"]["now"]["cpus"])
        agents = {a["hostname"]: a for a in capacity["agents"] if a["active"]}
        assert [a["hostname"] for a in section["agents"]] == list(agents)
        for line in section["agents"]:
            for r in ("cpus", "mem"):
                assert line["capacity"][r] == pytest.approx(agents[line["hostname"]]["capacity"][r])
                assert line["free"][r] == pytest.approx(agents[line["hostname"]]["free"][r])
                assert line["used"][r] == pytest.approx(agents[line["hostname"]]["used"][r])
                parts = sum(line[p][r] for p in ("allocated", "reserved", "held", "free"))
                assert parts == pytest.approx(line["capacity"][r])
        # everything fits, so the scope's allocations are all on some agent
        for r in ("cpus", "mem"):
            on_agents = sum(a["allocated"][r] for a in section["agents"])
            assert on_agents == pytest.approx(section["allocated"][r])
            by_team = sum(t[r] for t in section["teams"])
            assert by_team == pytest.approx(section["allocated"][r])
        # day 0 of the headroom is today's free room; the reservation counts from day 3
        days = section["headroom"]
        assert len(days) == 30
        assert days[0]["free"] == {r: pytest.approx(section["free"][r]) for r in ("cpus", "mem")}
        assert days[1]["reserved"]["mem"] == 0
        assert days[3]["reserved"]["mem"] == pytest.approx(4 * (2048 + 32))
        assert days[3]["free"]["mem"] == pytest.approx(section["free"]["mem"] - 4 * 2080)
        assert days[6]["reserved"]["mem"] == 0


def test_allocated_against_used_right_sizing_and_teams(viewer: Any, shop: Any) -> None:
    report = viewer.get(f"{URL}?environment=production").get_json()
    (section,) = report["clusters"]
    lines = {s["service"]: s for s in section["services"]}
    assert len(lines) == 16
    grown, before = lines[GROWN], shop["before"]
    n = before["instances"]
    assert grown["running"] == n
    assert grown["allocated"]["mem"] == pytest.approx(n * (2 * before["mem"] + 32))
    assert grown["used"]["mem"] == pytest.approx(n * (before["mem"] + 32))
    assert grown["right_sized"]["mem"] == pytest.approx(grown["used"]["mem"])
    others = [s for s in lines.values() if s["service"] != GROWN]
    assert all(s["allocated"] == s["used"] for s in others if s["running"] == s["instances"])
    sizing = section["right_sizing"]
    assert sizing["agents_allocated"] >= sizing["agents_right_sized"] >= 1
    assert sizing["agents_freed"] == sizing["agents_allocated"] - sizing["agents_right_sized"]
    assert 1 <= sizing["lower_bound_right_sized"] <= sizing["lower_bound_allocated"]
    assert sizing["lower_bound_allocated"] <= sizing["agents_allocated"]

    # a team's report holds only its services
    everyone = viewer.get(f"{URL}?cluster=shop").get_json()["clusters"][0]
    team = everyone["services"][0]["team"]
    report = viewer.get(f"{URL}?team={team}").get_json()
    (section,) = report["clusters"]
    assert {s["team"] for s in section["services"]} == {team}
    assert [t["team"] for t in section["teams"]] == [team]
    mine = [s for s in everyone["services"] if s["team"] == team]
    assert len(section["services"]) == len(mine)
    assert section["allocated"]["cpus"] == pytest.approx(sum(s["allocated"]["cpus"] for s in mine))


@pytest.mark.parametrize(
    "query, status",
    [
        ("", 422),
        ("?cluster=shop&environment=production", 422),
        ("?cluster=shop&format=xml", 422),
        ("?cluster=nowhere", 404),
        ("?environment=nowhere", 404),
        ("?team=nobody", 404),
        ("?cluster=shop&colour=red", 422),
        ("?team=a%00b", 422),
        ("?cluster=Bad%20Name!", 422),
        ("?environment=Bad%20Name!", 422),
        ("?team=Bad%20Name!", 422),
        ("?cluster=", 422),
    ],
)
def test_a_scope_must_be_one_known_name(viewer: Any, query: str, status: int) -> None:
    response = viewer.get(URL + query)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("field", ["cluster", "environment", "team"])
def test_a_malformed_name_is_422_naming_the_field_as_elsewhere(
    viewer: Any, shop: Any, field: str
) -> None:
    """Like the other endpoints' query names: the field and the rule, not a 404 for a typo."""
    response = viewer.get(f"{URL}?{field}=Bad%20Name!")
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert list(problem["errors"]) == [field]
    assert problem["detail"].startswith(f"{field}: must be ")
    # the same words as the reservations list gives for the same mistake
    if field != "team":
        elsewhere = viewer.get(f"/api/v1/reservations?{field}=Bad%20Name!").get_json()
        assert problem["errors"] == elsewhere["errors"]


def test_a_team_is_named_as_services_name_it(viewer: Any, ops: Any, shop: Any) -> None:
    """Teams are not DNS labels: 'Web_Shop.EU' is a team a service may have."""
    assert ops.get(f"/api/v1/services/{GROWN}").get_json()["team"] != "Web_Shop.EU"
    moved = ops.patch(f"/api/v1/services/{GROWN}", json={"team": "Web_Shop.EU"})
    assert moved.status_code == 200, moved.get_json()
    report = viewer.get(f"{URL}?team=Web_Shop.EU")
    assert report.status_code == 200, report.get_json()
    assert [s["service"] for s in report.get_json()["clusters"][0]["services"]] == [GROWN]


def test_an_unknown_parameter_is_422_naming_it(viewer: Any) -> None:
    response = viewer.get(f"{URL}?cluster=shop&colour=red")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert list(response.get_json()["errors"]) == ["colour"]


def test_reports_need_a_token(anonymous: Any) -> None:
    assert anonymous.get(f"{URL}?cluster=shop").status_code == 401


HEADER = (
    "scope,cluster,line,name,environment,team,instances,running,"
    "cpus_capacity,cpus_allocated,cpus_reserved,cpus_held,cpus_used,cpus_free,"
    "mem_capacity,mem_allocated,mem_reserved,mem_held,mem_used,mem_free"
)


USAGE_HEADER = (
    "cpus_observed_p90,mem_observed_peak,cpus_recommended,mem_recommended,"
    "cpus_wasted,mem_wasted,confidence"
)


def test_the_csv_has_its_documented_columns(viewer: Any, shop: Any) -> None:
    response = viewer.get(f"{URL}?cluster=shop&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="capacity-cluster-shop.csv"'
    )
    text = response.get_data(as_text=True)
    header = text.splitlines()[0]
    # scripts read these by position: never reorder; usage columns came at the end
    assert header.startswith(HEADER + ",")
    assert header.removeprefix(HEADER + ",") == USAGE_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    json_report = viewer.get(f"{URL}?cluster=shop").get_json()["clusters"][0]
    agents = [r for r in rows if r["line"] == "agent"]
    services = [r for r in rows if r["line"] == "service"]
    assert len(agents) == len(json_report["agents"]) == 4
    assert len(services) == len(json_report["services"]) == 16
    assert {r["scope"] for r in rows} == {"cluster=shop"}
    first = json_report["agents"][0]
    assert float(agents[0]["mem_free"]) == pytest.approx(first["free"]["mem"])
    assert agents[0]["name"] == first["hostname"]
    grown = next(r for r in services if r["name"] == GROWN)
    assert grown["environment"] == "production" and grown["cpus_capacity"] == ""
    # the Accept header works as well as format=csv, and the OpenAPI text names the columns
    by_accept = viewer.get(f"{URL}?cluster=shop", headers={"Accept": "text/csv"})
    assert by_accept.mimetype == "text/csv"
    assert by_accept.get_data(as_text=True).splitlines()[0] == HEADER + "," + USAGE_HEADER
    spec = viewer.get("/api/v1/openapi.json").get_json()
    described = str(spec["paths"]["/api/v1/reports/capacity"]["get"])
    assert all(column in described for column in (HEADER + "," + USAGE_HEADER).split(","))


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    """Names reach the ledger from Marathon labels too; a cell must never become a formula."""
    from ledger.reports import report_csv

    figures = {"cpus": 1.0, "mem": 64.0}
    report = {
        "scope": {"kind": "team", "name": "=cmd|' /C calc'!A0"},
        "clusters": [
            {
                "cluster": "east",
                "agents": [],
                "services": [
                    {
                        "service": "svc",
                        "environment": "test",
                        "team": "@SUM(1+1)",
                        "instances": 1,
                        "running": 1,
                        "allocated": figures,
                        "used": figures,
                    }
                ],
            }
        ],
    }
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert rows[0]["team"] == "'@SUM(1+1)"
    assert rows[0]["scope"] == "team==cmd|' /C calc'!A0"  # starts with a letter: as it is


# --- reports while the cluster's Mesos master fails -------------------------------------


@pytest.fixture
def shop_server(app: Flask, admin: Any, ops: Any) -> Iterator[Any]:
    """The shop, and the simulator serving it, whose faults a test sets over HTTP."""
    with serve(shop_simulator()) as server:
        load_shop(app, admin, ops, server.url)
        yield server


@pytest.fixture
def no_snapshot_is_fresh(app: Flask) -> Iterator[None]:
    """Every report must read the cluster first (the age allowed is 0), with short timeouts."""
    berth = app.extensions["berth"]
    original = berth.settings
    berth.settings = replace(original, snapshot_max_age=timedelta(0), cluster_timeout=(0.5, 0.5))
    yield
    berth.settings = original


def _fault(server: Any, **fault: Any) -> None:
    answer = requests.post(f"{server.url}/_sim/faults", json=fault, timeout=5)
    assert answer.status_code == 201, answer.text


def _clear(server: Any) -> None:
    assert requests.delete(f"{server.url}/_sim/faults", timeout=5).status_code == 204


def _snapshot(viewer: Any, cluster: str = "shop") -> tuple[int, str]:
    snap = viewer.get(f"/api/v1/clusters/{cluster}/snapshot").get_json()
    return snap["id"], snap["confirmed_at"]


def _is_503_problem(response: Any, *words: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    retry_after = response.headers.get("Retry-After", "")
    assert retry_after.isdigit() and int(retry_after) > 0, f"Retry-After: {retry_after!r}"
    detail = response.get_json()["detail"]
    assert all(w in detail for w in words), detail


MESOS_FAULTS = [
    pytest.param({"kind": "drop", "path_prefix": "/master"}, id="mesos-drops"),
    pytest.param({"kind": "status", "path_prefix": "/master", "status": 500}, id="mesos-500"),
]


@pytest.mark.parametrize("fault", MESOS_FAULTS)
def test_a_report_that_cannot_read_mesos_is_503_and_keeps_nothing(
    app: Flask,
    viewer: Any,
    tokens: dict[str, str],
    shop_server: Any,
    no_snapshot_is_fresh: None,
    fault: dict[str, Any],
) -> None:
    """Older than allowed and Mesos failing: no figures from a snapshot too old to trust, a
    503 saying which cluster and how old, and no snapshot moved or stored."""
    before, snapshot = f.rows(app), _snapshot(viewer)
    _fault(shop_server, **fault)
    words = ("cluster 'shop' cannot be read", "s old, older than the 0 s allowed")
    _is_503_problem(viewer.get(f"{URL}?cluster=shop"), *words)
    _is_503_problem(viewer.get(f"{URL}?environment=production&format=csv"), *words)
    _is_503_problem(viewer.get(f"{URL}?cluster=shop", headers={"Accept": "text/csv"}), *words)

    browser = app.test_client()
    login(browser, tokens["viewer"])
    for page in ("/reports/capacity?cluster=shop", "/reports/capacity.csv?cluster=shop"):
        shown = browser.get(page)
        assert shown.status_code == 503, (page, shown.status_code)
        assert shown.mimetype == "text/html"  # the pages answer pages, the API problems
        assert shown.headers["Retry-After"].isdigit()
        assert "cluster &#39;shop&#39; cannot be read" in shown.get_data(as_text=True)

    assert f.rows(app) == before
    assert _snapshot(viewer) == snapshot
    # the failed reads left the cluster free to sync: once Mesos answers, so do the reports
    _clear(shop_server)
    report = viewer.get(f"{URL}?cluster=shop")
    assert report.status_code == 200, report.get_json()
    assert report.get_json()["clusters"][0]["snapshot"]["confirmed_at"] > snapshot[1]


def test_a_young_snapshot_answers_while_mesos_is_down_and_says_its_age(
    app: Flask, viewer: Any, tokens: dict[str, str], shop_server: Any
) -> None:
    """Within the age allowed (5 min by default) the report answers from the last snapshot
    without asking the cluster, and says when that snapshot was last confirmed."""
    snapshot_id, confirmed_at = _snapshot(viewer)
    answered = viewer.get(f"{URL}?cluster=shop").get_json()
    before = f.rows(app)
    _fault(shop_server, kind="drop", path_prefix="/master")
    time.sleep(1.1)  # so that the age shown is at least a second

    report = viewer.get(f"{URL}?cluster=shop")
    assert report.status_code == 200, report.get_json()
    (section,) = report.get_json()["clusters"]
    assert section["snapshot"]["id"] == snapshot_id
    assert section["snapshot"]["confirmed_at"] == confirmed_at
    generated = datetime.fromisoformat(report.get_json()["generated_at"])
    age = (generated - datetime.fromisoformat(confirmed_at)).total_seconds()
    assert section["snapshot"]["age_seconds"] == pytest.approx(age, abs=0.01)
    assert section["snapshot"]["age_seconds"] >= 1
    assert section["free"] == answered["clusters"][0]["free"]
    table = viewer.get(f"{URL}?cluster=shop&format=csv")
    assert table.status_code == 200 and table.mimetype == "text/csv"

    browser = app.test_client()
    login(browser, tokens["viewer"])
    page = browser.get("/reports/capacity?cluster=shop")
    assert page.status_code == 200
    shown = re.search(r"Snapshot (\d+) s ago", page.get_data(as_text=True))
    assert shown is not None and int(shown.group(1)) >= 1
    assert f.rows(app) == before


def test_a_report_on_a_cluster_never_read_and_down_is_503(
    app: Flask,
    admin: Any,
    viewer: Any,
    tokens: dict[str, str],
    no_snapshot_is_fresh: None,
    dead_url: str,  # noqa: F811
) -> None:
    """Nothing listens at the cluster's URLs: connections are refused at once."""
    down = dead_url
    cluster = {"name": "dark", "mesos_masters": [down], "marathon_url": down}
    assert admin.post("/api/v1/clusters", json=cluster).status_code == 201
    before = f.rows(app)
    words = ("cluster 'dark' cannot be read", "its last snapshot is missing")
    _is_503_problem(viewer.get(f"{URL}?cluster=dark"), *words)
    _is_503_problem(viewer.get(f"{URL}?cluster=dark&format=csv"), *words)
    browser = app.test_client()
    login(browser, tokens["viewer"])
    shown = browser.get("/reports/capacity?cluster=dark")
    assert shown.status_code == 503 and shown.mimetype == "text/html"
    assert shown.headers["Retry-After"].isdigit()
    after = f.rows(app)
    # the first attempt to sync a cluster makes its sync lease (who syncs, the last error)
    assert after.pop("sync_leases") == before.pop("sync_leases") + 1
    assert after == before
    assert viewer.get("/api/v1/clusters/dark/snapshot").status_code == 404
