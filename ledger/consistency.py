"""Consistency: does a service run the same way in two environments, beyond what may differ?

Resources, instances, host ports and placement constraints may differ between environments.
The base image, the runtime version, the health check and the names of the environment
variables may not, unless the service lists the difference in `consistency_exceptions`.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.capacity import app_id
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import ConflictError, InvalidError
from ledger.renders import IMAGE_PLACEHOLDER, render_input
from ledger.services import find_service
from ledger.snapshots import latest_snapshot_row
from marathon.apps import image_of
from marathon.compare import image_repository
from marathon.dockerfile import dockerfile
from marathon.render import DEFAULT_HEAP_SHARE, render
from models import Allocation, Deployment, Environment, Service

CHECKED = ("base_image", "runtime_version", "health_path", "health_protocol")
# env vars that name a runtime's version, looked for in the rendered env in this order
_VERSION_VARS = {
    "java": ("JAVA_VERSION", "JDK_VERSION", "JRE_VERSION"),
    "node": ("NODE_VERSION",),
    "python": ("PYTHON_VERSION",),
    "dotnet": ("DOTNET_VERSION", "ASPNETCORE_VERSION"),
}
_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)")


class NotAllocatedError(ConflictError):
    title = "Not allocated"


def _version(text: str) -> str:
    """17-jre → 17, v20.11.1 → 20.11.1; a tag without a number is kept as it is."""
    match = _VERSION.match(text.strip())
    return match.group(1) if match else text.strip()


def _from_image(text: str) -> str | None:
    """The image of the Dockerfile's last FROM (the stage that runs)."""
    images = [
        line.split()[1]
        for line in text.splitlines()
        if line.strip().upper().startswith("FROM ") and len(line.split()) > 1
    ]
    return images[-1] if images else None


def runtime_version(alloc: Allocation, env: dict[str, str]) -> tuple[str | None, str]:
    """The runtime's version and where it was read: an env var such as JAVA_VERSION (from the
    environment's defaults or the allocation's overrides), else the tag of the Dockerfile's
    FROM image (the service's own template or berth's template of its runtime)."""
    service = alloc.service
    for name in (*_VERSION_VARS.get(service.runtime, ()), "RUNTIME_VERSION"):
        if env.get(name):
            return _version(env[name]), f"env {name}"
    share = float((alloc.environment.defaults or {}).get("java_heap_share", DEFAULT_HEAP_SHARE))
    text = dockerfile(
        service=service.name,
        runtime=service.runtime,
        environment=alloc.environment.name,
        mem_mib=alloc.mem,
        container_ports=[],
        heap_share=share,
        template=service.dockerfile_template,
    )
    image = _from_image(text)
    if image is None:
        return None, "no env var and no FROM in the Dockerfile"
    tag = image.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
    return (_version(tag) if tag else "latest"), f"Dockerfile FROM {image}"


def _image(session: Session, alloc: Allocation) -> tuple[str | None, str]:
    """The image of the newest successful release, else what runs in the latest snapshot."""
    env, service = alloc.environment, alloc.service
    release = session.scalar(
        select(Deployment)
        .where(
            Deployment.environment == env.name,
            Deployment.service == service.name,
            Deployment.status == "succeeded",
        )
        .order_by(Deployment.id.desc())
        .limit(1)
    )
    if release is not None:
        return release.image, f"release {release.id}"
    snap = latest_snapshot_row(session, env.cluster_id)
    wanted = app_id(env, service.name)
    for app in snap.apps if snap is not None else []:
        if app["id"] == wanted:
            image = image_of(app["definition"])
            if image:
                return str(image), f"running (snapshot {snap.id})"
    return None, "never deployed through berth and not running"


def _side(session: Session, env: Environment, service: Service) -> dict[str, Any]:
    alloc = session.scalar(
        select(Allocation).where(
            Allocation.environment_id == env.id, Allocation.service_id == service.id
        )
    )
    if alloc is None:
        raise NotAllocatedError(
            f"service '{service.name}' is not allocated in '{env.name}': nothing to compare; "
            f"allocate it there (PUT /api/v1/environments/{env.name}/allocations/{service.name}) "
            "or compare other environments"
        )
    image, image_source = _image(session, alloc)
    rendered = render(render_input(session, alloc, image or IMAGE_PLACEHOLDER))
    env_vars = {str(k): str(v) for k, v in (rendered.get("env") or {}).items()}
    version, version_source = runtime_version(alloc, env_vars)
    checks = rendered.get("healthChecks") or []
    shown_image = image_of(rendered)
    return {
        "environment": env.name,
        "image": shown_image if image else None,
        "image_source": image_source,
        "base_image": image_repository(shown_image) if image else None,
        "runtime_version": version,
        "runtime_version_source": version_source,
        "health_path": checks[0].get("path") if checks else None,
        "health_protocol": checks[0].get("protocol") if checks else None,
        "env_names": sorted(env_vars),
    }


def _allowed_by(field: str, exceptions: list[str]) -> str | None:
    return next((e for e in exceptions if fnmatch.fnmatchcase(field, e)), None)


def service_consistency(ctx: Context, service_name: str, a: str, b: str) -> dict[str, Any]:
    """The differences between the service's configs in environments a and b that are not
    allowed by policy; those its exceptions allow are listed with `allowed_because`."""
    if a == b:
        raise InvalidError({"b": [f"name an environment other than a ('{a}') to compare with"]})

    def work(session: Session) -> dict[str, Any]:
        service = find_service(session, service_name)
        env_a, env_b = find_environment(session, a), find_environment(session, b)
        side_a, side_b = _side(session, env_a, service), _side(session, env_b, service)
        exceptions = [str(e) for e in service.consistency_exceptions or []]
        found: list[dict[str, Any]] = []
        not_compared = []
        for field in CHECKED:
            va, vb = side_a[field], side_b[field]
            if field == "base_image" and (va is None or vb is None):
                missing = [s["environment"] for s in (side_a, side_b) if s[field] is None]
                not_compared.append(
                    {"field": field, "why": f"no image known in {', '.join(missing)}"}
                )
                continue
            if va != vb:
                found.append({"field": field, "a": va, "b": vb})
        # the runtime's version vars are compared by value, as runtime_version
        versions = {*_VERSION_VARS.get(service.runtime, ()), "RUNTIME_VERSION"}
        names_a = set(side_a["env_names"]) - versions
        names_b = set(side_b["env_names"]) - versions
        for name in sorted(names_a ^ names_b):
            found.append(
                {
                    "field": f"env:{name}",
                    "a": "set" if name in names_a else "not set",
                    "b": "set" if name in names_b else "not set",
                }
            )
        applied: list[str] = []
        for difference in found:
            exception = _allowed_by(difference["field"], exceptions)
            if exception is not None:
                difference["allowed_because"] = f"exception '{exception}' of {service.name}"
                applied += [exception] if exception not in applied else []
        return {
            "service": service.name,
            "a": side_a,
            "b": side_b,
            "consistent": all("allowed_because" in d for d in found),
            "differences": found,
            "exceptions": exceptions,
            "exceptions_applied": applied,
            "not_compared": not_compared,
        }

    return in_transaction(ctx, work)
