"""The HTTP layer: flask-smorest blueprints whose schemas also write the OpenAPI document."""

from __future__ import annotations

import http

from flask import Flask, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import NotFound, UnsupportedMediaType

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
    security,
    services,
)
from api.auth import check_token
from api.metrics import init_metrics
from api.openapi import ProblemResponses, plain_name_items
from api.request_context import assign_request_id
from api.schemas import ProblemSchema

WRITE_METHODS = {"POST", "PUT", "PATCH"}


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


def _check_body_type() -> None:
    """Refuse a body that is not JSON before anyone tries to read it."""
    if any("\x00" in str(v) for v in (request.view_args or {}).values()):
        raise NotFound("no name contains a NUL character")
    if request.method not in WRITE_METHODS or request.blueprint == "web":
        return  # the pages post forms (web/)
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "")
    if (request.content_length or chunked) and not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as application/json, not '{request.mimetype or 'no content type'}'"
        )
    if chunked:
        request.get_data(cache=True)  # over the size limit: 413 here, not a JSON error later


def init_api(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "berth")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.before_request(assign_request_id)
    security.register(app)
    app.before_request(check_token)
    app.before_request(_check_body_type)
    api = BerthApi(
        app,
        spec_kwargs={
            "info": {
                "description": "berth: a live CMDB and capacity ledger for services on "
                "Mesos and Marathon. Errors are application/problem+json (RFC 9457)."
            },
            "security": [{"bearer": []}],
            "extra_plugins": [ProblemResponses()],
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
    ):
        api.register_blueprint(module.blp)
    api.register_blueprint(services.order_blp)
    init_metrics(app)  # GET /metrics, outside /api/v1 where Prometheus looks
    errors.register(app)

    @app.after_request
    def _headers(response):  # type: ignore[no-untyped-def]
        from flask import g

        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response
