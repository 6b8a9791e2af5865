"""GET /healthz and GET /readyz, outside /api/v1 where load balancers and Marathon look.

/healthz says only that the process answers (no database, no token), so that a replica
whose database is away is not killed and restarted in a loop; /readyz says whether it can
serve the ledger (the database answers and its migrations are at head), so that traffic
goes elsewhere until it can. Neither needs a token: a health checker holds none.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from api.errors import RETRY_AFTER_SECONDS, problem
from ledger.readiness import READY_CACHE_SECONDS, readiness

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blp.get("/readyz")
def readyz() -> Response:
    # tests set READY_CACHE_SECONDS to 0 to see every change at once
    max_age = float(current_app.config.get("READY_CACHE_SECONDS", READY_CACHE_SECONDS))
    state = readiness(current_app.extensions["berth"].context(), max_age)
    figures = {"database": state.database, "revision": state.revision, "head": state.head}
    if state.ready:
        return jsonify({"status": "ready", **figures})
    response = problem(
        503,
        "Not ready",
        "; ".join(state.problems),
        "urn:berth:problem:not-ready",
        **figures,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
