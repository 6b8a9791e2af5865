"""GET /v2/events: Marathon's event stream as Server-Sent Events.

Each event is `event: <eventType>` and `data: <json>` and a blank line; the
first is `event_stream_attached`. `event_type` (repeatable) narrows the stream
to those types. A comment line (`:`) is sent whenever the stream has been quiet
for the server's keep-alive interval, so that clients and proxies can tell a
quiet stream from a dead one. The connection stays open until the client
leaves, the server shuts down, the Marathon leader changes, or the fault of a
dropped event stream cuts it (the socket is shut without the closing chunk).
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any

from werkzeug.wrappers import Request, Response

from simulator.events import DROP, Subscriber
from simulator.http import ServerContext, shut_socket

# Marathon (Jetty) answers a request without `Accept: text/event-stream` like this
NOT_ACCEPTED = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>
<title>Error 405 </title>
</head>
<body>
<h2>HTTP ERROR: 405</h2>
<p>Problem accessing /v2/events. Reason:
<pre>    HTTP method GET is not supported by this URL</pre></p>
<hr /><a href="http://eclipse.org/jetty">Powered by Jetty:// 9.3.z-SNAPSHOT</a><hr/>
</body>
</html>
"""


def event_types(request: Request) -> list[str]:
    """The `event_type` parameters; a comma-separated value counts as several."""
    return [t.strip() for v in request.args.getlist("event_type") for t in v.split(",") if t]


def stream_events(ctx: ServerContext, request: Request) -> Response:
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return Response(NOT_ACCEPTED, 405, content_type="text/html;charset=ISO-8859-1")
    bus = ctx.sim.events
    sub = bus.subscribe(event_types(request), port=ctx.port)
    attached = bus.event("event_stream_attached", {"remoteAddress": request.remote_addr or ""})
    return Response(
        _stream(ctx, sub, attached, request.environ),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache, no-store, must-revalidate", "Expires": "0"},
        direct_passthrough=True,
    )


def _frame(event_type: str, data: str) -> bytes:
    return f"event: {event_type}\ndata: {data}\n\n".encode()


def _stream(
    ctx: ServerContext, sub: Subscriber, attached: dict[str, Any], environ: dict[str, Any]
) -> Iterator[bytes]:
    try:
        yield _frame("event_stream_attached", json.dumps(attached, separators=(",", ":")))
        while True:
            try:
                item = sub.queue.get(timeout=ctx.event_keepalive)
            except queue.Empty:
                yield b":\n\n"
                continue
            if item is DROP:
                _cut(environ)
            event_type, data = item  # type: ignore[misc]
            yield _frame(event_type, data)
    finally:
        ctx.sim.events.unsubscribe(sub)


def _cut(environ: dict[str, Any]) -> None:
    """Shut the socket mid-stream: the client sees the connection end without the last chunk."""
    shut_socket(environ)
    raise ConnectionAbortedError("event stream dropped")
