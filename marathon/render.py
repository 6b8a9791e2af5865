"""Rendering a Marathon app definition (1.5+ syntax) from the ledger; pure and deterministic.

The same inputs give byte-identical JSON (`canonical_json`) and the same `config_hash`, so a
pipeline can tell whether anything changed and a release record says exactly what was sent.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# repository[:port]/path[:tag][@digest], as Docker parses references
IMAGE_REFERENCE = re.compile(
    # a registry is named only when the first part has a dot or a port, or is localhost
    r"^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::[0-9]+)?/|[a-zA-Z0-9-]+:[0-9]+/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
DEFAULT_HEAP_SHARE = 0.75
# Marathon's health-check protocols that name a port; COMMAND runs a command instead
_PORTED = {"HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}


@dataclass(frozen=True)
class Port:
    name: str
    host_port: int
    protocol: str = "tcp"
    container_port: int | None = None  # bridge mode; None: the same as the host port


@dataclass(frozen=True)
class RenderInput:
    group: str  # Marathon group of the environment, like /prod
    service: str
    runtime: str
    team: str
    cpus: float
    mem: int
    disk: int
    instances: int
    network: str  # host or bridge
    ports: Sequence[Port]
    image: str
    allocation_version: int
    health_check: Mapping[str, Any] | None = None
    constraints: Sequence[Sequence[str]] = ()
    minimum_health_capacity: float = 1.0
    maximum_over_capacity: float = 1.0
    dependencies: Sequence[str] = ()  # services it calls, allocated in the same group
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the environment's
    overrides: Mapping[str, Any] = field(default_factory=dict)  # the allocation's merge patch
    build_url: str | None = None
    git_sha: str | None = None


def valid_image(reference: str) -> bool:
    return len(reference) <= 512 and bool(IMAGE_REFERENCE.fullmatch(reference))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def canonical_json(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(definition: Mapping[str, Any]) -> str:
    """The hash of everything but the labels that carry it (and the build's own labels)."""
    body = dict(definition)
    labels = {
        k: v
        for k, v in (body.get("labels") or {}).items()
        if k not in ("BERTH_CONFIG_HASH", "BERTH_BUILD_URL", "BERTH_GIT_SHA")
    }
    body["labels"] = labels
    # text that is not valid Unicode (a lone surrogate in old data) still hashes, the same
    # way every time; marathon/validation.py refuses to serve it
    return hashlib.sha256(canonical_json(body).encode("utf-8", "surrogatepass")).hexdigest()


def _heap_mib(mem: int, share: float) -> int:
    return max(16, int(mem * share))


# variables that render() writes from the ledger; an imported app's own values of them are
# left behind, so that they follow the allocation (mem, host ports) from then on
RENDERED_ENV = frozenset({"DUBBO_PORT_TO_REGISTRY", "DUBBO_IP_TO_REGISTRY_FROM"})
_HEAP_FLAG = re.compile(r"-Xm[sx]\S*")


def carried_env(running: Mapping[str, str]) -> dict[str, str]:
    """What an imported app's env must keep when berth renders it: all but what berth
    writes itself, and JAVA_OPTS without its heap flags (berth sizes the heap by mem)."""
    env = {k: v for k, v in running.items() if k not in RENDERED_ENV}
    if "JAVA_OPTS" in env:
        rest = " ".join(_HEAP_FLAG.sub("", env["JAVA_OPTS"]).split())
        if rest:
            env["JAVA_OPTS"] = rest
        else:
            del env["JAVA_OPTS"]
    return env


def _env(inp: RenderInput) -> dict[str, str]:
    env = {str(k): str(v) for k, v in (inp.defaults.get("env") or {}).items()}
    if inp.runtime == "java":
        share = float(inp.defaults.get("java_heap_share", DEFAULT_HEAP_SHARE))
        heap = _heap_mib(inp.mem, share)
        flags = f"-Xms{heap}m -Xmx{heap}m"
        extra = env.get("JAVA_OPTS", "").strip()
        env["JAVA_OPTS"] = f"{flags} {extra}".strip()
    dubbo = next((p for p in inp.ports if p.name == "dubbo"), None)
    if dubbo is not None:
        # consumers outside Docker must reach the provider on the host's port
        env["DUBBO_PORT_TO_REGISTRY"] = str(dubbo.host_port)
        if inp.network == "bridge":
            # Mesos gives every task the agent's address as $HOST; the image's entrypoint
            # exports DUBBO_IP_TO_REGISTRY from the variable named here
            env["DUBBO_IP_TO_REGISTRY_FROM"] = "HOST"
    return env


def _keep_heap_flags(inp: RenderInput, definition: dict[str, Any]) -> None:
    """An override's JAVA_OPTS adds to the heap flags that mem sets, unless it sets -Xmx."""
    env = definition.get("env")
    overridden = (inp.overrides.get("env") or {}) if isinstance(inp.overrides, Mapping) else {}
    if inp.runtime != "java" or not isinstance(env, dict) or "JAVA_OPTS" not in overridden:
        return
    value = str(env.get("JAVA_OPTS") or "")
    if "-Xmx" not in value:
        flags = _env(inp)["JAVA_OPTS"].split()
        heap = " ".join(f for f in flags if _HEAP_FLAG.fullmatch(f))
        env["JAVA_OPTS"] = f"{heap} {value}".strip()


def _health(inp: RenderInput) -> list[dict[str, Any]]:
    hc = inp.health_check
    if not hc:
        return []
    protocol = str(hc.get("protocol", "HTTP"))
    check: dict[str, Any] = {
        "protocol": protocol,
        "gracePeriodSeconds": int(hc.get("grace_period_seconds", 300)),
        "intervalSeconds": int(hc.get("interval_seconds", 60)),
        "timeoutSeconds": int(hc.get("timeout_seconds", 20)),
        "maxConsecutiveFailures": int(hc.get("max_consecutive_failures", 3)),
    }
    if protocol == "COMMAND":
        check["command"] = {"value": str(hc.get("command", "true"))}
        return [check]
    names = [p.name for p in inp.ports]
    if protocol not in _PORTED or hc.get("port") not in names:
        return []
    check["portIndex"] = names.index(str(hc["port"]))
    if protocol in ("HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"):
        check["path"] = str(hc.get("path") or "/")
    return [check]


def _networking(inp: RenderInput, definition: dict[str, Any]) -> None:
    if inp.network == "host":
        definition["networks"] = [{"mode": "host"}]
        definition["portDefinitions"] = [
            {"port": p.host_port, "name": p.name, "protocol": p.protocol} for p in inp.ports
        ]
        definition["requirePorts"] = bool(inp.ports)
        return
    definition["networks"] = [{"mode": "container/bridge"}]
    definition["container"]["portMappings"] = [
        {
            "containerPort": p.container_port or p.host_port,
            "hostPort": p.host_port,
            "name": p.name,
            "protocol": p.protocol,
        }
        for p in inp.ports
    ]


def render(inp: RenderInput) -> dict[str, Any]:
    """The app definition to PUT to Marathon for one allocation and one image."""
    group = "/" + inp.group.strip("/")
    app_id = (group.rstrip("/") + "/" + inp.service) if group != "/" else "/" + inp.service
    labels = {str(k): str(v) for k, v in (inp.defaults.get("labels") or {}).items()}
    labels.update(
        {
            "BERTH_SERVICE": inp.service,
            "BERTH_TEAM": inp.team,
            "BERTH_RUNTIME": inp.runtime,
            "BERTH_ALLOCATION_VERSION": str(inp.allocation_version),
        }
    )
    definition: dict[str, Any] = {
        "id": app_id,
        "cpus": inp.cpus,
        "mem": inp.mem,
        "disk": inp.disk,
        "instances": inp.instances,
        "container": {"type": "DOCKER", "docker": {"image": inp.image}},
        "env": _env(inp),
        "labels": labels,
        "upgradeStrategy": {
            "minimumHealthCapacity": inp.minimum_health_capacity,
            "maximumOverCapacity": inp.maximum_over_capacity,
        },
        "constraints": [list(c) for c in inp.constraints],
        "healthChecks": _health(inp),
        "dependencies": sorted(
            (group.rstrip("/") + "/" + d) for d in set(inp.dependencies) if d != inp.service
        ),
    }
    _networking(inp, definition)
    definition = merge_patch(definition, inp.defaults.get("patch") or {})
    definition = merge_patch(definition, dict(inp.overrides))
    # what berth owns comes back whatever a patch did: the app's id, the build's image, and
    # berth's labels (a patch that nulls them out cannot take them away)
    definition["id"] = app_id
    container = definition.get("container")
    if not isinstance(container, dict):
        container = definition["container"] = {"type": "DOCKER"}
    docker = container.get("docker")
    if not isinstance(docker, dict):
        docker = container["docker"] = {}
    docker["image"] = inp.image
    if not isinstance(definition.get("labels"), dict):
        definition["labels"] = {}
    definition["labels"].update({k: v for k, v in labels.items() if k.startswith("BERTH_")})
    _keep_heap_flags(inp, definition)
    if inp.build_url:
        definition["labels"]["BERTH_BUILD_URL"] = inp.build_url
    if inp.git_sha:
        definition["labels"]["BERTH_GIT_SHA"] = inp.git_sha
    definition["labels"]["BERTH_CONFIG_HASH"] = config_hash(definition)
    return definition  # plain dicts and lists, built in a fixed order: same input, same bytes
