"""/api/v1/deployments"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import require_admin_to_force, requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import DeploymentIn, DeploymentListArgs, DeploymentOut, ForceArgs
from ledger import deployments

blp = Blueprint(
    "deployments",
    __name__,
    url_prefix="/api/v1/deployments",
    description="Deploying through Marathon, and the release history",
)


@blp.route("")
class Deployments(MethodView):
    @requires("viewer")
    @blp.arguments(DeploymentListArgs, location="query")
    @blp.response(200, DeploymentOut(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """The release history, newest first."""
        return deployments.history(ledger_context(), **args)

    @requires("pipeline")
    @blp.arguments(ForceArgs, location="query")
    @blp.arguments(DeploymentIn)
    @blp.response(202, DeploymentOut)
    def post(self, args: dict[str, Any], data: dict[str, Any]) -> Any:
        """Render, record and send the app to Marathon; follow it with GET /deployments/{id}.

        409 when the allocation does not fit or Marathon is locked by another deployment
        (with its id); 502/503 when Marathon fails, and the release is recorded as failed.
        """
        require_admin_to_force(args["force"])
        view = deployments.deploy(
            ledger_context(),
            data["environment"],
            data["service"],
            data["image"],
            build_url=data.get("build_url"),
            git_sha=data.get("git_sha"),
            force=args["force"],
        )
        return view, 202, {"Location": f"/api/v1/deployments/{view['id']}"}


@blp.route("/<int(max=2147483647):release_id>")
class DeploymentById(MethodView):
    @requires("viewer")
    @blp.response(200, DeploymentOut)
    def get(self, release_id: int) -> Any:
        """The release, followed through Marathon to success or failure."""
        return deployments.follow(ledger_context(), release_id)


@blp.route("/<int(max=2147483647):release_id>/rollback")
class DeploymentRollback(MethodView):
    @requires("pipeline")
    @blp.arguments(ForceArgs, location="query")
    @blp.response(202, DeploymentOut)
    def post(self, args: dict[str, Any], release_id: int) -> Any:
        """Deploy again the config of the last successful release before this one."""
        require_admin_to_force(args["force"])
        view = deployments.rollback(ledger_context(), release_id, force=args["force"])
        return view, 202, {"Location": f"/api/v1/deployments/{view['id']}"}
