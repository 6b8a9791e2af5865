"""The pipeline's question: what exactly do we send to Marathon for this build?"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.allocations import find_allocation
from ledger.capacity import DoesNotFitError
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError
from ledger.standing import unplaced_now
from marathon.dockerfile import dockerfile
from marathon.render import (
    DEFAULT_HEAP_SHARE,
    Port,
    RenderInput,
    config_hash,
    render,
    valid_image,
)
from models import Allocation, Service, ServiceDependency


def render_input(
    session: Session,
    alloc: Allocation,
    image: str,
    build_url: str | None = None,
    git_sha: str | None = None,
    callees: Mapping[int, Sequence[str]] | None = None,
) -> RenderInput:
    """`callees`: `callees_in(session, env)`, when many allocations of one environment are
    rendered, so that their dependencies are read once, not once each."""
    env, service = alloc.environment, alloc.service
    held = {p.port_name: p.port for p in alloc.ports}
    ports = tuple(
        Port(p.name, held[p.name], p.protocol, p.container_port)
        for p in service.ports
        if p.name in held
    )
    if callees is None:
        callees = callees_in(session, env.id, caller_id=service.id)
    return RenderInput(
        group=env.marathon_group,
        service=service.name,
        runtime=service.runtime,
        team=service.team,
        cpus=alloc.cpus,
        mem=alloc.mem,
        disk=alloc.disk,
        instances=alloc.instances,
        network=alloc.network,
        ports=ports,
        image=image,
        allocation_version=alloc.version,
        health_check=service.health_check,
        constraints=tuple(tuple(c) for c in alloc.constraints),
        minimum_health_capacity=alloc.minimum_health_capacity,
        maximum_over_capacity=alloc.maximum_over_capacity,
        dependencies=tuple(sorted(callees.get(service.id, ()))),
        defaults=env.defaults or {},
        overrides=alloc.overrides or {},
        build_url=build_url,
        git_sha=git_sha,
    )


def callees_in(session: Session, env_id: int, caller_id: int | None = None) -> dict[int, list[str]]:
    """Caller service id → the names of the services it calls that are allocated in the
    environment (Marathon's dependencies), for one caller or for all."""
    query = (
        select(ServiceDependency.caller_id, Service.name)
        .join(Service, ServiceDependency.callee_id == Service.id)
        .join(Allocation, Allocation.service_id == Service.id)
        .where(Allocation.environment_id == env_id)
    )
    if caller_id is not None:
        query = query.where(ServiceDependency.caller_id == caller_id)
    out: dict[int, list[str]] = {}
    for caller, name in session.execute(query):
        out.setdefault(caller, []).append(name)
    return out


def check_image(image: str) -> None:
    if not valid_image(image):
        raise InvalidError(
            {"image": [f"'{image}' is not a Docker image reference like registry/repo:tag"]}
        )


def require_placed(
    session: Session, alloc: Allocation, seconds: float, *, force: bool = False
) -> None:
    """409 when instances of this allocation have no agent now (an admin may force): read
    from the cluster's standing placement, which is current and costs nothing to ask."""
    if force:
        return
    key = f"{alloc.environment.name}/{alloc.service.name}"
    keys = (key, f"surge:{key}")
    verdict = unplaced_now(session, alloc.environment.cluster, keys, seconds)
    if verdict is None or verdict.placement is None:
        return
    mine = [u for u in verdict.placement.unplaced if u.key in keys]
    if mine:
        raise DoesNotFitError(
            f"{alloc.service.name} does not fit in {alloc.environment.name} now: "
            + "; ".join(u.reason for u in mine[:5]),
            fit=verdict.as_dict(),
        )


def marathon_definition(
    ctx: Context,
    env_name: str,
    service_name: str,
    image: str,
    *,
    build_url: str | None = None,
    git_sha: str | None = None,
) -> tuple[dict[str, Any], str]:
    """The app definition and its config hash, for one allocation and one image."""
    check_image(image)

    def work(session: Session) -> tuple[dict[str, Any], str]:
        alloc = find_allocation(session, env_name, service_name)
        require_placed(session, alloc, ctx.settings.fit_budget)
        definition = render(render_input(session, alloc, image, build_url, git_sha))
        return definition, config_hash(definition)

    return in_transaction(ctx, work)


IMAGE_PLACEHOLDER = "registry.invalid/replace-me:IMAGE"


def export_environment(ctx: Context, env_name: str) -> dict[str, str]:
    """File name → JSON text, one rendered definition per allocation, stable key order.

    The image is a placeholder the pipeline replaces; everything else is what berth would
    send, so the tree diffs cleanly in git from one export to the next.
    """

    def work(session: Session) -> dict[str, str]:
        env = find_environment(session, env_name)
        allocs = session.scalars(
            select(Allocation)
            .join(Service)
            .where(Allocation.environment_id == env.id)
            .order_by(Service.name)
        ).all()
        files = {}
        callees = callees_in(session, env.id)
        for alloc in allocs:
            definition = render(render_input(session, alloc, IMAGE_PLACEHOLDER, callees=callees))
            text = json.dumps(definition, sort_keys=True, indent=2, ensure_ascii=False)
            files[f"{alloc.service.name}.json"] = text + "\n"
        return files

    return in_transaction(ctx, work)


def service_dockerfile(ctx: Context, service_name: str, env_name: str) -> str:
    """The service's Dockerfile with memory flags from its allocation in `env_name`."""

    def work(session: Session) -> str:
        alloc = find_allocation(session, env_name, service_name)
        service, env = alloc.service, alloc.environment
        held = {p.port_name: p.port for p in alloc.ports}
        container_ports = [
            (p.container_port or held[p.name]) if alloc.network == "bridge" else held[p.name]
            for p in service.ports
            if p.name in held
        ]
        share = float((env.defaults or {}).get("java_heap_share", DEFAULT_HEAP_SHARE))
        return dockerfile(
            service=service.name,
            runtime=service.runtime,
            environment=env.name,
            mem_mib=alloc.mem,
            container_ports=container_ports,
            heap_share=share,
            template=service.dockerfile_template,
        )

    return in_transaction(ctx, work)
