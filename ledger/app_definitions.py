"""The pipeline's question: what exactly do we send to Marathon for this build?"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.allocations import find_allocation
from ledger.capacity import DoesNotFitError
from ledger.context import Context, in_transaction
from ledger.environments import find_environment
from ledger.errors import InvalidError
from ledger.renders import IMAGE_PLACEHOLDER, callees_in, render_input, require_valid
from ledger.standing import unplaced_now
from marathon.dockerfile import dockerfile
from marathon.render import (
    DEFAULT_HEAP_SHARE,
    config_hash,
    render,
    valid_image,
)
from models import Allocation, Service


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
        require_valid(definition, f"{service_name} in {env_name}")
        return definition, config_hash(definition)

    return in_transaction(ctx, work)


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
            require_valid(definition, f"{alloc.service.name} in {env.name}")
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
