"""berth's log lines: one JSON object a line for the log pipeline, or plain text for people.

BERTH_LOG_FORMAT picks: `json`, `text`, or `auto` (the default): text when stderr is a
terminal (someone runs `flask --app app …` or `make run` and reads along), JSON otherwise
(gunicorn under a supervisor, Marathon, Docker, where lines go to a collector).

Every request ends in one line of the logger `berth.request` (event "request") with its
request_id, actor (the token's name, never the token), method, route template, status and
duration_ms; a 4xx adds one `berth.refusal` line with the problem's title and detail.
Writes, syncs and deploys are logged by the ledger (ledger/events.py). Nothing here reads
a request header other than X-Request-Id (api/request_context.py), so no Authorization
header or token can reach a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_MARK = "_berth_handler"

request_log = logging.getLogger("berth.request")
refusal_log = logging.getLogger("berth.refusal")


class RequestIdFilter(logging.Filter):
    """Give every line logged while a request is served that request's id (library lines
    and tracebacks included), so that one grep finds all of a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id", "")
        return True


def log_format(setting: str, stream: IO[str] | None = None) -> str:
    """`json` or `text` for a BERTH_LOG_FORMAT value (`auto` asks whether `stream` is a tty)."""
    value = (setting or "auto").strip().lower()
    if value in ("json", "text"):
        return value
    if value != "auto":
        raise ValueError(f"BERTH_LOG_FORMAT must be json, text or auto, not {setting!r}")
    target = stream if stream is not None else sys.stderr
    return "text" if getattr(target, "isatty", lambda: False)() else "json"


def formatter(kind: str) -> logging.Formatter:
    if kind == "text":
        return logging.Formatter(TEXT_FORMAT)
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def configure_logging(level: str, setting: str, stream: IO[str] | None = None) -> None:
    """One handler of berth's on the root logger, replaced (not added) when an app is made
    again in the same process, so tests and gunicorn's reloads never double a line."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter(log_format(setting, stream)))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level)


def _started() -> None:
    g.started_at = time.perf_counter()


def _actor() -> str:
    caller = g.get("caller")
    return str(caller.name) if caller is not None else "anonymous"


_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _route() -> str:
    """The rule as people write it: /api/v1/environments/<env>, not <string:env>."""
    rule = request.url_rule
    return _CONVERTER.sub(r"<\1>", rule.rule) if rule is not None else "(unmatched)"


def _finished(response: Response) -> Response:
    started = g.get("started_at")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    fields: dict[str, Any] = {
        "event": "request",
        "request_id": g.get("request_id", ""),
        "actor": _actor(),
        "method": request.method,
        "route": _route(),
        "status": response.status_code,
        "duration_ms": duration_ms,
    }
    if 400 <= response.status_code < 500:
        _refusal(response, fields)
    level = logging.ERROR if response.status_code >= 500 else logging.INFO
    request_log.log(
        level,
        "%s %s %s %sms",
        request.method,
        fields["route"],
        response.status_code,
        duration_ms,
        extra=fields,
    )
    return response


def _refusal(response: Response, fields: dict[str, Any]) -> None:
    """A 4xx: the problem's title and detail, as the client read them."""
    title = detail = ""
    if response.mimetype == "application/problem+json" and not response.is_streamed:
        try:
            body = json.loads(response.get_data(as_text=True))
            title, detail = str(body.get("title", "")), str(body.get("detail", ""))[:500]
        except (ValueError, AttributeError):
            pass
    refusal_log.info(
        "refused %s %s: %s %s",
        request.method,
        fields["route"],
        response.status_code,
        title,
        extra={**fields, "event": "refusal", "title": title, "detail": detail},
    )


def init_request_log(app: Flask) -> None:
    """The request line is written last (after_request runs in reverse order of
    registration, and this is registered first), so it sees the final status."""
    app.before_request(_started)
    app.after_request(_finished)
