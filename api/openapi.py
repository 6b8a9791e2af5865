"""What the generated OpenAPI document says beyond the schemas: the problems every call may
answer, the If-Match header, fields that also take a plain name, and what client
generators need: a stable operationId per operation, real content for the calls that
answer a document of their own, and output schemas open to fields added later."""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin
from marshmallow import Schema, fields

WRITES = {"post", "put", "patch", "delete"}

# Stable names of the operations: generated clients name their functions after them, so
# a name, once published, does not change. A route without one fails the suite
# (tests/api/test_openapi_generators.py).
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("get", "/api/v1/clusters"): "listClusters",
    ("post", "/api/v1/clusters"): "createCluster",
    ("get", "/api/v1/clusters/{name}"): "getCluster",
    ("patch", "/api/v1/clusters/{name}"): "updateCluster",
    ("delete", "/api/v1/clusters/{name}"): "deleteCluster",
    ("get", "/api/v1/clusters/{name}/ports"): "listClusterPorts",
    ("post", "/api/v1/clusters/{name}/sync"): "syncCluster",
    ("get", "/api/v1/clusters/{name}/snapshot"): "getClusterSnapshot",
    ("get", "/api/v1/clusters/{name}/capacity"): "getClusterCapacity",
    ("get", "/api/v1/clusters/{name}/right-sizing"): "getClusterRightSizing",
    ("get", "/api/v1/environments"): "listEnvironments",
    ("post", "/api/v1/environments"): "createEnvironment",
    ("get", "/api/v1/environments/{name}"): "getEnvironment",
    ("patch", "/api/v1/environments/{name}"): "updateEnvironment",
    ("delete", "/api/v1/environments/{name}"): "deleteEnvironment",
    ("get", "/api/v1/environments/{name}/capacity"): "getEnvironmentCapacity",
    ("get", "/api/v1/environments/{name}/drift"): "getEnvironmentDrift",
    ("get", "/api/v1/services"): "listServices",
    ("post", "/api/v1/services"): "createService",
    ("get", "/api/v1/services/{name}"): "getService",
    ("patch", "/api/v1/services/{name}"): "updateService",
    ("delete", "/api/v1/services/{name}"): "deleteService",
    ("get", "/api/v1/services/{name}/dockerfile"): "renderDockerfile",
    ("get", "/api/v1/services/{name}/impact"): "getServiceImpact",
    ("get", "/api/v1/services/{name}/consistency"): "getServiceConsistency",
    ("get", "/api/v1/environments/{env}/allocations"): "listAllocations",
    ("get", "/api/v1/environments/{env}/allocations/{service}"): "getAllocation",
    ("put", "/api/v1/environments/{env}/allocations/{service}"): "putAllocation",
    ("delete", "/api/v1/environments/{env}/allocations/{service}"): "deleteAllocation",
    ("get", "/api/v1/environments/{env}/allocations/{service}/marathon"): "renderMarathonApp",
    ("get", "/api/v1/environments/{env}/allocations/{service}/usage"): "getAllocationUsage",
    ("get", "/api/v1/environments/{env}/recommendations"): "listRecommendations",
    ("get", "/api/v1/reservations"): "listReservations",
    ("post", "/api/v1/reservations"): "createReservation",
    ("get", "/api/v1/reservations/{reservation_id}"): "getReservation",
    ("delete", "/api/v1/reservations/{reservation_id}"): "deleteReservation",
    ("get", "/api/v1/deployments"): "listDeployments",
    ("post", "/api/v1/deployments"): "createDeployment",
    ("get", "/api/v1/deployments/{release_id}"): "getDeployment",
    ("post", "/api/v1/deployments/{release_id}/rollback"): "rollbackDeployment",
    ("get", "/api/v1/audit"): "listAuditEvents",
    ("get", "/api/v1/reports/capacity"): "getCapacityReport",
    ("get", "/api/v1/plans"): "listPlans",
    ("post", "/api/v1/plans"): "createPlan",
    ("get", "/api/v1/plans/{plan_id}"): "getPlan",
    ("post", "/api/v1/plans/{plan_id}/reserve"): "reservePlan",
    ("get", "/api/v1/deploy-order"): "getDeployOrder",
    ("get", "/api/v1/tokens"): "listTokens",
    ("post", "/api/v1/tokens"): "createToken",
    ("delete", "/api/v1/tokens/{token_id}"): "revokeToken",
}

# what the calls that answer a document of their own answer, as generators need it said
CONTENT: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/api/v1/environments/{env}/allocations/{service}/marathon"): {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": True,
                "description": "a Marathon app definition (Marathon's AppDefinition schema)",
            }
        }
    },
    ("get", "/api/v1/services/{name}/dockerfile"): {
        "text/plain": {"schema": {"type": "string", "description": "a Dockerfile"}}
    },
}


DESCRIPTIONS = {
    ("get", "/api/v1/environments/{env}/allocations/{service}/marathon"): (
        "the Marathon app definition to deploy; the ETag is its config hash"
    ),
    ("get", "/api/v1/services/{name}/dockerfile"): "the service's Dockerfile",
}


class ForGenerators(BasePlugin):  # type: ignore[misc]
    """operationIds, response content and open output schemas (see the module's doc).

    Output schemas allow fields berth adds later, so that a generated client does not
    break on them; input schemas (StrictSchema) stay closed, as berth refuses unknown
    fields (422)."""

    def schema_helper(self, name: str, _: Any, **kwargs: Any) -> dict[str, Any] | None:
        from api.schemas import StrictSchema

        schema = kwargs.get("schema")
        cls = schema if isinstance(schema, type) else type(schema)
        if isinstance(cls, type) and issubclass(cls, Schema) and not issubclass(cls, StrictSchema):
            return {"additionalProperties": True}
        return None

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            key = (method, path or "")
            if key in OPERATION_IDS:
                operation["operationId"] = OPERATION_IDS[key]
            if key in CONTENT:
                ok = operation.setdefault("responses", {}).setdefault("200", {})
                if isinstance(ok, dict):
                    ok["content"] = CONTENT[key]
                    ok.setdefault("description", DESCRIPTIONS[key])


class ProblemResponses(BasePlugin):  # type: ignore[misc]
    """Document the problems berth answers, so clients and fuzzers can hold it to them."""

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            common = {"401": "UNAUTHORIZED", "403": "FORBIDDEN", "503": "SERVICE_UNAVAILABLE"}
            if path and "{" in path:
                common["404"] = "NOT_FOUND"
            if method in WRITES:
                common.update(
                    {
                        "400": "BAD_REQUEST",
                        "409": "CONFLICT",
                        "413": "REQUEST_ENTITY_TOO_LARGE",
                        "415": "UNSUPPORTED_MEDIA_TYPE",
                        "422": "UNPROCESSABLE_ENTITY",
                        "502": "BAD_GATEWAY",
                    }
                )
            if path and path.endswith("/allocations/{service}") and method in ("put", "delete"):
                common["412"] = "PRECONDITION_FAILED"
                operation.setdefault("parameters", []).append(
                    {
                        "in": "header",
                        "name": "If-Match",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "the ETag of a GET; 412 when the allocation changed since",
                    }
                )
            for code, name in common.items():
                responses.setdefault(code, name)


def plain_name_items(self: Any, field: fields.Field, ret: dict[str, Any], **_: Any) -> dict:
    """A list whose items may also be a bare name: document both forms."""
    if isinstance(field, fields.List) and field.metadata.get("by_name") and "items" in ret:
        return {"items": {"oneOf": [{"type": "string"}, ret["items"]]}}
    return {}
