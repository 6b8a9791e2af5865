"""Nothing rides on a missing reading: against the simulator's loopback agents, with its
clock moved a minute a round, a task killed mid-window, an agent restarted and an agent
unreachable leave gaps in the minutes, never negative or huge rates, never a zero read
into the usage, and no recommendation is made on so little data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from ledger.context import Context
from ledger.right_sizing import cluster_right_sizing
from ledger.usage import UsageSampler, environment_recommendations
from models import UsageMinute
from simulator import Simulator, serve
from simulator.usage import Profile
from tests.factories import allocate, environment, service

START = 1_893_456_000.0  # 2030-01-01T00:00:00Z: rounds on the minute
CPU = 0.3  # every instance, every minute: no daily curve, noise or spikes


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def steady(admin: Any) -> Iterator[tuple[Simulator, Clock]]:
    """Three agents; app /production/steady with 6 instances at 0.3 cpus each; synced."""
    clock = Clock()
    sim = Simulator(agents=3, seed=7, now=clock)
    server = serve(sim)
    body = {
        "name": "east",
        "mesos_masters": [server.url],
        "marathon_url": server.url,
        "port_ranges": ["31000-31999"],
    }
    assert admin.post("/api/v1/clusters", json=body).status_code == 201
    environment(admin, "production", "east")
    service(admin, "steady", ports=[], runtime="python")
    assert allocate(admin, svc="steady", cpus=0.5, mem=512, instances=6).status_code in (200, 201)
    sim.create_app(
        {
            "id": "/production/steady",
            "cmd": "sleep 1",
            "cpus": 0.5,
            "mem": 512,
            "instances": 6,
            "constraints": [["hostname", "MAX_PER", "2"]],  # two on each agent
        }
    )
    sim.set_profile(
        "/production/steady",
        Profile.from_json(
            {"cpu": {"base": CPU, "peak": CPU, "noise": 0, "spikes": {"per_day": 0}}}
        ),
    )
    assert admin.post("/api/v1/clusters/east/sync").status_code == 200
    yield sim, clock
    server.shutdown()


def test_no_negative_rate_no_zero_for_a_gap_no_recommendation(
    steady: tuple[Simulator, Clock], app: Flask
) -> None:
    sim, clock = steady
    ctx: Context = app.extensions["berth"].context()
    sampler = UsageSampler(ctx, "east")
    results = []

    def sample() -> None:
        result = sampler.sample(datetime.fromtimestamp(clock.now, UTC))
        assert result is not None
        results.append(result)
        clock.now += 60

    sample()  # first readings: memory, no rates
    sample()
    # a task killed half-way through the minute: Marathon starts another (counters from 0)
    clock.now -= 30
    victim = sorted(t.id for t in sim.tasks.values() if t.app_id == "/production/steady")[0]
    sim.fail_task(victim)
    clock.now += 30
    sample()
    # an agent reboots: its tasks are lost and replaced
    agents = sorted({t.agent_id for t in sim.tasks.values()})
    assert len(agents) == 3
    sim.restart_agent(agents[0])
    sample()
    # an agent stops answering for two rounds, then comes back
    assert sim.agent_http is not None
    sim.agent_http.set_mode(agents[1], "refuse")
    sample()
    sample()
    sim.agent_http.set_mode(agents[1], "up")
    sample()
    sampler.close()

    assert [r.agents_unreachable for r in results] == [0, 0, 0, 0, 1, 1, 0]
    with app.extensions["berth"].sessions() as session:
        rows = list(session.scalars(select(UsageMinute).order_by(UsageMinute.minute)))
    assert len(rows) == len(results)  # one point a round: the gaps are fewer instances
    assert rows[0].cpu_instances == 0  # no rate from a first reading, and no zero either
    for row in rows[1:]:
        # every rate is a whole minute of 0.3 cpus (the returning agent's over three):
        # a killed, restarted or unanswered task is left out, never counted as 0 or as a
        # counter gone backwards
        assert row.cpu_instances >= 1
        assert row.cpu_mean == pytest.approx(CPU, rel=0.02), row.minute
        assert CPU * 0.98 <= row.cpu_max <= CPU * 1.02
        assert row.instances <= 6
    # the unreachable agent's tasks are missing from its rounds, not zero
    assert rows[4].instances < 6 and rows[5].instances < 6
    # the killed task's replacement gives no rate in the round it is first seen
    assert rows[2].cpu_instances < rows[2].instances

    now = datetime.fromtimestamp(clock.now, UTC)
    recs = environment_recommendations(ctx, "production", now=now)["allocations"]
    assert recs[0]["recommended"] is None and "not enough data" in recs[0]["reason"]
    sizing = cluster_right_sizing(ctx, "east", now=now)
    assert sizing["measured"] == 0 and sizing["agents_freed"] == 0
    assert sizing["by_allocation"][0]["recommended"] is None
