"""The ledger's Context for the current request: who acts, under which request id."""

from __future__ import annotations

import re
import uuid

from flask import current_app, g, request

from ledger.context import Context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}\Z")


def assign_request_id() -> None:
    """Take the caller's X-Request-Id when it is sane, so logs of both sides line up."""
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def ledger_context() -> Context:
    caller = g.get("caller")
    return current_app.extensions["berth"].context(
        actor=caller.name if caller else "anonymous", request_id=g.get("request_id", "")
    )
