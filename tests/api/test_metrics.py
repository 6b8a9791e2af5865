"""GET /metrics: capacity gauges agree with the capacity endpoint, request counters count by
route template, the output parses as Prometheus text, and placement is not rerun needlessly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from ledger import standing
from simulator import Simulator, serve
from tests import factories as f

MIB = 1024 * 1024


@pytest.fixture
def synced(admin: Any, ops: Any) -> Iterator[Any]:
    """Cluster east (a 6-agent simulator) with test and production, synced, with allocations,
    a reservation and an admin's over-commit that cannot be placed."""
    with serve(Simulator(agents=6, seed=5)) as server:
        f.cluster(admin, mesos_masters=[server.url], marathon_url=server.url)
        f.environment(admin, "test")
        f.environment(admin, "production")
        f.service(admin, "order-service")
        f.service(admin, "user-service")
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        assert f.allocate(ops, "test", cpus=1, mem=2048, instances=2).status_code == 201
        assert f.allocate(ops, "production", cpus=2, mem=4096, instances=2).status_code == 201
        reservation = {
            "environment": "production",
            "count": 2,
            "cpus": 1,
            "mem": 1024,
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2999-01-01T00:00:00Z",
            "reason": "promotion",
        }
        assert ops.post("/api/v1/reservations", json=reservation).status_code == 201
        url = f.allocation_url("production", "user-service") + "?force=true"
        assert admin.put(url, json={"cpus": 1, "mem": 10**6, "instances": 2}).status_code == 201
        yield server


def scrape(client: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Every sample of one scrape by (name, labels); the text must parse as Prometheus'."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_gauges_agree_with_the_capacity_endpoint(client: Any, viewer: Any, synced: Any) -> None:
    samples = scrape(client)
    for scope, url, labels in (
        ("cluster", "/api/v1/clusters/east/capacity", {"cluster": "east"}),
        (
            "environment",
            "/api/v1/environments/production/capacity",
            {"cluster": "east", "environment": "production"},
        ),
        (
            "environment",
            "/api/v1/environments/test/capacity",
            {"cluster": "east", "environment": "test"},
        ),
    ):
        answer = viewer.get(url).get_json()
        key = tuple(sorted(labels.items()))
        kinds = {
            "allocated": answer["allocated"],
            "reserved": answer["reserved"]["now"],
            "free": answer["free"],
        }
        if scope == "cluster":
            kinds["total"] = answer["totals"]
        for kind, figures in kinds.items():
            assert samples[(f"berth_{scope}_{kind}_cpus", key)] == pytest.approx(figures["cpus"])
            assert samples[(f"berth_{scope}_{kind}_memory_bytes", key)] == pytest.approx(
                figures["mem"] * MIB
            )
            assert samples[(f"berth_{scope}_{kind}_disk_bytes", key)] == pytest.approx(
                figures["disk"] * MIB
            )
        assert samples[(f"berth_{scope}_unplaceable_instances", key)] == len(answer["unplaceable"])
    east = (("cluster", "east"),)
    assert samples[("berth_cluster_unplaceable_instances", east)] >= 2  # the over-commit
    assert samples[("berth_cluster_reserved_cpus", east)] > 0
    assert samples[("berth_cluster_synced", east)] == 1
    # the forced over-commit: the verdict's level is the capacity answer's, one-hot
    level = viewer.get("/api/v1/clusters/east/capacity").get_json()["level"]
    assert level in ("does_not_fit", "not_proven")
    for name in ("fits", "fits_after_moves", "does_not_fit", "not_proven"):
        key = (("cluster", "east"), ("level", name))
        assert samples[("berth_cluster_fit_level", key)] == (1 if name == level else 0)
    assert samples[("berth_cluster_moves_pending", east)] == 0
    assert samples[("berth_capacity_up", ())] == 1
    assert 0 <= samples[("berth_cluster_snapshot_age_seconds", east)] < 60


def test_placement_is_kept_and_follows_writes_without_placing_again(
    client: Any, ops: Any, synced: Any
) -> None:
    scrape(client)
    runs = standing.rebuilds
    scrape(client)
    assert standing.rebuilds == runs
    # a write is replayed into the standing placement from the log, not placed afresh
    assert f.allocate(ops, "test", cpus=1, mem=2048, instances=1).status_code == 200
    after = scrape(client)
    assert standing.rebuilds == runs
    key = (("cluster", "east"), ("environment", "test"))
    assert after[("berth_environment_allocated_cpus", key)] == pytest.approx(1.1)


def test_requests_are_counted_by_route_template(client: Any, viewer: Any, admin: Any) -> None:
    f.world(admin)
    route = "/api/v1/environments/<string:env>/allocations"
    key = (("method", "GET"), ("route", route), ("status", "200"))
    before = scrape(client).get(("berth_http_requests_total", key), 0)
    for env in ("test", "production"):
        assert viewer.get(f"/api/v1/environments/{env}/allocations").status_code == 200
    viewer.get("/api/v1/no/such/path/42")
    samples = scrape(client)
    assert samples[("berth_http_requests_total", key)] == before + 2
    timed = (("method", "GET"), ("route", route))
    assert samples[("berth_http_request_duration_seconds_count", timed)] >= 2
    routes = {dict(labels).get("route") for _, labels in samples}
    assert "(unmatched)" in routes
    assert not any(r and ("/production/" in r or "42" in r) for r in routes)  # no raw paths


def test_unsynced_clusters_are_said_and_an_optional_token_guards_the_scrape(
    app: Flask, client: Any, admin: Any
) -> None:
    f.world(admin)
    assert scrape(client)[("berth_cluster_synced", (("cluster", "east"),))] == 0
    app.config["METRICS_TOKEN"] = "s3cret"
    try:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
        assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        scrape(client, {"Authorization": "Bearer s3cret"})
    finally:
        app.config["METRICS_TOKEN"] = ""


def test_a_database_without_the_schema_still_gives_request_metrics(tmp_path: Any) -> None:
    broken = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    samples = scrape(broken.test_client())
    assert samples[("berth_capacity_up", ())] == 0
    assert any(name == "berth_http_requests_total" for name, _ in samples)
    broken.extensions["berth"].engine.dispose()
