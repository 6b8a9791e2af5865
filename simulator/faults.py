"""Faults on demand: slow answers, error statuses, dropped connections, locked apps.

A fault matches requests by path prefix (and optionally method and server
port) and can be limited to a number of hits, after which it disappears: two
503s and then success is how a flapping Marathon looks to a client with retries.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("latency", "status", "drop", "lock")
CONTROL_PREFIX = "/_sim/"


@dataclass
class Fault:
    id: int
    kind: str
    path_prefix: str = "/"
    times: int | None = None
    seconds: float = 0.0
    status: int = 503
    methods: tuple[str, ...] | None = None
    port: int | None = None
    body: dict[str, Any] | None = None

    def matches(self, method: str, path: str, port: int | None) -> bool:
        if not path.startswith(self.path_prefix):
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.kind == "lock":
            # changes of one app: PUT, DELETE, POST …/restart (reads are never locked)
            return method in ("PUT", "DELETE", "POST") and path.startswith("/v2/apps/")
        return True

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods) if self.methods else None
        return out


class Faults:
    """The registry of active faults; thread-safe, shared by all servers of a simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        path_prefix: str = "/",
        times: int | None = None,
        seconds: float = 0.0,
        status: int = 503,
        methods: Iterable[str] | None = None,
        port: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> Fault:
        """Add a fault; `times` limits how many requests it hits (None: until cleared)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                kind=kind,
                path_prefix=path_prefix,
                times=times,
                seconds=float(seconds),
                status=int(status),
                methods=tuple(m.upper() for m in methods) if methods else None,
                port=port,
                body=body,
            )
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, port: int | None = None) -> list[Fault]:
        """The faults that hit this request, counting the hit; exhausted ones disappear.

        Control paths under /_sim/ are never faulted, so a test can always clear.
        """
        if path.startswith(CONTROL_PREFIX):
            return []
        with self._lock:
            hits = [f for f in self._faults if f.matches(method, path, port)]
            for fault in hits:
                if fault.times is not None:
                    fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
            return hits
