"""PostgreSQL restarted during a burst of allocation writes to berth under gunicorn.

Requests that meet the database away fail cleanly (503 problem+json with Retry-After),
later requests succeed, every acknowledged write is in the database as answered, no port
is held twice and no allocation is half-written. The server restarted is a private one.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import text

from app import upgrade_database
from bench.servers import free_port, start_gunicorn
from models.session import make_engine
from tests.faults.conftest import seed_burst
from tests.faults.private_postgres import PrivatePostgres

CLIENTS = 8
WRITES_PER_CLIENT = 10


@pytest.fixture
def berth_on_private_postgres() -> Iterator[tuple[PrivatePostgres, str, str]]:
    pg = PrivatePostgres()
    server = None
    try:
        pg.start()
        upgrade_database(pg.url)
        token = seed_burst(pg.url, CLIENTS, WRITES_PER_CLIENT)
        port = free_port()
        server = start_gunicorn(pg.url, port, workers=2, threads=4)
        base = f"http://127.0.0.1:{port}"
        yield pg, base, token
    finally:
        if server is not None:
            server.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown
            server.wait(timeout=30)
        pg.stop()


def _put(base: str, token: str, service: str) -> requests.Response:
    return requests.put(
        f"{base}/api/v1/environments/production/allocations/{service}",
        json={"cpus": 0.1, "mem": 64},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def test_a_database_restart_mid_burst_loses_no_acknowledged_write(
    berth_on_private_postgres: tuple[PrivatePostgres, str, str],
) -> None:
    pg, base, token = berth_on_private_postgres
    answers: list[tuple[str, float, requests.Response]] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    back = threading.Event()

    def client(index: int) -> None:
        start.wait()
        for n in range(WRITES_PER_CLIENT):
            if n == WRITES_PER_CLIENT // 2:
                back.wait(timeout=60)  # the second half after the restart
            service = f"svc-{index}-{n}"
            response = _put(base, token, service)
            with lock:
                answers.append((service, time.monotonic(), response))
            time.sleep(0.1)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    start.wait()
    while len(answers) < CLIENTS * 2:  # the burst is under way
        time.sleep(0.02)
    restarted_at = time.monotonic()
    pg.restart(down_seconds=1.0)
    back_at = time.monotonic()
    back.set()
    for t in threads:
        t.join(timeout=120)

    statuses = Counter(r.status_code for *_, r in answers)
    print(f"database restart mid-burst: {dict(statuses)}")
    assert set(statuses) <= {200, 201, 503}, statuses
    assert any(t < restarted_at for _, t, _ in answers) and any(t > back_at for _, t, _ in answers)
    failed = [(s, r) for s, _, r in answers if r.status_code == 503]
    assert failed, f"no request met the database down: {statuses}"
    for _, response in failed:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["Retry-After"]
        assert "database" in response.json()["detail"]

    # later requests succeed: the failed writes again (200 when one had committed after all)
    retried = {service: _put(base, token, service) for service, _ in failed}
    assert {r.status_code for r in retried.values()} <= {200, 201}, {
        s: (r.status_code, r.text[:200]) for s, r in retried.items()
    }

    acknowledged = {s: r.json() for s, _, r in answers if r.status_code in (200, 201)}
    acknowledged.update({s: r.json() for s, r in retried.items()})
    engine = make_engine(pg.url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.name, a.port_name, a.port FROM port_assignments a "
                "JOIN allocations al ON al.id = a.allocation_id "
                "JOIN services s ON s.id = al.service_id"
            )
        ).all()
        allocations = conn.execute(text("SELECT count(*) FROM allocations")).scalar_one()
        used = conn.execute(text("SELECT coalesce(sum(used), 0) FROM port_blocks")).scalar_one()
        audited = dict(
            conn.execute(
                text(
                    "SELECT entity, count(*) FROM audit_events "
                    "WHERE entity_type = 'allocation' GROUP BY entity"
                )
            ).all()
        )
    engine.dispose()
    saved = {(svc, name): port for svc, name, port in rows}
    ports = [port for *_, port in rows]
    assert len(ports) == len(set(ports)), "a port is held twice"
    # every acknowledged write is there, exactly as answered
    for service, body in acknowledged.items():
        for name, port in body["ports"].items():
            assert saved[(service, name)] == port
    # nothing half-written: every allocation has both its ports, its counters and its audit row
    assert allocations == CLIENTS * WRITES_PER_CLIENT == len(acknowledged)
    assert len(rows) == 2 * allocations and used == len(rows)
    assert set(audited) == {f"production/{s}" for s in acknowledged}
    assert all(count == 1 for count in audited.values()), audited
