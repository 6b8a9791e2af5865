"""Marathon's REST API (v2): apps, tasks, deployments, queue, groups, info, leader.

Ids in paths are Marathon PathIds: empty segments vanish, so `/v2/apps//lib/x`,
`/v2/apps/lib/x` and `/v2/apps/lib/x/` all name the app `/lib/x` (the server
merges repeated slashes of /v2/ paths before routing). Below `/v2/apps/` the
sub-resource suffix wins over the id, as in Marathon's JAX-RS resources, whose
templates are tried longest literal first: `{id}/versions[/{version}]`, then
`{id}/restart`, then `{id}/tasks[/{taskId}]`, and only then `{id}` itself; the
HTTP method is checked only after that, so `PUT /v2/apps/x/tasks` is a 405 and
not an update of an app `/x/tasks`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from simulator.apps import absolute_id, is_under
from simulator.errors import AppNotFound, BadRequest, GroupNotFound, InvalidJson
from simulator.event_stream import stream_events
from simulator.events import API_ORIGIN
from simulator.http import ServerContext, flag, json_response, read_json
from simulator.marathon_views import (
    app_json,
    apps_json,
    definition_json,
    deployment_result,
    deployments_json,
    embeds,
    group_embeds,
    group_json,
    info_json,
    queue_json,
    task_json,
)
from simulator.state import Deployment
from simulator.validation import Problem

# Marathon's sub-resources of an app, in the order JAX-RS tries them
APP_RESOURCES = (
    ("versions", re.compile(r"(?P<id>.+)/versions(?P<rest>/.*)?")),
    ("restart", re.compile(r"(?P<id>.+)/restart(?P<rest>/)?")),
    ("tasks", re.compile(r"(?P<id>.+)/tasks(?P<rest>/.*)?")),
)
SCALE_AND_WIPE = "You cannot use scale and wipe at the same time."


def app_route(rest: str) -> tuple[str, str, str]:
    """`/v2/apps/{rest}` → (resource, app id, what follows the resource's name).

    The resource is `versions`, `restart`, `tasks`, or `app` for the app itself.
    """
    for name, pattern in APP_RESOURCES:
        match = pattern.fullmatch(rest)
        if match:
            return name, absolute_id(match["id"]), (match["rest"] or "").strip("/")
    return "app", absolute_id(rest), ""


def _result(deployment: Deployment, status: int = 200) -> Response:
    headers = {"Marathon-Deployment-Id": deployment.id}
    return json_response(deployment_result(deployment), status, headers)


@contextlib.contextmanager
def posted(request: Request) -> Iterator[None]:
    """While an app is created or changed through the API: who asked, for api_post_event."""
    token = API_ORIGIN.set((request.remote_addr or "", request.path))
    try:
        yield
    finally:
        API_ORIGIN.reset(token)


def ping(ctx: ServerContext, request: Request) -> Response:
    return Response("pong", content_type="text/plain")


def info(ctx: ServerContext, request: Request) -> Response:
    with ctx.sim.lock:
        out = info_json(ctx.sim, ctx.own, ctx.marathon_leader, ctx.leader_url)
        return json_response(out)


def leader(ctx: ServerContext, request: Request) -> Response:
    if not ctx.marathon_leader:
        return json_response({"message": "There is no leader"}, 404)
    return json_response({"leader": ctx.marathon_leader})


def abdicate(ctx: ServerContext, request: Request) -> Response:
    """DELETE /v2/leader: the leader steps down and another instance is elected."""
    if ctx.marathons is None or not ctx.marathon_leader:
        return json_response({"message": "There is no leader"}, 404)
    ctx.marathons.elect()
    return json_response({"message": "Leadership abdicated"})


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
    with sim.lock, posted(request):
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
            group_id = absolute_id(app_id.rstrip("*"))
            found = [a for a in sim.apps.values() if is_under(a.id, group_id)]
            return json_response({"*": [app_json(sim, a, embed) for a in found]})
        app = sim.apps.get(app_id)
        if app is None:
            raise AppNotFound(app_id)
        return json_response({"app": app_json(sim, app, embed)})


def put_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    body = read_json(request)
    with posted(request):
        deployment, created = ctx.sim.put_app(
            app_id,
            body,
            partial=flag(request, "partialUpdate", default=True),
            force=flag(request, "force"),
        )
    return _result(deployment, 201 if created else 200)


def delete_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    return _result(ctx.sim.delete_app(app_id, force=flag(request, "force")))


def restart_app(ctx: ServerContext, request: Request, app_id: str) -> Response:
    return _result(ctx.sim.restart_app(app_id, force=flag(request, "force")))


def app_tasks(ctx: ServerContext, request: Request, app_id: str) -> Response:
    sim = ctx.sim
    with sim.lock:
        sim.tick()
        app = sim.apps.get(app_id)
        if app is None:
            raise AppNotFound(app_id)
        return json_response({"tasks": [task_json(sim, t) for t in sim.tasks_of(app.id)]})


def _kill_flags(request: Request) -> tuple[bool, bool]:
    scale = flag(request, "scale")
    if scale and flag(request, "wipe"):
        raise BadRequest(SCALE_AND_WIPE)
    return scale, flag(request, "force")


def kill_app_tasks(
    ctx: ServerContext, request: Request, app_id: str, task_id: str | None = None
) -> Response:
    """DELETE /v2/apps/{id}/tasks[/{taskId}]: `{"tasks": …}` / `{"task": …}` of what was
    killed, or with `scale=true` the deployment that scales the app down."""
    scale, force = _kill_flags(request)
    sim = ctx.sim
    with sim.lock:
        killed, deployment = sim.kill_app_tasks(
            app_id, host=request.args.get("host"), task_id=task_id, scale=scale, force=force
        )
        if deployment is not None:
            return _result(deployment)
        if task_id is not None:
            return json_response({"task": task_json(sim, killed[0])})
        return json_response({"tasks": [task_json(sim, t) for t in killed]})


def kill_tasks(ctx: ServerContext, request: Request) -> Response:
    """POST /v2/tasks/delete with `{"ids": [...]}`."""
    scale, force = _kill_flags(request)
    body = read_json(request)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidJson([Problem("/ids", "error.expected.jsarray", syntax=True)])
    sim = ctx.sim
    with sim.lock:
        killed, deployment = sim.kill_tasks(ids, scale=scale, force=force)
        if deployment is not None:
            return _result(deployment)
        return json_response({"tasks": [task_json(sim, t) for t in killed]})


def app_versions(ctx: ServerContext, request: Request, app_id: str) -> Response:
    sim = ctx.sim
    with sim.lock:
        app = sim.apps.get(app_id)
        if app is None:
            raise AppNotFound(app_id)
        return json_response({"versions": list(reversed(app.versions))})


def app_version(ctx: ServerContext, request: Request, app_id: str, version: str) -> Response:
    sim = ctx.sim
    with sim.lock:
        app = sim.apps.get(app_id)
        if app is None:
            raise AppNotFound(app_id)
        snapshot = app.history.get(version)
        if snapshot is None:
            raise AppNotFound(app_id, version)
        return json_response(definition_json(snapshot))


def _not_allowed(*methods: str) -> MethodNotAllowed:
    return MethodNotAllowed(valid_methods=list(methods))


def app_resource(ctx: ServerContext, request: Request, rest: str) -> Response:
    """Everything below /v2/apps/, routed as Marathon routes it (see the module's doc)."""
    resource, app_id, more = app_route(rest)
    method = request.method
    handlers: dict[str, Callable[[], Response]]
    if resource == "versions":
        if "/" in more:
            raise NotFound()
        if more:
            handlers = {"GET": lambda: app_version(ctx, request, app_id, more)}
        else:
            handlers = {"GET": lambda: app_versions(ctx, request, app_id)}
    elif resource == "restart":
        handlers = {"POST": lambda: restart_app(ctx, request, app_id)}
    elif resource == "tasks":
        if "/" in more:
            raise NotFound()
        if more:
            handlers = {"DELETE": lambda: kill_app_tasks(ctx, request, app_id, more)}
        else:
            handlers = {
                "GET": lambda: app_tasks(ctx, request, app_id),
                "DELETE": lambda: kill_app_tasks(ctx, request, app_id),
            }
    else:
        handlers = {
            "GET": lambda: get_app(ctx, request, app_id),
            "PUT": lambda: put_app(ctx, request, app_id),
            "DELETE": lambda: delete_app(ctx, request, app_id),
        }
    if method == "HEAD" and "GET" in handlers:
        method = "GET"
    if method not in handlers:
        raise _not_allowed(*handlers)
    return handlers[method]()


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
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        headers["Location"] = f"{request.host_url.rstrip('/')}/v2/groups{absolute_id(body['id'])}"
    return json_response(deployment_result(deployment), 201, headers)


def get_group(ctx: ServerContext, request: Request, group_id: str) -> Response:
    group_embed, app_embed = group_embeds(request.args.getlist("embed"))
    sim = ctx.sim
    with sim.lock:
        sim.tick()
        if group_id not in sim.groups:
            raise GroupNotFound(group_id)
        return json_response(group_json(sim, group_id, group_embed, app_embed))


def group_versions(ctx: ServerContext, request: Request, group_id: str) -> Response:
    with ctx.sim.lock:
        meta = ctx.sim.groups.get(group_id)
        if meta is None:
            raise GroupNotFound(group_id)
        return json_response(list(reversed(meta.versions)))


def put_group(ctx: ServerContext, request: Request, group_id: str) -> Response:
    body = read_json(request)
    return _result(ctx.sim.put_group(group_id, body, force=flag(request, "force")))


def delete_group(ctx: ServerContext, request: Request, group_id: str) -> Response:
    return _result(ctx.sim.delete_group(group_id, force=flag(request, "force")))


def group_resource(ctx: ServerContext, request: Request, rest: str = "") -> Response:
    """/v2/groups and everything below it; `{id}/versions` lists a group's versions."""
    versions = re.fullmatch(r"(?:(?P<id>.*)/)?versions/?", rest)
    if versions and request.method in ("GET", "HEAD"):
        return group_versions(ctx, request, absolute_id(versions["id"] or "/"))
    group_id = absolute_id(rest)
    handlers: dict[str, Callable[[], Response]] = {
        "GET": lambda: get_group(ctx, request, group_id),
        "PUT": lambda: put_group(ctx, request, group_id),
        "DELETE": lambda: delete_group(ctx, request, group_id),
    }
    if group_id == "/":
        handlers["POST"] = lambda: create_group(ctx, request)
    method = "GET" if request.method == "HEAD" else request.method
    if method not in handlers:
        raise _not_allowed(*handlers)
    return handlers[method]()


def rules() -> list[Rule]:
    return [
        Rule("/ping", endpoint=ping, methods=["GET"]),
        Rule("/v2/info", endpoint=info, methods=["GET"]),
        Rule("/v2/leader", endpoint=leader, methods=["GET"]),
        Rule("/v2/leader", endpoint=abdicate, methods=["DELETE"]),
        Rule("/v2/events", endpoint=stream_events, methods=["GET"]),
        Rule("/v2/apps", endpoint=list_apps, methods=["GET"]),
        Rule("/v2/apps", endpoint=create_app, methods=["POST"]),
        Rule("/v2/apps/<path:rest>", endpoint=app_resource),
        Rule("/v2/tasks", endpoint=list_tasks, methods=["GET"]),
        Rule("/v2/tasks/delete", endpoint=kill_tasks, methods=["POST"]),
        Rule("/v2/deployments", endpoint=list_deployments, methods=["GET"]),
        Rule("/v2/deployments/<deployment_id>", endpoint=delete_deployment, methods=["DELETE"]),
        Rule("/v2/queue", endpoint=queue, methods=["GET"]),
        Rule("/v2/groups", endpoint=group_resource),
        Rule("/v2/groups/<path:rest>", endpoint=group_resource),
    ]
