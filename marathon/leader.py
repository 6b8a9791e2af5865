"""Calls to the leading instance of a Marathon configured as several URLs.

Every Marathon instance proxies API calls to the leader, but a proxy is one more hop that
fails when the instance it runs on goes, and old versions redirected instead. So berth
asks any instance `GET /v2/leader` → `{"leader": "host:port"}`, calls the leader
directly, and asks again when the leader stops answering (connection refused, 503) or
redirects. The leader is cached per process and per list of URLs; a single URL is called
as it is (it may be a load balancer), never through /v2/leader.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from marathon.errors import (
    ClusterError,
    ClusterProtocolError,
    ClusterServerError,
    ClusterUnreachableError,
    NoLeaderError,
)
from marathon.http import IDEMPOTENT, Credentials, HttpEndpoint

_leaders: dict[tuple[str, ...], str] = {}
_lock = threading.Lock()


def _never_sent(exc: ClusterError) -> bool:
    """Whether a failed call surely did not reach the server, so a write may go elsewhere."""
    if isinstance(exc, ClusterServerError) and exc.status == 503:
        return True  # "not the leader" / unavailable: nothing was done
    cause = exc.__cause__
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError):
        first = cause.args[0] if cause.args else None
        reason = getattr(first, "reason", first)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


class LeaderEndpoint:
    """Several Marathon URLs behind the interface of one HttpEndpoint (`request`, `json`)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        session: requests.Session,
        timeout: tuple[float, float],
        credentials: Credentials | None = None,
    ) -> None:
        self.instances = [
            HttpEndpoint(u, session=session, timeout=timeout, credentials=credentials) for u in urls
        ]
        self.key = tuple(e.base_url for e in self.instances)
        self.session = session
        self.timeout = timeout
        self.credentials = credentials or Credentials()

    @property
    def base_url(self) -> str:
        """The leader's base URL (asking for it if not known): for the event stream."""
        return self.current().base_url

    def current(self) -> HttpEndpoint:
        with _lock:
            known = _leaders.get(self.key)
        return self._endpoint(known) if known else self.resolve()

    def _endpoint(self, base_url: str) -> HttpEndpoint:
        for instance in self.instances:
            if instance.base_url == base_url:
                return instance
        return HttpEndpoint(
            base_url, session=self.session, timeout=self.timeout, credentials=self.credentials
        )

    def _leader_url(self, asked: HttpEndpoint, leader: str) -> str:
        """A configured URL of the leader (its scheme and path), else the asked one's scheme."""
        for instance in self.instances:
            if urlsplit(instance.base_url).netloc.lower() == leader.lower():
                return instance.base_url
        return f"{urlsplit(asked.base_url).scheme}://{leader}"

    def resolve(self, failed: str | None = None) -> HttpEndpoint:
        """Ask the instances in turn which one leads; NoLeaderError (a 503) if none says.

        `failed`, the leader that just did not answer, is asked last: it is likely gone,
        and each dead instance costs the retries of a read.
        """
        failures: list[str] = []
        order = sorted(self.instances, key=lambda e: e.base_url == failed)
        for instance in order:
            try:
                body = instance.json("GET", "/v2/leader")
            except ClusterError as exc:
                failures.append(exc.message)
                continue
            leader = body.get("leader") if isinstance(body, dict) else None
            if not isinstance(leader, str) or not leader or "/" in leader:
                failures.append(f"{instance.base_url}/v2/leader named no leader")
                continue
            url = self._leader_url(instance, leader)
            with _lock:
                _leaders[self.key] = url
            return self._endpoint(url)
        raise NoLeaderError(
            "no Marathon instance named a leader: " + "; ".join(failures),
            url=self.instances[0].base_url,
        )

    def forget(self, base_url: str) -> None:
        with _lock:
            if _leaders.get(self.key) == base_url:
                del _leaders[self.key]

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        leader = self.current()
        try:
            response = leader.request(method, path, **kwargs)
        except (ClusterUnreachableError, ClusterServerError) as exc:
            if isinstance(exc, ClusterServerError) and exc.status != 503:
                raise
            self.forget(leader.base_url)
            if method not in IDEMPOTENT and not _never_sent(exc):
                raise  # a write that may have been done: never send it twice
            moved = self.resolve(failed=leader.base_url)
            if moved.base_url == leader.base_url:
                raise
            return moved.request(method, path, **kwargs)
        if response.history:  # redirected: the leader moved, ask again next time
            self.forget(leader.base_url)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ClusterProtocolError(
                f"{method} {response.url} answered {response.status_code} without JSON",
                url=response.url,
                status=response.status_code,
            ) from None
