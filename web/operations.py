"""The pages an operator reaches for during an incident or a release: drift per
environment, who holds a host port (and every port of a cluster), the audit log with
filters, and deployments with their status. Read-only, for every logged-in role; they call
the same use cases as the API (ledger/), so a page never says what the API would not."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from marshmallow import ValidationError as SchemaError

from api.schemas import AuditArgs
from ledger import audit, clusters, deployments, drift
from ledger.errors import in_words
from web.pages import _context, bp

AUDIT_PAGE = 50
ENTITY_TYPES = (
    "cluster",
    "environment",
    "service",
    "allocation",
    "token",
    "reservation",
    "deployment",
    "plan",
)
# statuses as an operator reads them at a glance (css classes of berth.css)
STATUS_CLASS = {"succeeded": "ok", "failed": "bad", "deploying": "warn"}


@bp.route("/environments/<name>/drift")
def environment_drift(name: str) -> Any:
    report = drift.environment_drift(_context(), name)
    return render_template("drift.html", name=name, report=report)


def _port_arg() -> tuple[int | None, str]:
    raw = request.args.get("port", "").strip()
    if not raw:
        return None, ""
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        return None, f"'{raw}' is not a port (1-65535)"
    return int(raw), ""


@bp.route("/ports")
def ports() -> Any:
    """Who holds port N (in one cluster or all of them), and the ports of a cluster."""
    ctx = _context()
    names = [c["name"] for c in clusters.list_clusters(ctx)]
    chosen = request.args.get("cluster", "").strip()
    port, error = _port_arg()
    scope = [chosen] if chosen in names else names
    tables = []
    if chosen or port is not None:
        for name in scope:
            listing = clusters.list_ports(ctx, name)
            rows = [p for p in listing["ports"] if port is None or p["port"] == port]
            tables.append({**listing, "ports": rows})
    return render_template(
        "ports.html", names=names, chosen=chosen, port=port, error=error, tables=tables
    )


@bp.route("/audit")
def audit_log() -> Any:
    fields = ("entity_type", "entity", "actor", "action", "since", "until", "offset")
    given = {k: v.strip() for k in fields if (v := request.args.get(k, "")).strip()}
    errors: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    total = 0
    try:
        args = AuditArgs().load({**given, "limit": AUDIT_PAGE})
    except SchemaError as exc:
        errors = {str(k): in_words(v) for k, v in exc.normalized_messages().items()}
    else:
        events, total = audit.list_events(_context(), **args)
    offset = int(given["offset"]) if "offset" in given and not errors else 0
    return render_template(
        "audit.html",
        given=given,
        errors=errors,
        events=events,
        total=total,
        offset=offset,
        page=AUDIT_PAGE,
        entity_types=ENTITY_TYPES,
    )


@bp.route("/deployments")
def deployment_list() -> Any:
    service = request.args.get("service", "").strip() or None
    environment = request.args.get("environment", "").strip() or None
    rows = deployments.history(_context(), service=service, environment=environment, limit=100)
    return render_template(
        "deployments.html",
        rows=rows,
        service=service or "",
        environment=environment or "",
        status_class=STATUS_CLASS,
    )
