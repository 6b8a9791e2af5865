"""/api/v1/clusters"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import (
    CapacityOut,
    ClusterIn,
    ClusterOut,
    ClusterPatch,
    ClusterPortsOut,
    SnapshotArgs,
    SnapshotOut,
)
from ledger import capacity_report, clusters, sync

blp = Blueprint("clusters", __name__, url_prefix="/api/v1/clusters", description="Mesos clusters")


@blp.route("")
class Clusters(MethodView):
    @requires("viewer")
    @blp.response(200, ClusterOut(many=True))
    def get(self) -> Any:
        """All clusters."""
        return clusters.list_clusters(ledger_context())

    @requires("admin")
    @blp.arguments(ClusterIn)
    @blp.response(201, ClusterOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Register a cluster (admin)."""
        view = clusters.create_cluster(ledger_context(), data)
        return view, 201, {"Location": f"/api/v1/clusters/{view['name']}"}


@blp.route("/<string:name>")
class ClusterByName(MethodView):
    @requires("viewer")
    @blp.response(200, ClusterOut)
    def get(self, name: str) -> Any:
        return clusters.get_cluster(ledger_context(), name)

    @requires("admin")
    @blp.arguments(ClusterPatch)
    @blp.response(200, ClusterOut)
    def patch(self, changes: dict[str, Any], name: str) -> Any:
        """Change a cluster (admin); shrinking port ranges under held ports is refused."""
        return clusters.update_cluster(ledger_context(), name, changes)

    @requires("admin")
    @blp.response(204)
    def delete(self, name: str) -> None:
        """Delete a cluster that has no environments left (admin)."""
        clusters.delete_cluster(ledger_context(), name)


@blp.route("/<string:name>/ports")
class ClusterPorts(MethodView):
    @requires("viewer")
    @blp.response(200, ClusterPortsOut)
    def get(self, name: str) -> Any:
        """Every host port held or in quarantine in the cluster."""
        return clusters.list_ports(ledger_context(), name)


@blp.route("/<string:name>/sync")
class ClusterSync(MethodView):
    @requires("ops")
    @blp.response(200, SnapshotOut)
    def post(self, name: str) -> Any:
        """Read Mesos and Marathon now and keep a snapshot; 502/503 when they fail."""
        return sync.sync_cluster(ledger_context(), name)


@blp.route("/<string:name>/snapshot")
class ClusterSnapshot(MethodView):
    @requires("viewer")
    @blp.arguments(SnapshotArgs, location="query")
    @blp.response(200, SnapshotOut)
    def get(self, args: dict[str, Any], name: str) -> Any:
        """The latest snapshot and its age; `?full=true` adds the agents and apps."""
        return sync.latest_snapshot(ledger_context(), name, full=args["full"])


@blp.route("/<string:name>/capacity")
class ClusterCapacity(MethodView):
    @requires("viewer")
    @blp.response(200, CapacityOut)
    def get(self, name: str) -> Any:
        """Totals, allocated, reserved, used, free, per-agent placement, what cannot be placed."""
        return capacity_report.cluster_capacity(ledger_context(), name)
