"""The Marathon client: apps with their tasks, deployments, the launch queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from marathon.errors import ClusterProtocolError
from marathon.http import DEFAULT_TIMEOUT, Credentials, HttpEndpoint, make_session
from marathon.leader import LeaderEndpoint


@dataclass(frozen=True)
class MarathonTask:
    id: str
    app_id: str
    host: str
    agent_id: str
    ports: tuple[int, ...]
    state: str
    started_at: str | None


@dataclass(frozen=True)
class MarathonApp:
    """An app as Marathon reports it: the definition as sent back, plus its running tasks."""

    id: str
    definition: dict[str, Any]
    tasks: tuple[MarathonTask, ...] = ()
    deployment_ids: tuple[str, ...] = ()
    tasks_running: int = 0
    tasks_healthy: int = 0  # Marathon counts only apps with health checks here


@dataclass(frozen=True)
class DeploymentResult:
    deployment_id: str
    version: str


@dataclass(frozen=True)
class Deployment:
    id: str
    version: str
    affected_apps: tuple[str, ...]
    current_step: int
    total_steps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def _task(body: dict[str, Any]) -> MarathonTask:
    return MarathonTask(
        id=str(body.get("id", "")),
        app_id=str(body.get("appId", "")),
        host=str(body.get("host", "")),
        agent_id=str(body.get("slaveId", body.get("agentId", ""))),
        ports=tuple(int(p) for p in body.get("ports") or []),
        state=str(body.get("state", "")),
        started_at=body.get("startedAt"),
    )


def parse_app(body: Any) -> MarathonApp:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise ClusterProtocolError("a Marathon app without an id")
    definition = {
        k: v
        for k, v in body.items()
        if k not in ("tasks", "deployments", "lastTaskFailure", "readinessCheckResults")
        and not k.startswith("tasks")
    }
    return MarathonApp(
        id=body["id"],
        definition=definition,
        tasks=tuple(_task(t) for t in body.get("tasks") or [] if isinstance(t, dict)),
        deployment_ids=tuple(
            str(d.get("id")) for d in body.get("deployments") or [] if isinstance(d, dict)
        ),
        tasks_running=int(body.get("tasksRunning") or 0),
        tasks_healthy=int(body.get("tasksHealthy") or 0),
    )


def _deployment(body: dict[str, Any]) -> Deployment:
    return Deployment(
        id=str(body.get("id", "")),
        version=str(body.get("version", "")),
        affected_apps=tuple(str(a) for a in body.get("affectedApps") or []),
        current_step=int(body.get("currentStep") or 0),
        total_steps=int(body.get("totalSteps") or 0),
        raw=body,
    )


def app_path(app_id: str) -> str:
    return "/v2/apps/" + "/".join(quote(s, safe="") for s in app_id.strip("/").split("/"))


class MarathonClient:
    """A Marathon at one URL, or at several instances whose leader takes the calls.

    One URL is called as given (it may be a load balancer); with several, calls go to the
    instance `GET /v2/leader` names (marathon.leader).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("a Marathon needs at least one URL")
        self.endpoint: HttpEndpoint | LeaderEndpoint
        if len(urls) == 1:
            self.endpoint = HttpEndpoint(
                urls[0], session=session, timeout=timeout, credentials=credentials
            )
        else:
            self.endpoint = LeaderEndpoint(
                urls, session=session or make_session(), timeout=timeout, credentials=credentials
            )

    def ping(self) -> bool:
        self.endpoint.request("GET", "/ping")
        return True

    def info(self) -> dict[str, Any]:
        body = self.endpoint.json("GET", "/v2/info")
        if not isinstance(body, dict):
            raise ClusterProtocolError("Marathon's /v2/info is not an object")
        return body

    def apps(self, group: str | None = None, *, embed_tasks: bool = True) -> list[MarathonApp]:
        params: dict[str, Any] = {}
        if embed_tasks:
            params["embed"] = ["apps.tasks", "apps.deployments"]
        body = self.endpoint.json("GET", "/v2/apps", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("apps"), list):
            raise ClusterProtocolError("Marathon's /v2/apps has no 'apps' list")
        try:
            apps = [parse_app(a) for a in body["apps"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClusterProtocolError(
                f"an app in Marathon's answer cannot be read: {exc}"
            ) from exc
        if group:
            prefix = "/" + group.strip("/") + "/"
            apps = [a for a in apps if a.id.startswith(prefix) or prefix == "//"]
        return apps

    def app(self, app_id: str) -> MarathonApp:
        body = self.endpoint.json("GET", app_path(app_id), params={"embed": "app.tasks"})
        try:
            return parse_app(body.get("app") if isinstance(body, dict) else None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ClusterProtocolError(f"Marathon's app cannot be read: {exc}") from exc

    def put_app(
        self,
        app_id: str,
        definition: dict[str, Any],
        *,
        force: bool = False,
        partial_update: bool = False,
    ) -> DeploymentResult:
        """PUT the whole definition; `partial_update=False` so removed fields really go away."""
        params = {"force": str(force).lower(), "partialUpdate": str(partial_update).lower()}
        body = self.endpoint.json("PUT", app_path(app_id), params=params, json=definition)
        return self._result(body)

    def delete_app(self, app_id: str, *, force: bool = False) -> DeploymentResult:
        body = self.endpoint.json("DELETE", app_path(app_id), params={"force": str(force).lower()})
        return self._result(body)

    def deployments(self) -> list[Deployment]:
        body = self.endpoint.json("GET", "/v2/deployments")
        if not isinstance(body, list):
            raise ClusterProtocolError("Marathon's /v2/deployments is not a list")
        return [_deployment(d) for d in body if isinstance(d, dict)]

    def queue(self) -> list[dict[str, Any]]:
        body = self.endpoint.json("GET", "/v2/queue")
        if not isinstance(body, dict) or not isinstance(body.get("queue"), list):
            raise ClusterProtocolError("Marathon's /v2/queue has no 'queue' list")
        return list(body["queue"])

    @staticmethod
    def _result(body: Any) -> DeploymentResult:
        if not isinstance(body, dict) or "deploymentId" not in body:
            # POST-style answers carry the app; the id then comes from its deployments
            deployments = body.get("deployments") if isinstance(body, dict) else None
            if deployments:
                return DeploymentResult(str(deployments[0]["id"]), str(body.get("version", "")))
            raise ClusterProtocolError("Marathon answered a change without a deploymentId")
        return DeploymentResult(str(body["deploymentId"]), str(body.get("version", "")))
