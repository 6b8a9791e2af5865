"""/api/v1/plans: what-if scaling of services, and reservations made from a plan."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api.auth import require_admin_to_force, requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import FitOut, ReservationOut, StrictSchema, name_field, sane_time
from ledger import plans

blp = Blueprint(
    "plans",
    __name__,
    url_prefix="/api/v1/plans",
    description="What-if plans: scale services, find the agents it takes, reserve them",
)

_SCALE_KEY = validate.Regexp(
    r"^((team|tag):[A-Za-z0-9][A-Za-z0-9._-]{0,62}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$",
    error="a service name, 'team:<team>' or 'tag:<tag>'",
)


class AgentShapeIn(StrictSchema):
    cpus = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=4096),
        metadata={"exclusiveMinimum": True},
    )
    mem = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=2**26),
        metadata={"exclusiveMinimum": True, "description": "MiB"},
    )
    disk = fields.Float(
        validate=validate.Range(min=0, max=2**32), load_default=0.0, metadata={"description": "MiB"}
    )
    attributes = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=255)),
        values=fields.String(validate=validate.Length(max=255)),
        validate=validate.Length(max=64),
        metadata={"description": "the new agents' attributes (default: the common agent's)"},
    )


class PricedShapeIn(AgentShapeIn):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=64),
            validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", error="letters, digits, . _ -"),
        ],
        metadata={"description": "what ops call the machine, e.g. m5.4xlarge"},
    )
    cost = fields.Float(
        required=True,
        validate=validate.Range(min=0, min_inclusive=False, max=10**9),
        metadata={"exclusiveMinimum": True, "description": "per machine, in any unit"},
    )


class WindowIn(StrictSchema):
    starts_at = fields.AwareDateTime(required=True, default_timezone=None, validate=sane_time)
    ends_at = fields.AwareDateTime(required=True, default_timezone=None, validate=sane_time)


class PlanIn(StrictSchema):
    environment = name_field(required=True)
    scale = fields.Dict(
        keys=fields.String(validate=_SCALE_KEY),
        values=fields.Float(
            validate=validate.Range(min=0, min_inclusive=False, max=1000),
            metadata={"exclusiveMinimum": True},
        ),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={
            "description": 'factor per "<service>", "team:<team>" or "tag:<tag>"; a service '
            "beats a tag, a tag beats a team; instances become ceil(instances × factor)"
        },
    )
    propagate = fields.Boolean(
        load_default=False,
        metadata={"description": "carry the load to called services by their fan_out"},
    )
    basis = fields.String(
        load_default="allocated",
        validate=validate.OneOf(["allocated", "observed_peak"]),
        metadata={
            "description": "the per-instance size of the scaled services: as allocated, or "
            "their observed peak (CPU p99, peak memory; never below the recommendation), "
            "falling back to allocated for services without enough usage data"
        },
    )
    window = fields.Raw(
        required=True,
        metadata={
            "description": "[from, to) as two ISO-8601 times with a zone, or {starts_at, ends_at}"
        },
    )
    agent_shape = fields.Nested(
        AgentShapeIn,
        metadata={"description": "the agents to add; default: the cluster's most common"},
    )

    agent_shapes = fields.List(
        fields.Nested(PricedShapeIn),
        validate=validate.Length(min=1, max=8),
        metadata={
            "description": "machines that can be bought, with their cost: the answer's mix "
            "is the cheapest multiset of them that makes everything fit"
        },
    )

    @validates_schema
    def _shape_names(self, data: dict[str, Any], **_: Any) -> None:
        names = [s["name"] for s in data.get("agent_shapes") or []]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValidationError(
                f"each shape needs a name of its own: {', '.join(twice)} is given twice",
                "agent_shapes",
            )

    @staticmethod
    def _pair(window: Any) -> dict[str, Any]:
        """[from, to) is short for {"starts_at": from, "ends_at": to}."""
        if isinstance(window, list):
            if len(window) != 2:
                raise ValidationError("give [from, to): two times", "window")
            window = {"starts_at": window[0], "ends_at": window[1]}
        if not isinstance(window, dict):
            raise ValidationError("give [from, to) or {starts_at, ends_at}", "window")
        try:
            loaded: dict[str, Any] = WindowIn().load(window)
        except ValidationError as exc:
            raise ValidationError(exc.messages, "window") from exc
        if loaded["ends_at"] <= loaded["starts_at"]:
            raise ValidationError("the window must end after it starts", "window")
        return loaded

    @validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        self._pair(data.get("window"))

    @post_load
    def _times(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, **self._pair(data["window"])}


class PlanListArgs(StrictSchema):
    environment = name_field()
    limit = fields.Integer(validate=validate.Range(min=1, max=1000), load_default=50)
    offset = fields.Integer(validate=validate.Range(min=0, max=10**9), load_default=0)


class ReserveArgs(StrictSchema):
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "admin only: reserve even when the cluster would not fit"},
    )


class PlanServiceOut(Schema):
    service = fields.String()
    factor = fields.Float()
    source = fields.String(metadata={"description": "explicit, team:<t>, tag:<t> or propagated"})
    instances_before = fields.Integer()
    instances_after = fields.Integer()
    added = fields.Integer()
    cpus = fields.Float()
    mem = fields.Integer()
    disk = fields.Integer()
    constraints = fields.List(fields.List(fields.String()))
    basis = fields.String(metadata={"description": "allocated or observed_peak"})
    basis_reason = fields.String(metadata={"description": "why a service fell back to allocated"})
    planned_cpus = fields.Float(metadata={"description": "observed_peak: cpus per instance"})
    planned_mem = fields.Integer(metadata={"description": "observed_peak: MiB per instance"})


class MixShapeOut(Schema):
    name = fields.String()
    cpus = fields.Float()
    mem = fields.Float()
    disk = fields.Float()
    cost = fields.Float()
    count = fields.Integer(metadata={"description": "machines of this shape to add"})


class MixOut(Schema):
    shapes = fields.List(fields.Nested(MixShapeOut))
    agents = fields.Integer()
    cost = fields.Float(allow_none=True, metadata={"description": "null: no mix makes it fit"})
    lower_bound = fields.Dict(metadata={"description": "{cost, by}: no mix that fits costs less"})
    gap = fields.Float(
        metadata={
            "description": "(cost − lower_bound.cost) / lower_bound.cost: how much "
            "dearer than the cheapest the mix may be"
        }
    )
    proven = fields.Boolean(metadata={"description": "the mix is proven the cheapest"})
    binds = fields.String(metadata={"description": "the resource fullest with the mix"})
    share = fields.Dict(metadata={"description": "per resource, need ÷ room with the mix"})
    advice = fields.String()
    placements_tried = fields.Integer()
    seconds = fields.Float()


class PlanOut(Schema):
    id = fields.Integer()
    environment = fields.String()
    cluster = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    created_by = fields.String()
    created_at = fields.DateTime()
    request = fields.Dict()
    fits = fields.Boolean(metadata={"description": "fits without extra agents"})
    extra_agents = fields.Integer(
        allow_none=True,
        metadata={"description": "fewest agents of agent_shape to add; null: none will do"},
    )
    advice = fields.String()
    checked = fields.Dict(
        metadata={
            "description": "the placements that prove the answer: 'fits' with extra_agents, "
            "'does_not_fit' with one fewer (by placement, or by the volume bound)"
        }
    )
    bottleneck = fields.Dict(
        metadata={"description": "the resource whose volume bound is tightest"}
    )
    need = fields.Dict()
    capacity = fields.Dict()
    lower_bound = fields.Integer(
        metadata={"description": "extra agents the bounds ask (volume, host ports, UNIQUE)"}
    )
    proven = fields.Boolean(
        metadata={
            "description": "extra_agents is the fewest: one fewer is proven not to fit, by a "
            "bound or the exact search; false when neither settled it in the plan's budget "
            "(BERTH_PLAN_BUDGET_SECONDS), so fewer may do"
        }
    )
    agents_used = fields.Integer()
    agents_used_with_extra = fields.Integer(allow_none=True)
    unplaced_count = fields.Integer()
    unplaced = fields.List(fields.Dict(), metadata={"description": "without extra agents"})
    placements_tried = fields.Integer()
    exact_search_seconds = fields.Float()
    agent_shape = fields.Dict()
    mix = fields.Nested(
        MixOut,
        metadata={"description": "with agent_shapes: the cheapest machines to add"},
    )
    services = fields.List(fields.Nested(PlanServiceOut))
    instances_before = fields.Integer()
    instances_after = fields.Integer()
    reservations_counted = fields.List(fields.Integer())
    basis = fields.String(metadata={"description": "allocated or observed_peak"})
    basis_fallback = fields.List(
        fields.String(),
        metadata={"description": "observed_peak: services planned as allocated (too few data)"},
    )
    surge = fields.Dict()
    snapshot_age_seconds = fields.Float()
    reservations = fields.List(fields.Integer(), metadata={"description": "made from this plan"})


class PlanSummaryOut(PlanOut):
    """A plan in a page: without its per-service lines and unplaced instances, as a plan
    of every service holds thousands of them (close to a MiB; a page of fifty, tens)."""

    class Meta:
        exclude = ("services", "unplaced")


class PlanPageOut(Schema):
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
    plans = fields.List(
        fields.Nested(PlanSummaryOut),
        metadata={"description": "as GET /plans/{id}, without services and unplaced"},
    )


class PlanReservedOut(Schema):
    plan = fields.Integer()
    reservations = fields.List(fields.Nested(ReservationOut))
    fit = fields.Nested(FitOut)


@blp.route("")
class Plans(MethodView):
    @requires("viewer")
    @blp.arguments(PlanListArgs, location="query")
    @blp.response(200, PlanPageOut)
    def get(self, args: dict[str, Any]) -> Any:
        """Plans, newest first."""
        rows, total = plans.list_plans(ledger_context(), **args)
        return {"total": total, "limit": args["limit"], "offset": args["offset"], "plans": rows}

    @requires("ops")
    @blp.arguments(PlanIn)
    @blp.response(201, PlanOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Scale services for a window; fits or not, and the fewest agents to add."""
        view = plans.create_plan(ledger_context(), data)
        return view, 201, {"Location": f"/api/v1/plans/{view['id']}"}


@blp.route("/<int(max=2147483647):plan_id>")
class PlanById(MethodView):
    @requires("viewer")
    @blp.response(200, PlanOut)
    def get(self, plan_id: int) -> Any:
        return plans.get_plan(ledger_context(), plan_id)


@blp.route("/<int(max=2147483647):plan_id>/reserve")
class PlanReserve(MethodView):
    @requires("ops")
    @blp.arguments(ReserveArgs, location="query")
    @blp.response(201, PlanReservedOut)
    def post(self, args: dict[str, Any], plan_id: int) -> Any:
        """Hold the plan's added instances for its window (one reservation per service);
        409 when they do not fit, saying how many agents the plan says to add."""
        require_admin_to_force(args["force"])
        return plans.reserve_plan(ledger_context(), plan_id, force=args["force"])
