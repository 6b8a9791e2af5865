"""Each simulated agent's own HTTP endpoint, on a loopback port of its own.

Real Mesos agents serve `GET /monitor/statistics` on the address in their
`pid` (`slave(1)@IP:5051`), and a sampler dials every agent. The simulator's
agents must be dialled on loopback only, so each gets a listening socket on
`127.0.0.1` with a free port, and the master advertises it in the agent's pid.

One thread serves every agent: a `selectors` loop accepts on all listening
sockets and answers each connection in the same thread (requests are tiny, the
answer is built under the simulator's lock, the connection is closed after one
answer). 1,000 agents cost 1,000 file descriptors and one thread, not 1,000
threads. Distinct loopback IPs on one port would look more like a real fleet,
but two simulators side by side (`make run`) would then fight over them.

Faults per agent (`set_mode`): `refuse` closes the agent's listening socket, so
a connect is refused (the port is bound again when the fault is cleared);
`hang` stops accepting, so a client connects through the backlog and then
waits for an answer that never comes, until its own timeout.
"""

from __future__ import annotations

import json
import logging
import selectors
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

MODES = ("up", "refuse", "hang")
READ_LIMIT = 16384
CLIENT_TIMEOUT = 2.0
STATISTICS_PATHS = ("/monitor/statistics", "/monitor/statistics.json")


class AgentEndpoints:
    """The listening sockets of one simulator's agents and the thread that serves them.

    `sim` must have `agents`, `lock`, and `agent_statistics(agent_id)`; ports are
    kept per agent id, so an agent whose socket was closed by a fault gets its
    old port back (its pid does not change).
    """

    def __init__(self, sim: Any, host: str = "127.0.0.1") -> None:
        if not host.startswith("127."):
            raise ValueError(f"agents listen on loopback only, not {host}")
        self.sim = sim
        self.host = host
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._listeners: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        self.modes: dict[str, str] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopped = False
        self._users = 0
        self._thread = threading.Thread(target=self._loop, name="simulator-agents", daemon=True)
        self._thread.start()

    # --- sockets --------------------------------------------------------------------

    def open(self, agent_id: str) -> int:
        """Listen for `agent_id` (again) and return its port."""
        with self._lock:
            if agent_id in self._listeners:
                return self.ports[agent_id]
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.ports.get(agent_id, 0)))
            listener.listen(64)
            listener.setblocking(False)
            self.ports[agent_id] = listener.getsockname()[1]
            self._listeners[agent_id] = listener
            if self.modes.get(agent_id, "up") == "up":
                self._selector.register(listener, selectors.EVENT_READ, agent_id)
            self._wake()
            return self.ports[agent_id]

    def close(self, agent_id: str) -> None:
        """Stop listening for `agent_id`: connects are refused from now on."""
        with self._lock:
            listener = self._listeners.pop(agent_id, None)
            if listener is None:
                return
            self._unregister(listener)
            listener.close()
            self._wake()

    def remove(self, agent_id: str) -> None:
        """The agent left the cluster: close its socket and forget its port and mode."""
        self.close(agent_id)
        with self._lock:
            self.ports.pop(agent_id, None)
            self.modes.pop(agent_id, None)

    def set_mode(self, agent_id: str, mode: str) -> None:
        """`up`, `refuse` (socket closed) or `hang` (socket open, never accepted)."""
        if mode not in MODES:
            raise ValueError(f"unknown agent mode {mode!r}; one of {', '.join(MODES)}")
        if mode == "refuse":
            self.close(agent_id)
            with self._lock:
                self.modes[agent_id] = mode
            return
        with self._lock:
            self.modes[agent_id] = mode
            listener = self._listeners.get(agent_id)
            if listener is not None:
                self._unregister(listener)
                if mode == "up":
                    self._selector.register(listener, selectors.EVENT_READ, agent_id)
                self._wake()
        if agent_id not in self._listeners:
            self.open(agent_id)

    def mode(self, agent_id: str) -> str:
        return self.modes.get(agent_id, "up")

    def _unregister(self, listener: socket.socket) -> None:
        try:
            self._selector.unregister(listener)
        except (KeyError, ValueError):
            pass

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # --- lifetime -------------------------------------------------------------------

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> bool:
        """One server fewer uses these endpoints; True when that was the last one."""
        with self._lock:
            self._users -= 1
            return self._users <= 0

    def shutdown(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake()
        self._thread.join(timeout=5)
        with self._lock:
            for listener in self._listeners.values():
                listener.close()
            self._listeners.clear()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    @property
    def listening(self) -> int:
        return len(self._listeners)

    # --- serving --------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
            try:
                events = self._selector.select(timeout=1.0)
            except (OSError, ValueError):
                return
            for key, _ in events:
                if key.data is None:
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                    continue
                try:
                    connection, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                try:
                    self._answer(connection, key.data)
                except OSError as exc:
                    log.debug("agent %s: %s", key.data, exc)
                finally:
                    connection.close()

    def _answer(self, connection: socket.socket, agent_id: str) -> None:
        connection.settimeout(CLIENT_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < READ_LIMIT:
            chunk = connection.recv(4096)
            if not chunk:
                return
            data += chunk
        request_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3:
            connection.sendall(_response(400, {"message": "Bad request"}))
            return
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path in STATISTICS_PATHS:
            if method not in ("GET", "HEAD"):
                connection.sendall(_response(405, {"message": "Expecting 'GET'"}))
                return
            body = self.sim.agent_statistics(agent_id)
            connection.sendall(_response(200, body, head=method == "HEAD"))
        elif path in ("/health", "/slave(1)/health"):
            connection.sendall(_response(200, None))
        else:
            connection.sendall(_response(404, None))


def _response(status: int, body: Any, head: bool = False) -> bytes:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    payload = b"" if body is None else json.dumps(body).encode("utf-8")
    headers = [
        f"HTTP/1.1 {status} {reasons.get(status, 'Error')}",
        f"Content-Length: {len(payload)}",
        "Connection: close",
    ]
    if body is not None:
        headers.append("Content-Type: application/json")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + (b"" if head else payload)
