"""What every request must be before anyone reads it: within berth's limits, JSON when it
carries a body, and text that is valid Unicode.

berth answers its own limits as problem+json (414 request line, 431 header fields, 413
body, chunked or not); gunicorn's own limits are set above them (gunicorn.conf.py), so a
client meets berth's answer, not the server's HTML. A lone surrogate escape (`"\\ud800"`)
is valid JSON but no text: it is refused with 422 naming the field, in every JSON body,
before any schema, database or renderer sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import (
    NotFound,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
    RequestURITooLarge,
    UnsupportedMediaType,
)

from ledger.errors import InvalidError

WRITE_METHODS = {"POST", "PUT", "PATCH"}
# berth's own limits; gunicorn.conf.py sets gunicorn's above them
REQUEST_LINE_BYTES = 4094
HEADER_FIELD_BYTES = 8190
HEADER_FIELDS = 100
NOT_TEXT = "is not valid Unicode text (it holds a lone surrogate such as \\ud800)"


def check_limits() -> None:
    """414, 431: the request line and the header fields, as berth limits them."""
    environ = request.environ
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.full_path
    line = f"{request.method} {target} {environ.get('SERVER_PROTOCOL', 'HTTP/1.1')}"
    if len(line.encode("latin-1", "replace")) > REQUEST_LINE_BYTES:
        raise RequestURITooLarge(
            f"the request line is {len(line)} bytes, over berth's {REQUEST_LINE_BYTES}: send "
            "long values in a JSON body, or fewer query parameters"
        )
    headers = list(request.headers.items())
    if len(headers) > HEADER_FIELDS:
        raise RequestHeaderFieldsTooLarge(
            f"{len(headers)} header fields, over berth's {HEADER_FIELDS}"
        )
    for name, value in headers:
        if len(name) + 2 + len(value) > HEADER_FIELD_BYTES:
            raise RequestHeaderFieldsTooLarge(
                f"header field {name} is {len(name) + 2 + len(value)} bytes, over berth's "
                f"{HEADER_FIELD_BYTES}"
            )


def check_body() -> None:
    """415 for a body that is not JSON; 413 for one over the limit, chunked too; 422 for
    text in it that is not valid Unicode."""
    if any("\x00" in str(v) for v in (request.view_args or {}).values()):
        raise NotFound("no name contains a NUL character")
    bad = {f"path.{k}": [NOT_TEXT] for k, v in (request.view_args or {}).items() if _broken(v)}
    bad |= {f"query.{k}": [NOT_TEXT] for k, v in request.args.items(multi=True) if _broken(v)}
    if bad:
        raise InvalidError(bad)
    if request.method not in WRITE_METHODS or request.blueprint == "web":
        return  # the pages post forms (web/), which werkzeug decodes as valid text
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "")
    if (request.content_length or chunked) and not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as application/json, not '{request.mimetype or 'no content type'}'"
        )
    if chunked:
        _read_chunked()
    body = request.get_json(silent=True)
    bad = {where or "body": [NOT_TEXT] for where in _unreadable(body, "")}
    if bad:
        raise InvalidError(bad)


def _read_chunked() -> None:
    """Read a chunked body whole, up to the limit: one byte more is a 413 (the stream that
    werkzeug would hand out stops at the limit, and the JSON would seem cut short)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024
    stream = request.environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while True:
        part = stream.read(min(65536, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
        if size > limit:
            raise RequestEntityTooLarge(f"the body is over berth's limit of {limit} bytes")
    request._cached_data = b"".join(parts)  # what request.get_data() gives from now on


def _broken(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unreadable(value: Any, where: str) -> Iterator[str]:
    """The dotted paths of the text in a JSON value that is not valid Unicode."""
    if isinstance(value, str):
        if _broken(value):
            yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            if _broken(key):
                yield (where + "." if where else "") + "(a field's name)"
            else:
                yield from _unreadable(item, inner)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unreadable(item, f"{where}.{i}" if where else str(i))
