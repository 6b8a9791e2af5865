"""berth over HTTP: one requests session with retries, and berth's answers as exceptions.

A pipeline must not fail a build over one flapping 502 or 503, nor repeat a write that
may have happened. So reads, PUT and DELETE (idempotent) are retried on 502, 503 and 504
with backoff, waiting what `Retry-After` says; a POST is retried only when berth cannot
have acted on it: the connection was refused (nothing was sent), or a 503 carrying
`Retry-After` (berth says so when it gave up waiting for a lock, nothing saved).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from berth_cli import __version__

RETRY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class BerthRetry(Retry):
    """urllib3's Retry, which also retries a POST on a 503 with Retry-After (see above)."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() == "POST":
            return bool(self.total) and status_code == 503 and has_retry_after
        return bool(super().is_retry(method, status_code, has_retry_after))


class BerthError(Exception):
    """Something the command cannot do; `exit_code` is what the process exits with."""

    exit_code = 1


class Refused(BerthError):
    """berth answered 4xx: the request is wrong or not allowed; retrying will not help."""

    exit_code = 2

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(problem.get("detail") or problem.get("title") or f"HTTP {status}")

    def lines(self) -> list[str]:
        """berth's reasons as a person reads them: the detail, then one line per field."""
        title = self.problem.get("title") or f"HTTP {self.status}"
        out = [f"berth refused ({self.status} {title}): {self.problem.get('detail', '')}".rstrip()]
        for name, messages in _flatten(self.problem.get("errors") or {}):
            out.append(f"  {name}: {messages}")
        fit = self.problem.get("fit")
        if isinstance(fit, dict) and fit.get("why"):
            out.append(f"  fit: {fit['why']}")
        return out


class Unreachable(BerthError):
    """berth could not be reached, or kept answering 5xx, after the retries."""

    exit_code = 3


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(errors, dict):
        out: list[tuple[str, str]] = []
        for key, value in errors.items():
            out.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(prefix or "body", "; ".join(errors))]
    if isinstance(errors, list):
        return [pair for i, e in enumerate(errors) for pair in _flatten(e, f"{prefix}[{i}]")]
    return [(prefix or "body", str(errors))]


@dataclass
class Berth:
    """A berth server at `url` (without /api/v1), called with `token`."""

    url: str
    token: str = ""
    retries: int = 5
    backoff: float = 0.5
    timeout: tuple[float, float] = (3.05, 120.0)
    session: requests.Session = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if self.url.endswith("/api/v1"):
            self.url = self.url[: -len("/api/v1")]
        retry = BerthRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            backoff_factor=self.backoff,
            backoff_max=30,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=IDEMPOTENT,
            respect_retry_after_header=True,
            raise_on_status=False,  # the last 5xx comes back as an answer, problem and all
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"berth-cli/{__version__}"
        if self.token:
            self.session.headers["Authorization"] = f"Bearer {self.token}"

    def call(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201, 202, 204),
        **kwargs: Any,
    ) -> requests.Response:
        """The answer to `method` on /api/v1`path`; Refused on 4xx, Unreachable otherwise."""
        try:
            response = self.session.request(
                method, f"{self.url}/api/v1{path}", timeout=self.timeout, **kwargs
            )
        except requests.exceptions.RetryError as exc:
            raise Unreachable(f"berth at {self.url} kept failing after the retries: {exc}") from exc
        except requests.RequestException as exc:
            raise Unreachable(f"berth at {self.url} cannot be reached: {_cause(exc)}") from exc
        if response.status_code in expect:
            return response
        problem = _problem(response)
        if 400 <= response.status_code < 500:
            raise Refused(response.status_code, problem)
        detail = problem.get("detail") or problem.get("title") or response.reason
        raise Unreachable(
            f"berth answered {response.status_code} after the retries: {detail}".rstrip(": ")
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else None


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"title": response.reason, "detail": response.text[:500].strip()}
    return body if isinstance(body, dict) else {"detail": str(body)}


def _cause(exc: BaseException) -> str:
    """The innermost reason, e.g. 'Connection refused', not urllib3's whole chain."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker
    return text[:300]


def from_env(url: str | None, token: str | None, retries: int | None) -> Berth:
    """The server of the flags, else of BERTH_URL / BERTH_TOKEN / BERTH_RETRIES."""
    return Berth(
        url=url or os.environ.get("BERTH_URL") or "http://127.0.0.1:8000",
        token=token if token is not None else os.environ.get("BERTH_TOKEN", ""),
        retries=retries if retries is not None else int(os.environ.get("BERTH_RETRIES", "5")),
        backoff=float(os.environ.get("BERTH_BACKOFF", "0.5")),
    )
