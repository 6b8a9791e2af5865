"""/api/v1/environments/{env}/allocations/{service}/usage and /environments/{env}/recommendations"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import StrictSchema, sane_time
from ledger import usage

blp = Blueprint(
    "usage",
    __name__,
    url_prefix="/api/v1",
    description="Usage sampled from the Mesos agents, and right-sizing recommendations",
)


class UsageArgs(StrictSchema):
    since = fields.AwareDateTime(
        default_timezone=None,
        validate=sane_time,
        metadata={
            "description": "ISO 8601 with a zone; default: 6 h (minute) or 7 days (hour) ago"
        },
    )
    step = fields.String(
        load_default="minute",
        validate=validate.OneOf(usage.STEPS),
        metadata={"description": "minute: points kept 2 days; hour: aggregates kept 60 days"},
    )


class Allocated(Schema):
    cpus = fields.Float()
    mem = fields.Integer(metadata={"description": "MiB"})
    instances = fields.Integer()


class UsagePoint(Schema):
    at = fields.DateTime(metadata={"description": "the minute or hour it covers, from its start"})
    instances = fields.Integer(metadata={"description": "minute: tasks measured"})
    cpu_instances = fields.Integer(metadata={"description": "minute: tasks with a CPU rate"})
    cpus_mean = fields.Float(allow_none=True, metadata={"description": "per instance"})
    cpus_max = fields.Float(allow_none=True)
    mem_mean_mib = fields.Float()
    mem_max_mib = fields.Float()
    samples = fields.Integer(metadata={"description": "hour: instance-minutes with a rate"})
    tasks = fields.Integer(metadata={"description": "hour: most instances in one minute"})
    cpus_p50 = fields.Float()
    cpus_p90 = fields.Float()
    cpus_p99 = fields.Float()
    mem_p99_mib = fields.Float()


class UsageOut(Schema):
    environment = fields.String()
    service = fields.String()
    step = fields.String()
    since = fields.DateTime()
    allocated = fields.Nested(Allocated)
    points = fields.List(fields.Nested(UsagePoint))


class Size(Schema):
    cpus = fields.Float()
    mem = fields.Integer(metadata={"description": "MiB"})


class Observed(Schema):
    cpus_p90 = fields.Float()
    mem_peak_mib = fields.Float()


class BoundBy(Schema):
    cpus = fields.String(metadata={"description": "usage or floor"})
    mem = fields.String(metadata={"description": "usage, floor or jvm_heap"})


class RecommendationOut(Schema):
    service = fields.String()
    team = fields.String()
    runtime = fields.String()
    instances = fields.Integer()
    current = fields.Nested(Size, metadata={"description": "per instance"})
    recommended = fields.Nested(Size, allow_none=True, metadata={"description": "per instance"})
    saving = fields.Nested(
        Size,
        allow_none=True,
        metadata={"description": "whole allocation (× instances); negative: asks too little"},
    )
    confidence = fields.Float(metadata={"description": "0 to 1; 0: no recommendation"})
    hours_observed = fields.Float()
    observed = fields.Nested(Observed, allow_none=True)
    bound_by = fields.Nested(BoundBy, allow_none=True)
    reason = fields.String(allow_none=True)


class RecommendationsOut(Schema):
    environment = fields.String()
    cluster = fields.String()
    at = fields.DateTime()
    method = fields.Dict(keys=fields.String(), values=fields.Float())
    saving = fields.Nested(Size)
    allocations = fields.List(fields.Nested(RecommendationOut))


@blp.route("/environments/<string:env>/allocations/<string:service>/usage")
class AllocationUsage(MethodView):
    @requires("viewer")
    @blp.arguments(UsageArgs, location="query")
    @blp.response(200, UsageOut)
    def get(self, args: dict[str, Any], env: str, service: str) -> Any:
        """The allocation's usage per instance over time, as sampled from the agents."""
        return usage.allocation_usage(
            ledger_context(), env, service, since=args.get("since"), step=args["step"]
        )


@blp.route("/environments/<string:env>/recommendations")
class Recommendations(MethodView):
    @requires("viewer")
    @blp.response(200, RecommendationsOut)
    def get(self, env: str) -> Any:
        """Per allocation: current cpus and mem against what its usage recommends."""
        return usage.environment_recommendations(ledger_context(), env)
