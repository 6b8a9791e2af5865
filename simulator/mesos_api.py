"""The Mesos master's read-only endpoints, and redirects from non-leading masters.

A non-leading master answers /master/state and /master/slaves with a 307 to the
same path on the leader, and /master/redirect with a 307 to the leader itself,
both with a scheme-relative `Location: //host:port…`, as real Mesos does.
"""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.http import ServerContext, json_response
from simulator.mesos_views import MESOS_VERSION, slaves_json, state_json


def _to_leader(ctx: ServerContext, request: Request, path: str = "") -> Response:
    if not ctx.leader:  # every master left ZooKeeper: nobody leads
        return Response("No leader elected", status=503, content_type="text/plain")
    query = request.query_string.decode("latin-1")
    location = f"//{ctx.leader}{path}" + (f"?{query}" if query and path else "")
    return Response(status=307, headers={"Location": location})


def state(ctx: ServerContext, request: Request) -> Response:
    if not ctx.is_leader:
        return _to_leader(ctx, request, request.path)
    with ctx.sim.lock:
        ctx.sim.tick()
        return json_response(state_json(ctx.sim, ctx.own, ctx.leader))


def slaves(ctx: ServerContext, request: Request) -> Response:
    if not ctx.is_leader:
        return _to_leader(ctx, request, request.path)
    with ctx.sim.lock:
        ctx.sim.tick()
        return json_response(slaves_json(ctx.sim))


def redirect(ctx: ServerContext, request: Request) -> Response:
    return _to_leader(ctx, request)


def health(ctx: ServerContext, request: Request) -> Response:
    return Response(status=200)


def version(ctx: ServerContext, request: Request) -> Response:
    return json_response(
        {"version": MESOS_VERSION, "build_user": "simulator", "build_time": 1572393491}
    )


def rules() -> list[Rule]:
    return [
        *(
            Rule(path, endpoint=state, methods=["GET"])
            for path in ("/master/state", "/master/state.json", "/state", "/state.json")
        ),
        *(Rule(path, endpoint=slaves, methods=["GET"]) for path in ("/master/slaves", "/slaves")),
        Rule("/master/redirect", endpoint=redirect, methods=["GET"]),
        Rule("/redirect", endpoint=redirect, methods=["GET"]),
        Rule("/master/health", endpoint=health, methods=["GET"]),
        Rule("/version", endpoint=version, methods=["GET"]),
    ]
