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
    ]
