"""Marathon app definitions: ids, network modes, Marathon's defaults, and what placement needs.

Marathon 1.5 accepts both the old networking syntax (`container.docker.network`,
`container.docker.portMappings`, `ipAddress`) and the new one (`networks`,
`container.portMappings`) and answers with the new one and every default filled
in. The simulator does the same, so a client that reads back what it wrote sees
what a real Marathon would show it.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from simulator.resources import milli

HOST = "host"
BRIDGE = "container/bridge"
CONTAINER = "container"
LEGACY_NETWORKS = {"HOST": HOST, "BRIDGE": BRIDGE, "USER": CONTAINER, "NONE": CONTAINER}

DEFAULT_UPGRADE = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
DEFAULT_UNREACHABLE = {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600}
HEALTH_DEFAULTS = {
    "gracePeriodSeconds": 300,
    "intervalSeconds": 60,
    "maxConsecutiveFailures": 3,
    "timeoutSeconds": 20,
    "delaySeconds": 15,
}
HTTP_CHECKS = {"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"}
MARATHON_CHECKS = {"HTTP", "HTTPS", "TCP"}

# The order Marathon 1.5 writes an app's keys in (marathon-lb's captured /v2/apps)
KEY_ORDER = (
    "id",
    "acceptedResourceRoles",
    "backoffFactor",
    "backoffSeconds",
    "cmd",
    "args",
    "constraints",
    "container",
    "cpus",
    "dependencies",
    "disk",
    "env",
    "executor",
    "executorResources",
    "fetch",
    "healthChecks",
    "instances",
    "labels",
    "maxLaunchDelaySeconds",
    "mem",
    "gpus",
    "networks",
    "portDefinitions",
    "readinessChecks",
    "requirePorts",
    "residency",
    "secrets",
    "taskKillGracePeriodSeconds",
    "upgradeStrategy",
    "user",
    "version",
    "versionInfo",
    "killSelection",
    "unreachableStrategy",
)


def split_id(raw: str) -> list[str]:
    return [segment for segment in raw.split("/") if segment]


def absolute_id(raw: str, base: str = "/") -> str:
    """Marathon's PathId: relative ids hang below `base`; empty segments vanish."""
    segments = split_id(raw) if raw.startswith("/") else split_id(base) + split_id(raw)
    return "/" + "/".join(segments)


def parent_of(app_id: str) -> str:
    return "/" + "/".join(split_id(app_id)[:-1])


def ancestors(path_id: str) -> list[str]:
    """The groups an id lies in, root first: `/a/b/c` → `/`, `/a`, `/a/b`."""
    segments = split_id(path_id)
    return ["/" + "/".join(segments[:i]) for i in range(len(segments))]


def is_under(path_id: str, group_id: str) -> bool:
    """Whether `path_id` is `group_id` itself or lies somewhere below it."""
    return group_id == "/" or path_id == group_id or path_id.startswith(group_id + "/")


def task_app_id(task_id: str) -> str | None:
    """The app of a task id, as Marathon's `Task.Id.runSpecId` reads it; None if it cannot.

    A task id is the app id with `_` for `/`, then `.` or `_` and a unique part:
    `lib_sleeper.3e6f…`.
    """
    match = re.fullmatch(r"(.+)[._]([^_.]+)", task_id)
    if match is None:
        return None
    return absolute_id(match.group(1).replace("_", "/"))


def network_mode(definition: dict[str, Any]) -> str:
    """host, container/bridge or container, from either networking syntax.

    The old `container.docker.network` wins over `networks` when a partial update
    merged both into one definition: it is the one the client sent last.
    """
    docker = (definition.get("container") or {}).get("docker") or {}
    if docker.get("network"):
        return LEGACY_NETWORKS.get(docker["network"], CONTAINER)
    networks = definition.get("networks") or []
    if networks:
        return networks[0].get("mode", CONTAINER)
    if definition.get("ipAddress"):
        return CONTAINER
    return HOST


def port_mappings(definition: dict[str, Any]) -> list[dict[str, Any]] | None:
    container = definition.get("container") or {}
    if container.get("portMappings") is not None:
        return container["portMappings"]
    docker = container.get("docker") or {}
    return docker.get("portMappings")


def port_definitions(definition: dict[str, Any]) -> list[dict[str, Any]] | None:
    if definition.get("portDefinitions") is not None:
        return definition["portDefinitions"]
    if definition.get("ports") is not None:
        return [{"port": port} for port in definition["ports"]]
    return None


def _networks(definition: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    docker = (definition.get("container") or {}).get("docker") or {}
    if not docker.get("network") and definition.get("networks"):
        return [{"mode": CONTAINER, **n} for n in definition["networks"]]
    if mode == CONTAINER:
        name = (definition.get("ipAddress") or {}).get("networkName")
        return [{"mode": CONTAINER, "name": name}] if name else [{"mode": CONTAINER}]
    return [{"mode": mode}]


def _health_check(check: dict[str, Any]) -> dict[str, Any]:
    out = {**HEALTH_DEFAULTS, "protocol": "HTTP", **check}
    protocol = out["protocol"]
    if protocol in HTTP_CHECKS:
        out.setdefault("path", "/")
    if protocol != "COMMAND" and "port" not in out:
        out.setdefault("portIndex", 0)
    if protocol in MARATHON_CHECKS:
        out.setdefault("ipProtocol", "IPv4")
    return out


def canonical(definition: dict[str, Any], take_service_port: Callable[[], int]) -> dict[str, Any]:
    """The definition as Marathon 1.5 stores and shows it: new syntax, defaults filled in.

    `take_service_port` hands out a free service port for every port that asks for
    one (0), as Marathon assigns them from `local_port_min` upward.
    """
    d = copy.deepcopy(definition)
    d.pop("version", None)
    d.pop("versionInfo", None)
    mode = network_mode(d)
    app_id = absolute_id(d["id"])
    out: dict[str, Any] = {
        "id": app_id,
        "backoffFactor": d.get("backoffFactor", 1.15),
        "backoffSeconds": d.get("backoffSeconds", 1),
        "cpus": d.get("cpus", 1),
        "disk": d.get("disk", 0),
        "executor": d.get("executor", ""),
        "instances": d.get("instances", 1),
        "labels": d.get("labels", {}),
        "maxLaunchDelaySeconds": d.get("maxLaunchDelaySeconds", 3600),
        "mem": d.get("mem", 128),
        "gpus": d.get("gpus", 0),
        "networks": _networks(d, mode),
        "requirePorts": d.get("requirePorts", False),
        "upgradeStrategy": {**DEFAULT_UPGRADE, **d.get("upgradeStrategy", {})},
        "killSelection": d.get("killSelection", "YOUNGEST_FIRST"),
        "unreachableStrategy": d.get("unreachableStrategy", DEFAULT_UNREACHABLE),
    }
    for key in (
        "acceptedResourceRoles",
        "cmd",
        "user",
        "residency",
        "taskKillGracePeriodSeconds",
        "executorResources",
    ):
        if d.get(key) is not None:
            out[key] = d[key]
    for key in ("args", "constraints", "env", "secrets", "readinessChecks"):
        if d.get(key):
            out[key] = d[key]
    if d.get("dependencies"):
        base = parent_of(app_id)
        out["dependencies"] = [absolute_id(dep, base) for dep in d["dependencies"]]
    fetch = list(d.get("fetch") or []) + [{"uri": uri} for uri in d.get("uris") or []]
    if fetch:
        out["fetch"] = fetch
    if d.get("healthChecks"):
        out["healthChecks"] = [_health_check(check) for check in d["healthChecks"]]
    if d.get("container"):
        out["container"] = _container(d, mode, take_service_port)
    if mode == HOST:
        out["portDefinitions"] = _port_definitions(d, take_service_port)
    return {key: out[key] for key in KEY_ORDER if key in out}


def _container(
    d: dict[str, Any], mode: str, take_service_port: Callable[[], int]
) -> dict[str, Any]:
    source = d["container"]
    out: dict[str, Any] = {"type": source.get("type", "DOCKER")}
    for key, value in source.items():
        if key not in ("type", "docker", "volumes", "portMappings"):
            out[key] = value
    if source.get("docker") is not None:
        docker = {k: v for k, v in source["docker"].items() if k not in ("network", "portMappings")}
        docker.setdefault("forcePullImage", False)
        docker.setdefault("parameters", [])
        docker.setdefault("privileged", False)
        out["docker"] = docker
    out["volumes"] = source.get("volumes", [])
    if mode != HOST:
        mappings = port_mappings(d)
        if mappings is None and mode == BRIDGE:
            mappings = [{"containerPort": 0, "hostPort": 0, "name": "default"}]
        out["portMappings"] = [_port_mapping(m, mode, take_service_port) for m in mappings or []]
    return out


def _port_mapping(
    mapping: dict[str, Any], mode: str, take_service_port: Callable[[], int]
) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPort": mapping.get("containerPort", 0)}
    if "hostPort" in mapping:
        out["hostPort"] = mapping["hostPort"]
    elif mode == BRIDGE:
        out["hostPort"] = 0
    out["labels"] = mapping.get("labels", {})
    if "name" in mapping:
        out["name"] = mapping["name"]
    out["protocol"] = mapping.get("protocol", "tcp")
    out["servicePort"] = mapping.get("servicePort") or take_service_port()
    if mapping.get("networkNames"):
        out["networkNames"] = mapping["networkNames"]
    return out


def _port_definitions(
    d: dict[str, Any], take_service_port: Callable[[], int]
) -> list[dict[str, Any]]:
    """Host networking always has port definitions; none given means one dynamic `default`.

    With `requirePorts` a port of 0 stays 0 (a dynamic host port and no service
    port), so that merging a later partial update cannot turn an assigned service
    port into a required host port.
    """
    given = port_definitions(d)
    if given is None:
        given = [{"port": 0, "name": "default"}]
    require = d.get("requirePorts", False)
    out = []
    for pd in given:
        port = pd.get("port", 0)
        if port == 0 and not require:
            port = take_service_port()
        entry: dict[str, Any] = {"port": port, "protocol": pd.get("protocol", "tcp")}
        if "name" in pd:
            entry["name"] = pd["name"]
        entry["labels"] = pd.get("labels", {})
        out.append(entry)
    return out


def service_ports_of(definition: dict[str, Any]) -> set[int]:
    """Service ports an app holds, so that no other app is given them."""
    ports = {pd["port"] for pd in definition.get("portDefinitions") or [] if pd.get("port")}
    for mapping in (definition.get("container") or {}).get("portMappings") or []:
        if mapping.get("servicePort"):
            ports.add(mapping["servicePort"])
    return ports


@dataclass(frozen=True)
class PortDemand:
    """One port of an instance: `host_port` None means no host port (container networks)."""

    name: str | None
    host_port: int | None
    fixed: bool
    service_port: int | None
    protocol: str


@dataclass(frozen=True)
class AppSpec:
    """What placement and the task lifecycle need from a canonical definition."""

    cpus: int
    mem: int
    disk: int
    gpus: int
    instances: int
    mode: str
    ports: tuple[PortDemand, ...]
    constraints: tuple[tuple[str, ...], ...]
    accepted_roles: tuple[str, ...] | None
    minimum_health_capacity: float
    maximum_over_capacity: float
    kill_selection: str
    health_checks: int
    config_key: str
    executor: tuple[int, int, int] | None = None

    @property
    def host_ports(self) -> tuple[int | None, ...]:
        """Per needed host port: the fixed number, or None for any free one."""
        return tuple(
            p.host_port if p.fixed else None for p in self.ports if p.host_port is not None
        )

    def min_healthy(self) -> int:
        return math.ceil(self.instances * self.minimum_health_capacity)

    def max_capacity(self) -> int:
        return int(self.instances * (1 + self.maximum_over_capacity))


def spec_of(definition: dict[str, Any]) -> AppSpec:
    mode = network_mode(definition)
    demands: list[PortDemand] = []
    if mode == HOST:
        require = definition.get("requirePorts", False)
        for pd in definition.get("portDefinitions") or []:
            port = pd.get("port", 0)
            fixed = bool(require and port)
            demands.append(
                PortDemand(
                    pd.get("name"),
                    port if fixed else 0,
                    fixed,
                    port or None,
                    pd.get("protocol", "tcp"),
                )
            )
    else:
        for mapping in port_mappings(definition) or []:
            host_port = mapping.get("hostPort")
            demands.append(
                PortDemand(
                    mapping.get("name"),
                    host_port,
                    bool(host_port),
                    mapping.get("servicePort") or None,
                    mapping.get("protocol", "tcp"),
                )
            )
    upgrade = {**DEFAULT_UPGRADE, **definition.get("upgradeStrategy", {})}
    roles = definition.get("acceptedResourceRoles")
    config = {
        k: v for k, v in definition.items() if k not in ("instances", "version", "versionInfo")
    }
    return AppSpec(
        cpus=milli(definition.get("cpus", 1)),
        mem=milli(definition.get("mem", 128)),
        disk=milli(definition.get("disk", 0)),
        gpus=definition.get("gpus", 0),
        instances=definition.get("instances", 1),
        mode=mode,
        ports=tuple(demands),
        constraints=tuple(tuple(c) for c in definition.get("constraints") or []),
        accepted_roles=tuple(roles) if roles else None,
        minimum_health_capacity=upgrade["minimumHealthCapacity"],
        maximum_over_capacity=upgrade["maximumOverCapacity"],
        kill_selection=definition.get("killSelection", "YOUNGEST_FIRST"),
        health_checks=len(definition.get("healthChecks") or []),
        config_key=json.dumps(config, sort_keys=True),
        executor=_executor_resources(definition.get("executorResources")),
    )


def _executor_resources(given: dict[str, Any] | None) -> tuple[int, int, int] | None:
    """`executorResources` replaces the default executor overhead when an app sets it."""
    if not given:
        return None
    return (
        milli(given.get("cpus", 0.1)),
        milli(given.get("mem", 32)),
        milli(given.get("disk", 10)),
    )


def first_free(used: Iterable[int], start: int, end: int) -> Callable[[], int]:
    """A service-port allocator: the lowest port in [start, end] not yet used."""
    taken = set(used)

    def take() -> int:
        for port in range(start, end + 1):
            if port not in taken:
                taken.add(port)
                return port
        raise RuntimeError("service port range exhausted")

    return take
