"""The simulated cluster: agents, Marathon apps and their versions, tasks, deployments.

One `Simulator` is the whole truth; every HTTP server started on it reads and
changes it under one lock (werkzeug serves each request in its own thread).

Time only moves when someone looks: every call first brings deployments up to
`now()`, so tests inject a clock instead of sleeping, and nothing runs in the
background.

The task lifecycle follows Marathon's rules where they change what fits:

* a config change is a rolling restart: old instances are killed down to
  `minimumHealthCapacity`, new ones started up to `maximumOverCapacity`
  (the defaults, 1 and 1, double an app during its deploy), and an old
  instance is killed for each new one only once the deployment's
  `deploy_seconds` have passed;
* a change of `instances` alone is a scale: started or killed at once;
* instances that cannot be placed wait in the launch queue and are retried
  whenever something changes;
* a task killed through the API is replaced by a new one, unless the kill
  scales the app down (`scale=true`, which is a deployment);
* groups are made by the group API and by every app's id, and outlive their
  apps until they are deleted; no id is both an app and a group.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.agents import Agent, agent_ip, build_agents
from simulator.apps import (
    BRIDGE,
    HOST,
    AppSpec,
    absolute_id,
    ancestors,
    canonical,
    first_free,
    is_under,
    parent_of,
    service_ports_of,
    spec_of,
    split_id,
    task_app_id,
)
from simulator.errors import (
    AppExists,
    AppLocked,
    AppNotFound,
    AppPathExists,
    BadRequest,
    DeploymentNotFound,
    GroupExists,
    GroupNotFound,
    InvalidJson,
    InvalidObject,
    TaskNotFound,
    UnknownAgent,
)
from simulator.events import API_ORIGIN, EventBus
from simulator.faults import Faults
from simulator.placement import Decision, Demand, Offer, first_fit
from simulator.resources import Range, Resources, from_ports, milli, parse_ranges, subtract
from simulator.usage import Profile, UsageModel, statistics_entry, truth
from simulator.validation import Problem, app_problems, group_problems, marathon_path

LOCAL_PORT_MIN = 10000
LOCAL_PORT_MAX = 20000
COMPLETED_TASKS_KEPT = 200
# Marathon keeps this many versions of an app or group (`zk_max_versions`)
VERSIONS_KEPT = 50
SAME_ID = "Groups and Applications may not have the same identifier."


def iso(seconds: float) -> str:
    """Marathon's timestamps: `2017-07-19T17:34:41.967Z`."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Task:
    id: str
    instance_id: str
    app_id: str
    name: str
    agent_id: str
    host: str
    ip: str
    host_ports: tuple[int, ...]
    service_ports: tuple[int, ...]
    port_names: tuple[str | None, ...]
    version: str
    config_version: str
    staged_at: float
    started_at: float
    resources: Resources
    executor: Resources
    container_id: str
    labels: dict[str, str]
    health_checks: int
    state: str = "TASK_RUNNING"
    finished_at: float | None = None

    @property
    def used(self) -> Resources:
        return self.resources + self.executor


@dataclass
class LaunchQueue:
    """Why instances of one app wait: Marathon's processedOffersSummary, accumulated."""

    count: int
    since: float
    processed: int = 0
    unused: int = 0
    last_unused_at: float | None = None
    first_reasons: Counter = field(default_factory=Counter)
    last_offers: list[tuple[Offer, list[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class AppSnapshot:
    """An app as it was, so that reverting a deployment can put it back."""

    definition: dict[str, Any]
    version: str
    last_config_change_at: str
    last_scaling_at: str


@dataclass
class App:
    definition: dict[str, Any]
    spec: AppSpec
    version: str
    last_config_change_at: str
    last_scaling_at: str
    order: int
    queue: LaunchQueue | None = None
    history: dict[str, AppSnapshot] = field(default_factory=dict)
    last_used_offer_at: float | None = None

    @property
    def id(self) -> str:
        return self.definition["id"]

    @property
    def versions(self) -> list[str]:
        """Every version kept, oldest first."""
        return list(self.history)

    def remember(self) -> None:
        """Keep the current definition under its version, for /versions/{version}."""
        self.history[self.version] = self.snapshot()
        while len(self.history) > VERSIONS_KEPT:
            del self.history[next(iter(self.history))]

    def snapshot(self) -> AppSnapshot:
        return AppSnapshot(
            copy.deepcopy(self.definition),
            self.version,
            self.last_config_change_at,
            self.last_scaling_at,
        )


@dataclass
class GroupMeta:
    """What Marathon keeps of a group besides its apps and subgroups."""

    versions: list[str]
    dependencies: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.versions[-1]


@dataclass
class GroupPlan:
    """A group change worked out before anything is touched."""

    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    removals: set[str] = field(default_factory=set)
    groups: dict[str, list[str] | None] = field(default_factory=dict)
    removed_groups: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Action:
    """One app's part of a deployment: start, scale, restart or stop."""

    app_id: str
    kind: str
    previous: AppSnapshot | None


@dataclass
class Deployment:
    id: str
    version: str
    started_at: float
    ready_at: float
    actions: list[Action]
    ready: bool = False
    # the plan as the event stream shows it, built when the deployment starts
    plan: dict[str, Any] | None = None

    def affects(self, app_id: str) -> bool:
        return any(action.app_id == app_id for action in self.actions)


@dataclass
class Usage:
    cpus: int = 0
    mem: int = 0
    disk: int = 0
    ports: set[int] = field(default_factory=set)


class Simulator:
    """A Mesos cluster with Marathon on it, deterministic for a given seed.

    Everything random comes from `seed`: the master id (and with it the agent and
    framework ids), task, container and deployment ids, dynamic host ports. Two
    simulators built with the same seed and driven by the same requests therefore
    hand out the same ids: give each a seed of its own when they stand for two
    different clusters side by side.
    """

    def __init__(
        self,
        agents: int = 20,
        seed: int = 0,
        deploy_seconds: float = 0.0,
        executor_cpus: float = 0.1,
        executor_mem: int = 32,
        role: str = "*",
        now: Callable[[], float] | None = None,
    ) -> None:
        if agents < 0:
            raise ValueError(f"agents must not be negative, got {agents}")
        self.lock = threading.RLock()
        self.seed = seed
        self.deploy_seconds = deploy_seconds
        self.role = role
        self.executor = Resources(milli(executor_cpus), milli(executor_mem))
        self.faults = Faults()
        self._clock = now or time.time
        self.events = EventBus(self.now, iso)
        self._offset = 0.0
        self._ids = random.Random(f"ids-{seed}")
        self._ports = random.Random(f"ports-{seed}")
        self._order = itertools.count()
        self._last_version_ms = 0
        self._dirty = True
        self.master_id = self.new_uuid()
        self.framework_id = f"{self.master_id}-0000"
        self.started_at = self.now()
        self.agents: dict[str, Agent] = {
            a.id: a for a in build_agents(agents, seed, self.master_id, self.started_at)
        }
        # agent ids are never reused, even after an agent is removed
        self._agent_index = itertools.count(len(self.agents))
        self._usage: dict[str, Usage] = {agent_id: Usage() for agent_id in self.agents}
        self.apps: dict[str, App] = {}
        self.tasks: dict[str, Task] = {}
        self._tasks_by_app: dict[str, dict[str, Task]] = {}
        self._tasks_by_agent: dict[str, dict[str, Task]] = {}
        self.completed_tasks: deque[Task] = deque(maxlen=COMPLETED_TASKS_KEPT)
        self.deployments: dict[str, Deployment] = {}
        # Marathon's groups outlive their apps: made by the group API or by an app's id
        self.groups: dict[str, GroupMeta] = {"/": GroupMeta([iso(self.started_at)])}
        # what tasks really use (simulator.usage), and the agents' own HTTP endpoints
        self.usage = UsageModel(seed)
        self.agent_http: Any = None

    # --- time and ids ---------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._offset

    def set_now(self, moment: float) -> None:
        """Set the clock to `moment` (epoch seconds); never backwards, or CPU counters
        would have to run back."""
        with self.lock:
            if moment < self.now():
                raise ValueError("the clock does not go backwards")
            self._offset += moment - self.now()
            self._catch_up()

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (on top of the injected one) and catch up."""
        with self.lock:
            self._offset += seconds
            self._catch_up()

    def tick(self) -> None:
        """Bring deployments and the launch queue up to now."""
        with self.lock:
            self._catch_up()

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _new_version(self) -> str:
        """A new app version; strictly increasing even within one millisecond."""
        ms = max(int(self.now() * 1000), self._last_version_ms + 1)
        self._last_version_ms = ms
        return iso(ms / 1000)

    # --- agents ---------------------------------------------------------------------

    def agent(self, key: str) -> Agent:
        """An agent by id or hostname."""
        with self.lock:
            for agent in self.agents.values():
                if key in (agent.id, agent.hostname):
                    return agent
            raise UnknownAgent(key)

    def set_agent_active(self, key: str, active: bool) -> Agent:
        """Deactivated agents keep their tasks but get nothing new, like a drained agent."""
        with self.lock:
            agent = self.agent(key)
            agent.active = active
            self._dirty = True
            self._catch_up()
            return agent

    def deactivate_agent(self, key: str) -> Agent:
        return self.set_agent_active(key, False)

    def activate_agent(self, key: str) -> Agent:
        return self.set_agent_active(key, True)

    def add_agent(
        self,
        cpus: float = 16,
        mem: float = 65536,
        disk: float = 300000,
        ports: str | Iterable[Range] = "[31000-32000]",
        attributes: dict[str, str] | None = None,
        hostname: str | None = None,
    ) -> Agent:
        with self.lock:
            index = next(self._agent_index)
            ranges = parse_ranges(ports) if isinstance(ports, str) else tuple(ports)
            agent = Agent(
                id=f"{self.master_id}-S{index}",
                hostname=hostname or f"agent-{index + 1:02d}",
                ip=agent_ip(index),
                total=Resources(milli(cpus), milli(mem), milli(disk), ranges),
                attributes=dict(attributes or {}),
                registered_time=round(self.now(), 5),
            )
            self.agents[agent.id] = agent
            self._usage[agent.id] = Usage()
            if self.agent_http is not None:
                agent.http_port = self.agent_http.open(agent.id)
            self._dirty = True
            self._catch_up()
            return agent

    def remove_agent(self, key: str) -> Agent:
        """The agent leaves the cluster: its tasks are lost and Marathon replaces them."""
        with self.lock:
            agent = self.agent(key)
            for task in self._tasks_on(agent.id):
                self._kill(task, "TASK_LOST", f"Agent {agent.id} removed")
            del self.agents[agent.id]
            del self._usage[agent.id]
            if self.agent_http is not None:
                self.agent_http.remove(agent.id)
            self._dirty = True
            self._catch_up()
            return agent

    def restart_agent(self, key: str) -> list[Task]:
        """The agent restarts without recovering its executors (a reboot): its tasks end
        TASK_LOST and Marathon starts new ones (new ids, so their counters start from zero).
        Returns the tasks that ended."""
        with self.lock:
            self._catch_up()
            agent = self.agent(key)
            lost = self._tasks_on(agent.id)
            for task in lost:
                self._kill(task, "TASK_LOST", f"Agent {agent.id} restarted")
            self._catch_up()
            return lost

    # --- the agents' HTTP endpoints and what tasks use ------------------------------

    def serve_agents(self, host: str = "127.0.0.1") -> Any:
        """Give every agent a loopback listening socket (simulator.agent_http), now and
        for agents added later; shared by every server of this simulator."""
        from simulator.agent_http import AgentEndpoints

        with self.lock:
            if self.agent_http is None:
                self.agent_http = AgentEndpoints(self, host)
                for agent in self.agents.values():
                    agent.http_port = self.agent_http.open(agent.id)
            self.agent_http.acquire()
            return self.agent_http

    def release_agents(self) -> None:
        """One user of the agents' endpoints fewer; the last one closes them."""
        with self.lock:
            endpoints = self.agent_http
            if endpoints is None or not endpoints.release():
                return
            self.agent_http = None
        endpoints.shutdown()

    def profile(self, app_id: str) -> Profile:
        """The app's usage profile (its seeded default until one is set)."""
        with self.lock:
            app_id = absolute_id(app_id)
            app = self.apps.get(app_id)
            if app is None:
                return self.usage.get(app_id)
            return self.usage.get(app_id, app.spec.cpus / 1000, app.spec.mem / 1000)

    def set_profile(self, app_id: str, profile: Profile) -> Profile:
        self.usage.set(absolute_id(app_id), profile)
        return profile

    def agent_statistics(self, agent_id: str) -> list[dict[str, Any]]:
        """The agent's GET /monitor/statistics: one entry per running executor."""
        with self.lock:
            self._catch_up()
            if agent_id not in self.agents:
                return []
            now = self.now()
            out = [
                statistics_entry(
                    self.usage, task, self.framework_id, self.profile(task.app_id), now
                )
                for task in self._tasks_on(agent_id)
            ]
            if self.usage.tracked > 2 * len(self.tasks) + 1000:
                self.usage.forget(self.tasks)
            return out

    def usage_truth(self, app_id: str, start: float, end: float) -> dict[str, Any]:
        """The app's true CPU percentiles and memory peak over [start, end)."""
        with self.lock:
            self._catch_up()
            app_id = absolute_id(app_id)
            profile = self.profile(app_id)
            app = self.apps.get(app_id)
            ran = [
                t
                for t in [*self.tasks.values(), *self.completed_tasks]
                if t.app_id == app_id and t.started_at < end
            ]
            if app is not None:
                limit = (app.spec.cpus + self._executor_of(app.spec).cpus) / 1000
            elif ran:
                limit = ran[-1].used.cpus / 1000
            else:
                limit = float("inf")
            out = truth(self.usage, app_id, profile, start, end, limit, ran)
            out["cpus_limit"] = limit if math.isfinite(limit) else None
            out["profile"] = profile.to_json()
            return out

    def fail_task(self, task_id: str, message: str = "Command exited with status 1") -> Task:
        """A task fails on its own (TASK_FAILED); Marathon starts a replacement."""
        with self.lock:
            self._catch_up()
            task = self.tasks.get(task_id)
            if task is None:
                raise TaskNotFound(task_id)
            self._kill(task, "TASK_FAILED", message)
            self._catch_up()
            return task

    def fail_deployment(self, deployment_id: str) -> Deployment:
        """A deployment fails: it is gone (deployment_failed) and the apps stay as they are."""
        with self.lock:
            deployment = self._end_deployment(deployment_id)
            self._catch_up()
            return deployment

    def _end_deployment(self, deployment_id: str) -> Deployment:
        """Take a running deployment away as failed (deployment_failed); the caller decides
        what happens to its apps."""
        self._catch_up()
        deployment = self.deployments.pop(deployment_id, None)
        if deployment is None:
            raise DeploymentNotFound(deployment_id)
        self._failed(deployment)
        self._dirty = True
        return deployment

    def used(self, agent_id: str) -> Resources:
        usage = self._usage[agent_id]
        return Resources(usage.cpus, usage.mem, usage.disk, from_ports(usage.ports))

    # --- Marathon: changing apps ----------------------------------------------------

    def create_app(self, definition: Any, force: bool = False) -> tuple[App, Deployment]:
        """POST /v2/apps."""
        with self.lock:
            self._catch_up()
            _raise_problems(app_problems(definition))
            app_id = absolute_id(definition["id"])
            if app_id in self.apps:
                raise AppExists(app_id)
            self._check_ids([app_id])
            self._check_lock(app_id, force)
            version = self._new_version()
            action = self._set_app(app_id, definition, version)
            return self.apps[app_id], self._deploy([action], version)

    def put_app(
        self, app_id: str, body: Any, partial: bool = True, force: bool = False
    ) -> tuple[Deployment, bool]:
        """PUT /v2/apps/{id}: merge (partialUpdate, the default) or replace; create if absent."""
        with self.lock:
            self._catch_up()
            if not isinstance(body, dict):
                raise InvalidJson([Problem("", "error.expected.jsobject", syntax=True)])
            app_id = absolute_id(app_id)
            existing = self.apps.get(app_id)
            merged = {**existing.definition, **body} if existing and partial else dict(body)
            merged["id"] = app_id
            _raise_problems(app_problems(merged))
            if existing is None:
                self._check_ids([app_id])
            self._check_lock(app_id, force)
            version = self._new_version()
            action = self._set_app(app_id, merged, version)
            return self._deploy([action], version), existing is None

    def delete_app(self, app_id: str, force: bool = False) -> Deployment:
        with self.lock:
            self._catch_up()
            app_id = absolute_id(app_id)
            if app_id not in self.apps:
                raise AppNotFound(app_id)
            self._check_lock(app_id, force)
            version = self._new_version()
            return self._deploy([self._set_app(app_id, None, version)], version)

    def restart_app(self, app_id: str, force: bool = False) -> Deployment:
        """POST /v2/apps/{id}/restart: a new version that replaces every task, rolling."""
        with self.lock:
            self._catch_up()
            app_id = absolute_id(app_id)
            app = self.apps.get(app_id)
            if app is None:
                raise AppNotFound(app_id)
            self._check_lock(app_id, force)
            version = self._new_version()
            action = self._set_app(app_id, app.definition, version, restart=True)
            return self._deploy([action], version)

    def kill_app_tasks(
        self,
        app_id: str,
        host: str | None = None,
        task_id: str | None = None,
        scale: bool = False,
        force: bool = False,
    ) -> tuple[list[Task], Deployment | None]:
        """DELETE /v2/apps/{id}/tasks[/{taskId}]: the tasks as they were, and with
        `scale` the deployment that lowers `instances` by as many.

        Without `scale` Marathon starts a new task for each one killed.
        """
        with self.lock:
            self._catch_up()
            app_id = absolute_id(app_id)
            if app_id not in self.apps:
                raise AppNotFound(app_id)
            tasks = self.tasks_of(app_id)
            if task_id is not None:
                tasks = [t for t in tasks if t.id == task_id]
                if not tasks and not scale:
                    raise TaskNotFound(task_id)
            elif host is not None:
                tasks = [t for t in tasks if host in (t.host, "*")]
            return self._kill_tasks({app_id: tasks}, scale, force)

    def kill_tasks(
        self, task_ids: list[str], scale: bool = False, force: bool = False
    ) -> tuple[list[Task], Deployment | None]:
        """POST /v2/tasks/delete: ids of tasks that are gone already are passed over."""
        with self.lock:
            self._catch_up()
            for task_id in task_ids:
                if task_app_id(task_id) is None:
                    raise BadRequest(f"Invalid task id '{task_id}'.")
            by_app: dict[str, list[Task]] = {}
            for task_id in dict.fromkeys(task_ids):
                task = self.tasks.get(task_id)
                if task is not None:
                    by_app.setdefault(task.app_id, []).append(task)
            return self._kill_tasks(by_app, scale, force)

    def create_group(self, group: Any, force: bool = False) -> Deployment:
        """POST /v2/groups: every app of the group and its subgroups in one deployment."""
        with self.lock:
            self._catch_up()
            group = _without_empty_pods(group)
            _raise_problems(group_problems(group))
            group_id = absolute_id(group["id"])
            if group_id in self.groups:
                raise GroupExists(group_id)
            if group_id in self.apps:
                raise AppPathExists(group_id)
            plan = self._plan_group(group, group_id)
            for app_id in plan.upserts:
                if app_id in self.apps:
                    raise AppExists(app_id)
            return self._apply(plan, force)

    def put_group(self, group_id: str, update: Any, force: bool = False) -> Deployment:
        """PUT /v2/groups/{id}: create or change a group, or scale every app below it.

        What the update names replaces what the group had: its `apps` (apps left
        out are stopped), its `groups` (recursively; groups left out are removed)
        and its `dependencies`; what it leaves out stays. `scaleBy` alone
        multiplies `instances` of every app below the group, rounding up.
        """
        with self.lock:
            self._catch_up()
            if not isinstance(update, dict):
                raise InvalidJson([Problem("", "error.expected.jsobject", syntax=True)])
            base = absolute_id(group_id)
            body = {k: v for k, v in _without_empty_pods(update).items() if k != "scaleBy"}
            target = absolute_id(body.get("id") or base, base)
            body["id"] = target
            _raise_problems(group_problems(body))
            if "scaleBy" in update and "version" not in update:
                return self._apply(self._plan_scale(target, update["scaleBy"]), force)
            return self._apply(self._plan_group(body, target), force)

    def delete_group(self, group_id: str, force: bool = False) -> Deployment:
        """DELETE /v2/groups/{id}: stop every app below the group and forget the group."""
        with self.lock:
            self._catch_up()
            group_id = absolute_id(group_id)
            if group_id not in self.groups:
                raise GroupNotFound(group_id)
            plan = GroupPlan(removals={a for a in self.apps if is_under(a, group_id)})
            plan.removed_groups = {g for g in self.groups if g != "/" and is_under(g, group_id)}
            plan.groups[parent_of(group_id)] = None
            return self._apply(plan, force)

    def delete_deployment(self, deployment_id: str, force: bool = False) -> Deployment | None:
        """Cancel a deployment; without `force`, start one that puts the apps back as they were."""
        with self.lock:
            deployment = self._end_deployment(deployment_id)
            if force:
                self._catch_up()
                return None
            version = self._new_version()
            actions = [
                self._restore(action.app_id, action.previous, version)
                for action in reversed(deployment.actions)
            ]
            return self._deploy(actions, version)

    def locks(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.affects(app_id)]

    def tasks_of(self, app_id: str) -> list[Task]:
        return list(self._tasks_by_app.get(app_id, {}).values())

    # --- internals: groups -----------------------------------------------------------

    def _check_ids(
        self,
        upserts: Iterable[str],
        removed_apps: Iterable[str] = (),
        new_groups: Iterable[str] = (),
        removed_groups: Iterable[str] = (),
    ) -> None:
        """Marathon's root-group rule, on the tree as the change would leave it: no id
        is both an app and a group, so no app lies below another app."""
        upserts, new_groups = list(upserts), list(new_groups)
        apps = (set(self.apps) - set(removed_apps)) | set(upserts)
        groups = (set(self.groups) - set(removed_groups)) | set(new_groups)
        for path_id in [*upserts, *new_groups]:
            groups.update(ancestors(path_id))
        if apps & groups:
            raise InvalidObject([Problem("/", SAME_ID)])

    def _plan_group(
        self,
        update: dict[str, Any],
        group_id: str,
        plan: GroupPlan | None = None,
        path: tuple[str | int, ...] = (),
    ) -> GroupPlan:
        """What a group update changes below `group_id` (ids in it are relative to it)."""
        plan = plan or GroupPlan()
        plan.groups[group_id] = None
        if update.get("dependencies") is not None:
            base = parent_of(group_id)
            plan.groups[group_id] = [absolute_id(d, base) for d in update["dependencies"]]
        if update.get("apps") is not None:
            given = set()
            for index, app in enumerate(update["apps"]):
                app_id = absolute_id(app["id"], group_id)
                if app_id == group_id or not is_under(app_id, group_id):
                    where = marathon_path([*path, "apps", index, "id"])
                    plan.problems.append(Problem(where, _not_child(app_id, group_id)))
                given.add(app_id)
                plan.upserts[app_id] = {**app, "id": app_id}
            plan.removals |= {a for a in self.apps if parent_of(a) == group_id} - given
        if update.get("groups") is not None:
            given = set()
            for index, sub in enumerate(update["groups"]):
                sub_id = absolute_id(sub["id"], group_id)
                if sub_id == group_id or not is_under(sub_id, group_id):
                    where = marathon_path([*path, "groups", index, "id"])
                    plan.problems.append(Problem(where, _not_child(sub_id, group_id)))
                    continue
                given.add(sub_id)
                self._plan_group(sub, sub_id, plan, (*path, "groups", index))
            for gone in [g for g in self.groups if g != "/" and parent_of(g) == group_id]:
                if gone not in given:
                    plan.removed_groups |= {g for g in self.groups if is_under(g, gone)}
                    plan.removals |= {a for a in self.apps if is_under(a, gone)}
        return plan

    def _plan_scale(self, group_id: str, factor: Any) -> GroupPlan:
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise InvalidJson([Problem("/scaleBy", "error.expected.jsnumber", syntax=True)])
        if factor < 0:
            raise InvalidObject([Problem("/scaleBy", "must be greater than or equal to 0")])
        plan = GroupPlan()
        for app in self.apps.values():
            if is_under(app.id, group_id):
                instances = math.ceil(app.spec.instances * factor)
                plan.upserts[app.id] = {**app.definition, "instances": instances}
        return plan

    def _changed(self, app_id: str, definition: dict[str, Any]) -> bool:
        existing = self.apps.get(app_id)
        if existing is None:
            return True
        stored = canonical({**definition, "id": app_id}, self._service_port_taker(app_id))
        return stored != existing.definition

    def _apply(self, plan: GroupPlan, force: bool) -> Deployment:
        """Carry out a group change as one deployment; apps it leaves as they were stay out."""
        if plan.problems:
            raise InvalidObject(plan.problems)
        removals = sorted(plan.removals - set(plan.upserts))
        changed = [a for a, d in plan.upserts.items() if self._changed(a, d)]
        self._check_ids(plan.upserts, removals, plan.groups, plan.removed_groups)
        for app_id in [*removals, *changed]:
            self._check_lock(app_id, force)
        version = self._new_version()
        actions = [self._set_app(app_id, None, version) for app_id in removals]
        for group_id in plan.removed_groups:
            self.groups.pop(group_id, None)
        for group_id, dependencies in plan.groups.items():
            self._touch(group_id, version)
            if dependencies is not None:
                self.groups[group_id].dependencies = dependencies
        actions += [self._set_app(a, plan.upserts[a], version) for a in changed]
        return self._deploy(actions, version)

    def _touch(self, group_id: str, version: str) -> None:
        """A change below a group is a new version of it and of every group above it."""
        for path_id in [*ancestors(group_id), group_id]:
            meta = self.groups.get(path_id)
            if meta is None:
                self.groups[path_id] = GroupMeta([version])
            elif meta.versions[-1] != version:
                meta.versions.append(version)
                del meta.versions[:-VERSIONS_KEPT]

    # --- internals: apps and deployments --------------------------------------------

    def _kill_tasks(
        self, by_app: dict[str, list[Task]], scale: bool, force: bool
    ) -> tuple[list[Task], Deployment | None]:
        killed = [dataclasses.replace(t) for tasks in by_app.values() for t in tasks]
        if not scale:
            for tasks in by_app.values():
                for task in tasks:
                    self._kill(task)
            self._catch_up()
            return killed, None
        for app_id in by_app:
            self._check_lock(app_id, force)
        version = self._new_version()
        actions = []
        for app_id, tasks in by_app.items():
            for task in tasks:
                self._kill(task)
            app = self.apps[app_id]
            instances = max(0, app.spec.instances - len(tasks))
            actions.append(
                self._set_app(app_id, {**app.definition, "instances": instances}, version)
            )
        return killed, self._deploy(actions, version)

    def _check_lock(self, app_id: str, force: bool) -> None:
        locks = self.locks(app_id)
        if locks and not force:
            raise AppLocked([d.id for d in locks])
        for deployment in locks:
            del self.deployments[deployment.id]
            self._failed(deployment)
            self._dirty = True

    def _service_port_taker(self, app_id: str) -> Callable[[], int]:
        used: set[int] = set()
        for other in self.apps.values():
            if other.id != app_id:
                used |= service_ports_of(other.definition)
        return first_free(used, LOCAL_PORT_MIN, LOCAL_PORT_MAX)

    def _set_app(
        self,
        app_id: str,
        definition: dict[str, Any] | None,
        version: str,
        restart: bool = False,
    ) -> Action:
        """Store, change or (definition None) remove an app; `restart` replaces its
        tasks even if nothing but the version changed."""
        existing = self.apps.get(app_id)
        previous = existing.snapshot() if existing else None
        self._dirty = True
        self._touch(parent_of(app_id), version)
        if definition is None:
            for task in self.tasks_of(app_id):
                self._kill(task)
            del self.apps[app_id]
            self.events.publish("app_terminated_event", {"appId": app_id})
            return Action(app_id, "stop", previous)
        stored = canonical({**definition, "id": app_id}, self._service_port_taker(app_id))
        spec = spec_of(stored)
        origin = API_ORIGIN.get()
        if origin is not None:
            client_ip, uri = origin
            posted = {**stored, "version": version}
            self.events.publish(
                "api_post_event", {"clientIp": client_ip, "uri": uri, "appDefinition": posted}
            )
        if existing is None:
            app = self.apps[app_id] = App(
                stored, spec, version, version, version, next(self._order)
            )
            app.remember()
            return Action(app_id, "start", None)
        restart = restart or spec.config_key != existing.spec.config_key
        existing.definition, existing.spec = stored, spec
        existing.version = existing.last_scaling_at = version
        if restart:
            existing.last_config_change_at = version
            self._kill_old_down_to_minimum(existing)
        existing.remember()
        return Action(app_id, "restart" if restart else "scale", previous)

    def _restore(self, app_id: str, snapshot: AppSnapshot | None, version: str) -> Action:
        if snapshot is None:
            return self._set_app(app_id, None, version)
        existing = self.apps.get(app_id)
        previous = existing.snapshot() if existing else None
        self._dirty = True
        self._touch(parent_of(app_id), version)
        definition = copy.deepcopy(snapshot.definition)
        spec = spec_of(definition)
        if existing is None:
            app = self.apps[app_id] = App(
                definition,
                spec,
                snapshot.version,
                snapshot.last_config_change_at,
                snapshot.last_scaling_at,
                next(self._order),
            )
            app.remember()
            return Action(app_id, "start", previous)
        restart = existing.last_config_change_at != snapshot.last_config_change_at
        existing.definition, existing.spec = definition, spec
        existing.version = snapshot.version
        existing.last_config_change_at = snapshot.last_config_change_at
        existing.last_scaling_at = snapshot.last_scaling_at
        if restart:
            self._kill_old_down_to_minimum(existing)
        return Action(app_id, "restart" if restart else "scale", previous)

    def _kill_old_down_to_minimum(self, app: App) -> None:
        """The first step of Marathon's rolling restart (TaskReplaceActor)."""
        old = [t for t in self.tasks_of(app.id) if t.config_version != app.last_config_change_at]
        keep = min(len(old), app.spec.min_healthy())
        if keep and app.spec.max_capacity() - keep <= 0:
            keep -= 1
        for task in _kill_order(old, app.spec.kill_selection)[: len(old) - keep]:
            self._kill(task)

    def _deploy(self, actions: list[Action], version: str) -> Deployment:
        now = self.now()
        deployment = Deployment(
            id=self.new_uuid(),
            version=version,
            started_at=now,
            ready_at=now + self.deploy_seconds if actions else now,
            actions=actions,
        )
        self.deployments[deployment.id] = deployment
        group_id = parent_of(actions[0].app_id) if len(actions) == 1 else "/"
        self.events.publish("group_change_success", {"groupId": group_id, "version": version})
        if self.events.subscribers:
            deployment.plan = self._plan_json(deployment)
        if actions:
            self.events.publish(
                "deployment_info",
                lambda: {
                    "plan": self._plan(deployment),
                    "currentStep": self._plan(deployment)["steps"][0],
                },
            )
        self._dirty = True
        self._catch_up()
        return deployment

    def _plan(self, deployment: Deployment) -> dict[str, Any]:
        if deployment.plan is None:
            deployment.plan = self._plan_json(deployment)
        return deployment.plan

    def _plan_json(self, deployment: Deployment) -> dict[str, Any]:
        """Marathon's DeploymentPlan JSON: id, original, target, steps, version.

        `original` and `target` are root groups holding only the apps the
        deployment touches (Marathon's hold the whole tree), as they were and as
        they are to be.
        """
        before, after = [], []
        for action in deployment.actions:
            if action.previous is not None:
                before.append({**action.previous.definition, "version": action.previous.version})
            app = self.apps.get(action.app_id)
            if action.kind != "stop" and app is not None:
                after.append({**app.definition, "version": app.version})
        return {
            "id": deployment.id,
            "original": _root_group(before, self.groups["/"].versions[0]),
            "target": _root_group(after, deployment.version),
            "steps": _steps(deployment.actions),
            "version": deployment.version,
        }

    def _finished(self, deployment: Deployment) -> None:
        """deployment_step_success for each step (deployment_info for the next), then
        deployment_success: the simulator does a deployment's steps at once."""
        if not self.events.subscribers:
            return
        plan = self._plan(deployment)
        steps = plan["steps"]
        for index, step in enumerate(steps):
            if index:
                self.events.publish("deployment_info", {"plan": plan, "currentStep": step})
            self.events.publish("deployment_step_success", {"plan": plan, "currentStep": step})
        self.events.publish("deployment_success", {"id": deployment.id, "plan": plan})

    def _failed(self, deployment: Deployment) -> None:
        """deployment_failed: cancelled (deleted, or overridden with force) or failed."""
        self.events.publish(
            "deployment_failed", lambda: {"id": deployment.id, "plan": self._plan(deployment)}
        )

    def _ready(self, app_id: str) -> bool:
        return all(d.ready for d in self.deployments.values() if d.affects(app_id))

    def _catch_up(self) -> None:
        now = self.now()
        for deployment in self.deployments.values():
            if not deployment.ready and now >= deployment.ready_at:
                deployment.ready = True
                self._dirty = True
        for _ in range(20):
            if not self._dirty:
                break
            self._dirty = False
            for app in sorted(self.apps.values(), key=lambda a: a.order):
                self._converge(app)
        for deployment in list(self.deployments.values()):
            if deployment.ready and all(self._done(a) for a in deployment.actions):
                del self.deployments[deployment.id]
                self._finished(deployment)

    def _done(self, action: Action) -> bool:
        app = self.apps.get(action.app_id)
        if action.kind == "stop" or app is None:
            return True
        tasks = self.tasks_of(app.id)
        current = [t for t in tasks if t.config_version == app.last_config_change_at]
        return len(current) == len(tasks) == app.spec.instances

    def _converge(self, app: App) -> None:
        """Start and kill instances of one app towards its definition."""
        spec = app.spec
        tasks = self.tasks_of(app.id)
        current = [t for t in tasks if t.config_version == app.last_config_change_at]
        old = [t for t in tasks if t.config_version != app.last_config_change_at]
        surplus = len(current) - spec.instances
        if surplus > 0:
            for task in _kill_order(current, spec.kill_selection)[:surplus]:
                self._kill(task)
                current.remove(task)
        ready = self._ready(app.id)
        wanted = spec.instances - len(current)
        if not ready:
            wanted = min(wanted, max(0, spec.max_capacity() - len(old) - len(current)))
        started = self._launch(app, wanted)
        current += started
        if ready and old:
            keep = max(0, min(len(old), spec.instances - len(current)))
            for task in _kill_order(old, spec.kill_selection)[: len(old) - keep]:
                self._kill(task)

    def _launch(self, app: App, count: int) -> list[Task]:
        started: list[Task] = []
        if count <= 0:
            app.queue = None
            return started
        now = self.now()
        for _ in range(count):
            decision = self._place(app)
            queue = app.queue
            if decision.offer is None:
                if queue is None:
                    queue = app.queue = LaunchQueue(count=0, since=now)
                queue.count = count - len(started)
                queue.processed += len(decision.rejected)
                queue.unused += len(decision.rejected)
                queue.last_unused_at = now if decision.rejected else queue.last_unused_at
                queue.first_reasons.update(r[0] for _, r in decision.rejected if r)
                queue.last_offers = decision.rejected
                return started
            app.last_used_offer_at = now
            if queue is not None:
                queue.processed += len(decision.rejected) + 1
                queue.unused += len(decision.rejected)
            started.append(self._start_task(app, decision))
        app.queue = None
        return started

    def _offers(self) -> list[Offer]:
        offers = []
        for agent in self.agents.values():
            if not agent.active:
                continue
            usable = agent.usable(self.role)
            usage = self._usage[agent.id]
            offers.append(
                Offer(
                    agent_id=agent.id,
                    hostname=agent.hostname,
                    attributes=agent.attributes,
                    cpus=usable.cpus - usage.cpus,
                    mem=usable.mem - usage.mem,
                    disk=usable.disk - usage.disk,
                    ports=subtract(usable.ports, from_ports(usage.ports)),
                    role=self.role,
                )
            )
        return offers

    def _executor_of(self, spec: AppSpec) -> Resources:
        if spec.executor is None:
            return self.executor
        return Resources(*spec.executor)

    def _place(self, app: App) -> Decision:
        spec = app.spec
        executor = self._executor_of(spec)
        roles = spec.accepted_roles
        demand = Demand(
            cpus=spec.cpus + executor.cpus,
            mem=spec.mem + executor.mem,
            disk=spec.disk + executor.disk,
            gpus=spec.gpus,
            host_ports=spec.host_ports,
            constraints=spec.constraints,
            role_ok=roles is None or "*" in roles or self.role in roles,
        )
        peers = []
        for task in self.tasks_of(app.id):
            agent = self.agents[task.agent_id]
            peers.append({"hostname": agent.hostname, **agent.attributes})
        return first_fit(self._offers(), demand, peers, self._ports)

    def _start_task(self, app: App, decision: Decision) -> Task:
        assert decision.offer is not None
        agent = self.agents[decision.offer.agent_id]
        spec = app.spec
        uid = self.new_uuid()
        safe = "_".join(split_id(app.id))
        host_ports = tuple(decision.ports)
        if spec.mode == HOST:
            ip = agent.ip
        elif spec.mode == BRIDGE:
            ip = f"172.17.0.{2 + len(self._tasks_on(agent.id)) % 250}"
        else:
            ip = f"9.0.{len(self.tasks) // 250 % 250}.{2 + len(self.tasks) % 250}"
        now = self.now()
        task = Task(
            id=f"{safe}.{uid}",
            instance_id=f"{safe}.marathon-{uid}",
            app_id=app.id,
            name=".".join(reversed(split_id(app.id))),
            agent_id=agent.id,
            host=agent.hostname,
            ip=ip,
            host_ports=host_ports,
            service_ports=tuple(p.service_port for p in spec.ports if p.service_port),
            port_names=tuple(p.name for p in spec.ports if p.host_port is not None),
            version=app.version,
            config_version=app.last_config_change_at,
            staged_at=now,
            started_at=now,
            resources=Resources(spec.cpus, spec.mem, spec.disk, from_ports(host_ports)),
            executor=self._executor_of(spec),
            container_id=self.new_uuid(),
            labels=dict(app.definition.get("labels") or {}),
            health_checks=spec.health_checks,
        )
        self.tasks[task.id] = task
        self._tasks_by_app.setdefault(app.id, {})[task.id] = task
        self._tasks_by_agent.setdefault(agent.id, {})[task.id] = task
        usage = self._usage[agent.id]
        used = task.used
        usage.cpus += used.cpus
        usage.mem += used.mem
        usage.disk += used.disk
        usage.ports.update(host_ports)
        # placed means running here: Marathon's stream still shows both updates
        self._task_event(task, "TASK_STAGING")
        self._task_event(task, "TASK_RUNNING")
        if task.health_checks:
            self._health_event(task, alive=True)
        return task

    def _task_event(self, task: Task, status: str, message: str = "") -> None:
        """A `status_update_event`, shaped as in Marathon's event stream."""
        self.events.publish(
            "status_update_event",
            {
                "slaveId": task.agent_id,
                "taskId": task.id,
                "taskStatus": status,
                "message": message,
                "appId": task.app_id,
                "host": task.host,
                "ports": list(task.host_ports),
                "ipAddresses": [{"ipAddress": task.ip, "protocol": "IPv4"}],
                "version": task.version,
            },
        )

    def _health_event(self, task: Task, alive: bool) -> None:
        self.events.publish(
            "health_status_changed_event",
            {
                "appId": task.app_id,
                "taskId": task.id,
                "instanceId": task.instance_id,
                "version": task.version,
                "alive": alive,
            },
        )

    def _tasks_on(self, agent_id: str) -> list[Task]:
        return list(self._tasks_by_agent.get(agent_id, {}).values())

    def _kill(self, task: Task, state: str = "TASK_KILLED", message: str = "") -> None:
        """End a task: its resources go back to its agent and the stream says how it ended."""
        self.tasks.pop(task.id, None)
        self._tasks_by_app.get(task.app_id, {}).pop(task.id, None)
        self._tasks_by_agent.get(task.agent_id, {}).pop(task.id, None)
        usage = self._usage[task.agent_id]
        used = task.used
        usage.cpus -= used.cpus
        usage.mem -= used.mem
        usage.disk -= used.disk
        usage.ports.difference_update(task.host_ports)
        task.state = state
        task.finished_at = self.now()
        self.completed_tasks.append(task)
        self._dirty = True
        if task.health_checks and state != "TASK_KILLED":
            self._health_event(task, alive=False)
        self._task_event(task, state, message)


def _root_group(apps: list[dict[str, Any]], version: str) -> dict[str, Any]:
    return {
        "id": "/",
        "apps": apps,
        "groups": [],
        "pods": [],
        "dependencies": [],
        "version": version,
    }


STEP_ACTIONS = {
    "start": "StartApplication",
    "scale": "ScaleApplication",
    "restart": "RestartApplication",
    "stop": "StopApplication",
}


def _steps(actions: list[Action]) -> list[dict[str, Any]]:
    """Marathon's steps: new apps are started (at 0 instances), then everything scales,
    restarts or stops in one step."""
    first = [{"action": "StartApplication", "app": a.app_id} for a in actions if a.kind == "start"]
    then = [
        {"action": STEP_ACTIONS["scale" if a.kind == "start" else a.kind], "app": a.app_id}
        for a in actions
    ]
    return [step for step in ({"actions": first}, {"actions": then}) if step["actions"]]


def _kill_order(tasks: list[Task], selection: str) -> list[Task]:
    """Which instances go first: YOUNGEST_FIRST (Marathon's default) or OLDEST_FIRST."""
    youngest_first = selection != "OLDEST_FIRST"
    return sorted(tasks, key=lambda t: (t.started_at, t.id), reverse=youngest_first)


def _without_empty_pods(group: Any) -> Any:
    """The group with `"pods": []` dropped at every level: a group read back from
    GET /v2/groups has it, and Marathon's group reader passes over it."""
    if not isinstance(group, dict):
        return group
    out = {k: v for k, v in group.items() if not (k == "pods" and v == [])}
    if isinstance(out.get("groups"), list):
        out["groups"] = [_without_empty_pods(sub) for sub in out["groups"]]
    return out


def _not_child(path_id: str, group_id: str) -> str:
    return f"identifier {path_id} is not child of {group_id}. Hint: use relative paths."


def _raise_problems(problems: list[Problem]) -> None:
    syntax = [p for p in problems if p.syntax]
    if syntax:
        raise InvalidJson(syntax)
    if problems:
        raise InvalidObject(problems)
