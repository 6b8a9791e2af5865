"""Mesos masters in ZooKeeper, as Mesos (≥ 0.24) keeps them there.

Each master that is given `zk=HOST:PORT[,HOST:PORT]/PATH` opens a session of
its own and creates an ephemeral, sequential znode `PATH/json.info_NNNNNNNNNN`
holding its MasterInfo as JSON. The child with the lowest sequence number
leads; every master watches the children of PATH, as Mesos' detector does,
and follows that leader (its Mesos endpoints redirect there). When a master's
session closes, its node goes and the next one leads.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import uuid
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch

from simulator.http import ServerContext
from simulator.mesos_views import MESOS_VERSION

log = logging.getLogger(__name__)
PREFIX = "json.info_"


def parse_zk(text: str) -> tuple[str, str]:
    """`[zk://]host:port[,host:port]/path` → (hosts, path); the path must not be `/`."""
    rest = text.removeprefix("zk://")
    hosts, slash, path = rest.partition("/")
    path = "/" + path.strip("/")
    if not hosts or not slash or path == "/":
        raise ValueError(f"expected HOST:PORT/PATH with a path other than /, got {text!r}")
    return hosts, path


def ip_number(ip: str) -> int:
    """MasterInfo's `ip`: the IPv4 address in network byte order read as a little-endian
    integer, as Mesos writes it (127.0.0.1 is 16777343)."""
    return int(struct.unpack("<I", socket.inet_aton(ip))[0])


def master_info(host: str, port: int, master_id: str) -> dict[str, Any]:
    ip = socket.gethostbyname(host)
    return {
        "address": {"hostname": host, "ip": ip, "port": port},
        "hostname": host,
        "id": master_id,
        "ip": ip_number(ip),
        "pid": f"master@{ip}:{port}",
        "port": port,
        "version": MESOS_VERSION,
    }


def leader_address(client: KazooClient, path: str, children: list[str]) -> str | None:
    """`ip:port` of the master with the lowest sequence number, or None without masters."""
    for child in sorted(c for c in children if c.startswith(PREFIX)):
        try:
            data, _ = client.get(f"{path}/{child}")
        except NoNodeError:
            continue  # gone between listing and reading: the next one leads
        info = json.loads(data.decode("utf-8"))
        address = info.get("address") or {}
        return f"{address.get('ip', info.get('hostname'))}:{address.get('port', info['port'])}"
    return None


class MasterRegistration:
    """One master's ZooKeeper session: its json.info_ node and its view of the leader."""

    def __init__(self, context: ServerContext, zk: str, host: str, port: int) -> None:
        self.context = context
        self.hosts, self.path = parse_zk(zk)
        self.info = master_info(host, port, str(uuid.uuid4()))
        self.node: str | None = None
        self.client: KazooClient | None = None
        self._lock = threading.Lock()

    def open(self, timeout: float = 10.0) -> str:
        """Open a new session and register; returns the node's path."""
        with self._lock:
            client = KazooClient(hosts=self.hosts, timeout=timeout)
            client.start(timeout=timeout)
            client.ensure_path(self.path)
            data = json.dumps(self.info).encode("utf-8")
            self.node = client.create(f"{self.path}/{PREFIX}", data, ephemeral=True, sequence=True)
            self.client = client
        ChildrenWatch(client, self.path, self._follow)
        return self.node

    def _follow(self, children: list[str]) -> bool:
        client = self.client
        if client is None or not client.connected:
            return False  # the session is closed: stop watching
        leader = leader_address(client, self.path, children)
        if leader is not None:
            self.context.leader = leader
        return True

    @property
    def open_session(self) -> bool:
        return self.client is not None

    def close(self) -> str | None:
        """End the session (the node disappears); returns who leads after, if anybody.

        A master without a session follows the leader it last saw, now the next one.
        """
        with self._lock:
            client, node = self.client, self.node
            self.client = self.node = None
            if client is None:
                return None
            try:
                children = client.get_children(self.path)
                rest = [c for c in children if f"{self.path}/{c}" != node]
                successor = leader_address(client, self.path, rest)
            except Exception:  # noqa: BLE001 - the session may be broken already
                successor = None
            finally:
                client.stop()
                client.close()
        self.context.leader = successor or ""
        return successor
