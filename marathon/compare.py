"""Comparing two Marathon app definitions field by field; pure.

Both sides are read the same way (through `marathon.apps.describe` and Marathon's defaults),
so a definition berth renders and the same definition as Marathon shows it back (defaults
filled in, service ports and labels added) compare equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from marathon.apps import describe

# fields that drift always compares: the ledger owns them
LEDGER_FIELDS = (
    "cpus",
    "mem",
    "disk",
    "instances",
    "network",
    "ports",
    "constraints",
    "upgrade_strategy",
    "health_checks",
)
# fields the ledger knows only once berth has deployed the app (the release says what was sent)
RELEASE_FIELDS = ("image", "env")
HIDDEN = "(hidden)"
# env vars whose values are never shown: they may hold credentials
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH", re.IGNORECASE)
_HEALTH_PORTED = {"HTTP", "HTTPS", "TCP", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"}
_HEALTH_PATHED = {"HTTP", "HTTPS", "MESOS_HTTP", "MESOS_HTTPS"}


@dataclass(frozen=True)
class Difference:
    field: str
    ledger: Any
    running: Any

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "ledger": self.ledger, "running": self.running}


def _number(value: float) -> float | int:
    """1024.0 reads as 1024, so that JSON answers show what the user typed."""
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _health_checks(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every health check with Marathon's defaults filled in, as Marathon shows them back."""
    out = []
    for check in definition.get("healthChecks") or []:
        protocol = str(check.get("protocol", "HTTP"))
        command = check.get("command")
        facts: dict[str, Any] = {
            "protocol": protocol,
            "path": check.get("path", "/") if protocol in _HEALTH_PATHED else None,
            "port_index": None,
            "port": check.get("port"),
            "command": command.get("value") if isinstance(command, Mapping) else command,
            "grace_period_seconds": int(check.get("gracePeriodSeconds", 300)),
            "interval_seconds": int(check.get("intervalSeconds", 60)),
            "timeout_seconds": int(check.get("timeoutSeconds", 20)),
            "max_consecutive_failures": int(check.get("maxConsecutiveFailures", 3)),
        }
        if protocol in _HEALTH_PORTED and check.get("port") is None:
            facts["port_index"] = int(check.get("portIndex", 0))
        out.append(facts)
    return out


def app_facts(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The compared facts of one app definition, flat: `ports.http`, `env.JAVA_OPTS`, …"""
    shape = describe(dict(definition))
    facts: dict[str, Any] = {
        "cpus": _number(shape.cpus),
        "mem": _number(shape.mem),
        "disk": _number(shape.disk),
        "instances": shape.instances,
        "network": shape.network,
        "constraints": sorted([list(c) for c in shape.constraints]),
        "upgrade_strategy.minimum_health_capacity": _number(shape.minimum_health_capacity),
        "upgrade_strategy.maximum_over_capacity": _number(shape.maximum_over_capacity),
        "image": shape.image,
    }
    for port in shape.ports:
        facts[f"ports.{port.name}"] = port.host_port
    checks = _health_checks(definition)
    facts["health_checks"] = len(checks)
    for i, check in enumerate(checks):
        for key, value in check.items():
            facts[f"health_checks[{i}].{key}"] = value
    for name, value in (definition.get("env") or {}).items():
        # a secret given as {"secret": "name"} compares by its reference
        facts[f"env.{name}"] = value if isinstance(value, str) else repr(value)
    return facts


def _group(field: str) -> str:
    """The drift field a fact belongs to: `ports.http` → ports, `health_checks[0].path` → …"""
    if field.startswith("upgrade_strategy."):
        return "upgrade_strategy"
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def _shown(field: str, value: Any) -> Any:
    if field.startswith("env.") and value is not None and SECRET_NAME.search(field[4:]):
        return HIDDEN
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def differences(
    ledger: Mapping[str, Any], running: Mapping[str, Any], fields: Iterable[str]
) -> list[Difference]:
    """Facts that differ between the two definitions, limited to the named field groups.

    A fact present on one side only is a difference with None on the other side. Values
    of env vars whose names look like credentials are shown as "(hidden)".
    """
    wanted = set(fields)
    mine, theirs = app_facts(ledger), app_facts(running)
    found = []
    for key in [*mine, *(k for k in theirs if k not in mine)]:
        if _group(key) not in wanted:
            continue
        a, b = mine.get(key), theirs.get(key)
        if not _same(a, b):
            found.append(Difference(key, _shown(key, a), _shown(key, b)))
    return found


def image_repository(image: str | None) -> str | None:
    """registry.local/shop/order-service:1.2@sha256:… → registry.local/shop/order-service."""
    if not image:
        return None
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name
