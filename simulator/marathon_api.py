"""Marathon's REST API (v2): apps, tasks, deployments, queue, groups, info, leader."""

from __future__ import annotations

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.apps import absolute_id
from simulator.errors import AppNotFound
from simulator.http import ServerContext, flag, json_response, read_json
from simulator.marathon_views import (
    app_json,
    apps_json,
    deployment_result,
    deployments_json,
    embeds,
    info_json,
    queue_json,
    task_json,
)


def ping(ctx: ServerContext, request: Request) -> Response:
    return Response("pong", content_type="text/plain")


def info(ctx: ServerContext, request: Request) -> Response:
    with ctx.sim.lock:
        return json_response(info_json(ctx.sim, ctx.own, ctx.leader, ctx.leader_url))


def leader(ctx: ServerContext, request: Request) -> Response:
    return json_response({"leader": ctx.leader})


def list_apps(ctx: ServerContext, request: Request) -> Response:
    embed = embeds(request.args.getlist("embed")) | {"counts", "deployments"}
    with ctx.sim.lock:
        ctx.sim.tick()
        return json_response(
            apps_json(
                ctx.sim,
                embed,
                id_filter=request.args.get("id"),
                cmd_filter=request.args.get("cmd"),
                label_filter=request.args.get("label"),
            )
        )


def create_app(ctx: ServerContext, request: Request) -> Response:
    body = read_json(request)
    sim = ctx.sim
    with sim.lock:
        app, deployment = sim.create_app(body, force=flag(request, "force"))
        # Marathon answers with what it knew when it accepted: no tasks yet
        out = app_json(sim, app, set())
        out.update(tasksStaged=0, tasksRunning=0, tasksHealthy=0, tasksUnhealthy=0)
        out["deployments"] = [{"id": deployment.id}]
        out["tasks"] = []
    headers = {
        "Marathon-Deployment-Id": deployment.id,
        "Location": f"{request.host_url.rstrip('/')}/v2/apps{app.id}",
    }
    return json_response(out, 201, headers)


def get_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    sim = ctx.sim
    embed = embeds(request.args.getlist("embed")) | {"tasks", "counts", "deployments"}
    with sim.lock:
        sim.tick()
        if app_id.endswith("*"):
            prefix = absolute_id(app_id.rstrip("*"))
            found = [a for a in sim.apps.values() if a.id.startswith(prefix)]
            return json_response({"*": [app_json(sim, a, embed) for a in found]})
        app = sim.apps.get(absolute_id(app_id))
        if app is None:
            raise AppNotFound(absolute_id(app_id))
        return json_response({"app": app_json(sim, app, embed)})


def put_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    body = read_json(request)
    deployment, created = ctx.sim.put_app(
        app_id,
        body,
        partial=flag(request, "partialUpdate", default=True),
        force=flag(request, "force"),
    )
    headers = {"Marathon-Deployment-Id": deployment.id}
    return json_response(deployment_result(deployment), 201 if created else 200, headers)


def delete_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    deployment = ctx.sim.delete_app(app_id, force=flag(request, "force"))
    headers = {"Marathon-Deployment-Id": deployment.id}
    return json_response(deployment_result(deployment), 200, headers)


def app_tasks(ctx: ServerContext, request: Request, app_id: str) -> Response:
    sim = ctx.sim
    with sim.lock:
        sim.tick()
        app = sim.apps.get(absolute_id(app_id))
        if app is None:
            raise AppNotFound(absolute_id(app_id))
        return json_response({"tasks": [task_json(sim, t) for t in sim.tasks_of(app.id)]})


def app_versions(ctx: ServerContext, request: Request, app_id: str) -> Response:
    sim = ctx.sim
    with sim.lock:
        app = sim.apps.get(absolute_id(app_id))
        if app is None:
            raise AppNotFound(absolute_id(app_id))
        return json_response({"versions": list(reversed(app.versions))})


def list_tasks(ctx: ServerContext, request: Request) -> Response:
    sim = ctx.sim
    with sim.lock:
        sim.tick()
        return json_response({"tasks": [task_json(sim, t) for t in sim.tasks.values()]})


def list_deployments(ctx: ServerContext, request: Request) -> Response:
    with ctx.sim.lock:
        ctx.sim.tick()
        return json_response(deployments_json(ctx.sim))


def delete_deployment(ctx: ServerContext, request: Request, deployment_id: str) -> Response:
    """Revert (200 with the new deployment) or, with force, just cancel (202, no body)."""
    revert = ctx.sim.delete_deployment(deployment_id, force=flag(request, "force"))
    if revert is None:
        return Response(status=202)
    headers = {"Marathon-Deployment-Id": revert.id}
    return json_response(deployment_result(revert), 200, headers)


def queue(ctx: ServerContext, request: Request) -> Response:
    with ctx.sim.lock:
        ctx.sim.tick()
        return json_response(queue_json(ctx.sim))


def create_group(ctx: ServerContext, request: Request) -> Response:
    body = read_json(request)
    deployment = ctx.sim.create_group(body, force=flag(request, "force"))
    headers = {"Marathon-Deployment-Id": deployment.id}
    return json_response(deployment_result(deployment), 201, headers)


def rules() -> list[Rule]:
    return [
        Rule("/ping", endpoint=ping, methods=["GET"]),
        Rule("/v2/info", endpoint=info, methods=["GET"]),
        Rule("/v2/leader", endpoint=leader, methods=["GET"]),
        Rule("/v2/apps", endpoint=list_apps, methods=["GET"]),
        Rule("/v2/apps", endpoint=create_app, methods=["POST"]),
        Rule("/v2/apps/<path:app_id>", endpoint=get_app, methods=["GET"]),
        Rule("/v2/apps/<path:app_id>", endpoint=put_app, methods=["PUT"]),
        Rule("/v2/apps/<path:app_id>", endpoint=delete_app, methods=["DELETE"]),
        Rule("/v2/apps/<path:app_id>/tasks", endpoint=app_tasks, methods=["GET"]),
        Rule("/v2/apps/<path:app_id>/versions", endpoint=app_versions, methods=["GET"]),
        Rule("/v2/tasks", endpoint=list_tasks, methods=["GET"]),
        Rule("/v2/deployments", endpoint=list_deployments, methods=["GET"]),
        Rule("/v2/deployments/<deployment_id>", endpoint=delete_deployment, methods=["DELETE"]),
        Rule("/v2/queue", endpoint=queue, methods=["GET"]),
        Rule("/v2/groups", endpoint=create_group, methods=["POST"]),
    ]
