"""Negative control: with the cluster lock off, concurrent writers really collide on ports.

The concurrent-allocation tests pass with the lock on; this shows that the same kind of run
does race without it, so those tests are able to see a race, and that the unique
(cluster, port) constraint still catches every collision: a retry or a 409, never a
duplicate row, and every acknowledged port is saved as answered.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from app import create_app, upgrade_database
from models.session import make_engine
from tests.conftest import new_postgres_database
from tests.faults.conftest import seed_burst

WORKERS = 4
SERVICES_PER_WORKER = 8


class _Collisions(logging.Handler):
    """Counts the reruns that in_transaction logs when a write collided with another."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying after a collision" in record.getMessage():
            self.count += 1


def _worker(url: str, token: str, lock: bool, index: int, barrier: Any, results: Any) -> None:
    app = create_app(
        {"DATABASE_URL": url, "LOG_LEVEL": "ERROR", "TESTING": True, "CLUSTER_LOCK": lock}
    )
    collisions = _Collisions()
    logger = logging.getLogger("ledger.context")
    logger.setLevel(logging.INFO)
    logger.addHandler(collisions)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    answers = []
    barrier.wait()
    for n in range(SERVICES_PER_WORKER):
        service = f"svc-{index}-{n}"
        response = client.put(
            f"/api/v1/environments/production/allocations/{service}",
            json={"cpus": 0.1, "mem": 64},
            headers=headers,
        )
        answers.append((service, response.status_code, response.get_json()))
    results.put((answers, collisions.count))


@pytest.fixture
def database() -> Iterator[tuple[str, str]]:
    url, drop = new_postgres_database("berth_nolock")
    try:
        upgrade_database(url)
        yield url, seed_burst(url, WORKERS, SERVICES_PER_WORKER)
    finally:
        drop()


def _race(url: str, token: str, lock: bool) -> tuple[list[tuple[str, int, Any]], int]:
    spawn = mp.get_context("spawn")
    barrier, results = spawn.Barrier(WORKERS), spawn.Queue()
    procs = [
        spawn.Process(target=_worker, args=(url, token, lock, i, barrier, results))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return [a for answers, _ in outcomes for a in answers], sum(n for _, n in outcomes)


def _saved(url: str) -> dict[tuple[str, str], int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.name, a.port_name, a.port FROM port_assignments a "
                "JOIN allocations al ON al.id = a.allocation_id "
                "JOIN services s ON s.id = al.service_id"
            )
        ).all()
    engine.dispose()
    ports = [port for *_, port in rows]
    assert len(ports) == len(set(ports)), "a port is saved twice"
    return {(svc, name): port for svc, name, port in rows}


def _check(answers: list[tuple[str, int, Any]], saved: dict[tuple[str, str], int]) -> Counter:
    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    for service, status, body in answers:
        if status == 201:
            for name, port in body["ports"].items():
                assert saved[(service, name)] == port  # acknowledged means saved as answered
        else:
            assert body["type"] == "urn:berth:problem:contention", body
            assert not any(svc == service for svc, _ in saved)  # refused means nothing saved
    return statuses


def test_without_the_lock_the_unique_constraint_catches_the_race(
    database: tuple[str, str],
) -> None:
    url, token = database
    answers, collisions = _race(url, token, lock=False)
    statuses = _check(answers, _saved(url))
    # every 409 here is a write that collided on all its retries
    print(f"lock off: {collisions} collisions retried, statuses {dict(statuses)}")
    assert collisions + statuses[409] > 0, "no collision seen: the run does not race"


def test_the_switch_is_refused_outside_tests(database: tuple[str, str]) -> None:
    url, _ = database
    with pytest.raises(RuntimeError, match="test-only"):
        create_app({"DATABASE_URL": url, "CLUSTER_LOCK": False})
