"""Bootstrapping the ledger from a running Marathon: services, allocations and their host ports."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from allocator.ports import in_ranges
from ledger.allocations import write_allocation
from ledger.capacity import usable_constraint
from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError, LedgerError
from ledger.host_ports import lock_cluster, purge_quarantine, ranges_of
from ledger.services import add_service
from ledger.upstream import Endpoints, translate
from marathon.apps import AppShape, describe
from marathon.errors import ClusterError
from marathon.render import carried_env
from models import Allocation, Cluster, Environment, ImportConflict, PortAssignment, Service
from models.base import utcnow
from models.service import RUNTIMES

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
_RUNTIME_HINTS = (
    ("java", ("java", "jdk", "jre", "spring", "dubbo")),
    ("node", ("node",)),
    ("python", ("python",)),
    ("dotnet", ("dotnet", "aspnet")),
)


@dataclass
class ImportReport:
    cluster: str
    environment: str
    group: str
    apps: int = 0
    services_created: list[str] = field(default_factory=list)
    allocations_created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _runtime(shape: AppShape) -> str:
    label = shape.labels.get("runtime", "").lower()
    if label in RUNTIMES:
        return label
    haystack = " ".join([shape.image or "", *shape.labels.values(), *shape.env_names]).lower()
    return next((rt for rt, hints in _RUNTIME_HINTS if any(h in haystack for h in hints)), "other")


def _service_data(shape: AppShape, calls: list[str]) -> dict[str, Any]:
    team = shape.labels.get("team") or shape.labels.get("owner") or "unassigned"
    tags = [t.strip() for t in shape.labels.get("tags", "").split(",") if _TEAM.match(t.strip())]
    health = None
    if shape.health is not None and (shape.health.port_name or shape.health.command):
        h = shape.health
        health = {
            "protocol": h.protocol,
            "port": h.port_name,
            "path": h.path or "/",
            "grace_period_seconds": h.grace_period_seconds,
            "interval_seconds": h.interval_seconds,
            "timeout_seconds": h.timeout_seconds,
            "max_consecutive_failures": h.max_consecutive_failures,
        }
        if h.command:
            health["command"] = h.command
        health = {k: v for k, v in health.items() if v is not None}
    return {
        "name": shape.name,
        "runtime": _runtime(shape),
        "team": team if _TEAM.match(team) else "unassigned",
        "tags": tags,
        "ports": [
            {"name": p.name, "protocol": p.protocol, "container_port": p.container_port}
            for p in shape.ports
        ],
        "health_check": health,
        "calls": [{"service": c} for c in calls],
        "description": f"imported from Marathon {shape.app_id}",
    }


# the API's bounds: what the import stores must be what a PUT could store
_BOUNDS = {
    "cpus": (0.0, 256.0),
    "mem": (0.0, 1048576.0),
    "disk": (0.0, 10485760.0),
    "instances": (0, 10000),
}


def _out_of_bounds(shape: AppShape) -> list[str]:
    problems = [
        f"{name} {getattr(shape, name):g} is outside {lo:g}-{hi:g}"
        for name, (lo, hi) in _BOUNDS.items()
        if not lo <= getattr(shape, name) <= hi
    ]
    bad = [list(c) for c in shape.constraints if not usable_constraint(c)]
    if bad:
        problems.append(f"constraints berth cannot evaluate: {bad}")
    if len(shape.ports) > 16:
        problems.append(f"{len(shape.ports)} ports, more than 16")
    h = shape.health
    if h is not None:
        if h.path and not re.fullmatch(r"/\S*", h.path):
            problems.append(f"health check path '{h.path}' must start with / and hold no spaces")
        for what, value, hi in (
            ("grace period", h.grace_period_seconds, 3600),
            ("interval", h.interval_seconds, 3600),
            ("timeout", h.timeout_seconds, 3600),
            ("max consecutive failures", h.max_consecutive_failures, 1000),
        ):
            if not 0 <= value <= hi:
                problems.append(f"health check {what} {value} is outside 0-{hi}")
    return problems


def _allocation_data(shape: AppShape) -> dict[str, Any]:
    return {
        "cpus": shape.cpus,
        "mem": max(32, round(shape.mem)),
        "disk": max(0, round(shape.disk)),
        "instances": shape.instances,
        "network": shape.network,
        "constraints": [list(c) for c in shape.constraints],
        "upgrade_strategy": {
            "minimum_health_capacity": shape.minimum_health_capacity,
            "maximum_over_capacity": shape.maximum_over_capacity,
        },
        # the app's own variables (Spring profiles, endpoints, …) must survive its first
        # deploy through berth
        "overrides": {"env": env} if (env := carried_env(shape.env)) else {},
    }


class _Import:
    """One import run inside one transaction; the cluster lock is held throughout."""

    def __init__(self, ctx: Context, session: Session, report: ImportReport) -> None:
        self.ctx, self.session, self.report = ctx, session, report
        self.cluster: Cluster = find_cluster(session, report.cluster)
        self.env: Environment = find_environment(session, report.environment)
        self.names: dict[str, str] = {}  # service name → the app id it came from
        self.failed: set[str] = set()

    def guarded(self, shape: AppShape, step: Callable[[], None]) -> None:
        """Run one app's step in a savepoint: an app berth cannot take is a conflict, not
        the end of the import."""
        if shape.app_id in self.failed:
            return
        try:
            with self.session.begin_nested():
                step()
        except (LedgerError, DBAPIError) as exc:
            self.failed.add(shape.app_id)
            detail = exc.detail if isinstance(exc, LedgerError) else str(exc.orig).splitlines()[0]
            self.conflict(shape, "invalid", f"{detail}; not imported")

    def conflict(self, shape: AppShape, kind: str, detail: str) -> None:
        self.report.conflicts.append({"app": shape.app_id, "kind": kind, "detail": detail})
        known = self.session.scalar(
            select(ImportConflict.id).where(
                ImportConflict.environment == self.env.name,
                ImportConflict.app_id == shape.app_id,
                ImportConflict.kind == kind,
                ImportConflict.detail == detail[:500],
            )
        )
        if known is None:
            self.session.add(
                ImportConflict(
                    cluster_id=self.cluster.id,
                    environment=self.env.name,
                    app_id=shape.app_id,
                    kind=kind,
                    detail=detail[:500],
                    recorded_at=utcnow(),
                )
            )

    def importable(self, shape: AppShape) -> bool:
        if not _DNS_LABEL.match(shape.name):
            self.conflict(shape, "name", f"'{shape.name}' is not a DNS label; not imported")
            return False
        other = self.names.get(shape.name)
        if other is not None and other != shape.app_id:
            self.conflict(
                shape, "name", f"'{shape.name}' is also the name of {other}; not imported"
            )
            return False
        self.names[shape.name] = shape.app_id
        problems = _out_of_bounds(shape)
        if problems:
            self.conflict(shape, "invalid", "; ".join(problems) + "; not imported")
            return False
        if shape.network == "container":
            self.conflict(shape, "network", "user (container) networks are not supported")
            return False
        bad = [p.name for p in shape.ports if not _DNS_LABEL.match(p.name)]
        if bad:
            self.conflict(shape, "port-name", f"port names {bad} are not DNS labels")
            return False
        if shape.cpus <= 0:
            self.conflict(shape, "resources", "cpus must be more than 0; not imported")
            return False
        if shape.mem < 32:
            self.conflict(shape, "resources", f"mem {shape.mem} MiB raised to berth's 32 MiB")
        return True

    def ensure_service(self, shape: AppShape, calls: list[str]) -> None:
        if shape.health is not None and not (shape.health.port_name or shape.health.command):
            self.conflict(
                shape, "health-check", "its health check names no port of the app; left out"
            )
        service = self.session.scalar(select(Service).where(Service.name == shape.name))
        if service is None:
            add_service(self.ctx, self.session, _service_data(shape, calls))
            self.report.services_created.append(shape.name)
            return
        have, want = [p.name for p in service.ports], [p.name for p in shape.ports]
        if have != want:
            self.conflict(
                shape, "ports", f"service '{shape.name}' has ports {have}, the app has {want}"
            )

    def requested_ports(self, shape: AppShape) -> dict[str, int]:
        service = self.session.scalar(select(Service).where(Service.name == shape.name))
        names = {p.name for p in service.ports} if service else set()
        ranges = ranges_of(self.cluster)
        requested: dict[str, int] = {}
        for spec in shape.ports:
            if spec.host_port is None or spec.name not in names:
                continue
            if not in_ranges(ranges, spec.host_port):
                self.conflict(
                    shape,
                    "port-outside-ranges",
                    f"host port {spec.name}={spec.host_port} lies outside the cluster's ranges; "
                    "berth assigned another",
                )
                continue
            holder = self.session.scalar(
                select(PortAssignment).where(
                    PortAssignment.cluster_id == self.cluster.id,
                    PortAssignment.port == spec.host_port,
                )
            )
            if holder is not None:
                self.conflict(
                    shape,
                    "port-taken",
                    f"host port {spec.name}={spec.host_port} is also used by "
                    f"{holder.environment}/{holder.service}; berth assigned another",
                )
                continue
            requested[spec.name] = spec.host_port
        return requested

    def ensure_allocation(self, shape: AppShape) -> None:
        entity = f"{self.env.name}/{shape.name}"
        existing = self.session.scalar(
            select(Allocation)
            .join(Service)
            .where(Allocation.environment_id == self.env.id, Service.name == shape.name)
        )
        data = _allocation_data(shape)
        if existing is not None:
            same = (
                existing.cpus == data["cpus"]
                and existing.mem == data["mem"]
                and existing.disk == data["disk"]
                and existing.instances == data["instances"]
                and existing.network == data["network"]
            )
            (self.report.unchanged if same else self.report.differing).append(entity)
            return
        data["ports"] = self.requested_ports(shape)
        write_allocation(self.ctx, self.session, self.env.name, shape.name, data, check_fit=False)
        self.report.allocations_created.append(entity)


def _order(shapes: list[AppShape]) -> list[tuple[AppShape, list[str]]]:
    """Callees before callers, so every service exists when its calls are recorded."""
    by_id = {s.app_id: s for s in shapes}
    graph = {s.app_id: [d for d in s.dependencies if d in by_id] for s in shapes}
    try:
        ordered = list(TopologicalSorter(graph).static_order())
    except CycleError:
        ordered = sorted(by_id)  # Marathon refuses cycles; keep going without calls if one slips
        graph = {k: [] for k in graph}
    return [(by_id[i], [by_id[d].name for d in graph[i]]) for i in ordered]


def import_marathon(
    ctx: Context, cluster: str, environment: str, group: str | None = None
) -> ImportReport:
    """Take every app of a Marathon group into the ledger; a second run changes nothing."""

    def check(session: Session) -> tuple[Endpoints, str]:
        c = find_cluster(session, cluster)
        env = find_environment(session, environment)
        if env.cluster_id != c.id:
            raise InvalidError(
                {"environment": [f"'{environment}' is on cluster '{env.cluster.name}'"]}
            )
        return Endpoints.of(c), env.marathon_group

    endpoints, env_group = in_transaction(ctx, check)
    group = "/" + (group or env_group).strip("/")
    try:
        apps = endpoints.marathon(ctx).apps(group)
    except ClusterError as exc:
        raise translate(exc, f"reading Marathon of cluster '{cluster}'") from exc
    return _take(ctx, cluster, environment, group, [a.definition for a in apps])


def import_definitions(
    ctx: Context, environment: str, definitions: list[dict[str, Any]], source: str
) -> ImportReport:
    """Take a tree of Marathon app definitions (the templates teams keep) into the ledger.

    The apps are taken as if they ran in the environment's group, whatever their ids say.
    """
    env_cluster, group = in_transaction(
        ctx,
        lambda s: (
            find_environment(s, environment).cluster.name,
            find_environment(s, environment).marathon_group,
        ),
    )
    prefix = group.rstrip("/")
    moved = [
        {**d, "id": f"{prefix}/{str(d.get('id', '')).rstrip('/').rsplit('/', 1)[-1]}"}
        for d in definitions
    ]
    report = _take(ctx, env_cluster, environment, group, moved)
    report.group = source
    return report


def _take(
    ctx: Context, cluster: str, environment: str, group: str, definitions: list[dict[str, Any]]
) -> ImportReport:
    shapes = sorted((describe(d) for d in definitions), key=lambda s: s.app_id)

    def work(session: Session) -> ImportReport:
        report = ImportReport(cluster, environment, group, apps=len(shapes))
        run = _Import(ctx, session, report)
        lock_cluster(ctx, session, run.cluster.id)
        purge_quarantine(ctx, session, run.cluster.id, utcnow())
        importable = [s for s in shapes if run.importable(s)]
        ordered = _order(importable)
        for shape, calls in ordered:
            run.guarded(shape, lambda shape=shape, calls=calls: run.ensure_service(shape, calls))
        for shape, _ in ordered:
            run.guarded(shape, lambda shape=shape: run.ensure_allocation(shape))
        return report

    return in_transaction(ctx, work)
