"""/api/v1/reservations"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import require_admin_to_force, requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import CheckedWriteArgs, ReservationIn, ReservationListArgs, ReservationOut
from ledger import reservations

blp = Blueprint(
    "reservations",
    __name__,
    url_prefix="/api/v1/reservations",
    description="Capacity held for a time window",
)


@blp.route("")
class Reservations(MethodView):
    @requires("viewer")
    @blp.arguments(ReservationListArgs, location="query")
    @blp.response(200, ReservationOut(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Reservations that have not ended (`include_expired=true` for all)."""
        return reservations.list_reservations(ledger_context(), **args)

    @requires("ops")
    @blp.arguments(CheckedWriteArgs, location="query")
    @blp.arguments(ReservationIn)
    @blp.response(201, ReservationOut)
    def post(self, args: dict[str, Any], data: dict[str, Any]) -> Any:
        """Hold capacity for [starts_at, ends_at); 409 with the reasons when it does not fit."""
        require_admin_to_force(args["force"])
        view, fit = reservations.create_reservation(
            ledger_context(), data, force=args["force"], dry_run=args["dry_run"]
        )
        status = 200 if args["dry_run"] else 201
        return {**view, "fit": fit}, status, {"Location": f"/api/v1/reservations/{view['id']}"}


@blp.route("/<int(max=2147483647):reservation_id>")
class ReservationById(MethodView):
    @requires("viewer")
    @blp.response(200, ReservationOut)
    def get(self, reservation_id: int) -> Any:
        return reservations.get_reservation(ledger_context(), reservation_id)

    @requires("ops")
    @blp.response(204)
    def delete(self, reservation_id: int) -> None:
        reservations.delete_reservation(ledger_context(), reservation_id)
