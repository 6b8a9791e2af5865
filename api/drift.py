"""/api/v1/environments/{env}/drift and /api/v1/services/{name}/consistency"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import DNS_LABEL, FullMatch, LiveOut, StrictSchema
from ledger import consistency, drift

blp = Blueprint(
    "drift",
    __name__,
    url_prefix="/api/v1",
    description="Drift (the ledger against what runs) and consistency between environments",
)


class DriftArgs(StrictSchema):
    refresh = fields.Boolean(
        load_default=False,
        metadata={"description": "sync the cluster first when its snapshot is too old"},
    )


class DriftSnapshot(Schema):
    id = fields.Integer()
    taken_at = fields.DateTime(metadata={"description": "first read with this content"})
    confirmed_at = fields.DateTime(metadata={"description": "last read with this content"})
    age_seconds = fields.Float()
    live = fields.Nested(LiveOut)


class DriftRelease(Schema):
    id = fields.Integer()
    image = fields.String()
    status = fields.String()
    config_hash = fields.String()
    allocation_version = fields.Integer()
    created_at = fields.DateTime()


class DriftDifference(Schema):
    field = fields.String(metadata={"description": "cpus, ports.http, health_checks[0].path, …"})
    ledger = fields.Raw(allow_none=True, metadata={"description": "what berth would deploy"})
    running = fields.Raw(allow_none=True, metadata={"description": "what Marathon runs"})


class DriftedApp(Schema):
    service = fields.String()
    app_id = fields.String()
    allocation_version = fields.Integer()
    release = fields.Nested(
        DriftRelease,
        allow_none=True,
        metadata={"description": "the release that runs; null: never deployed through berth"},
    )
    ledger_changed_since_release = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "true: the ledger changed since that release (not deployed yet); "
            "false: the differences were made in Marathon, behind berth's back"
        },
    )
    deploying = fields.Boolean(metadata={"description": "Marathon was deploying the app"})
    tasks_running = fields.Integer()
    compared = fields.List(fields.String())
    differences = fields.List(fields.Nested(DriftDifference))


class MissingApp(Schema):
    service = fields.String()
    app_id = fields.String()
    instances = fields.Integer()


class UnmanagedApp(Schema):
    app_id = fields.String()
    group = fields.String()
    instances = fields.Integer()
    cpus = fields.Float()
    mem = fields.Float()
    disk = fields.Float()
    image = fields.String(allow_none=True)
    tasks_running = fields.Integer()


class DriftOut(Schema):
    environment = fields.String()
    cluster = fields.String()
    marathon_group = fields.String()
    snapshot = fields.Nested(DriftSnapshot)
    in_sync = fields.Boolean(metadata={"description": "nothing drifted, missing or unmanaged"})
    summary = fields.Dict(keys=fields.String(), values=fields.Integer())
    drifted = fields.List(fields.Nested(DriftedApp))
    missing = fields.List(
        fields.Nested(MissingApp),
        metadata={"description": "allocations with instances that do not run at all"},
    )
    unmanaged = fields.List(
        fields.Nested(UnmanagedApp),
        metadata={"description": "apps under the environment's group the ledger does not know"},
    )
    in_sync_services = fields.List(fields.String())


_env_name = FullMatch(DNS_LABEL, error="must be an environment's name")


class ConsistencyArgs(StrictSchema):
    a = fields.String(
        required=True, validate=_env_name, metadata={"description": "an environment, like test"}
    )
    b = fields.String(
        required=True,
        validate=_env_name,
        metadata={"description": "another environment, like production"},
    )


class ConsistencySide(Schema):
    environment = fields.String()
    image = fields.String(allow_none=True)
    image_source = fields.String()
    base_image = fields.String(allow_none=True)
    runtime_version = fields.String(allow_none=True)
    runtime_version_source = fields.String()
    health_path = fields.String(allow_none=True)
    health_protocol = fields.String(allow_none=True)
    env_names = fields.List(fields.String())


class ConsistencyDifference(Schema):
    field = fields.String(metadata={"description": "base_image, runtime_version, env:NAME, …"})
    a = fields.Raw(allow_none=True)
    b = fields.Raw(allow_none=True)
    allowed_because = fields.String(metadata={"description": "the exception that allows it"})


class ConsistencyOut(Schema):
    service = fields.String()
    a = fields.Nested(ConsistencySide)
    b = fields.Nested(ConsistencySide)
    consistent = fields.Boolean(metadata={"description": "every difference is allowed"})
    differences = fields.List(fields.Nested(ConsistencyDifference))
    exceptions = fields.List(fields.String())
    exceptions_applied = fields.List(fields.String())
    not_compared = fields.List(fields.Dict())


@blp.route("/environments/<string:name>/drift")
class EnvironmentDrift(MethodView):
    @requires("viewer")
    @blp.arguments(DriftArgs, location="query")
    @blp.response(200, DriftOut)
    @blp.alt_response(409, response="CONFLICT", description="the cluster was never synced")
    @blp.alt_response(502, response="BAD_GATEWAY", description="refresh: the cluster failed")
    def get(self, args: dict[str, Any], name: str) -> Any:
        """Each allocation against its running app (latest snapshot), missing and unmanaged apps."""
        return drift.environment_drift(ledger_context(), name, refresh=args["refresh"])


@blp.route("/services/<string:name>/consistency")
class ServiceConsistency(MethodView):
    @requires("viewer")
    @blp.arguments(ConsistencyArgs, location="query")
    @blp.response(200, ConsistencyOut)
    @blp.alt_response(409, response="CONFLICT", description="not allocated in a or b")
    def get(self, args: dict[str, Any], name: str) -> Any:
        """Differences between two environments beyond resources, instances and ports."""
        return consistency.service_consistency(ledger_context(), name, args["a"], args["b"])
