"""/api/v1/services"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import DockerfileArgs, ServiceIn, ServiceListArgs, ServiceOut, ServicePatch
from ledger import app_definitions, services

blp = Blueprint("services", __name__, url_prefix="/api/v1/services", description="Services")


@blp.route("")
class Services(MethodView):
    @requires("viewer")
    @blp.arguments(ServiceListArgs, location="query")
    @blp.response(200, ServiceOut(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """All services, optionally of one team or with one tag."""
        return services.list_services(ledger_context(), **args)

    @requires("ops")
    @blp.arguments(ServiceIn)
    @blp.response(201, ServiceOut)
    def post(self, data: dict[str, Any]) -> Any:
        view = services.create_service(ledger_context(), data)
        return view, 201, {"Location": f"/api/v1/services/{view['name']}"}


@blp.route("/<string:name>")
class ServiceByName(MethodView):
    @requires("viewer")
    @blp.response(200, ServiceOut)
    def get(self, name: str) -> Any:
        return services.get_service(ledger_context(), name)

    @requires("ops")
    @blp.arguments(ServicePatch)
    @blp.response(200, ServiceOut)
    def patch(self, changes: dict[str, Any], name: str) -> Any:
        """Change a service; added or removed ports get or free a host port in every environment."""
        return services.update_service(ledger_context(), name, changes)

    @requires("ops")
    @blp.response(204)
    def delete(self, name: str) -> None:
        services.delete_service(ledger_context(), name)


@blp.route("/<string:name>/dockerfile")
class ServiceDockerfile(MethodView):
    @requires("viewer")
    @blp.arguments(DockerfileArgs, location="query")
    @blp.response(200, description="a Dockerfile (text/plain)")
    def get(self, args: dict[str, Any], name: str) -> Any:
        """The Dockerfile for the service's runtime, its JVM flags from the allocation."""
        text = app_definitions.service_dockerfile(ledger_context(), name, args["environment"])
        return Response(text, mimetype="text/plain")
