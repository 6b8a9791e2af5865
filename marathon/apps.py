"""Reading a Marathon app definition (1.5+ syntax, and the legacy one) into plain facts."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PortSpec:
    name: str
    host_port: int | None  # None: Marathon picks one per task (port 0, or requirePorts off)
    container_port: int | None
    protocol: str


@dataclass(frozen=True)
class HealthSpec:
    protocol: str
    port_name: str | None
    path: str | None
    command: str | None
    grace_period_seconds: int
    interval_seconds: int
    timeout_seconds: int
    max_consecutive_failures: int


@dataclass(frozen=True)
class AppShape:
    app_id: str
    group: str
    name: str
    cpus: float
    mem: float
    disk: float
    instances: int
    network: str  # host, bridge or container (a user network)
    ports: tuple[PortSpec, ...]
    constraints: tuple[tuple[str, ...], ...]
    health: HealthSpec | None
    image: str | None
    labels: dict[str, str]
    dependencies: tuple[str, ...]
    minimum_health_capacity: float
    maximum_over_capacity: float
    env_names: tuple[str, ...]
    # plain values only: Marathon's secret references ({"secret": …}) are not ours to copy
    env: dict[str, str] = field(default_factory=dict)


def _network(app: dict[str, Any]) -> str:
    networks = app.get("networks") or []
    if networks:
        mode = str(networks[0].get("mode", "host"))
        return {"host": "host", "container/bridge": "bridge"}.get(mode, "container")
    legacy = ((app.get("container") or {}).get("docker") or {}).get("network")
    if legacy:
        return {"HOST": "host", "BRIDGE": "bridge"}.get(str(legacy).upper(), "container")
    return "host"


def _protocol(value: Any) -> str:
    return str(value or "tcp").split(",")[0].strip().lower() or "tcp"


def _unique_names(specs: list[PortSpec]) -> tuple[PortSpec, ...]:
    """Unnamed ports are called port0, port1…; never twice the same name."""
    seen: set[str] = set()
    out = []
    for i, spec in enumerate(specs):
        name, n = spec.name, 0
        while name in seen:
            n += 1
            name = f"port{i}-{n}"
        seen.add(name)
        out.append(PortSpec(name, spec.host_port, spec.container_port, spec.protocol))
    return tuple(out)


def _ports(app: dict[str, Any], network: str) -> tuple[PortSpec, ...]:
    return _unique_names(_port_list(app, network))


def _port_list(app: dict[str, Any], network: str) -> list[PortSpec]:
    specs: list[PortSpec] = []
    if network == "host":
        definitions = app.get("portDefinitions")
        if definitions is None:
            definitions = [{"port": p} for p in app.get("ports") or []]
        require = bool(app.get("requirePorts", False))
        for i, d in enumerate(definitions):
            port = int(d.get("port") or 0)
            specs.append(
                PortSpec(
                    name=str(d.get("name") or f"port{i}"),
                    host_port=port if (require and port) else None,
                    container_port=None,
                    protocol=_protocol(d.get("protocol")),
                )
            )
        return specs
    container = app.get("container") or {}
    mappings = container.get("portMappings")
    if mappings is None:
        mappings = (container.get("docker") or {}).get("portMappings") or []
    for i, m in enumerate(mappings):
        host = m.get("hostPort")
        specs.append(
            PortSpec(
                name=str(m.get("name") or f"port{i}"),
                host_port=int(host) if host else None,
                container_port=int(m["containerPort"]) if m.get("containerPort") else None,
                protocol=_protocol(m.get("protocol")),
            )
        )
    return specs


def _constraints(app: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    out = []
    for c in app.get("constraints") or []:
        parts = c.split(":") if isinstance(c, str) else c
        out.append(tuple(str(p) for p in parts))
    return tuple(out)


def _health(app: dict[str, Any], ports: tuple[PortSpec, ...]) -> HealthSpec | None:
    checks = app.get("healthChecks") or []
    if not checks:
        return None
    check = checks[0]
    port_name = None
    if "portIndex" in check and int(check["portIndex"]) < len(ports):
        port_name = ports[int(check["portIndex"])].name
    elif check.get("port"):
        port_name = next(
            (p.name for p in ports if check["port"] in (p.host_port, p.container_port)), None
        )
    elif ports and check.get("protocol", "HTTP") != "COMMAND":
        port_name = ports[0].name  # Marathon's default portIndex is 0
    command = check.get("command")
    return HealthSpec(
        protocol=str(check.get("protocol", "HTTP")),
        port_name=port_name,
        path=check.get("path"),
        command=command.get("value") if isinstance(command, dict) else command,
        grace_period_seconds=int(check.get("gracePeriodSeconds", 300)),
        interval_seconds=int(check.get("intervalSeconds", 60)),
        timeout_seconds=int(check.get("timeoutSeconds", 20)),
        max_consecutive_failures=int(check.get("maxConsecutiveFailures", 3)),
    )


def absolute_id(app_id: str, relative_to: str) -> str:
    """Marathon ids may be relative to the app's group, like `../user-service`."""
    if app_id.startswith("/"):
        return posixpath.normpath(app_id)
    return posixpath.normpath(posixpath.join(relative_to, app_id))


def image_of(app: dict[str, Any]) -> str | None:
    """The Docker image an app definition runs, if it names one (the Mesos containerizer's
    definitions and apps without a container have none)."""
    image = ((app.get("container") or {}).get("docker") or {}).get("image")
    return str(image) if image is not None else None


def describe(app: dict[str, Any]) -> AppShape:
    app_id = "/" + str(app["id"]).strip("/")
    group, name = posixpath.split(app_id)
    network = _network(app)
    ports = _ports(app, network)
    strategy = app.get("upgradeStrategy") or {}
    env = app.get("env") or {}
    return AppShape(
        app_id=app_id,
        group=group or "/",
        name=name,
        cpus=float(app.get("cpus", 1)),
        mem=float(app.get("mem", 128)),
        disk=float(app.get("disk", 0)),
        instances=int(app.get("instances", 1)),
        network=network,
        ports=ports,
        constraints=_constraints(app),
        health=_health(app, ports),
        image=image_of(app),
        labels={str(k): str(v) for k, v in (app.get("labels") or {}).items()},
        dependencies=tuple(absolute_id(d, group or "/") for d in app.get("dependencies") or []),
        minimum_health_capacity=float(strategy.get("minimumHealthCapacity", 1)),
        maximum_over_capacity=float(strategy.get("maximumOverCapacity", 1)),
        env_names=tuple(sorted(str(k) for k in env)),
        env={str(k): str(v) for k, v in env.items() if isinstance(v, str | int | float)},
    )
