"""/api/v1/services"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import (
    DockerfileArgs,
    ServiceIn,
    ServiceListArgs,
    ServiceOut,
    ServicePatch,
    StrictSchema,
    name_field,
)
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


class Reached(Schema):
    service = fields.String()
    depth = fields.Integer(metadata={"description": "calls between them: 1 is a direct call"})


class ImpactOut(Schema):
    service = fields.String()
    upstream = fields.List(
        fields.Nested(Reached), metadata={"description": "who calls it, transitively"}
    )
    downstream = fields.List(
        fields.Nested(Reached), metadata={"description": "whom it calls, transitively"}
    )


class DeployOrderArgs(StrictSchema):
    environment = name_field(metadata={"description": "only the services allocated there"})


class DeployOrderOut(Schema):
    environment = fields.String(allow_none=True)
    generations = fields.List(
        fields.List(fields.String()),
        metadata={
            "description": "deploy each generation after the one before; a service comes "
            "after every service it calls (calls allowed to close a cycle aside)"
        },
    )


@blp.route("/<string:name>/impact")
class ServiceImpact(MethodView):
    @requires("viewer")
    @blp.response(200, ImpactOut)
    def get(self, name: str) -> Any:
        """Everyone upstream and downstream of the service along its calls, nearest first."""
        return services.service_impact(ledger_context(), name)


order_blp = Blueprint(
    "deploy-order",
    __name__,
    url_prefix="/api/v1/deploy-order",
    description="The order to deploy services in, along their calls",
)


@order_blp.route("")
class DeployOrder(MethodView):
    @requires("viewer")
    @order_blp.arguments(DeployOrderArgs, location="query")
    @order_blp.response(200, DeployOrderOut)
    def get(self, args: dict[str, Any]) -> Any:
        """Generations of services, callees first."""
        return services.deploy_order(ledger_context(), args.get("environment"))
