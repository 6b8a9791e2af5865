"""/api/v1/clusters/{name}/right-sizing: the agents the allocations need as they ask and as
their usage recommends, both placed by the fit engine, and the waste per environment and
team (ledger/right_sizing.py)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from ledger import right_sizing

blp = Blueprint(
    "right_sizing",
    __name__,
    url_prefix="/api/v1",
    description="Right-sizing a cluster: agents needed as allocated and as recommended",
)


class PlacedOut(Schema):
    agents_used = fields.Integer(metadata={"description": "by the fast placement"})
    lower_bound = fields.Integer(metadata={"description": "no placement uses fewer agents"})
    unplaced = fields.Integer(metadata={"description": "instances the placement left over"})
    strategy = fields.String()


class BoundsOut(Schema):
    at_least = fields.Integer(
        metadata={"description": "as_allocated.lower_bound − as_recommended.agents_used"}
    )
    at_most = fields.Integer(
        metadata={"description": "as_allocated.agents_used − as_recommended.lower_bound"}
    )


class WasteOut(Schema):
    environment = fields.String()
    team = fields.String()
    allocations = fields.Integer()
    measured = fields.Integer(metadata={"description": "allocations with a recommendation"})
    cpus_allocated = fields.Float(metadata={"description": "measured allocations, × instances"})
    cpus_recommended = fields.Float()
    cpus_wasted = fields.Float(metadata={"description": "allocated − recommended"})
    mem_allocated = fields.Integer(metadata={"description": "MiB"})
    mem_recommended = fields.Integer(metadata={"description": "MiB"})
    mem_wasted = fields.Integer(metadata={"description": "MiB"})


class SizeOut(Schema):
    cpus = fields.Float()
    mem = fields.Integer(metadata={"description": "MiB"})


class AllocationSizing(Schema):
    environment = fields.String()
    service = fields.String()
    team = fields.String()
    instances = fields.Integer()
    allocated = fields.Nested(SizeOut, metadata={"description": "per instance"})
    recommended = fields.Nested(
        SizeOut, allow_none=True, metadata={"description": "per instance; null: as allocated"}
    )
    confidence = fields.Float()


class RightSizingOut(Schema):
    cluster = fields.String()
    at = fields.DateTime()
    agents = fields.Integer(metadata={"description": "active agents placed on"})
    allocations = fields.Integer()
    measured = fields.Integer()
    as_allocated = fields.Nested(PlacedOut)
    as_recommended = fields.Nested(
        PlacedOut,
        metadata={"description": "each allocation at its recommendation (confidence > 0)"},
    )
    agents_freed = fields.Integer(
        metadata={"description": "as_allocated.agents_used − as_recommended.agents_used"}
    )
    freed_bounds = fields.Nested(
        BoundsOut, metadata={"description": "the optimal saving lies in [at_least, at_most]"}
    )
    counts = fields.String()
    waste_by_environment = fields.List(fields.Nested(WasteOut))
    waste_by_team = fields.List(fields.Nested(WasteOut))
    by_allocation = fields.List(fields.Nested(AllocationSizing))


@blp.route("/clusters/<string:name>/right-sizing")
class ClusterRightSizing(MethodView):
    @requires("viewer")
    @blp.response(200, RightSizingOut)
    def get(self, name: str) -> Any:
        """Agents used as allocated and as recommended, the agents freed, the waste."""
        return right_sizing.cluster_right_sizing(ledger_context(), name)
