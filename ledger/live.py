"""A cluster's reading kept current from Marathon's events, one change at a time.

The watcher (ledger/watch.py) starts from a full reading and applies each event of
Marathon's stream to it here, instead of reading everything again: a task started, moved
or gone (`status_update_event`), an app defined or changed (`api_post_event`,
`deployment_info`, `deployment_success`), an app removed (`app_terminated_event`, or a
finished plan that stops it). What it cannot know from the events (an agent added, another
framework's use) waits for the next reconciliation, a full reading.

Pure: no database, no HTTP; the state is the same shape as a snapshot's content, so the
capacity, drift and placement code read it unchanged.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.sync import Reading

# tasks in these states hold their resources on an agent (Mesos counts them as used)
LIVE_TASK_STATES = frozenset(
    {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE"}
)
# keys of an app as Marathon sends it that are not part of its definition (see
# marathon.client.parse_app, which strips the same from /v2/apps)
_NOT_DEFINITION = ("tasks", "deployments", "lastTaskFailure", "readinessCheckResults")
RESOURCES = ("cpus", "mem", "disk")


def marathon_time(value: Any) -> datetime | None:
    """Marathon's ISO timestamp ('2015-09-30T12:44:45.681Z') as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _NOT_DEFINITION and not k.startswith("tasks")}


@dataclass
class Applied:
    """What one event did: whether the content changed, and how."""

    changed: bool = False
    definitions: bool = False  # an app was added, removed or redefined (not only its tasks)
    finished: tuple[str, str, datetime | None] | None = None  # (marathon id, status, when)


@dataclass
class LiveState:
    """A reading being kept current; `apps` and `agents` are this object's own copies."""

    mesos_version: str
    marathon_version: str
    agents: list[dict[str, Any]]
    apps: dict[str, dict[str, Any]]
    executor: tuple[float, float] = (0.1, 32.0)  # cpus, MiB a task's executor adds
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def of(cls, reading: Reading, executor: tuple[float, float] = (0.1, 32.0)) -> LiveState:
        return cls(
            reading.mesos_version,
            reading.marathon_version,
            copy.deepcopy(reading.agents),
            {a["id"]: copy.deepcopy(a) for a in reading.apps},
            executor,
            reading.read_at,
        )

    def reading(self, read_at: datetime) -> Reading:
        """The state as a snapshot's content: agents and apps sorted as a full reading sorts
        them, so an unchanged cluster hashes the same whichever way it was read. Copied, so
        that the caches of readers in this process never see it change under them."""
        apps = []
        for app_id in sorted(self.apps):
            app = self.apps[app_id]
            apps.append({**app, "tasks": sorted(app["tasks"], key=lambda t: t["id"])})
        return Reading(
            read_at=read_at,
            mesos_version=self.mesos_version,
            marathon_version=self.marathon_version,
            agents=copy.deepcopy(self.agents),
            apps=copy.deepcopy(apps),
        )

    # -- events ------------------------------------------------------------------------

    def apply(self, event_type: str, body: dict[str, Any]) -> Applied:
        handler = getattr(self, f"_on_{event_type}", None)
        if handler is None:
            return Applied()
        result: Applied = handler(body)
        return result

    def _on_status_update_event(self, body: dict[str, Any]) -> Applied:
        app_id, task_id = str(body.get("appId", "")), str(body.get("taskId", ""))
        app = self.apps.get(app_id)
        if app is None or not task_id:
            return Applied()  # an app we do not know yet: its api_post_event or the next
            # reconciliation brings it
        state = str(body.get("taskStatus", ""))
        tasks = app["tasks"]
        old = next((t for t in tasks if t["id"] == task_id), None)
        if old is not None:
            tasks.remove(old)
            self._charge(app, old, -1)
        if state in LIVE_TASK_STATES:
            started = old["started_at"] if old is not None else None
            if state == "TASK_RUNNING" and started is None:
                started = body.get("timestamp")
            task = {
                "id": task_id,
                "host": str(body.get("host", "")),
                "agent_id": str(body.get("slaveId", body.get("agentId", ""))),
                "ports": [int(p) for p in body.get("ports") or []],
                "state": state,
                "started_at": started,
            }
            tasks.append(task)
            self._charge(app, task, +1)
            return Applied(changed=task != old)
        return Applied(changed=old is not None)

    def _charge(self, app: dict[str, Any], task: dict[str, Any], sign: int) -> None:
        """Keep the agent's Mesos `used` in step with the task (the capacity code counts
        other frameworks' use as used − berth's tasks, so both must move together)."""
        agent = next((a for a in self.agents if a["id"] == task["agent_id"]), None)
        if agent is None:
            return
        used = agent["used"]
        d = app["definition"]
        size = {
            "cpus": float(d.get("cpus", 0)) + self.executor[0],
            "mem": float(d.get("mem", 0)) + self.executor[1],
            "disk": float(d.get("disk", 0)),
        }
        for r in RESOURCES:
            used[r] = round(max(0.0, float(used[r]) + sign * size[r]), 6)
        ports = {p for lo, hi in used.get("ports", []) for p in range(lo, hi + 1)}
        if sign > 0:
            ports.update(task["ports"])
        else:
            ports.difference_update(task["ports"])
        used["ports"] = _ranges(ports)

    def _define(self, body: Any) -> bool:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return False
        definition = _definition(body)
        app = self.apps.get(body["id"])
        if app is None:
            self.apps[body["id"]] = {
                "id": body["id"],
                "definition": definition,
                "deployments": [],
                "tasks": [],
            }
            return True
        if app["definition"] == definition:
            return False
        app["definition"] = definition
        return True

    def _on_api_post_event(self, body: dict[str, Any]) -> Applied:
        changed = self._define(body.get("appDefinition"))
        return Applied(changed=changed, definitions=changed)

    def _plan_apps(self, plan: Any) -> tuple[list[dict[str, Any]], set[str], set[str]]:
        """A plan's target apps, the apps its steps touch, and the apps it stops."""
        if not isinstance(plan, dict):
            return [], set(), set()
        target = [a for a in (plan.get("target") or {}).get("apps") or [] if isinstance(a, dict)]
        touched, stopped = set(), set()
        for step in plan.get("steps") or []:
            for action in (step or {}).get("actions") or []:
                app = str(action.get("app", ""))
                touched.add(app)
                if action.get("action") == "StopApplication":
                    stopped.add(app)
        return target, touched, stopped

    def _on_deployment_info(self, body: dict[str, Any]) -> Applied:
        plan = body.get("plan") or {}
        target, touched, _ = self._plan_apps(plan)
        changed = False
        for app in target:
            if app.get("id") in touched or not touched:
                changed |= self._define(app)
        definitions = changed
        plan_id = str(plan.get("id", ""))
        for app_id in touched:
            app = self.apps.get(app_id)
            if app is not None and plan_id and plan_id not in app["deployments"]:
                app["deployments"].append(plan_id)
                changed = True
        return Applied(changed=changed, definitions=definitions)

    def _finish_plan(self, body: dict[str, Any], status: str) -> Applied:
        plan = body.get("plan") or {}
        plan_id = str(body.get("id") or plan.get("id") or "")
        target, touched, stopped = self._plan_apps(plan)
        changed = definitions = False
        if status == "succeeded":
            for app in target:
                if app.get("id") in touched:
                    d = self._define(app)
                    changed |= d
                    definitions |= d
            for app_id in stopped:
                if self.apps.pop(app_id, None) is not None:
                    changed = definitions = True
        for app in self.apps.values():
            if plan_id in app["deployments"]:
                app["deployments"].remove(plan_id)
                changed = True
        when = marathon_time(body.get("timestamp"))
        return Applied(changed, definitions, (plan_id, status, when) if plan_id else None)

    def _on_deployment_success(self, body: dict[str, Any]) -> Applied:
        return self._finish_plan(body, "succeeded")

    def _on_deployment_failed(self, body: dict[str, Any]) -> Applied:
        return self._finish_plan(body, "failed")

    def _on_app_terminated_event(self, body: dict[str, Any]) -> Applied:
        app = self.apps.pop(str(body.get("appId", "")), None)
        if app is None:
            return Applied()
        for task in app["tasks"]:
            self._charge(app, task, -1)
        return Applied(changed=True, definitions=True)


def _ranges(ports: set[int]) -> list[list[int]]:
    """Ports as Mesos writes them: sorted [low, high] ranges."""
    out: list[list[int]] = []
    for p in sorted(ports):
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out
