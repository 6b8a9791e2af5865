"""/api/v1/audit"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import AuditArgs, AuditPageOut
from ledger import audit

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit log")


@blp.route("")
class AuditLog(MethodView):
    @requires("viewer")
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPageOut)
    def get(self, args: dict[str, Any]) -> Any:
        """Who changed what and when, newest first; filter by entity, actor and time."""
        events, total = audit.list_events(ledger_context(), **args)
        return {"total": total, "limit": args["limit"], "offset": args["offset"], "events": events}
