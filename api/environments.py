"""/api/v1/environments"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import (
    CapacityOut,
    EnvironmentIn,
    EnvironmentListArgs,
    EnvironmentOut,
    EnvironmentPatch,
)
from ledger import capacity_report, environments

blp = Blueprint(
    "environments", __name__, url_prefix="/api/v1/environments", description="Environments"
)


@blp.route("")
class Environments(MethodView):
    @requires("viewer")
    @blp.arguments(EnvironmentListArgs, location="query")
    @blp.response(200, EnvironmentOut(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """All environments, or those of one cluster."""
        return environments.list_environments(ledger_context(), args.get("cluster"))

    @requires("admin")
    @blp.arguments(EnvironmentIn)
    @blp.response(201, EnvironmentOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an environment on a cluster (admin)."""
        view = environments.create_environment(ledger_context(), data)
        return view, 201, {"Location": f"/api/v1/environments/{view['name']}"}


@blp.route("/<string:name>")
class EnvironmentByName(MethodView):
    @requires("viewer")
    @blp.response(200, EnvironmentOut)
    def get(self, name: str) -> Any:
        return environments.get_environment(ledger_context(), name)

    @requires("admin")
    @blp.arguments(EnvironmentPatch)
    @blp.response(200, EnvironmentOut)
    def patch(self, changes: dict[str, Any], name: str) -> Any:
        return environments.update_environment(ledger_context(), name, changes)

    @requires("admin")
    @blp.response(204)
    def delete(self, name: str) -> None:
        environments.delete_environment(ledger_context(), name)


@blp.route("/<string:name>/capacity")
class EnvironmentCapacity(MethodView):
    @requires("viewer")
    @blp.response(200, CapacityOut)
    def get(self, name: str) -> Any:
        """The cluster placed as a whole, reported for this environment's allocations."""
        return capacity_report.environment_capacity(ledger_context(), name)
