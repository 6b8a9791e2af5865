"""The standing placement through the API: levels, moves of running tasks, the version of
what placement reads, and processes that catch up with each other's writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from ledger import standing
from models import Cluster, DemandChange
from simulator import Simulator, serve
from tests import factories as f
from tests.conftest import Api
from tests.integration.conftest import sim_cluster

NO_SURGE = {"minimum_health_capacity": 0, "maximum_over_capacity": 0}


@pytest.fixture
def two_agents() -> Iterator[Any]:
    """Two agents of 4 cpus and 4096 MiB."""
    sim = Simulator(agents=0, seed=8)
    for _ in range(2):
        sim.add_agent(cpus=4, mem=4096, disk=20000, ports="[31000-32000]")
    with serve(sim) as server:
        yield server


def _put(api: Any, svc: str, mem: int, query: str = "", **more: Any) -> Any:
    body = {"cpus": 0.5, "mem": mem, "upgrade_strategy": NO_SURGE, **more}
    return api.put(f.allocation_url("production", svc) + query, json=body)


def _deploy(pipeline: Api, svc: str) -> None:
    body = {"service": svc, "environment": "production", "image": f"registry.local/{svc}:1"}
    release = pipeline.post("/api/v1/deployments", json=body)
    assert release.status_code == 202, release.get_json()
    followed = pipeline.get(f"/api/v1/deployments/{release.get_json()['id']}").get_json()
    assert followed["status"] == "succeeded", followed


def _version(app: Flask) -> tuple[int, list[dict[str, Any]]]:
    with app.extensions["berth"].sessions() as session:
        version = session.scalar(select(Cluster.demand_version).where(Cluster.name == "east"))
        bodies = session.scalars(select(DemandChange.body).order_by(DemandChange.version)).all()
    return version or 0, list(bodies)


def test_a_change_that_needs_running_tasks_moved_is_accepted_and_says_which(
    app: Flask, admin: Any, ops: Any, viewer: Any, tokens: dict, two_agents: Any
) -> None:
    pipeline = Api(app.test_client(), tokens["pipeline"])
    sim_cluster(admin, "east", [two_agents.url], two_agents.url)
    f.environment(admin, "production", "east")
    for name in ("x", "a", "b", "big"):
        f.service(admin, name, [])
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    # x takes most of agent 1, so a lands on agent 2; x goes, b lands on agent 1: each
    # agent keeps 2064 MiB, and 3032 MiB fit on neither until a moves next to b
    assert _put(ops, "x", 3000).status_code == 201
    _deploy(pipeline, "x")
    assert _put(ops, "a", 2000).status_code == 201
    _deploy(pipeline, "a")
    gone = requests.delete(f"{two_agents.url}/v2/apps/production/x?force=true", timeout=5)
    assert gone.status_code == 200, gone.text
    assert ops.delete(f.allocation_url("production", "x")).status_code == 204
    assert _put(ops, "b", 2000).status_code == 201
    _deploy(pipeline, "b")
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    hosts = {
        app_["id"]: {t["host"] for t in app_["tasks"]}
        for app_ in requests.get(f"{two_agents.url}/v2/apps?embed=apps.tasks", timeout=5).json()[
            "apps"
        ]
    }
    assert hosts["/production/a"] != hosts["/production/b"]

    answer = _put(ops, "big", 3000)
    assert answer.status_code == 201, answer.get_json()
    fit = answer.get_json()["fit"]
    assert fit["fits"] is True and fit["level"] == "fits_after_moves", fit
    [move] = fit["moves"]
    assert move["demand"] in ("production/a", "production/b")
    assert move["from"]["hostname"] != move["to"]["hostname"]
    event = viewer.get("/api/v1/audit?entity=production/big").get_json()["events"][0]
    assert event["after"]["fit"]["level"] == "fits_after_moves"
    assert "only after these running tasks move" in event["after"]["fit"]["note"]
    capacity = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert capacity["level"] == "fits_after_moves" and capacity["moves"] == fit["moves"]
    # with those tasks where they run, nothing more of that size fits: refused, proven
    refused = _put(ops, "x", 3000)
    assert refused.status_code == 409
    assert refused.get_json()["fit"]["level"] == "does_not_fit"


def test_writes_that_change_demand_bump_the_version_and_nothing_else_does(
    app: Flask, admin: Any, ops: Any, viewer: Any, two_agents: Any
) -> None:
    sim_cluster(admin, "east", [two_agents.url], two_agents.url)
    f.environment(admin, "production", "east")
    f.service(admin, "a", ["http"])
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    start, _ = _version(app)

    assert _put(ops, "a", 512).status_code == 201
    version, bodies = _version(app)
    assert version == start + 1 and bodies[-1]["allocations"][0]["key"] == "production/a"
    # the writer's own account: the demand, and where it placed it
    assert bodies[-1]["allocations"][0]["demand"]["ports"] == [31000]
    assert bodies[-1]["hints"][0]["where"]["production/a"] != [-1]

    # reads, dry runs, refused writes and writes that change nothing leave it alone
    viewer.get("/api/v1/clusters/east/capacity")
    viewer.get(f.allocation_url("production", "a"))
    assert _put(ops, "a", 1024, "?dry_run=true").status_code == 200
    assert _put(ops, "a", 9000).status_code == 409
    assert _put(ops, "a", 512).status_code == 200
    assert _version(app)[0] == version

    # every other write that changes what placement reads: the others place afresh
    writes = [
        lambda: admin.patch("/api/v1/environments/production", json={"headroom": 0.1}),
        lambda: admin.patch("/api/v1/clusters/east", json={"executor_mem": 64}),
        lambda: admin.patch(
            "/api/v1/services/a", json={"ports": [{"name": "http"}, {"name": "admin"}]}
        ),
        lambda: ops.post(
            "/api/v1/reservations",
            json={
                "cluster": "east",
                "count": 1,
                "cpus": 0.5,
                "mem": 256,
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
                "reason": "a test",
            },
        ),
    ]
    for write in writes:
        answer = write()
        assert answer.status_code in (200, 201), answer.get_json()
        version, bodies = _version(app)
        assert bodies[-1] == {"reload": True}
    assert ops.delete(f.allocation_url("production", "a")).status_code == 204
    after, bodies = _version(app)
    assert after == version + 1 and bodies[-1]["allocations"][0]["demand"] is None


def test_another_process_catches_up_with_a_write_without_placing_again(
    app: Flask, database_url: str, admin: Any, ops: Any, viewer: Any, tokens: dict, two_agents: Any
) -> None:
    from tests.integration.test_concurrent_ports import _run

    sim_cluster(admin, "east", [two_agents.url], two_agents.url)
    f.environment(admin, "production", "east")
    for name in ("a", "b", "c"):
        f.service(admin, name, ["http"])
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    assert _put(ops, "a", 1024).status_code == 201
    before = viewer.get("/api/v1/clusters/east/capacity").get_json()
    rebuilds = standing.rebuilds
    # another process (its own standing placement) writes twice
    body = {"cpus": 0.5, "mem": 1024, "upgrade_strategy": NO_SURGE}
    plans = [
        [
            ("put", f.allocation_url("production", "b"), body),
            ("put", f.allocation_url("production", "c"), {**body, "instances": 2}),
        ]
    ]
    answers = _run(database_url, tokens["ops"], plans)
    assert [status for *_, status in answers] == [201, 201]
    after = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert standing.rebuilds == rebuilds  # replayed from the log, not placed afresh
    assert after["allocated"]["mem"] == before["allocated"]["mem"] + 3 * (1024 + 32)
    placed = sum(n for a in after["agents"] for k, n in a["instances"].items())
    assert placed == 4 and after["level"] == "fits"
    # and a copy made afresh from the database agrees
    standing.forget()
    fresh = viewer.get("/api/v1/clusters/east/capacity").get_json()
    assert fresh["allocated"] == after["allocated"] and fresh["level"] == "fits"


def test_a_copy_made_from_an_older_read_catches_up_with_what_was_committed_since(
    app: Flask, database_url: str, admin: Any, ops: Any, two_agents: Any
) -> None:
    """A reader's picture, read before another write commits, becomes the copy: labelled
    with the version read before its rows, it replays that write at the next read, and a
    change that no longer fits is refused."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one write at a time: nothing commits inside a reader's read")
    from ledger.capacity import picture
    from ledger.clusters import find_cluster

    sim_cluster(admin, "east", [two_agents.url], two_agents.url)
    f.environment(admin, "production", "east")
    for name in ("a", "b", "c"):
        f.service(admin, name, [])
    assert ops.post("/api/v1/clusters/east/sync").status_code == 200
    body = {"cpus": 3.5, "mem": 256, "upgrade_strategy": NO_SURGE}
    assert ops.put(f.allocation_url("production", "a"), json=body).status_code == 201
    standing.forget()
    with app.extensions["berth"].sessions() as session:
        pic = picture(session, find_cluster(session, "east"))
        # another request takes the second agent and commits while this one reads
        assert ops.put(f.allocation_url("production", "b"), json=body).status_code == 201
        standing.forget()  # as if this reader ran in a process without a copy
        assert standing.verdict_of(session, pic, 1.0).level == "fits"
        session.commit()
    refused = ops.put(f.allocation_url("production", "c"), json=body)
    assert refused.status_code == 409, refused.get_json()
