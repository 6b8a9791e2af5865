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
from simulator.http import MarathonInstances, ServerContext, json_response, shut_socket
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
        if request.path.startswith("/v2/") and self.context.marathon_leader:
            # Marathon marks every answer with its leader, and proxied ones with the hop
            response.headers["X-Marathon-Leader"] = f"http://{self.context.marathon_leader}"
            if self.context.marathon_leader != self.context.own:
                response.headers["X-Marathon-Via"] = f"1.1 {self.context.own}"
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
    shut_socket(environ)
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
        self.agent_http = False  # whether this server holds the agents' endpoints open

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

    @property
    def is_marathon_leader(self) -> bool:
        return self.context.marathon_leader == self.address

    @property
    def zk_node(self) -> str | None:
        """This master's json.info_ znode while it is registered in ZooKeeper."""
        registration = self.context.zk
        return registration.node if registration is not None else None

    def close_zk_session(self) -> str | None:
        """End this master's ZooKeeper session: its node goes, the next master leads.
        Returns the new leader's `ip:port` (None: no master left)."""
        registration = self.context.zk
        return registration.close() if registration is not None else None

    def open_zk_session(self) -> str:
        """Register again with a new session (a restarted master): last in line."""
        registration = self.context.zk
        if registration is None:
            raise ValueError("this server was not started with zk=")
        return registration.open()

    def shutdown(self) -> None:
        if self.context.zk is not None:
            self.context.zk.close()
        if self.context.marathons is not None:
            self.context.marathons.remove(self.address)
        self.sim.events.drop(port=self.port)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self.agent_http:
            self.agent_http = False
            self.sim.release_agents()

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
    zk: str | None = None,
    marathons: MarathonInstances | None = None,
    event_keepalive: float = 10.0,
    agent_http: bool = True,
) -> ServerHandle:
    """Serve `sim` on host:port (0: any free port) until `.shutdown()`.

    Without `leader` this server is the leading master; with it, a non-leading one.
    With `zk` (`HOST:PORT/PATH`) the master registers in ZooKeeper as Mesos does
    and follows the leader there instead (`leader` is then ignored). With
    `marathons` the server is one of several Marathon instances, the first of
    which leads. `event_keepalive`: seconds of quiet after which /v2/events
    sends a comment line. With `agent_http` (the default) every agent of `sim`
    listens on a loopback port of its own for /monitor/statistics, advertised in
    its pid (simulator.agent_http), while any server of `sim` runs.
    """
    context = ServerContext(sim, event_keepalive=event_keepalive, marathons=marathons)
    server = make_server(
        host, port, SimulatorApp(context), threaded=True, request_handler=QuietHandler
    )
    server.port = server.socket.getsockname()[1]
    context.own = f"{host}:{server.port}"
    context.leader = leader.address if leader is not None else context.own
    if marathons is not None:
        marathons.add(context.own)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"simulator-{server.port}",
        daemon=True,
    )
    thread.start()
    handle = ServerHandle(server, thread, context)
    if agent_http:
        sim.serve_agents()
        handle.agent_http = True
    if zk is not None:
        from simulator.zk import MasterRegistration  # kazoo only when ZooKeeper is used

        context.zk = MasterRegistration(context, zk, host, server.port)
        try:
            context.zk.open()
        except Exception:
            handle.shutdown()
            raise
    return handle


class Cluster:
    """A whole simulated cluster on loopback: Mesos masters and Marathon instances.

    `masters[i]` serve Mesos (and Marathon too, as the single-server simulator
    does); `marathons` are the separate Marathon instances when more than one
    was asked for (else the first master is the Marathon). With `zk` the
    masters register in ZooKeeper in order, so the first one leads.
    """

    def __init__(self, masters: list[ServerHandle], marathons: list[ServerHandle]) -> None:
        self.masters = masters
        self.marathons = marathons

    @property
    def sim(self) -> Simulator:
        return self.masters[0].sim

    @property
    def mesos_leader(self) -> ServerHandle | None:
        leader = self.masters[0].context.leader
        return next((m for m in self.masters if m.address == leader), None)

    @property
    def marathon_leader(self) -> ServerHandle | None:
        return next((m for m in self.marathons if m.is_marathon_leader), None)

    def change_marathon_leader(self, address: str | None = None) -> str:
        instances = self.marathons[0].context.marathons
        assert instances is not None
        return instances.elect(address)

    def shutdown(self) -> None:
        for handle in reversed([*self.marathons, *self.masters]):
            handle.shutdown()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_cluster(
    sim: Simulator,
    masters: int = 1,
    marathons: int = 1,
    zk: str | None = None,
    host: str = "127.0.0.1",
    event_keepalive: float = 10.0,
) -> Cluster:
    """Serve `masters` Mesos masters and `marathons` Marathon instances, each on a
    free port of `host`."""
    if masters < 1 or marathons < 1:
        raise ValueError("a cluster has at least one master and one Marathon")
    instances = MarathonInstances(sim)
    started: list[ServerHandle] = []
    try:
        first = serve(
            sim,
            host,
            0,
            zk=zk,
            marathons=instances if marathons == 1 else None,
            event_keepalive=event_keepalive,
        )
        started.append(first)
        for _ in range(masters - 1):
            started.append(
                serve(sim, host, 0, leader=first, zk=zk, event_keepalive=event_keepalive)
            )
        if marathons == 1:
            return Cluster(started, [first])
        extra = [
            serve(sim, host, 0, leader=first, marathons=instances, event_keepalive=event_keepalive)
            for _ in range(marathons)
        ]
        started += extra
        for master in started[:masters]:
            master.context.marathons = instances  # their /v2/leader names the same leader
        return Cluster(started[:masters], extra)
    except Exception:
        for handle in reversed(started):
            handle.shutdown()
        raise
