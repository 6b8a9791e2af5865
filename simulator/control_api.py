"""The simulator's own endpoints under /_sim/: faults, agents, the clock.

They let a test that only speaks HTTP (berth's integration tests, the demo)
break and repair the cluster. Faults never apply to these paths.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.agents import Agent
from simulator.errors import SimulatorError
from simulator.http import ServerContext, json_response, read_json
from simulator.mesos_views import agent_json

FAULT_FIELDS = {"kind", "path_prefix", "times", "seconds", "status", "methods", "port", "body"}


class BadControlRequest(SimulatorError):
    pass


def list_faults(ctx: ServerContext, request: Request) -> Response:
    return json_response({"faults": [f.to_json() for f in ctx.sim.faults.list()]})


def add_fault(ctx: ServerContext, request: Request) -> Response:
    body = read_json(request)
    if not isinstance(body, dict) or "kind" not in body:
        raise BadControlRequest("a fault is a JSON object with at least 'kind'")
    unknown = set(body) - FAULT_FIELDS
    if unknown:
        raise BadControlRequest(f"unknown fault fields: {', '.join(sorted(unknown))}")
    try:
        fault = ctx.sim.faults.add(**body)
    except (TypeError, ValueError) as exc:
        raise BadControlRequest(str(exc)) from exc
    return json_response(fault.to_json(), 201)


def clear_faults(ctx: ServerContext, request: Request) -> Response:
    ctx.sim.faults.clear()
    return Response(status=204)


def delete_fault(ctx: ServerContext, request: Request, fault_id: int) -> Response:
    if not ctx.sim.faults.remove(fault_id):
        return json_response({"message": f"Fault {fault_id} does not exist"}, 404)
    return Response(status=204)


def _agent(ctx: ServerContext, agent: Agent) -> Response:
    with ctx.sim.lock:
        return json_response(agent_json(ctx.sim, agent))


def list_agents(ctx: ServerContext, request: Request) -> Response:
    with ctx.sim.lock:
        return json_response({"agents": [agent_json(ctx.sim, a) for a in ctx.sim.agents.values()]})


def add_agent(ctx: ServerContext, request: Request) -> Response:
    body: dict[str, Any] = read_json(request) if request.get_data() else {}
    allowed = {"cpus", "mem", "disk", "ports", "attributes", "hostname"}
    if not isinstance(body, dict) or set(body) - allowed:
        raise BadControlRequest(f"an agent takes only {', '.join(sorted(allowed))}")
    with ctx.sim.lock:
        agent = ctx.sim.add_agent(**body)
        return json_response(agent_json(ctx.sim, agent), 201)


def activate(ctx: ServerContext, request: Request, key: str) -> Response:
    return _agent(ctx, ctx.sim.activate_agent(key))


def deactivate(ctx: ServerContext, request: Request, key: str) -> Response:
    return _agent(ctx, ctx.sim.deactivate_agent(key))


def tick(ctx: ServerContext, request: Request) -> Response:
    """Catch up with the clock, optionally moving it forward by `seconds` first."""
    body = read_json(request) if request.get_data() else {}
    seconds = body.get("seconds", 0) if isinstance(body, dict) else 0
    if not isinstance(seconds, int | float) or seconds < 0:
        raise BadControlRequest("seconds must be a non-negative number")
    ctx.sim.advance(seconds)
    with ctx.sim.lock:
        return json_response({"now": ctx.sim.now(), "deployments": len(ctx.sim.deployments)})


def remove_agent(ctx: ServerContext, request: Request, key: str) -> Response:
    """The agent leaves the cluster; its tasks are lost (TASK_LOST) and replaced."""
    agent = ctx.sim.remove_agent(key)
    return json_response({"id": agent.id, "hostname": agent.hostname})


def fail_task(ctx: ServerContext, request: Request, task_id: str) -> Response:
    """The task fails (TASK_FAILED) and Marathon starts another in its place."""
    body = read_json(request) if request.get_data() else {}
    message = body.get("message") if isinstance(body, dict) else None
    task = ctx.sim.fail_task(task_id, **({"message": message} if message else {}))
    return json_response({"id": task.id, "appId": task.app_id, "state": task.state})


def fail_deployment(ctx: ServerContext, request: Request, deployment_id: str) -> Response:
    """The deployment fails (deployment_failed); its apps stay as far as they got."""
    deployment = ctx.sim.fail_deployment(deployment_id)
    return json_response({"id": deployment.id})


def drop_event_streams(ctx: ServerContext, request: Request) -> Response:
    """Fault: every open /v2/events connection is cut at once; reconnecting works."""
    return json_response({"dropped": ctx.sim.events.drop()})


def marathon_leader(ctx: ServerContext, request: Request) -> Response:
    """Leader change: leadership moves to `leader` (host:port) or the next instance."""
    body = read_json(request) if request.get_data() else {}
    if ctx.marathons is None:
        raise BadControlRequest("this server is not one of several Marathon instances")
    wanted = body.get("leader") if isinstance(body, dict) else None
    try:
        leader = ctx.marathons.elect(wanted)
    except ValueError as exc:
        raise BadControlRequest(str(exc)) from exc
    return json_response({"leader": leader, "instances": ctx.marathons.addresses})


def zk_session(ctx: ServerContext, request: Request) -> Response:
    """This master's ZooKeeper session: GET it, DELETE closes it (the next master leads),
    POST opens a new one (a restarted master, last in line)."""
    registration = ctx.zk
    if registration is None:
        raise BadControlRequest("this master was not started with a ZooKeeper (--zk)")
    if request.method == "DELETE":
        registration.close()
    elif request.method == "POST" and not registration.open_session:
        registration.open()
    return json_response(
        {"node": registration.node, "open": registration.open_session, "leader": ctx.leader}
    )


def rules() -> list[Rule]:
    return [
        Rule("/_sim/faults", endpoint=list_faults, methods=["GET"]),
        Rule("/_sim/faults", endpoint=add_fault, methods=["POST"]),
        Rule("/_sim/faults", endpoint=clear_faults, methods=["DELETE"]),
        Rule("/_sim/faults/<int:fault_id>", endpoint=delete_fault, methods=["DELETE"]),
        Rule("/_sim/agents", endpoint=list_agents, methods=["GET"]),
        Rule("/_sim/agents", endpoint=add_agent, methods=["POST"]),
        Rule("/_sim/agents/<key>/activate", endpoint=activate, methods=["POST"]),
        Rule("/_sim/agents/<key>/deactivate", endpoint=deactivate, methods=["POST"]),
        Rule("/_sim/tick", endpoint=tick, methods=["POST"]),
        Rule("/_sim/agents/<key>", endpoint=remove_agent, methods=["DELETE"]),
        Rule("/_sim/tasks/<task_id>/fail", endpoint=fail_task, methods=["POST"]),
        Rule("/_sim/deployments/<deployment_id>/fail", endpoint=fail_deployment, methods=["POST"]),
        Rule("/_sim/events/drop", endpoint=drop_event_streams, methods=["POST"]),
        Rule("/_sim/marathon/leader", endpoint=marathon_leader, methods=["POST"]),
        Rule("/_sim/zk/session", endpoint=zk_session, methods=["GET", "POST", "DELETE"]),
    ]
