"""Mesos agents: a deterministic fleet of a few machine shapes.

The fleet is built from the seed so that two runs with the same seed place the
same instances on the same agents, and so that a test can name an agent
(`agent-02` has two port ranges, `agent-03` carries a reservation for another
role) without looking it up first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from simulator.resources import Range, Resources, milli, normalise

# (cpus, mem MiB); the cycle is shuffled by the seed, so the mix per fleet size is fixed
SHAPES: dict[str, tuple[int, int]] = {
    "m": (16, 65536),
    "l": (32, 131072),
    "xl": (48, 196608),
}
SHAPE_CYCLE = ("l", "m", "l", "xl")
DEFAULT_PORTS: tuple[Range, ...] = ((31000, 32000),)
SPLIT_PORTS: tuple[Range, ...] = ((31000, 31500), (31600, 32000))
OTHER_ROLE = "kafka"
AGENT_HTTP_HOST = "127.0.0.1"
OTHER_ROLE_RESERVATION = Resources(cpus=milli(4), mem=milli(16384), ports=((31000, 31009),))


@dataclass
class Agent:
    id: str
    hostname: str
    ip: str
    total: Resources
    attributes: dict[str, str]
    registered_time: float
    reservations: dict[str, Resources] = field(default_factory=dict)
    active: bool = True
    # the loopback port its /monitor/statistics listens on (simulator.agent_http)
    http_port: int | None = None

    @property
    def pid(self) -> str:
        """Where a client reaches the agent: always loopback, never `ip` (made up, and
        outside 127.0.0.0/8). 5051, Mesos' default, until the agent listens."""
        return f"slave(1)@{AGENT_HTTP_HOST}:{self.http_port or 5051}"

    def unreserved(self) -> Resources:
        rest = self.total
        for reserved in self.reservations.values():
            rest = rest - reserved
        return rest

    def usable(self, role: str) -> Resources:
        """What a framework registered with `role` may be offered: unreserved plus its own."""
        rest = self.unreserved()
        if role != "*" and role in self.reservations:
            rest = rest + self.reservations[role]
        return rest

    def field_value(self, name: str) -> str | None:
        """The value Marathon constraints see for a field: the hostname or an attribute."""
        if name == "hostname":
            return self.hostname
        return self.attributes.get(name)


def agent_ip(index: int) -> str:
    return f"10.0.{1 + index // 200}.{10 + index % 200}"


def build_agents(count: int, seed: int, master_id: str, now: float) -> list[Agent]:
    rng = random.Random(f"agents-{seed}")
    cycle = list(SHAPE_CYCLE)
    rng.shuffle(cycle)
    agents = []
    for index in range(count):
        cpus, mem = SHAPES[cycle[index % len(cycle)]]
        disk = rng.randrange(200_000, 500_001, 10_000)
        ports = SPLIT_PORTS if index == 1 else DEFAULT_PORTS
        agent = Agent(
            id=f"{master_id}-S{index}",
            hostname=f"agent-{index + 1:02d}",
            ip=agent_ip(index),
            total=Resources(milli(cpus), milli(mem), milli(disk), normalise(ports)),
            attributes={"rack": f"r{index % 4 + 1}", "zone": "a" if index % 2 == 0 else "b"},
            registered_time=round(now - 86400 + index * 7.25, 5),
        )
        if index == 2:
            agent.reservations[OTHER_ROLE] = OTHER_ROLE_RESERVATION
        agents.append(agent)
    return agents
