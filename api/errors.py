"""The one place that turns errors into RFC 9457 problem+json answers."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from ledger import errors as le
from ledger.errors import in_words

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
# what a 503 suggests waiting: a restarting database or a Marathon leader election
RETRY_AFTER_SECONDS = 5

STATUS: list[tuple[type[le.LedgerError], int]] = [
    (le.NotFoundError, 404),
    (le.InvalidError, 422),
    (le.PreconditionFailedError, 412),
    (le.ConflictError, 409),
    (le.DatabaseUnavailableError, 503),
    (le.UpstreamUnavailableError, 503),
    (le.UpstreamFailedError, 502),
    (le.UnstorableValueError, 422),
    (le.LedgerError, 400),
]


def _kind(cls: type) -> str:
    name = cls.__name__.removesuffix("Error")
    return "urn:berth:problem:" + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem(
    status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any
) -> Response:
    body = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id", ""),
        **extra,
    }
    return Response(current_app.json.dumps(body), status=status, mimetype=PROBLEM)


def _flatten(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs nests messages by location ({"json": {...}}); users want them by field."""
    out: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for key, value in fields.items():
                out[key if location in ("json", "query") else f"{location}.{key}"] = value
        else:
            out[location] = fields
    return out


def _summary(errors: dict[str, Any]) -> str:
    parts = [f"{field}: {in_words(msg)}" for field, msg in list(errors.items())[:5]]
    more = len(errors) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def register(app: Flask) -> None:
    @app.errorhandler(le.LedgerError)
    def ledger_error(exc: le.LedgerError) -> Response:
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        response = problem(status, exc.title, exc.detail, _kind(type(exc)), **exc.extra)
        if status == 503:  # the database or a cluster is away for a moment: say when to retry
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if status == 422 and isinstance(messages, dict):
            errors = _flatten(messages)
            response = problem(
                422, "Invalid fields", _summary(errors), "urn:berth:problem:invalid", errors=errors
            )
        elif status == 400 and isinstance(messages, dict):
            response = problem(400, "Unreadable request", _summary(_flatten(messages)))
        else:
            detail = data.get("message") or exc.description or exc.name
            response = problem(status, exc.name, str(detail))
        for key, value in exc.get_headers() if status == 405 else []:
            if key.lower() == "allow":
                response.headers[key] = value
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        return response

    @app.errorhandler(RecursionError)
    def too_deep(exc: RecursionError) -> Response:
        return problem(400, "Unreadable request", "the JSON body is nested too deeply")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error; it has been logged")
