"""The Mesos master client: find the leader, read agents and tasks into dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from marathon.errors import (
    ClusterError,
    ClusterProtocolError,
    ClusterUnreachableError,
    NoLeaderError,
)
from marathon.http import DEFAULT_TIMEOUT, Credentials, HttpEndpoint, make_session
from marathon.zookeeper import forget_leader, is_zk_url, leading_master

_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")

PortRanges = tuple[tuple[int, int], ...]


def parse_port_ranges(text: Any) -> PortRanges:
    """`"[31000-31005, 31010-32000]"` → ((31000, 31005), (31010, 32000)); also v1 range lists."""
    if isinstance(text, str):
        return tuple((int(a), int(b)) for a, b in _RANGE.findall(text))
    if isinstance(text, dict):  # v1 operator API: {"range": [{"begin": …, "end": …}]}
        return tuple((int(r["begin"]), int(r["end"])) for r in text.get("range", []))
    return ()


@dataclass(frozen=True)
class Resources:
    """Scalar resources (cpus, MiB, MiB) and port ranges, as Mesos reports them."""

    cpus: float = 0.0
    mem: float = 0.0
    disk: float = 0.0
    gpus: float = 0.0
    ports: PortRanges = ()

    @classmethod
    def parse(cls, body: Any) -> Resources:
        if not isinstance(body, dict):
            return cls()
        return cls(
            cpus=float(body.get("cpus") or 0),
            mem=float(body.get("mem") or 0),
            disk=float(body.get("disk") or 0),
            gpus=float(body.get("gpus") or 0),
            ports=parse_port_ranges(body.get("ports", "")),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "gpus": self.gpus,
            "ports": [list(r) for r in self.ports],
        }


@dataclass(frozen=True)
class Agent:
    id: str
    hostname: str
    active: bool
    resources: Resources
    used: Resources
    reserved: dict[str, Resources] = field(default_factory=dict)
    unreserved: Resources = field(default_factory=Resources)
    attributes: dict[str, str | float] = field(default_factory=dict)
    # libprocess address, `slave(1)@IP:PORT`: where the agent itself answers (its
    # /monitor/statistics); the hostname need not resolve, nor be reachable
    pid: str = ""

    @property
    def port_ranges(self) -> PortRanges:
        return self.resources.ports

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "hostname": self.hostname,
            "active": self.active,
            "resources": self.resources.as_dict(),
            "used": self.used.as_dict(),
            "reserved": {role: r.as_dict() for role, r in self.reserved.items()},
            "unreserved": self.unreserved.as_dict(),
            "attributes": dict(self.attributes),
            **({"pid": self.pid} if self.pid else {}),
        }


@dataclass(frozen=True)
class MesosTask:
    id: str
    name: str
    framework: str
    agent_id: str
    state: str
    resources: Resources


@dataclass(frozen=True)
class MesosState:
    leader: str
    version: str
    agents: tuple[Agent, ...]
    tasks: tuple[MesosTask, ...]


def parse_agent(body: dict[str, Any]) -> Agent:
    try:
        attributes = {
            str(k): (v if isinstance(v, str) else float(v))
            for k, v in (body.get("attributes") or {}).items()
        }
        return Agent(
            id=str(body["id"]),
            hostname=str(body["hostname"]),
            active=bool(body.get("active", True)),
            resources=Resources.parse(body.get("resources")),
            used=Resources.parse(body.get("used_resources")),
            reserved={
                str(role): Resources.parse(r)
                for role, r in (body.get("reserved_resources") or {}).items()
            },
            unreserved=Resources.parse(body.get("unreserved_resources", body.get("resources"))),
            attributes=attributes,
            pid=str(body.get("pid") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusterProtocolError(f"an agent in the Mesos answer cannot be read: {exc}") from exc


def parse_state(body: Any) -> MesosState:
    if not isinstance(body, dict) or not isinstance(body.get("slaves"), list):
        raise ClusterProtocolError("the Mesos master's state has no 'slaves' list")
    frameworks = {f.get("id"): f.get("name", "") for f in body.get("frameworks") or []}
    tasks = tuple(
        MesosTask(
            id=str(t.get("id")),
            name=str(t.get("name", "")),
            framework=str(frameworks.get(t.get("framework_id"), t.get("framework_id", ""))),
            agent_id=str(t.get("slave_id", "")),
            state=str(t.get("state", "")),
            resources=Resources.parse(t.get("resources")),
        )
        for f in body.get("frameworks") or []
        for t in f.get("tasks") or []
    )
    return MesosState(
        leader=str(body.get("leader", "")),
        version=str(body.get("version", "")),
        agents=tuple(parse_agent(s) for s in body["slaves"]),
        tasks=tasks,
    )


class MesosClient:
    """Reads a Mesos cluster through whichever of its masters leads.

    `masters` are master URLs, whose /master/redirect names the leader, or one
    `zk://host:port[,host:port]/path`, where the leader is the master with the lowest
    `json.info_` node (see marathon.zookeeper; the leader is cached per process and
    dropped when ZooKeeper's children change).
    """

    def __init__(
        self,
        masters: list[str],
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
    ) -> None:
        if not masters:
            raise ValueError("a Mesos cluster needs at least one master URL")
        self.session = session or make_session()
        self.timeout = timeout
        self.credentials = credentials
        self.zk_url = masters[0] if is_zk_url(masters[0]) else None
        if self.zk_url is not None and len(masters) > 1:
            raise ValueError("a zk:// URL must be the only master entry")
        self.endpoints = [
            HttpEndpoint(m, session=self.session, timeout=timeout, credentials=credentials)
            for m in masters
            if not is_zk_url(m)
        ]

    def leader(self) -> HttpEndpoint:
        """The leading master: from ZooKeeper, or the first master's /master/redirect."""
        if self.zk_url is None:
            return self._redirected(self.endpoints)
        first = self._registered()
        try:
            return self._redirected([first])
        except ClusterUnreachableError:
            # the cached leader may have gone before its watch fired: ask ZooKeeper again
            forget_leader(self.zk_url)
            again = self._registered()
            if again.base_url == first.base_url:
                raise
            return self._redirected([again])

    def _registered(self) -> HttpEndpoint:
        """The master ZooKeeper names as leader; its errors are 503s that name ZooKeeper."""
        assert self.zk_url is not None
        url = leading_master(self.zk_url, timeout=self.timeout[0])
        return HttpEndpoint(
            url, session=self.session, timeout=self.timeout, credentials=self.credentials
        )

    def _redirected(self, endpoints: list[HttpEndpoint]) -> HttpEndpoint:
        """Ask each master's /master/redirect until one names the leader."""
        failures: list[str] = []
        answered: ClusterError | None = None  # a master that answered, but with an error
        for endpoint in endpoints:
            try:
                response = endpoint.request("GET", "/master/redirect", allow_redirects=False)
            except ClusterUnreachableError as exc:
                failures.append(str(exc))
                continue
            except ClusterError as exc:
                failures.append(str(exc))
                answered = answered or exc
                continue
            location = response.headers.get("Location")
            if response.status_code in (301, 302, 303, 307, 308) and location:
                target = urljoin(endpoint.base_url + "/", location)
                parts = urlsplit(target)
                return HttpEndpoint(
                    f"{parts.scheme}://{parts.netloc}",
                    session=self.session,
                    timeout=endpoint.timeout,
                    credentials=endpoint.credentials,
                )
            return endpoint  # answered without redirecting: it leads
        if answered is not None:
            raise answered
        raise NoLeaderError(
            "no Mesos master named a leader: " + "; ".join(failures or ["no answer"])
        )

    def state(self) -> MesosState:
        body = self.leader().json("GET", "/master/state")
        try:
            return parse_state(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClusterProtocolError(f"the Mesos master's state cannot be read: {exc}") from exc

    def agents(self) -> list[Agent]:
        body = self.leader().json("GET", "/master/slaves")
        if not isinstance(body, dict) or not isinstance(body.get("slaves"), list):
            raise ClusterProtocolError("the Mesos master's /master/slaves has no 'slaves' list")
        try:
            return [parse_agent(s) for s in body["slaves"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClusterProtocolError(f"an agent cannot be read: {exc}") from exc


_PID = re.compile(r"^[^@]+@(?P<host>\[[0-9a-fA-F:.]+\]|[^:@/\s]+):(?P<port>\d{1,5})$")


def agent_base_url(pid: str) -> str | None:
    """`slave(1)@127.0.0.1:5051` → `http://127.0.0.1:5051`; None for anything else. The
    address is the one the agent advertises itself, never its hostname."""
    match = _PID.match(pid.strip()) if pid else None
    if match is None or not 0 < int(match["port"]) < 65536:
        return None
    return f"http://{match['host']}:{int(match['port'])}"


def agent_statistics(
    base_url: str,
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    credentials: Credentials | None = None,
) -> list[dict[str, Any]]:
    """An agent's `GET /monitor/statistics`: one entry per executor (see the reference's
    monitor-statistics_docs-endpoints.json); typed errors like every other call."""
    endpoint = HttpEndpoint(base_url, session=session, timeout=timeout, credentials=credentials)
    body = endpoint.json("GET", "/monitor/statistics")
    if not isinstance(body, list):
        raise ClusterProtocolError(f"{base_url}/monitor/statistics is not a list")
    return [e for e in body if isinstance(e, dict) and isinstance(e.get("statistics"), dict)]


def statistics_session(pool: int) -> requests.Session:
    """A session for sampling many agents at once: one pooled connection per worker and no
    retries (an agent that does not answer is skipped until the next round)."""
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
