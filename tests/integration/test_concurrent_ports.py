"""Eight OS processes allocate host ports at once: no duplicate, no 500, only 2xx or 409."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app import create_app, upgrade_database
from ledger.clusters import create_cluster
from ledger.environments import create_environment
from ledger.services import create_service
from ledger.tokens import create_token
from models.session import make_engine
from tests.conftest import new_postgres_database, new_sqlite_database

WORKERS = 8
SERVICES_PER_WORKER = 6
ENVIRONMENTS = ("production", "test")
CONTESTED_PORT = 31900


def _worker(url: str, token: str, index: int, barrier: Any, results: Any) -> None:
    """One process: its own app, engine and connections, like a gunicorn worker."""
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    answers = []
    barrier.wait()
    for n in range(SERVICES_PER_WORKER):
        service = f"svc-{index}-{n}"
        for env in ENVIRONMENTS:
            body: dict[str, Any] = {"cpus": 0.1, "mem": 64}
            if n == 0 and env == "production":
                body["ports"] = {"http": CONTESTED_PORT}  # every worker wants it
            response = client.put(
                f"/api/v1/environments/{env}/allocations/{service}", json=body, headers=headers
            )
            answers.append(
                (env, service, body.get("ports"), response.status_code, response.get_json())
            )
    results.put(answers)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        url, drop = new_sqlite_database(tmp_path), None
    else:
        url, drop = new_postgres_database("berth_race")
    upgrade_database(url)
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    ctx = app.extensions["berth"].context()
    create_cluster(
        ctx,
        {
            "name": "east",
            "mesos_masters": ["http://m:5050"],
            "marathon_url": "http://m:8080",
            "port_ranges": ["31000-31999"],
        },
    )
    for env in ENVIRONMENTS:
        create_environment(ctx, {"name": env, "cluster": "east", "marathon_group": f"/{env}"})
    for i in range(WORKERS):
        for n in range(SERVICES_PER_WORKER):
            create_service(
                ctx,
                {
                    "name": f"svc-{i}-{n}",
                    "runtime": "java",
                    "team": "t",
                    "ports": [{"name": "http"}, {"name": "dubbo"}],
                },
            )
    token = create_token(ctx, "racer", "ops")
    app.extensions["berth"].engine.dispose()
    yield url, token
    if drop:
        drop()


def test_concurrent_allocations_never_share_a_port(shared_database: tuple[str, str]) -> None:
    url, token = shared_database
    spawn = mp.get_context("spawn")
    barrier, results = spawn.Barrier(WORKERS), spawn.Queue()
    procs = [
        spawn.Process(target=_worker, args=(url, token, i, barrier, results))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    answers = [a for _ in procs for a in results.get(timeout=240)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    statuses = Counter(status for *_, status, _ in answers)
    assert set(statuses) <= {200, 201, 409}, statuses
    conflicts = [a for a in answers if a[3] == 409]
    # exactly one worker wins the contested port; the others are told who holds it
    assert len(conflicts) == WORKERS - 1, conflicts
    assert all(a[2] == {"http": CONTESTED_PORT} for a in conflicts)
    assert all("is held by service" in a[4]["detail"] for a in conflicts)

    granted = [a for a in answers if a[3] in (200, 201)]
    handed_out = [port for *_, body in granted for port in body["ports"].values()]
    assert len(handed_out) == len(set(handed_out)), "a port was handed out twice"

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.port, e.name, s.name, a.port_name FROM port_assignments a "
                "JOIN allocations al ON al.id = a.allocation_id "
                "JOIN environments e ON e.id = al.environment_id "
                "JOIN services s ON s.id = al.service_id"
            )
        ).all()
        blocks = dict(conn.execute(text("SELECT block, used FROM port_blocks")).all())
    engine.dispose()
    saved = {(env, svc, name): port for port, env, svc, name in rows}
    # every acknowledged write is there, exactly as answered
    for env, svc, _, _, body in granted:
        for name, port in body["ports"].items():
            assert saved[(env, svc, name)] == port
    assert len(saved) == len(handed_out) == len(rows)
    # the lowest free ports were used, with no gap left by a lost update
    automatic = sorted(p for p in handed_out if p != CONTESTED_PORT)
    assert automatic == list(range(31000, 31000 + len(automatic)))
    assert sum(blocks.values()) == len(rows)


def _requests(url: str, token: str, actions: list, barrier: Any, results: Any) -> None:
    """One process sending `actions` [(method, path, json)] right after the others start."""
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    barrier.wait()
    out = []
    for method, path, body in actions:
        response = getattr(client, method)(path, json=body, headers=headers)
        out.append((method, path, response.status_code))
    results.put(out)


def _run(url: str, token: str, plans: list[list]) -> list[tuple[str, str, int]]:
    spawn = mp.get_context("spawn")
    barrier, results = spawn.Barrier(len(plans)), spawn.Queue()
    procs = [
        spawn.Process(target=_requests, args=(url, token, plan, barrier, results)) for plan in plans
    ]
    for p in procs:
        p.start()
    answers = [a for _ in procs for a in results.get(timeout=240)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return answers


def test_a_port_added_while_allocations_are_created_reaches_all_of_them(
    shared_database: tuple[str, str],
) -> None:
    url, token = shared_database
    rounds = 4
    # svc-0-n already exist with http and dubbo; 7 processes allocate them in 7 new
    # environments while one more adds the port 'admin' to each service
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "ERROR"})
    ctx = app.extensions["berth"].context()
    envs = [f"race-{i}" for i in range(WORKERS - 1)]
    for env in envs:
        create_environment(ctx, {"name": env, "cluster": "east", "marathon_group": f"/{env}"})
    app.extensions["berth"].engine.dispose()
    ports = [{"name": "http"}, {"name": "dubbo"}, {"name": "admin"}]
    plans = [
        [
            ("put", f"/api/v1/environments/{env}/allocations/svc-0-{n}", {"cpus": 0.1, "mem": 64})
            for n in range(rounds)
        ]
        for env in envs
    ]
    plans.append(
        [("patch", f"/api/v1/services/svc-0-{n}", {"ports": ports}) for n in range(rounds)]
    )
    answers = _run(url, token, plans)
    assert {status for *_, status in answers} <= {200, 201}, answers

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.name, e.name, count(a.port) FROM allocations al "
                "JOIN services s ON s.id = al.service_id "
                "JOIN environments e ON e.id = al.environment_id "
                "LEFT JOIN port_assignments a ON a.allocation_id = al.id "
                "WHERE e.name LIKE 'race-%' GROUP BY s.name, e.name"
            )
        ).all()
    engine.dispose()
    assert len(rows) == rounds * len(envs)
    assert all(count == 3 for _, _, count in rows), [r for r in rows if r[2] != 3]


def test_concurrent_deletes_delete_once(shared_database: tuple[str, str]) -> None:
    url, token = shared_database
    path = "/api/v1/environments/production/allocations/svc-1-1"
    first = _run(url, token, [[("put", path, {"cpus": 0.1, "mem": 64})]])
    assert first[0][2] == 201
    answers = _run(url, token, [[("delete", path, None)] for _ in range(WORKERS)])
    statuses = sorted(status for *_, status in answers)
    assert statuses == [204] + [404] * (WORKERS - 1), statuses
    engine = make_engine(url)
    with engine.connect() as conn:
        deletes = conn.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'delete' AND entity = :e"),
            {"e": "production/svc-1-1"},
        ).scalar_one()
    engine.dispose()
    assert deletes == 1
