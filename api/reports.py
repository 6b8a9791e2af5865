"""/api/v1/reports: capacity reports as JSON or CSV."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import TEAM_NAME, StrictSchema, name_field
from ledger import reports

CSV_HELP = (
    "With `format=csv` (or `Accept: text/csv`): one row per agent and per service of the "
    "scope, with these columns in this order: "
    + ", ".join(f"`{c}`" for c in reports.CSV_COLUMNS)
    + ". `line` is `agent` or `service`; `scope` is e.g. `cluster=prod`. Agent rows carry "
    "capacity, allocated (this scope), reserved, held (other scopes, deploy surge, headroom "
    "kept), used (as Mesos counts it) and free, which add up to capacity; service rows carry "
    "instances, running tasks, allocated and used. cpus in cores, mem in MiB, each with the "
    "executor's overhead per instance. Columns are only ever added at the end."
)

blp = Blueprint(
    "reports",
    __name__,
    url_prefix="/api/v1/reports",
    description="Capacity reports for a cluster, an environment or a team",
)


class ReportArgs(StrictSchema):
    """A malformed name is refused naming its field, as on every other endpoint, rather
    than looked up and answered with a 404 that hides the typo."""

    cluster = name_field()
    environment = name_field()
    team = fields.String(validate=TEAM_NAME)
    format = fields.String(validate=validate.OneOf(["json", "csv"]))


class Figures(Schema):
    cpus = fields.Float()
    mem = fields.Float()


class AgentLine(Schema):
    id = fields.String()
    hostname = fields.String()
    capacity = fields.Nested(Figures)
    allocated = fields.Nested(Figures)
    reserved = fields.Nested(Figures)
    held = fields.Nested(Figures)
    used = fields.Nested(Figures)
    free = fields.Nested(Figures)


class TeamLine(Schema):
    team = fields.String()
    instances = fields.Integer()
    cpus = fields.Float()
    mem = fields.Float()


class DayLine(Schema):
    day = fields.String()
    from_ = fields.DateTime(data_key="from", attribute="from")
    until = fields.DateTime()
    reserved = fields.Nested(Figures)
    free = fields.Nested(Figures)


class ServiceLine(Schema):
    service = fields.String()
    environment = fields.String()
    team = fields.String()
    instances = fields.Integer()
    running = fields.Integer()
    allocated = fields.Nested(Figures)
    used = fields.Nested(Figures)
    right_sized = fields.Nested(Figures)


class RightSizing(Schema):
    agents_allocated = fields.Integer()
    agents_right_sized = fields.Integer()
    agents_freed = fields.Integer()
    unplaced_allocated = fields.Integer()
    unplaced_right_sized = fields.Integer()
    lower_bound_allocated = fields.Integer()
    lower_bound_right_sized = fields.Integer()


class SnapshotRef(Schema):
    id = fields.Integer()
    taken_at = fields.DateTime()
    confirmed_at = fields.DateTime()
    age_seconds = fields.Float()


class RecommendationLine(Schema):
    service = fields.String()
    environment = fields.String()
    team = fields.String()
    instances = fields.Integer()
    cpus_allocated = fields.Float(metadata={"description": "whole allocation"})
    mem_allocated = fields.Float(metadata={"description": "MiB, whole allocation"})
    cpus_observed_p90 = fields.Float(allow_none=True, metadata={"description": "per instance"})
    mem_observed_peak = fields.Float(allow_none=True, metadata={"description": "MiB per instance"})
    cpus_recommended = fields.Float(allow_none=True, metadata={"description": "whole allocation"})
    mem_recommended = fields.Float(allow_none=True)
    cpus_wasted = fields.Float(allow_none=True, metadata={"description": "allocated − recommended"})
    mem_wasted = fields.Float(allow_none=True)
    confidence = fields.Float(metadata={"description": "0: not enough usage data"})


class TeamWaste(Schema):
    team = fields.String()
    allocations = fields.Integer()
    measured = fields.Integer()
    cpus_allocated = fields.Float()
    cpus_recommended = fields.Float()
    cpus_wasted = fields.Float()
    mem_allocated = fields.Integer()
    mem_recommended = fields.Integer()
    mem_wasted = fields.Integer()


class ClusterSection(Schema):
    cluster = fields.String()
    snapshot = fields.Nested(SnapshotRef)
    agents_active = fields.Integer()
    fits = fields.Boolean()
    totals = fields.Nested(Figures)
    allocated = fields.Nested(Figures)
    reserved = fields.Nested(Figures)
    used = fields.Nested(Figures)
    free = fields.Nested(Figures)
    agents = fields.List(fields.Nested(AgentLine))
    teams = fields.List(fields.Nested(TeamLine))
    headroom = fields.List(fields.Nested(DayLine))
    services = fields.List(fields.Nested(ServiceLine))
    right_sizing = fields.Nested(RightSizing)
    recommendations = fields.List(
        fields.Nested(RecommendationLine),
        metadata={"description": "usage sampled from the agents against the allocations"},
    )
    waste_by_team = fields.List(fields.Nested(TeamWaste))


class ScopeOut(Schema):
    kind = fields.String()
    name = fields.String()


class CapacityReportOut(Schema):
    scope = fields.Nested(ScopeOut)
    generated_at = fields.DateTime()
    days = fields.Integer()
    clusters = fields.List(fields.Nested(ClusterSection))


def _filename(report: dict[str, Any]) -> str:
    scope = report["scope"]
    return "capacity-" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{scope['kind']}-{scope['name']}")


def csv_response(report: dict[str, Any]) -> Response:
    return Response(
        reports.report_csv(report),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_filename(report)}.csv"'},
    )


def wants_csv(args: dict[str, Any]) -> bool:
    if "format" in args:
        return bool(args["format"] == "csv")
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


@blp.route("/capacity")
class CapacityReport(MethodView):
    @requires("viewer")
    @blp.arguments(ReportArgs, location="query")
    @blp.response(200, CapacityReportOut, description=CSV_HELP)
    def get(self, args: dict[str, Any]) -> Any:
        """The capacity report of exactly one of `cluster`, `environment` or `team`.

        Per agent: capacity, allocated, reserved, held, used and free cpus and mem; allocation
        per team; free room per day for the next 30 days with the reservations of each day;
        allocated against used per service, and how many agents the scope's allocations would
        need at the sizes they run with. 422 unless exactly one scope is given, 404 for an
        unknown one. The totals agree with `GET /clusters/{name}/capacity` and
        `GET /environments/{name}/capacity`.
        """
        report = reports.capacity_report(
            ledger_context(),
            cluster=args.get("cluster"),
            environment=args.get("environment"),
            team=args.get("team"),
        )
        if wants_csv(args):
            return csv_response(report)
        return report
