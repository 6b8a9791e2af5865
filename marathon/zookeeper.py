"""Finding the leading Mesos master through ZooKeeper, as Mesos' own detector does.

Masters register under a path (`zk://host1:port1,host2:port2/mesos`) as ephemeral,
sequential children `json.info_NNNNNNNNNN` holding their MasterInfo as JSON; the child with
the lowest sequence leads. Other children (`log_replicas`, protobuf `info_…` of old
masters) are ignored.

One kazoo client per ensemble and process, started lazily on first use, so that a
gunicorn master that forks workers never holds its threads: kazoo's threads do not
survive a fork, and a child that finds clients of its parent forgets them and starts its
own. The leader of each path is cached and a children watch drops it when the children
change (or the connection wavers), so a long-running process follows a leader change at
its next call without a restart, and calls in between cost no ZooKeeper round trip.

Every wait is bounded by the caller's timeout: an unreachable ensemble is an error within
it, never a hang.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import WatchedEvent

from marathon.errors import (
    MasterInfoUnreadableError,
    NoMasterRegisteredError,
    ZooKeeperUnreachableError,
)

SCHEME = "zk://"
LEADER_PREFIX = "json.info_"
_SEQUENCE = re.compile(r"^json\.info_(\d{10})$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:@=+-]{1,255}$")


def is_zk_url(text: str) -> bool:
    return text.lower().startswith(SCHEME)


@dataclass(frozen=True)
class ZkUrl:
    """`zk://host:port[,host:port…]/path`: an ensemble and the path the masters register in."""

    hosts: tuple[tuple[str, int], ...]
    path: str

    @classmethod
    def parse(cls, text: str) -> ZkUrl:
        """The URL, or ValueError saying what is wrong (the API's 422 message)."""
        if not is_zk_url(text):
            raise ValueError("must start with zk://")
        rest = text[len(SCHEME) :]
        if "@" in rest.partition("/")[0]:
            raise ValueError("credentials in a zk:// URL are not supported")
        ensemble, slash, path = rest.partition("/")
        if not ensemble:
            raise ValueError("must name at least one ZooKeeper host:port, like zk://zk1:2181/mesos")
        hosts: list[tuple[str, int]] = []
        for item in ensemble.split(","):
            host, colon, port = item.rpartition(":")
            if not colon or not host:
                raise ValueError(f"'{item}' must be host:port")
            if not _HOST.match(host):
                raise ValueError(f"'{host}' is not a host name or IPv4 address")
            if not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"'{port}' is not a port (1-65535)")
            hosts.append((host.lower(), int(port)))
        if len(set(hosts)) != len(hosts):
            raise ValueError("names a ZooKeeper host twice")
        path = "/" + path.rstrip("/") if slash else ""
        if path in ("", "/"):
            raise ValueError("must name the path the masters register under, like /mesos")
        if not all(_SEGMENT.match(s) and s not in (".", "..") for s in path[1:].split("/")):
            raise ValueError(f"'{path}' is not a ZooKeeper path of plain names, like /mesos")
        return cls(tuple(hosts), path)

    @property
    def ensemble(self) -> str:
        """The connect string kazoo takes, and the key of the shared client."""
        return ",".join(f"{h}:{p}" for h, p in self.hosts)

    def __str__(self) -> str:
        return f"{SCHEME}{self.ensemble}{self.path}"


def master_url(info: Any) -> str:
    """The HTTP base URL of a master from its MasterInfo JSON.

    `address.hostname`, else `address.ip`, else the old top-level fields: the host the
    master itself says, as Mesos' /master/redirect does.
    """
    if not isinstance(info, dict):
        raise ValueError("MasterInfo is not a JSON object")
    address = info.get("address") if isinstance(info.get("address"), dict) else {}
    host = address.get("hostname") or address.get("ip") or info.get("hostname")
    if not host and isinstance(info.get("ip"), int):  # uint32 in network byte order
        host = socket.inet_ntoa(struct.pack("<I", info["ip"]))
    port = address.get("port") or info.get("port")
    if not isinstance(host, str) or not host:
        raise ValueError("MasterInfo has no address.hostname or address.ip")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("MasterInfo has no port")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def leading_child(children: list[str]) -> str | None:
    """The `json.info_` child with the lowest sequence; None when no master is registered."""
    numbered = [(int(m.group(1)), c) for c in children if (m := _SEQUENCE.match(c))]
    return min(numbered)[1] if numbered else None


class Ensemble:
    """One kazoo client to a ZooKeeper ensemble, with the cached leader of each path."""

    def __init__(self, ensemble: str) -> None:
        self.ensemble = ensemble
        self._lock = threading.Lock()
        self._client: KazooClient | None = None
        self._leaders: dict[str, str] = {}  # path -> master URL, while its watch stands
        self._live = threading.Event()  # set while the client is connected

    def _connected(self, timeout: float) -> KazooClient:
        """The started client, connected within `timeout` seconds, or ZooKeeperUnreachableError.

        A started client that lost its connection reconnects by itself (kazoo retries in
        its thread); this only waits for that, up to `timeout`.
        """
        with self._lock:
            if self._client is None:
                # reconnect quickly once the ensemble is back: kazoo's default waits up to 60 s
                client = KazooClient(
                    hosts=self.ensemble,
                    timeout=10.0,
                    connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 2.0},
                )
                client.add_listener(self._state_changed)
                if not client.start_async().wait(timeout):
                    client.stop()
                    client.close()
                    raise self._unreachable(timeout)
                self._live.set()
                self._client = client
            client = self._client
        if not self._live.wait(timeout):
            raise self._unreachable(timeout)
        return client

    def _unreachable(self, timeout: float) -> ZooKeeperUnreachableError:
        return ZooKeeperUnreachableError(
            f"ZooKeeper {self.ensemble} did not answer within {timeout:g} s",
            url=f"{SCHEME}{self.ensemble}",
        )

    def _state_changed(self, state: str) -> None:
        """Runs in kazoo's thread: a wavering session may have missed a children change."""
        if state == KazooState.CONNECTED:
            self._live.set()
        else:
            self._live.clear()
            self._leaders.clear()

    def leader(self, path: str, timeout: float) -> str:
        """The base URL of the leading master registered under `path`.

        `timeout` bounds the whole lookup (connecting and every read), not each step.
        """
        cached = self._leaders.get(path)
        if cached is not None:
            return cached
        deadline = time.monotonic() + timeout

        def left() -> float:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unreachable(timeout)
            return remaining

        client = self._connected(timeout)
        url = f"{SCHEME}{self.ensemble}{path}"

        def changed(_: WatchedEvent) -> None:
            self._leaders.pop(path, None)

        try:
            children = client.get_children_async(path, watch=changed).get(timeout=left())
            child = leading_child(children)
            if child is None:
                raise NoMasterRegisteredError(
                    f"no Mesos master is registered under {path} in ZooKeeper {self.ensemble}",
                    url=url,
                )
            data, _ = client.get_async(f"{path}/{child}").get(timeout=left())
        except NoNodeError as exc:
            raise NoMasterRegisteredError(
                f"no Mesos master is registered under {path} in ZooKeeper {self.ensemble} "
                "(the path does not exist)",
                url=url,
            ) from exc
        except KazooTimeoutError as exc:
            raise self._unreachable(timeout) from exc
        except KazooException as exc:
            raise ZooKeeperUnreachableError(
                f"ZooKeeper {self.ensemble} failed reading {path}: {type(exc).__name__}", url=url
            ) from exc
        try:
            leader = master_url(json.loads(data.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise MasterInfoUnreadableError(
                f"the leading Mesos master's znode {path}/{child} in ZooKeeper "
                f"{self.ensemble} cannot be read: {exc}",
                url=url,
            ) from exc
        # cache it, unless a change since the first read fired the watch already (the
        # watch dropped nothing then): check once more, and never wait for that check
        if client.connected:
            self._leaders[path] = leader
            try:
                children_now = client.get_children_async(path).get(timeout=left())
            except (KazooException, KazooTimeoutError, ZooKeeperUnreachableError):
                children_now = []
            if leading_child(children_now) != child:
                self._leaders.pop(path, None)
        return leader

    def forget(self, path: str) -> None:
        """Drop the cached leader of `path`: it did not answer, ask ZooKeeper again."""
        self._leaders.pop(path, None)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._live.clear()
            self._leaders.clear()
        if client is not None:
            client.stop()
            client.close()


_ensembles: dict[str, Ensemble] = {}
_owner = os.getpid()
_registry_lock = threading.Lock()


def _forget_after_fork() -> None:
    """In a forked child the parent's kazoo threads are gone: start afresh, lazily."""
    global _owner, _registry_lock
    _ensembles.clear()
    _owner = os.getpid()
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def ensemble(name: str) -> Ensemble:
    """The process's client to an ensemble, created on first use (never before a fork)."""
    if os.getpid() != _owner:  # a fork that register_at_fork did not see
        _forget_after_fork()
    with _registry_lock:
        found = _ensembles.get(name)
        if found is None:
            found = _ensembles[name] = Ensemble(name)
        return found


def leading_master(zk_url: str, timeout: float) -> str:
    """The base URL of the leading Mesos master of `zk://…`, from the cache when current."""
    parsed = ZkUrl.parse(zk_url)
    return ensemble(parsed.ensemble).leader(parsed.path, timeout)


def forget_leader(zk_url: str) -> None:
    parsed = ZkUrl.parse(zk_url)
    ensemble(parsed.ensemble).forget(parsed.path)


def close_all() -> None:
    """Stop every client of this process (tests, and a clean shutdown)."""
    with _registry_lock:
        found = list(_ensembles.values())
        _ensembles.clear()
    for e in found:
        e.close()
