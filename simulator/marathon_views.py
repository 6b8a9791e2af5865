"""Marathon's JSON bodies, shaped like the captured Marathon 1.5 answers in the reference.

Called with the simulator's lock held; they only read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulator.apps import KEY_ORDER, parent_of
from simulator.placement import Offer, funnel
from simulator.state import (
    LOCAL_PORT_MAX,
    LOCAL_PORT_MIN,
    App,
    AppSnapshot,
    Deployment,
    Simulator,
    Task,
    iso,
)

MARATHON_VERSION = "1.5.6"
ACTION_NAMES = {
    "start": "StartApplication",
    "scale": "ScaleApplication",
    "restart": "RestartApplication",
    "stop": "StopApplication",
}
APP_EMBEDS = {"tasks", "counts", "deployments", "readiness", "lastTaskFailure", "failures"}
GROUP_EMBEDS = {"apps", "groups", "pods"}


def definition_json(app: App | AppSnapshot) -> dict[str, Any]:
    """The app definition with its version, as stored (the `app` of a queue entry, or the
    answer of /v2/apps/{id}/versions/{version})."""
    out = dict(app.definition)
    out["version"] = app.version
    out["versionInfo"] = {
        "lastScalingAt": app.last_scaling_at,
        "lastConfigChangeAt": app.last_config_change_at,
    }
    return {key: out[key] for key in KEY_ORDER if key in out}


def embeds(values: list[str]) -> set[str]:
    """`apps.tasks` / `app.tasks` → `tasks`; `failures` is Marathon's shorthand for four."""
    found = {v.split(".", 1)[-1] for v in values}
    found &= APP_EMBEDS
    if "failures" in found:
        found |= {"tasks", "counts", "deployments", "lastTaskFailure"}
    if "tasks" in found:
        found.add("deployments")
    return found


def app_json(sim: Simulator, app: App, embed: set[str]) -> dict[str, Any]:
    """An AppInfo: the definition plus the status fields asked for by `embed`."""
    out = definition_json(app)
    tasks = sim.tasks_of(app.id)
    if "counts" in embed:
        running = len(tasks)
        out["tasksStaged"] = 0
        out["tasksRunning"] = running
        out["tasksHealthy"] = running if app.spec.health_checks else 0
        out["tasksUnhealthy"] = 0
    if "deployments" in embed:
        out["deployments"] = [{"id": d.id} for d in sim.locks(app.id)]
    if "readiness" in embed:
        out["readinessCheckResults"] = []
    if "tasks" in embed:
        out["tasks"] = [task_json(sim, t) for t in tasks]
    return out


def group_embeds(values: list[str]) -> tuple[set[str], set[str]]:
    """`group.apps`, `group.groups`, `group.apps.tasks`… → (group embeds, app embeds).

    Without any, Marathon embeds apps, groups and pods (and no app status).
    """
    if not values:
        return set(GROUP_EMBEDS), set()
    group, app = set(), []
    for value in values:
        parts = value.split(".")
        if parts[0] == "group" and len(parts) == 2 and parts[1] in GROUP_EMBEDS:
            group.add(parts[1])
        elif parts[:2] == ["group", "apps"] and len(parts) == 3:
            group.add("apps")
            app.append(parts[2])
    return group, embeds(app)


def group_json(sim: Simulator, group_id: str, group_embed: set[str], app_embed: set[str]) -> dict:
    """A GroupInfo: the group and, recursively, the groups below it."""
    apps: dict[str, list[App]] = {}
    for app in sorted(sim.apps.values(), key=lambda a: a.id):
        apps.setdefault(parent_of(app.id), []).append(app)
    groups: dict[str, list[str]] = {}
    for path_id in sorted(sim.groups):
        if path_id != "/":
            groups.setdefault(parent_of(path_id), []).append(path_id)

    def one(path_id: str) -> dict[str, Any]:
        meta = sim.groups[path_id]
        out: dict[str, Any] = {"id": path_id}
        if "apps" in group_embed:
            out["apps"] = [app_json(sim, app, app_embed) for app in apps.get(path_id, [])]
        if "groups" in group_embed:
            out["groups"] = [one(child) for child in groups.get(path_id, [])]
        if "pods" in group_embed:
            out["pods"] = []
        out["dependencies"] = list(meta.dependencies)
        out["version"] = meta.version
        return out

    return one(group_id)


def task_json(sim: Simulator, task: Task) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ipAddresses": [{"ipAddress": task.ip, "protocol": "IPv4"}],
        "stagedAt": iso(task.staged_at),
        "state": task.state,
        "ports": list(task.host_ports),
        "startedAt": iso(task.started_at),
        "version": task.version,
        "id": task.id,
        "appId": task.app_id,
        "slaveId": task.agent_id,
        "host": task.host,
        "servicePorts": list(task.service_ports),
        "role": sim.role,
    }
    if task.health_checks:
        first = iso(task.started_at)
        out["healthCheckResults"] = [
            {
                "alive": True,
                "consecutiveFailures": 0,
                "firstSuccess": first,
                "lastFailure": None,
                "lastSuccess": iso(max(task.started_at, sim.now())),
                "lastFailureCause": None,
                "instanceId": task.instance_id,
            }
            for _ in range(task.health_checks)
        ]
    return out


def _matches_labels(labels: dict[str, str], selector: str) -> bool:
    """A small subset of Marathon's label selector: `key`, `key==value`, `key!=value`."""
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "==" in term:
            key, value = (s.strip() for s in term.split("==", 1))
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def apps_json(
    sim: Simulator,
    embed: set[str],
    id_filter: str | None = None,
    cmd_filter: str | None = None,
    label_filter: str | None = None,
) -> dict[str, Any]:
    """GET /v2/apps; `id` keeps apps whose id contains the value, as Marathon does."""
    apps = []
    for app in sorted(sim.apps.values(), key=lambda a: a.id):
        if id_filter and id_filter not in app.id:
            continue
        if cmd_filter and cmd_filter not in (app.definition.get("cmd") or ""):
            continue
        if label_filter and not _matches_labels(app.definition.get("labels") or {}, label_filter):
            continue
        apps.append(app_json(sim, app, embed))
    return {"apps": apps}


def _steps(deployment: Deployment) -> list[list[dict[str, str]]]:
    starts = [a for a in deployment.actions if a.kind == "start"]
    others = [a for a in deployment.actions if a.kind != "start"]
    steps: list[list[dict[str, str]]] = []
    if starts:
        steps.append([{"action": "StartApplication", "app": a.app_id} for a in starts])
        steps.append([{"action": "ScaleApplication", "app": a.app_id} for a in starts])
    if others:
        step = [{"action": ACTION_NAMES[a.kind], "app": a.app_id} for a in others]
        if steps:
            steps[-1].extend(step)
        else:
            steps.append(step)
    return steps


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    steps = _steps(deployment)
    # StartApplication is over at once; the rest takes until the deployment is ready
    current = len(steps) if (deployment.ready or len(steps) > 1) else 1
    return {
        "id": deployment.id,
        "version": deployment.version,
        "affectedApps": sorted({a.app_id for a in deployment.actions}),
        "affectedPods": [],
        "steps": [{"actions": actions} for actions in steps],
        "currentActions": [
            {**action, "readinessCheckResults": []} for action in steps[current - 1]
        ],
        "currentStep": current,
        "totalSteps": len(steps),
    }


def deployments_json(sim: Simulator) -> list[dict[str, Any]]:
    return [deployment_json(d) for d in sim.deployments.values()]


def deployment_result(deployment: Deployment) -> dict[str, str]:
    return {"deploymentId": deployment.id, "version": deployment.version}


def offer_json(sim: Simulator, offer: Offer) -> dict[str, Any]:
    index = list(sim.agents).index(offer.agent_id)
    resources: list[dict[str, Any]] = [
        {"name": name, "role": offer.role, "scalar": value / 1000}
        for name, value in (("cpus", offer.cpus), ("mem", offer.mem), ("disk", offer.disk))
    ]
    resources.append(
        {
            "name": "ports",
            "role": offer.role,
            "ranges": [{"begin": b, "end": e} for b, e in offer.ports],
        }
    )
    return {
        "id": f"{sim.master_id}-O{index}",
        "agentId": offer.agent_id,
        "hostname": offer.hostname,
        "resources": resources,
        "attributes": [{"name": k, "text": v} for k, v in sorted(offer.attributes.items())],
    }


def queue_json(sim: Simulator) -> dict[str, Any]:
    """GET /v2/queue: every app with instances waiting, and why the last offers did not do."""
    items = []
    for app in sorted(sim.apps.values(), key=lambda a: a.order):
        queue = app.queue
        if queue is None:
            continue
        last = Counter(reasons[0] for _, reasons in queue.last_offers if reasons)
        summary: dict[str, Any] = {
            "processedOffersCount": queue.processed,
            "unusedOffersCount": queue.unused,
        }
        if queue.last_unused_at is not None:
            summary["lastUnusedOfferAt"] = iso(queue.last_unused_at)
        if app.last_used_offer_at is not None:
            summary["lastUsedOfferAt"] = iso(app.last_used_offer_at)
        summary["rejectSummaryLastOffers"] = funnel(last, len(queue.last_offers))
        summary["rejectSummaryLaunchAttempt"] = funnel(queue.first_reasons, queue.processed)
        stamp = iso(queue.last_unused_at or queue.since)
        items.append(
            {
                "app": definition_json(app),
                "count": queue.count,
                "role": sim.role,
                "delay": {"timeLeftSeconds": 0, "overdue": True},
                "since": iso(queue.since),
                "processedOffersSummary": summary,
                "lastUnusedOffers": [
                    {"offer": offer_json(sim, offer), "timestamp": stamp, "reason": reasons}
                    for offer, reasons in queue.last_offers
                ],
            }
        )
    return {"queue": items}


def info_json(sim: Simulator, own: str, leader: str, leader_url: str) -> dict[str, Any]:
    """GET /v2/info, as info.json; `own` and `leader` are `host:port`."""
    host, _, port = own.rpartition(":")
    return {
        "name": "marathon",
        "version": MARATHON_VERSION,
        "buildref": "simulator",
        "elected": own == leader,
        "leader": leader,
        "frameworkId": sim.framework_id,
        "marathon_config": {
            "access_control_allow_origin": ["*"],
            "checkpoint": True,
            "decline_offer_duration": 120000,
            "default_network_name": "container-network",
            "env_vars_prefix": "",
            "executor": "//cmd",
            "failover_timeout": 604800,
            "features": [],
            "framework_name": "marathon",
            "ha": True,
            "hostname": host,
            "launch_token": 100,
            "launch_token_refresh_interval": 30000,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10000,
            "local_port_max": LOCAL_PORT_MAX,
            "local_port_min": LOCAL_PORT_MIN,
            "master": "zk://127.0.0.1:2181/mesos",
            "max_instances_per_offer": 5,
            "mesos_bridge_name": "mesos-bridge",
            "mesos_heartbeat_failure_threshold": 5,
            "mesos_heartbeat_interval": 15000,
            "mesos_leader_ui_url": leader_url + "/",
            "mesos_role": sim.role,
            "mesos_user": "root",
            "min_revive_offers_interval": 5000,
            "offer_matching_timeout": 3000,
            "on_elected_prepare_timeout": 180000,
            "reconciliation_initial_delay": 15000,
            "reconciliation_interval": 600000,
            "scale_apps_initial_delay": 15000,
            "scale_apps_interval": 300000,
            "store_cache": True,
            "task_launch_confirm_timeout": 300000,
            "task_launch_timeout": 300000,
            "task_lost_expunge_initial_delay": 300000,
            "task_lost_expunge_interval": 30000,
            "task_reservation_timeout": 20000,
            "webui_url": f"http://{own}",
        },
        "zookeeper_config": {
            "zk": "zk://127.0.0.1:2181/marathon",
            "zk_compression": True,
            "zk_compression_threshold": 65536,
            "zk_connection_timeout": 10000,
            "zk_max_node_size": 1024000,
            "zk_max_versions": 50,
            "zk_session_timeout": 10000,
            "zk_timeout": 10000,
        },
        "http_config": {"http_port": int(port), "https_port": 8443},
    }
