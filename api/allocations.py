"""/api/v1/environments/{env}/allocations"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from api.auth import require_admin_to_force, requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import (
    AllocationIn,
    AllocationOut,
    CheckedWriteArgs,
    MarathonArgs,
    WriteArgs,
)
from ledger import allocations, app_definitions

blp = Blueprint(
    "allocations",
    __name__,
    url_prefix="/api/v1/environments",
    description="What each service gets in an environment, with its host ports",
)


@blp.route("/<string:env>/allocations")
class Allocations(MethodView):
    @requires("viewer")
    @blp.response(200, AllocationOut(many=True))
    def get(self, env: str) -> Any:
        return allocations.list_allocations(ledger_context(), env)


@blp.route("/<string:env>/allocations/<string:service>")
class AllocationByService(MethodView):
    @requires("viewer")
    @blp.response(200, AllocationOut)
    def get(self, env: str, service: str) -> Any:
        view = allocations.get_allocation(ledger_context(), env, service)
        return view, 200, {"ETag": allocations.etag(view)}

    @requires("ops")
    @blp.arguments(CheckedWriteArgs, location="query")
    @blp.arguments(AllocationIn)
    @blp.response(200, AllocationOut)
    @blp.alt_response(201, schema=AllocationOut, description="created")
    def put(self, args: dict[str, Any], data: dict[str, Any], env: str, service: str) -> Any:
        """Create or replace an allocation; ports are kept, or chosen lowest free.

        Send `If-Match` with the ETag of a GET to refuse the write (412) when someone else
        changed the allocation in between. `?dry_run=true` answers without saving.
        """
        require_admin_to_force(args["force"])
        result = allocations.put_allocation(
            ledger_context(),
            env,
            service,
            data,
            if_match=request.headers.get("If-Match"),
            dry_run=args["dry_run"],
            force=args["force"],
        )
        headers = {"ETag": allocations.etag(result.allocation)}
        if result.fit is not None:
            result.allocation["fit"] = result.fit
        if result.dry_run:
            headers["X-Berth-Dry-Run"] = "true"
            return result.allocation, 200, headers
        if result.created:
            headers["Location"] = f"/api/v1/environments/{env}/allocations/{service}"
            return result.allocation, 201, headers
        return result.allocation, 200, headers

    @requires("ops")
    @blp.arguments(WriteArgs, location="query")
    @blp.response(204)
    def delete(self, args: dict[str, Any], env: str, service: str) -> None:
        """Delete an allocation; its host ports wait out a quarantine before reuse."""
        allocations.delete_allocation(
            ledger_context(),
            env,
            service,
            if_match=request.headers.get("If-Match"),
            dry_run=args["dry_run"],
        )


@blp.route("/<string:env>/allocations/<string:service>/marathon")
class AllocationMarathonApp(MethodView):
    @requires("pipeline")
    @blp.arguments(MarathonArgs, location="query")
    @blp.response(200, description="a Marathon app definition, as Marathon's schema says")
    def get(self, args: dict[str, Any], env: str, service: str) -> Any:
        """The Marathon app definition to deploy for this build (the pipeline's call).

        404 without an allocation, 409 when it does not fit now, 422 for a malformed image;
        the ETag is the config hash, so an unchanged config can be told at a glance.
        """
        definition, digest = app_definitions.marathon_definition(
            ledger_context(),
            env,
            service,
            args["image"],
            build_url=args.get("build_url"),
            git_sha=args.get("git_sha"),
        )
        return definition, 200, {"ETag": f'"{digest}"'}
