"""What Marathon answers instead of doing the thing; the HTTP layer picks the status."""

from __future__ import annotations

from typing import Any

from simulator.validation import Problem, details

LOCKED = (
    "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'."
)


class SimulatorError(Exception):
    """Carries Marathon's JSON body, `{"message": …}` plus whatever else Marathon adds."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"message": message, **extra}


class InvalidJson(SimulatorError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("Invalid JSON", details=details(problems))


class InvalidObject(SimulatorError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("Object is not valid", details=details(problems))


class AppExists(SimulatorError):
    def __init__(self, app_id: str) -> None:
        super().__init__(f"An app with id [{app_id}] already exists.")


class GroupExists(SimulatorError):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Group {group_id} is already created. Use PUT to change this group.")


class AppNotFound(SimulatorError):
    def __init__(self, app_id: str, version: str | None = None) -> None:
        suffix = f" in version {version}" if version is not None else ""
        super().__init__(f"App '{app_id}' does not exist{suffix}")


class AppPathExists(SimulatorError):
    """POST /v2/groups with the id of an app."""

    def __init__(self, path_id: str) -> None:
        super().__init__(f"An app with the path {path_id} already exists.")


class GroupNotFound(SimulatorError):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Group '{group_id}' does not exist")


class TaskNotFound(SimulatorError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task '{task_id}' does not exist")


class BadRequest(SimulatorError):
    """Marathon's BadRequestException: 400 with only a message."""


class AppLocked(SimulatorError):
    def __init__(self, deployment_ids: list[str]) -> None:
        super().__init__(LOCKED, deployments=[{"id": d} for d in deployment_ids])


class DeploymentNotFound(SimulatorError):
    def __init__(self, deployment_id: str) -> None:
        super().__init__(f"DeploymentPlan {deployment_id} does not exist")


class UnknownAgent(SimulatorError):
    def __init__(self, key: str) -> None:
        super().__init__(f"Agent '{key}' does not exist")
