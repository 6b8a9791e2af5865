"""What the three HTTP faces share: the server's place in the cluster and JSON answers."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from simulator.errors import InvalidJson
from simulator.state import Simulator
from simulator.validation import Problem


class MarathonInstances:
    """The Marathon instances of one cluster and which of them leads.

    Real instances elect their leader through ZooKeeper; here the first one
    served leads until a leader change (`elect`) moves leadership on. Every
    instance answers from the one shared state, which is what a non-leader
    that proxies to its leader looks like from outside.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._lock = threading.Lock()
        self.addresses: list[str] = []
        self.leader = ""

    def add(self, address: str) -> None:
        with self._lock:
            self.addresses.append(address)
            self.leader = self.leader or address

    def remove(self, address: str) -> None:
        with self._lock:
            if address in self.addresses:
                self.addresses.remove(address)
        if self.leader == address:
            self.elect()

    def elect(self, address: str | None = None) -> str:
        """Move leadership to `address` (default: the next instance in order).

        The old leader's event streams end, and with them the streams proxied
        through the other instances, as when a real leader abdicates.
        """
        with self._lock:
            if address is not None and address not in self.addresses:
                raise ValueError(f"{address} is not a Marathon instance of this cluster")
            if address is None and self.addresses:
                at = self.addresses.index(self.leader) if self.leader in self.addresses else -1
                address = self.addresses[(at + 1) % len(self.addresses)]
            self.leader = address or ""
        self.sim.events.drop()
        return self.leader


@dataclass
class ServerContext:
    """One HTTP server's view: the shared simulator, its own address and the leaders'.

    `leader` is the leading Mesos master (fixed, or followed through ZooKeeper
    when the server registers there); the leading Marathon is the one of
    `marathons` when the server is one of several instances, else `leader`.
    """

    sim: Simulator
    own: str = ""
    leader: str = ""
    event_keepalive: float = 10.0
    marathons: MarathonInstances | None = None
    zk: Any = None

    @property
    def port(self) -> int:
        return int(self.own.rpartition(":")[2] or 0)

    @property
    def is_leader(self) -> bool:
        return self.own == self.leader

    @property
    def leader_url(self) -> str:
        return f"http://{self.leader}"

    @property
    def marathon_leader(self) -> str:
        return self.marathons.leader if self.marathons is not None else self.leader


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def read_json(request: Request) -> Any:
    """The request body as JSON, or Marathon's 400 "Invalid JSON"."""
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidJson([Problem("/", f"Invalid UTF-8: {exc}", syntax=True)]) from exc
    except json.JSONDecodeError as exc:
        message = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise InvalidJson([Problem("/", message, syntax=True)]) from exc


def flag(request: Request, name: str, default: bool = False) -> bool:
    value = request.args.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("true", "1", "yes", "")


def shut_socket(environ: dict[str, Any]) -> None:
    """Shut the client's socket under the server: whatever it has not read yet never comes
    (a dropped connection, or a stream cut mid-way); the caller then raises its own error."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
