"""App-wide security headers and request limits, for the API and the HTML pages alike.

Browsers get no room to guess types, frame the pages, leak URLs (which may carry names) to
other sites or run scripts: berth's pages use no JavaScript, so the policy allows none. The
Server header is the server's own: gunicorn sends its name without a version. Oversized
requests are refused before any handler reads them (api/errors.py answers problem+json).
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge

# no scripts at all, styles and images only from berth itself, never framed, forms post home
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# gunicorn refuses a request line over 4094 bytes and a header over 8190 by itself; these
# limits hold for any server and answer problem+json
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 32768


def _check_request_size() -> None:
    if len(request.query_string) > MAX_QUERY_BYTES:
        raise RequestURITooLarge(
            f"the query string has {len(request.query_string)} bytes; at most {MAX_QUERY_BYTES}"
        )
    size = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    if size > MAX_HEADER_BYTES:
        raise RequestHeaderFieldsTooLarge(
            f"the headers have {size} bytes in all; at most {MAX_HEADER_BYTES}"
        )


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # only answers that carry data are kept out of caches; a page may choose otherwise
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def register(app: Flask) -> None:
    """Install the limits (call it before the token check) and the headers of every answer."""
    app.before_request(_check_request_size)
    app.after_request(_add_headers)
