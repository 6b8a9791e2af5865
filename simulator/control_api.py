"""The simulator's own endpoints under /_sim/: faults, agents, the clock.

They let a test that only speaks HTTP (berth's integration tests, the demo)
break and repair the cluster. Faults never apply to these paths.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.agent_http import MODES
from simulator.agents import Agent
from simulator.errors import SimulatorError
from simulator.http import ServerContext, json_response, read_json
from simulator.mesos_views import agent_json
from simulator.state import iso
from simulator.usage import Profile

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


def _moment(text: Any, name: str) -> float:
    """Epoch seconds from a number or an ISO 8601 time (`Z` or an offset; naive is UTC)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadControlRequest(f"{name} is epoch seconds or an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise BadControlRequest(f"{name} is epoch seconds or an ISO 8601 time")


def _clock_json(ctx: ServerContext) -> dict[str, Any]:
    now = ctx.sim.now()
    return {"now": iso(now), "epoch": now}


def clock(ctx: ServerContext, request: Request) -> Response:
    """GET the simulator's clock; PUT `{"now": iso|epoch}` or `{"advance_seconds": n}`.

    Time never goes backwards: CPU counters are integrals up to now.
    """
    if request.method == "PUT":
        body = read_json(request)
        if not isinstance(body, dict) or len(set(body) & {"now", "advance_seconds"}) != 1:
            raise BadControlRequest("send either 'now' or 'advance_seconds'")
        if set(body) - {"now", "advance_seconds"}:
            raise BadControlRequest("the clock takes only 'now' or 'advance_seconds'")
        if "advance_seconds" in body:
            seconds = body["advance_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise BadControlRequest("advance_seconds must be a non-negative number")
            ctx.sim.advance(seconds)
        else:
            try:
                ctx.sim.set_now(_moment(body["now"], "now"))
            except ValueError as exc:
                raise BadControlRequest(str(exc)) from exc
    with ctx.sim.lock:
        return json_response(_clock_json(ctx))


def list_profiles(ctx: ServerContext, request: Request) -> Response:
    """Every app's usage profile: those set, and the defaults fixed for every app."""
    with ctx.sim.lock:
        for app_id in ctx.sim.apps:
            ctx.sim.profile(app_id)
        profiles = ctx.sim.usage.known()
    return json_response({"profiles": {k: p.to_json() for k, p in sorted(profiles.items())}})


def usage_profile(ctx: ServerContext, request: Request, app_id: str) -> Response:
    """GET an app's usage profile; PUT sets it (fields left out keep their values)."""
    if request.method == "PUT":
        body = read_json(request)
        try:
            profile = Profile.from_json(body, ctx.sim.profile(app_id))
        except (TypeError, ValueError) as exc:
            raise BadControlRequest(str(exc)) from exc
        ctx.sim.set_profile(app_id, profile)
    return json_response({"appId": "/" + app_id.strip("/"), **ctx.sim.profile(app_id).to_json()})


def usage_truth(ctx: ServerContext, request: Request, app_id: str) -> Response:
    """What the app truly used over [from, to) (default: the last 24 h up to now)."""
    now = ctx.sim.now()
    end = _moment(request.args["to"], "to") if "to" in request.args else now
    start = _moment(request.args["from"], "from") if "from" in request.args else end - 86400
    if end <= start:
        raise BadControlRequest("'from' must be before 'to'")
    if end - start > 90 * 86400:
        raise BadControlRequest("the window is at most 90 days")
    return json_response(ctx.sim.usage_truth(app_id, start, end))


def restart_agent(ctx: ServerContext, request: Request, key: str) -> Response:
    """The agent reboots: its tasks end TASK_LOST and are replaced (counters from zero)."""
    lost = ctx.sim.restart_agent(key)
    return json_response({"lost": [t.id for t in lost]})


def agent_http_mode(ctx: ServerContext, request: Request, key: str) -> Response:
    """GET/PUT `{"mode": "up"|"refuse"|"hang"}`: the agent's statistics socket answers,
    refuses connections, or accepts them and never answers."""
    sim = ctx.sim
    endpoints = sim.agent_http
    if endpoints is None:
        raise BadControlRequest("the agents do not listen (started with --agent-http off)")
    agent = sim.agent(key)
    if request.method == "PUT":
        body = read_json(request)
        mode = body.get("mode") if isinstance(body, dict) else None
        if mode not in MODES:
            raise BadControlRequest(f"mode is one of {', '.join(MODES)}")
        endpoints.set_mode(agent.id, mode)
    return json_response({"id": agent.id, "pid": agent.pid, "mode": endpoints.mode(agent.id)})


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
        Rule("/_sim/clock", endpoint=clock, methods=["GET", "PUT"]),
        Rule("/_sim/usage", endpoint=list_profiles, methods=["GET"]),
        Rule("/_sim/usage/<path:app_id>/truth", endpoint=usage_truth, methods=["GET"]),
        Rule("/_sim/usage/<path:app_id>", endpoint=usage_profile, methods=["GET", "PUT"]),
        Rule("/_sim/agents/<key>/restart", endpoint=restart_agent, methods=["POST"]),
        Rule("/_sim/agents/<key>/http", endpoint=agent_http_mode, methods=["GET", "PUT"]),
    ]
