"""Plain-dict views of the models: what the API returns and what the audit log records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from allocator.ports import PortRange
from ledger.capacity import slots_used
from models import Allocation, Cluster, Environment, Reservation, Service


def cluster_view(c: Cluster) -> dict[str, Any]:
    return {
        "name": c.name,
        "mesos_masters": list(c.mesos_masters),
        "marathon_url": c.marathon_url,
        "marathon_urls": list(c.marathon_urls or [c.marathon_url]),
        "port_ranges": [str(PortRange(lo, hi)) for lo, hi in c.port_ranges],
        "description": c.description,
        "credentials_env": c.credentials_env,
        "mesos_role": c.mesos_role,
        "executor_cpus": c.executor_cpus,
        "executor_mem": c.executor_mem,
        "concurrent_deploys": c.concurrent_deploys,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def environment_view(e: Environment) -> dict[str, Any]:
    return {
        "name": e.name,
        "cluster": e.cluster.name,
        "marathon_group": e.marathon_group,
        "headroom": e.headroom,
        "defaults": e.defaults,
        "description": e.description,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }


def service_view(s: Service) -> dict[str, Any]:
    return {
        "name": s.name,
        "runtime": s.runtime,
        "team": s.team,
        "tags": list(s.tags),
        "ports": [
            {"name": p.name, "protocol": p.protocol, "container_port": p.container_port}
            for p in s.ports
        ],
        "health_check": s.health_check,
        "calls": sorted(
            (
                {"service": d.callee.name, "fan_out": d.fan_out}
                | ({"allow_cycle": True} if d.allow_cycle else {})
                for d in s.calls
            ),
            key=lambda d: str(d["service"]),
        ),
        "description": s.description,
        "dockerfile_template": s.dockerfile_template,
        "consistency_exceptions": list(s.consistency_exceptions or []),
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def allocation_view(a: Allocation) -> dict[str, Any]:
    order = {p.name: i for i, p in enumerate(a.service.ports)}
    held = sorted(a.ports, key=lambda p: order.get(p.port_name, len(order)))
    return {
        "id": a.id,
        "environment": a.environment.name,
        "service": a.service.name,
        "cluster": a.environment.cluster.name,
        "cpus": a.cpus,
        "mem": a.mem,
        "disk": a.disk,
        "instances": a.instances,
        "network": a.network,
        "constraints": a.constraints,
        "upgrade_strategy": {
            "minimum_health_capacity": a.minimum_health_capacity,
            "maximum_over_capacity": a.maximum_over_capacity,
        },
        "overrides": a.overrides,
        "ports": {p.port_name: p.port for p in held},
        "version": a.version,
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "updated_by": a.updated_by,
    }


def reservation_view(r: Reservation, now: datetime, instances: int | None = None) -> dict[str, Any]:
    """`instances`: those of the allocation the reservation belongs to, None when it has
    none (plain slots, or the allocation is gone): what `slots_used` is counted from."""
    state = "expired" if r.ends_at <= now else ("active" if r.starts_at <= now else "upcoming")
    return {
        "id": r.id,
        "cluster": r.cluster.name,
        "environment": r.environment.name if r.environment else None,
        "service": r.service.name if r.service else None,
        "count": r.count,
        "base_instances": r.base_instances,
        "slots_used": slots_used(r.count, r.base_instances, instances),
        "cpus": r.cpus,
        "mem": r.mem,
        "disk": r.disk,
        "constraints": r.constraints,
        "starts_at": r.starts_at,
        "ends_at": r.ends_at,
        "reason": r.reason,
        "owner": r.owner,
        "forced": r.forced,
        "state": state,
        "created_at": r.created_at,
    }
