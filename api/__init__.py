"""The HTTP layer: flask-smorest blueprints whose schemas also write the OpenAPI document."""

from __future__ import annotations

import http

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from api import (
    allocations,
    audit,
    clusters,
    deployments,
    drift,
    environments,
    errors,
    plans,
    reports,
    reservations,
    right_sizing,
    security,
    services,
    tokens,
    usage,
)
from api.auth import check_token
from api.health import blp as health_blp
from api.intake import check_body, check_limits
from api.metrics import init_metrics
from api.openapi import ForGenerators, ProblemResponses, plain_name_items
from api.request_context import assign_request_id
from api.schemas import ProblemSchema


class BerthApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting errors as problem+json, as they are answered."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, object] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, errors.PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def init_api(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "berth")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.before_request(assign_request_id)
    app.before_request(check_limits)  # before the token: an oversize request is refused as such
    security.register(app)
    app.before_request(check_token)
    app.before_request(check_body)
    api = BerthApi(
        app,
        spec_kwargs={
            "info": {
                "description": "berth: a live CMDB and capacity ledger for services on "
                "Mesos and Marathon. Errors are application/problem+json (RFC 9457)."
            },
            "security": [{"bearer": []}],
            "extra_plugins": [ProblemResponses(), ForGenerators()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(plain_name_items)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module in (
        clusters,
        environments,
        services,
        allocations,
        reservations,
        deployments,
        drift,
        audit,
        reports,
        plans,
        tokens,
        usage,
        right_sizing,
    ):
        api.register_blueprint(module.blp)
    api.register_blueprint(services.order_blp)
    app.register_blueprint(health_blp)  # GET /healthz, /readyz: no token, no /api/v1
    init_metrics(app)  # GET /metrics, outside /api/v1 where Prometheus looks
    errors.register(app)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        from flask import g

        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response
