"""Clients for a cluster's Marathon and Mesos masters, and their errors in the ledger's terms."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.context import Context
from ledger.errors import LedgerError, UpstreamFailedError, UpstreamUnavailableError
from marathon.client import MarathonClient
from marathon.errors import ClusterError, ClusterTimeoutError, ClusterUnreachableError
from marathon.http import Credentials
from marathon.mesos import MesosClient
from models import Cluster


@dataclass(frozen=True)
class Endpoints:
    """What is needed to call a cluster, copied out of the session before any HTTP call."""

    cluster: str
    mesos_masters: tuple[str, ...]  # master URLs, or one zk://…
    marathon_url: str  # the first of marathon_urls
    credentials_env: str | None
    marathon_urls: tuple[str, ...] = ()  # every instance; several: the leader takes the calls

    @classmethod
    def of(cls, cluster: Cluster) -> Endpoints:
        return cls(
            cluster.name,
            tuple(cluster.mesos_masters),
            cluster.marathon_url,
            cluster.credentials_env,
            tuple(cluster.marathon_urls or [cluster.marathon_url]),
        )

    def mesos(self, ctx: Context) -> MesosClient:
        return MesosClient(
            list(self.mesos_masters),
            timeout=ctx.settings.cluster_timeout,
            credentials=Credentials.from_env(self.credentials_env),
        )

    def marathon(self, ctx: Context) -> MarathonClient:
        return MarathonClient(
            list(self.marathon_urls or [self.marathon_url]),
            timeout=ctx.settings.cluster_timeout,
            credentials=Credentials.from_env(self.credentials_env),
        )


def translate(exc: ClusterError, doing: str) -> LedgerError:
    """A client error as the ledger reports it: 503 when unreachable or slow, 502 otherwise."""
    if isinstance(exc, ClusterUnreachableError | ClusterTimeoutError):
        return UpstreamUnavailableError(
            f"{doing}: {exc.message}; nothing was changed, try again later", url=exc.url
        )
    return UpstreamFailedError(f"{doing}: {exc.message}", url=exc.url, upstream_status=exc.status)
