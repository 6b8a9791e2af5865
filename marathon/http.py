"""The shared HTTP plumbing of both clients: sessions, retries, credentials, error mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from marathon.errors import (
    ClusterClientError,
    ClusterError,
    ClusterNotFoundError,
    ClusterProtocolError,
    ClusterServerError,
    ClusterTimeoutError,
    ClusterUnreachableError,
    MarathonConflictError,
    MarathonInvalidError,
)

# (connect, read) seconds; Marathon can be slow to answer a large /v2/apps
DEFAULT_TIMEOUT = (3.05, 10.0)
IDEMPOTENT = frozenset({"GET", "HEAD"})


def make_session(retries: int = 3, backoff: float = 0.2) -> requests.Session:
    """A session that retries only idempotent reads, with backoff, on connection errors and 5xx.

    PUT and DELETE on Marathon start deployments; retrying one blindly could start two.
    A read that timed out is not retried: a slow server stays slow, and every retry would
    add a whole timeout to a request that someone (a web worker) is waiting for.
    """
    retry = Retry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(502, 503, 504),
        allowed_methods=IDEMPOTENT,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class Credentials:
    """HTTP basic (`user:password`) or a ready header value (`token=…` / `Bearer …`)."""

    basic: tuple[str, str] | None = None
    header: str | None = None

    @classmethod
    def from_env(
        cls, variable: str | None, environ: Mapping[str, str] | None = None
    ) -> Credentials:
        """Read credentials from the environment variable a cluster names; never from the DB."""
        if not variable or not variable.startswith("BERTH_CREDENTIALS_"):
            return cls()  # only variables meant for it: never leak another secret
        value = (environ if environ is not None else os.environ).get(variable, "")
        if not value:
            return cls()
        if value.startswith(("token=", "Bearer ", "bearer ")):
            return cls(header=value)
        user, sep, password = value.partition(":")
        if not sep:
            return cls(header=f"token={value}")
        return cls(basic=(user, password))

    def apply(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.basic:
            kwargs["auth"] = self.basic
        if self.header:
            kwargs.setdefault("headers", {})["Authorization"] = self.header
        return kwargs


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def raise_for(response: requests.Response) -> None:
    """Turn a non-2xx answer into the typed error it means; 2xx passes."""
    if response.status_code < 400:
        return
    body = _json(response)
    message = body.get("message") if isinstance(body, dict) else None
    message = str(message or response.text[:300] or response.reason)
    url, status = response.url, response.status_code
    if status == 409:
        ids = [
            str(d.get("id"))
            for d in (body.get("deployments") or [] if isinstance(body, dict) else [])
            if isinstance(d, dict)
        ]
        raise MarathonConflictError(message, url=url, deployment_ids=ids)
    if status == 422 or (status == 400 and isinstance(body, dict) and "details" in body):
        details = body.get("details") if isinstance(body, dict) else None
        raise MarathonInvalidError(message, url=url, status=status, details=list(details or []))
    if status == 404:
        raise ClusterNotFoundError(f"404 from {url}: {message}", url=url, status=status)
    if status >= 500:
        raise ClusterServerError(f"{status} from {url}: {message}", url=url, status=status)
    raise ClusterClientError(f"{status} from {url}: {message}", url=url, status=status)


class HttpEndpoint:
    """One base URL, with session, timeout and credentials; every call maps its errors."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or make_session()
        self.timeout = timeout
        self.credentials = credentials or Credentials()

    def request(
        self, method: str, path: str, *, allow_redirects: bool = True, **kwargs: Any
    ) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        kwargs = self.credentials.apply({"timeout": self.timeout, **kwargs})
        try:
            response = self.session.request(method, url, allow_redirects=allow_redirects, **kwargs)
        except requests.ConnectTimeout as exc:
            raise ClusterUnreachableError(f"cannot connect to {url} in time", url=url) from exc
        except requests.Timeout as exc:
            raise ClusterTimeoutError(f"{method} {url} timed out", url=url) from exc
        except requests.exceptions.RetryError as exc:
            raise ClusterServerError(f"{method} {url} kept failing: {exc}", url=url) from exc
        except requests.ConnectionError as exc:
            # retries end in a ConnectionError even when every try timed out
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
                raise ClusterTimeoutError(f"{method} {url} timed out", url=url) from exc
            raise ClusterUnreachableError(f"cannot reach {url}: {exc}", url=url) from exc
        except requests.RequestException as exc:
            raise ClusterError(f"{method} {url} failed: {exc}", url=url) from exc
        raise_for(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        body = _json(response)
        if body is None:
            raise ClusterProtocolError(
                f"{method} {response.url} answered {response.status_code} without JSON",
                url=response.url,
                status=response.status_code,
            )
        return body
