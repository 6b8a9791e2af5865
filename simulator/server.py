"""Serving a simulator over real HTTP: one werkzeug server per master, in a daemon thread.

Every server started on one `Simulator` shows the same cluster. The first one
(no `leader=`) leads; the others are non-leading masters: their Mesos endpoints
redirect to the leader like real Mesos masters, while their Marathon endpoints
answer from the shared state, as a Marathon instance that proxies to its
leader would (`/v2/info` says `elected: false` there).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import uuid
from types import TracebackType
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from simulator import control_api, marathon_api, mesos_api
from simulator.errors import (
    AppExists,
    AppLocked,
    AppNotFound,
    AppPathExists,
    BadRequest,
    DeploymentNotFound,
    GroupExists,
    GroupNotFound,
    InvalidJson,
    InvalidObject,
    SimulatorError,
    TaskNotFound,
    UnknownAgent,
)
from simulator.faults import Fault
from simulator.http import ServerContext, json_response
from simulator.state import Simulator

log = logging.getLogger(__name__)

STATUS = {
    InvalidJson: 400,
    InvalidObject: 422,
    BadRequest: 400,
    AppExists: 409,
    AppPathExists: 409,
    GroupExists: 409,
    AppLocked: 409,
    AppNotFound: 404,
    GroupNotFound: 404,
    TaskNotFound: 404,
    DeploymentNotFound: 404,
    UnknownAgent: 404,
}
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class ConnectionDropped(ConnectionAbortedError):
    """Raised after the socket is shut: werkzeug then drops the request without an answer."""


class QuietHandler(WSGIRequestHandler):
    """Logs requests at DEBUG instead of printing a line per request to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug('"%s" %s %s', self.requestline, code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug(message, *args)


class SimulatorApp:
    """The WSGI application of one server: faults first, then Marathon, Mesos or control."""

    def __init__(self, context: ServerContext) -> None:
        self.context = context
        self.urls = Map(
            [*marathon_api.rules(), *mesos_api.rules(), *control_api.rules()],
            strict_slashes=False,
            merge_slashes=False,
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._faulted(request, environ) or self._dispatch(request)
        return response(environ, start_response)

    def _faulted(self, request: Request, environ: dict[str, Any]) -> Response | None:
        port = int(self.context.own.rpartition(":")[2] or 0)
        hits = self.context.sim.faults.take(request.method, request.path, port)
        for fault in hits:
            if fault.kind == "latency":
                time.sleep(fault.seconds)
        for fault in hits:
            if fault.kind == "drop":
                _drop(environ)
            if fault.kind == "status":
                return _status_response(fault)
            if fault.kind == "lock":
                return self._locked(request)
        return None

    def _locked(self, request: Request) -> Response:
        sim = self.context.sim
        _, app_id, _ = marathon_api.app_route(routed_path(request.path).removeprefix("/v2/apps/"))
        with sim.lock:
            ids = [d.id for d in sim.locks(app_id)] or [str(uuid.uuid4())]
        return json_response(AppLocked(ids).body, 409)

    def _dispatch(self, request: Request) -> Response:
        adapter = self.urls.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match(routed_path(request.path))
            return endpoint(self.context, request, **args)
        except SimulatorError as exc:
            return json_response(exc.body, STATUS.get(type(exc), 400))
        except NotFound:
            return json_response({"message": f"Not found: {request.path}"}, 404)
        except MethodNotAllowed as exc:
            return json_response({"message": "HTTP 405 Method Not Allowed"}, 405, exc.get_headers())
        except HTTPException as exc:
            return exc.get_response(request.environ)
        except Exception:
            log.exception("simulator failed on %s %s", request.method, request.path)
            return json_response({"message": "An unexpected server error occurred."}, 500)


def routed_path(path: str) -> str:
    """The path to route: Marathon's (/v2/…) with repeated slashes merged.

    Marathon ids drop empty segments, and clients that append an absolute id to
    `/v2/apps/` send `/v2/apps//lib/x`. Other paths are routed as they came.
    """
    merged = re.sub(r"/{2,}", "/", path)
    return merged if merged.startswith("/v2/") else path


def _status_response(fault: Fault) -> Response:
    body = fault.body or {"message": REASONS.get(fault.status, f"HTTP {fault.status}")}
    return json_response(body, fault.status)


def _drop(environ: dict[str, Any]) -> None:
    """Close the connection without a byte of answer; the client sees a connection error."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionDropped("fault: connection dropped")


class ServerHandle:
    """A running server: where it listens, and how to stop it. Also a context manager."""

    def __init__(
        self, server: BaseWSGIServer, thread: threading.Thread, context: ServerContext
    ) -> None:
        self._server = server
        self._thread = thread
        self.context = context
        self.host: str = server.host
        self.port: int = server.port

    @property
    def sim(self) -> Simulator:
        return self.context.sim

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_leader(self) -> bool:
        return self.context.is_leader

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        role = "leader" if self.is_leader else f"follower of {self.context.leader}"
        return f"<ServerHandle {self.url} {role}>"


def serve(
    sim: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    leader: ServerHandle | None = None,
) -> ServerHandle:
    """Serve `sim` on host:port (0: any free port) until `.shutdown()`.

    Without `leader` this server is the leading master; with it, a non-leading one.
    """
    context = ServerContext(sim)
    server = make_server(
        host, port, SimulatorApp(context), threaded=True, request_handler=QuietHandler
    )
    server.port = server.socket.getsockname()[1]
    context.own = f"{host}:{server.port}"
    context.leader = leader.address if leader is not None else context.own
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"simulator-{server.port}",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread, context)
