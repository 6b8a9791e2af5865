"""A shop's worth of services, deployed through the simulator's own Marathon.

Thirty business domains, each with a service, an api, a worker and an admin
app: Java (Spring Boot, Dubbo) and Node mostly, a little Python. Dubbo services
run with host networking on fixed, required ports, because Dubbo registers the
host's address; the rest run in bridge networking with fixed host ports. Host
ports are unique on the simulator (groups on one simulator share its agents),
handed out from 31000 upward in service order.

Everything goes through `Simulator.create_app`, so every definition is
validated and every instance really placed, as if a pipeline had deployed it.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.apps import absolute_id, port_definitions, port_mappings
from simulator.resources import contains
from simulator.state import Simulator
from simulator.usage import Profile, sized_profile

# a service is "tight" when it uses nearly all it asks for; the rest are over-allocated
TIGHT_SHARE = 0.1

DOMAINS = (
    "order",
    "cart",
    "payment",
    "inventory",
    "catalog",
    "pricing",
    "promotion",
    "coupon",
    "shipping",
    "delivery",
    "warehouse",
    "customer",
    "account",
    "auth",
    "profile",
    "review",
    "search",
    "recommendation",
    "notification",
    "email",
    "invoice",
    "billing",
    "refund",
    "loyalty",
    "wishlist",
    "checkout",
    "tax",
    "fraud",
    "media",
    "report",
)
KINDS = ("service", "api", "worker", "admin")
TEAMS = ("checkout", "catalog", "payments", "logistics", "customer", "platform", "growth")
BASE_IMAGES = {
    "java": "eclipse-temurin:17-jre",
    "node": "node:18-alpine",
    "python": "python:3.11-slim",
}
CONTAINER_PORTS = {"java": 8080, "node": 3000, "python": 8000}
HEALTH_PATHS = {"java": "/actuator/health", "node": "/health", "python": "/health"}
FIRST_PORT = 31000


def service_names() -> list[str]:
    """The 120 service names, in deployment order: `order-service`, `order-api`, …"""
    return [f"{domain}-{kind}" for domain in DOMAINS for kind in KINDS]


def _runtime(kind: str, rng: random.Random) -> str:
    if kind == "service":
        return "java"
    if kind == "worker":
        return "java" if rng.random() < 0.7 else "python"
    if kind == "api":
        return "node" if rng.random() < 0.7 else "java"
    return "node" if rng.random() < 0.6 else "python"


class PortBook:
    """Fixed host ports for the demo: unique on the simulator, inside every agent's ranges."""

    def __init__(self, sim: Simulator) -> None:
        self.ranges = [agent.total.ports for agent in sim.agents.values()]
        self.taken: set[int] = set()
        for app in sim.apps.values():
            for pd in port_definitions(app.definition) or []:
                self.taken.add(pd.get("port", 0))
            for mapping in port_mappings(app.definition) or []:
                self.taken.add(mapping.get("hostPort", 0))
        self.next = FIRST_PORT

    def take(self) -> int:
        port = self.next
        while port in self.taken or not all(contains(r, port) for r in self.ranges):
            port += 1
        self.taken.add(port)
        self.next = port + 1
        return port


def definition(
    group: str,
    index: int,
    name: str,
    ports: PortBook,
    earlier: list[str],
    placement_rng: random.Random,
) -> dict[str, Any]:
    """One app definition; `earlier` are the ids it may depend on.

    Everything but the instance count and placement rules comes from the service's name
    alone, so a service looks the same in every group and on every simulator, as one
    service deployed to several environments does.
    """
    rng = random.Random(f"demo-catalogue-{name}")
    domain, kind = name.rsplit("-", 1)
    runtime = _runtime(kind, rng)
    java = runtime == "java"
    dubbo = java and kind in ("service", "worker")
    production = group.strip("/").split("/")[0].startswith("prod")
    if java:
        cpus = rng.choice((0.5, 0.75, 1.0))
        mem = rng.choice((1024, 1536, 2048))
    else:
        cpus = rng.choice((0.25, 0.5))
        mem = rng.choice((256, 384, 512))
    version = f"{1 + index % 3}.{rng.randrange(12)}.{rng.randrange(20)}"
    labels = {
        "team": TEAMS[DOMAINS.index(domain) % len(TEAMS)],
        "runtime": runtime,
        "base-image": BASE_IMAGES[runtime],
        "framework": ("dubbo" if dubbo else "spring-boot")
        if java
        else ("express" if runtime == "node" else "fastapi"),
    }
    env = {"SERVICE_NAME": name, "ENVIRONMENT": group.strip("/")}
    if java:
        env["JAVA_OPTS"] = f"-Xms{mem // 2}m -Xmx{mem * 3 // 4}m -XX:+UseG1GC"
        env["SPRING_PROFILES_ACTIVE"] = group.strip("/").replace("/", "-")
    else:
        env["NODE_ENV" if runtime == "node" else "PYTHON_ENV"] = "production"
    app: dict[str, Any] = {
        "id": f"{group.rstrip('/')}/{name}",
        "cpus": cpus,
        "mem": mem,
        "disk": 512 if java else 256,
        "instances": placement_rng.randint(2, 4) if production else 1,
        "labels": labels,
        "env": env,
        "container": {
            "type": "DOCKER",
            "docker": {"image": f"registry.local/shop/{name}:{version}", "forcePullImage": False},
        },
    }
    if dubbo:
        app["networks"] = [{"mode": "host"}]
        app["portDefinitions"] = [
            {"port": ports.take(), "name": "http", "protocol": "tcp"},
            {"port": ports.take(), "name": "dubbo", "protocol": "tcp"},
        ]
        app["requirePorts"] = True
        protocol = "HTTP"
    else:
        app["networks"] = [{"mode": "container/bridge"}]
        app["container"]["portMappings"] = [
            {
                "containerPort": CONTAINER_PORTS[runtime],
                "hostPort": ports.take(),
                "name": "http",
                "protocol": "tcp",
            }
        ]
        protocol = "MESOS_HTTP"
    app["healthChecks"] = [
        {
            "protocol": protocol,
            "path": HEALTH_PATHS[runtime],
            "portIndex": 0,
            "gracePeriodSeconds": 120 if java else 30,
            "intervalSeconds": 15,
            "timeoutSeconds": 5,
            "maxConsecutiveFailures": 3,
        }
    ]
    if production:
        app["constraints"] = [["hostname", "UNIQUE"]]
        app["upgradeStrategy"] = {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}
    if earlier:
        count = min(len(earlier), rng.choice((0, 1, 1, 2, 2, 3)))
        app["dependencies"] = sorted(rng.sample(sorted(earlier), count))
        if not app["dependencies"]:
            del app["dependencies"]
    return app


def definitions(sim: Simulator, groups: list[str], seed: int) -> list[dict[str, Any]]:
    """The demo's app definitions for `groups`, without deploying them."""
    ports = PortBook(sim)
    out = []
    for group in groups:
        group = absolute_id(group)
        rng = random.Random(f"demo-{seed}-{group}")
        earlier: list[str] = []
        for index, name in enumerate(service_names()):
            app = definition(group, index, name, ports, earlier, rng)
            out.append(app)
            if name.endswith(("-service", "-api")):
                earlier.append(app["id"])
    return out


def usage_profile(app: dict[str, Any], seed: int) -> Profile:
    """What a demo service really uses: most peak at 20–60% of the cpus and memory they
    ask for, as over-allocated services do; about one in ten is tight (85–95%).

    Seeded by the service's name and group, so a service differs between environments
    only by its seed.
    """
    rng = random.Random(f"demo-usage-{seed}-{app['id']}")
    if rng.random() < TIGHT_SHARE:
        cpu_share, mem_share = rng.uniform(0.85, 0.95), rng.uniform(0.85, 0.95)
    else:
        cpu_share, mem_share = rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6)
    key = rng.getrandbits(64)
    profile = sized_profile(key, app["cpus"], app["mem"], cpu_share, mem_share)
    # the daily peak is the share; spikes and noise stay small enough for p90 to be near it
    profile.cpu.spikes.factor = 1.15
    return profile


def populate(sim: Simulator, groups: list[str], seed: int = 0) -> list[str]:
    """Deploy about 120 services per group onto `sim`, each with its usage profile;
    returns their app ids."""
    created = []
    for app in definitions(sim, groups, seed):
        sim.create_app(app)
        sim.set_profile(app["id"], usage_profile(app, seed))
        created.append(app["id"])
    return created
