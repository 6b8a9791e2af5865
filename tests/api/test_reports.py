"""GET /api/v1/reports/capacity: figures that agree with the capacity answers, a stable CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.web.dataset import GROWN

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
    ],
)
def test_a_scope_must_be_one_known_name(viewer: Any, query: str, status: int) -> None:
    response = viewer.get(URL + query)
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_reports_need_a_token(anonymous: Any) -> None:
    assert anonymous.get(f"{URL}?cluster=shop").status_code == 401


HEADER = (
    "scope,cluster,line,name,environment,team,instances,running,"
    "cpus_capacity,cpus_allocated,cpus_reserved,cpus_held,cpus_used,cpus_free,"
    "mem_capacity,mem_allocated,mem_reserved,mem_held,mem_used,mem_free"
)


def test_the_csv_has_its_documented_columns(viewer: Any, shop: Any) -> None:
    response = viewer.get(f"{URL}?cluster=shop&format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="capacity-cluster-shop.csv"'
    )
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == HEADER  # scripts read these by position: never reorder
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
    assert by_accept.get_data(as_text=True).splitlines()[0] == HEADER
    spec = viewer.get("/api/v1/openapi.json").get_json()
    described = str(spec["paths"]["/api/v1/reports/capacity"]["get"])
    assert all(column in described for column in HEADER.split(","))


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
