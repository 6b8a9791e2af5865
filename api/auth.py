"""Bearer tokens and roles; every route states its role, writes default to admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized

from ledger.tokens import Caller, authenticate

F = TypeVar("F", bound=Callable[..., Any])

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# /metrics has a check of its own (BERTH_METRICS_TOKEN), see api/metrics.py; health
# checkers (Marathon, a load balancer) hold no token: api/health.py
PUBLIC_ENDPOINTS = {
    "api-docs.openapi_json",
    "static",
    "metrics.metrics",
    "health.healthz",
    "health.readyz",
}


def requires(role: str) -> Callable[[F], F]:
    """Mark a view method with the least role that may call it."""

    def mark(fn: F) -> F:
        fn._berth_role = role  # type: ignore[attr-defined]
        return fn

    return mark


def _required_role() -> str | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.blueprint == "web":
        return None  # the pages log in with a session (web/), never with a bearer token
    view = current_app.view_functions.get(endpoint)
    method = request.method.lower()
    target = getattr(getattr(view, "view_class", None), method, None) or view
    role = getattr(target, "_berth_role", None)
    if role is not None:
        return str(role)
    # a route that forgot to say: reads need a token, writes need the highest role
    return "viewer" if request.method in READ_METHODS else "admin"


def _challenge(detail: str) -> Unauthorized:
    exc = Unauthorized(detail)
    exc.data = {"headers": {"WWW-Authenticate": 'Bearer realm="berth"'}}  # type: ignore[attr-defined]
    return exc


def check_token() -> None:
    """before_request: find the caller and refuse before any body is read."""
    role = _required_role()
    if role is None:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _challenge("send 'Authorization: Bearer <token>'; create one with 'token create'")
    caller = authenticate(current_app.extensions["berth"].context(), token.strip())
    if caller is None:
        raise _challenge("the bearer token is unknown or revoked")
    g.caller = caller
    if not caller.may(role):
        raise Forbidden(f"this needs the role '{role}'; token '{caller.name}' has '{caller.role}'")


def caller() -> Caller:
    return g.caller  # type: ignore[no-any-return]


def require_admin_to_force(force: bool) -> None:
    """Saving an over-commit is an admin's decision."""
    if force and not caller().may("admin"):
        raise Forbidden(
            f"force=true needs the role 'admin'; token '{caller().name}' has '{caller().role}'"
        )
