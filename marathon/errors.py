"""Typed errors of the Marathon and Mesos clients; callers never get a bare requests exception."""

from __future__ import annotations

from typing import Any


class ClusterError(Exception):
    """Base: something went wrong talking to Marathon or a Mesos master."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status


class ClusterUnreachableError(ClusterError):
    """No connection could be made (refused, reset, DNS, dropped mid-answer)."""


class ClusterTimeoutError(ClusterError):
    """The server took longer than the client's timeout."""


class NoLeaderError(ClusterUnreachableError):
    """None of the Mesos masters named a leader that answered."""


class ZooKeeperError(ClusterUnreachableError):
    """The ZooKeeper ensemble that names a cluster's leading Mesos master failed us.

    Unreachable in the ledger's terms (a 503): without the leader berth cannot read the
    cluster, and it is the ensemble or the masters, not berth's request, that must recover.
    """


class ZooKeeperUnreachableError(ZooKeeperError):
    """No connection to any server of the ensemble, or no answer within the timeout."""


class NoMasterRegisteredError(ZooKeeperError):
    """The path exists in ZooKeeper (or not), but no master has a `json.info_` node there."""


class MasterInfoUnreadableError(ZooKeeperError):
    """The leading master's znode holds no MasterInfo JSON with an address and port."""


class MarathonConflictError(ClusterError):
    """409: the app is locked by deployments (their ids are in `deployment_ids`) or exists."""

    def __init__(self, message: str, *, url: str = "", deployment_ids: list[str]) -> None:
        super().__init__(message, url=url, status=409)
        self.deployment_ids = deployment_ids


class MarathonInvalidError(ClusterError):
    """422 (or 400 Invalid JSON): Marathon refused the definition, with its details."""

    def __init__(
        self, message: str, *, url: str = "", status: int = 422, details: list[dict[str, Any]]
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.details = details


class ClusterNotFoundError(ClusterError):
    """404: the app (or deployment) does not exist."""


class ClusterClientError(ClusterError):
    """Another 4xx: berth sent something the server refused (auth, bad request)."""


class ClusterServerError(ClusterError):
    """5xx: the server failed."""


class ClusterProtocolError(ClusterError):
    """The server answered 2xx with something that is not what its API promises."""
