"""The Mesos master's JSON: /master/state and /master/slaves, shaped like Mesos writes them.

Resources are Mesos' flat objects (`{"disk", "mem", "gpus", "cpus", "ports"}`,
ports as the range string); /master/slaves adds the `*_full` lists of protobuf
`Resource` objects, as `src/master/readonly_handler.cpp` does. Called with the
simulator's lock held.
"""

from __future__ import annotations

from typing import Any

from simulator.agents import Agent
from simulator.resources import Resources
from simulator.state import Simulator, Task

MESOS_VERSION = "1.9.0"
AGENT_CAPABILITIES = ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"]


def agent_json(sim: Simulator, agent: Agent, full: bool = False) -> dict[str, Any]:
    used = sim.used(agent.id)
    out: dict[str, Any] = {
        "id": agent.id,
        "hostname": agent.hostname,
        "port": 5051,
        "pid": agent.pid,
        "registered_time": agent.registered_time,
        "resources": agent.total.to_json(),
        "used_resources": used.to_json(),
        "offered_resources": Resources().to_json(),
        "reserved_resources": {role: r.to_json() for role, r in agent.reservations.items()},
        "unreserved_resources": agent.unreserved().to_json(),
        "attributes": dict(agent.attributes),
        "active": agent.active,
        "deactivated": not agent.active,
        "version": MESOS_VERSION,
        "capabilities": list(AGENT_CAPABILITIES),
    }
    if full:
        out["reserved_resources_full"] = {
            role: r.to_protobuf(role, {"reservations": [{"type": "STATIC", "role": role}]})
            for role, r in agent.reservations.items()
        }
        out["unreserved_resources_full"] = agent.unreserved().to_protobuf("*")
        out["used_resources_full"] = used.to_protobuf(
            sim.role, {"allocation_info": {"role": sim.role}}
        )
        out["offered_resources_full"] = []
    return out


def slaves_json(sim: Simulator) -> dict[str, Any]:
    return {
        "slaves": [agent_json(sim, a, full=True) for a in sim.agents.values()],
        "recovered_slaves": [],
    }


def _task_json(sim: Simulator, task: Task) -> dict[str, Any]:
    statuses = [
        {
            "state": "TASK_RUNNING",
            "timestamp": round(task.started_at, 5),
            "container_status": {
                "container_id": {"value": task.container_id},
                "network_infos": [{"ip_addresses": [{"ip_address": task.ip}]}],
            },
        }
    ]
    if task.finished_at is not None:
        statuses.append({"state": task.state, "timestamp": round(task.finished_at, 5)})
    return {
        "id": task.id,
        "name": task.name,
        "framework_id": sim.framework_id,
        "executor_id": "",
        "slave_id": task.agent_id,
        "state": task.state,
        "resources": task.resources.to_json(),
        "statuses": statuses,
        "labels": [{"key": k, "value": v} for k, v in task.labels.items()],
        "discovery": {
            "visibility": "FRAMEWORK",
            "name": task.name,
            "ports": {
                "ports": [
                    {"number": port, "name": name or f"port{i}", "protocol": "tcp"}
                    for i, (port, name) in enumerate(
                        zip(task.host_ports, task.port_names, strict=False)
                    )
                ]
            },
        },
    }


def _executor_json(sim: Simulator, task: Task) -> dict[str, Any]:
    """The executor Mesos runs for a command task, carrying the per-task overhead."""
    return {
        "executor_id": task.id,
        "name": f"Command Executor (Task: {task.id})",
        "framework_id": sim.framework_id,
        "command": {"value": "mesos-executor", "argv": []},
        "resources": task.executor.to_json(),
        "slave_id": task.agent_id,
    }


def framework_json(sim: Simulator, leader_host: str, leader_url: str) -> dict[str, Any]:
    tasks = list(sim.tasks.values())
    used = Resources()
    for task in tasks:
        used = used + task.used
    return {
        "id": sim.framework_id,
        "name": "marathon",
        "pid": f"scheduler-{sim.framework_id}@{leader_host}:15101",
        "used_resources": used.to_json(),
        "offered_resources": Resources().to_json(),
        "capabilities": ["TASK_KILLING_STATE", "PARTITION_AWARE"],
        "hostname": leader_host,
        "webui_url": leader_url,
        "active": True,
        "connected": True,
        "recovered": False,
        "user": "root",
        "failover_timeout": 604800,
        "checkpoint": True,
        "registered_time": round(sim.started_at, 5),
        "unregistered_time": 0,
        "principal": "marathon",
        "resources": used.to_json(),
        "role": sim.role,
        "tasks": [_task_json(sim, t) for t in tasks],
        "completed_tasks": [_task_json(sim, t) for t in sim.completed_tasks],
        "offers": [],
        "executors": [_executor_json(sim, t) for t in tasks],
    }


def state_json(sim: Simulator, own: str, leader: str) -> dict[str, Any]:
    """GET /master/state on the leading master; `own` and `leader` are `host:port`."""
    host, _, port = own.rpartition(":")
    leader_host, _, leader_port = leader.rpartition(":")
    active = sum(1 for a in sim.agents.values() if a.active)
    return {
        "version": MESOS_VERSION,
        "git_sha": "5e79a584e6ec3e9e2f96e8bf418411df9dafac2e",
        "build_date": "2019-10-29 23:58:11",
        "build_time": 1572393491,
        "build_user": "simulator",
        "start_time": round(sim.started_at, 5),
        "elected_time": round(sim.started_at + 1.5, 5),
        "id": sim.master_id,
        "pid": f"master@{own}",
        "hostname": host,
        "activated_slaves": active,
        "deactivated_slaves": len(sim.agents) - active,
        "leader": f"master@{leader}",
        "leader_info": {
            "id": sim.master_id,
            "pid": f"master@{leader}",
            "port": int(leader_port),
            "hostname": leader_host,
        },
        "cluster": "berth-simulator",
        "flags": {
            "agent_ping_timeout": "15secs",
            "allocation_interval": "1secs",
            "allocator": "hierarchical",
            "authenticate_agents": "false",
            "authenticate_frameworks": "false",
            "authenticate_http_readonly": "false",
            "authenticate_http_readwrite": "false",
            "cluster": "berth-simulator",
            "hostname_lookup": "true",
            "log_auto_initialize": "true",
            "logging_level": "INFO",
            "offer_timeout": "2mins",
            "port": port,
            "quorum": "2",
            "registry": "replicated_log",
            "roles": "*,kafka",
            "work_dir": "/var/lib/mesos/master",
            "zk": "zk://127.0.0.1:2181/mesos",
            "zk_session_timeout": "10secs",
        },
        "slaves": [agent_json(sim, a) for a in sim.agents.values()],
        "frameworks": [framework_json(sim, leader_host, f"http://{leader}")],
        "completed_frameworks": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }
