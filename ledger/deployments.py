"""Deploying through Marathon, with a release record for every attempt.

The record is committed before Marathon is called and completed after, in a second
transaction: no transaction is held open across the call, and a failure leaves a
failed record behind, never a half-written one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.allocations import find_allocation
from ledger.app_definitions import check_image, require_placed
from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.errors import (
    ConflictError,
    NotFoundError,
    UpstreamFailedError,
    UpstreamUnavailableError,
)
from ledger.events import emit
from ledger.renders import render_input, require_valid
from ledger.sync import refresh_if_stale
from ledger.upstream import Endpoints, translate
from marathon.errors import (
    ClusterError,
    ClusterNotFoundError,
    ClusterTimeoutError,
    MarathonConflictError,
    MarathonInvalidError,
)
from marathon.render import config_hash, render
from models import Cluster, Deployment
from models.base import utcnow


class MarathonLockedError(ConflictError):
    title = "Locked by another deployment"


def deployment_view(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "environment": d.environment,
        "service": d.service,
        "app_id": d.app_id,
        "image": d.image,
        "build_url": d.build_url,
        "git_sha": d.git_sha,
        "allocation_version": d.allocation_version,
        "config_hash": d.config_hash,
        "config": d.config,
        "actor": d.actor,
        "status": d.status,
        "error": d.error,
        "marathon_deployment_id": d.marathon_deployment_id,
        "marathon_version": d.marathon_version,
        "forced": d.forced,
        "rollback_of": d.rollback_of,
        "created_at": d.created_at,
        "finished_at": d.finished_at,
    }


def _record(ctx: Context, session: Session, fields: dict[str, Any]) -> Deployment:
    d = Deployment(actor=ctx.actor, status="pending", **fields)
    session.add(d)
    session.flush()
    ctx.audit(
        session,
        "deploy",
        "deployment",
        f"{d.environment}/{d.service}",
        None,
        {"id": d.id, "image": d.image, "config_hash": d.config_hash},
    )
    return d


def _send(ctx: Context, release_id: int, force: bool) -> dict[str, Any]:
    """PUT the whole definition to Marathon and record how that went."""

    def load(session: Session) -> tuple[Endpoints, str, dict[str, Any]]:
        d = session.get(Deployment, release_id)
        assert d is not None
        cluster = session.get(Cluster, d.cluster_id)
        assert cluster is not None
        return Endpoints.of(cluster), d.app_id, d.config

    endpoints, app_id, config = in_transaction(ctx, load)
    try:
        # partialUpdate=false: Marathon's default would merge back fields berth removed
        result = endpoints.marathon(ctx).put_app(app_id, config, force=force, partial_update=False)
    except ClusterTimeoutError as exc:
        # Marathon may well have taken it: leave the release open and find out later
        _note(
            ctx,
            release_id,
            "Marathon did not answer in time; it may have taken the change. "
            "GET this deployment to see whether it did",
        )
        raise UpstreamUnavailableError(
            f"deploying {app_id}: Marathon did not answer in time; it may have applied the "
            f"change. Follow release {release_id} (GET /api/v1/deployments/{release_id}) "
            "before deploying again",
            release=release_id,
        ) from exc
    except ClusterError as exc:
        _finish(ctx, release_id, "failed", _why(exc))
        emit(
            "deploy_failed",
            ctx.actor,
            ctx.request_id,
            f"deploy {app_id} failed",
            app_id=app_id,
            release=release_id,
            error=_why(exc)[:500],
        )
        if isinstance(exc, MarathonConflictError):
            raise MarathonLockedError(
                f"Marathon refused: {app_id} is locked by deployment(s) "
                f"{', '.join(exc.deployment_ids) or '(unnamed)'}; wait for them, or ask an "
                "admin to deploy with force=true",
                deployments=exc.deployment_ids,
                release=release_id,
            ) from exc
        if isinstance(exc, MarathonInvalidError):
            raise UpstreamFailedError(
                f"deploying {app_id} (release {release_id} is recorded as failed): {_why(exc)}",
                details=exc.details,
                release=release_id,
            ) from exc
        raise translate(
            exc, f"deploying {app_id} (release {release_id} is recorded as failed)"
        ) from exc

    def done(session: Session) -> dict[str, Any]:
        d = session.get(Deployment, release_id)
        assert d is not None
        d.status = "deploying"
        d.marathon_deployment_id = result.deployment_id
        d.marathon_version = result.version
        return deployment_view(d)

    view = in_transaction(ctx, done)
    emit(
        "deploy",
        ctx.actor,
        ctx.request_id,
        f"deploy {app_id}",
        app_id=app_id,
        release=release_id,
        image=view.get("image"),
        marathon_deployment_id=result.deployment_id,
    )
    return view


def _why(exc: ClusterError) -> str:
    if isinstance(exc, MarathonInvalidError):
        details = "; ".join(
            f"{d.get('path', '')}: {', '.join(d.get('errors', []))}" for d in exc.details
        )
        return f"Marathon refused the definition: {exc.message} {details}".strip()
    return exc.message[:2000]


def _note(ctx: Context, release_id: int, error: str) -> None:
    def work(session: Session) -> None:
        d = session.get(Deployment, release_id)
        if d is not None:
            d.status, d.error = "deploying", error

    in_transaction(ctx, work)


def _finish(ctx: Context, release_id: int, status: str, error: str | None) -> None:
    def work(session: Session) -> None:
        d = session.get(Deployment, release_id)
        if d is not None:
            d.status, d.error, d.finished_at = status, error, utcnow()

    in_transaction(ctx, work)


def deploy(
    ctx: Context,
    env_name: str,
    service_name: str,
    image: str,
    *,
    build_url: str | None = None,
    git_sha: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Render, record, then send to Marathon; 202-worthy when Marathon took it."""
    check_image(image)

    def env_cluster(session: Session) -> str:
        return find_allocation(session, env_name, service_name).environment.cluster.name

    refresh_if_stale(ctx, cluster=in_transaction(ctx, env_cluster))

    def prepare(session: Session) -> int:
        alloc = find_allocation(session, env_name, service_name)
        require_placed(session, alloc, ctx.settings.fit_budget, force=force)
        definition = render(render_input(session, alloc, image, build_url, git_sha))
        require_valid(definition, f"{service_name} in {env_name}")
        d = _record(
            ctx,
            session,
            {
                "cluster_id": alloc.environment.cluster_id,
                "environment": env_name,
                "service": service_name,
                "app_id": definition["id"],
                "image": image,
                "build_url": build_url,
                "git_sha": git_sha,
                "allocation_version": alloc.version,
                "config": definition,
                "config_hash": config_hash(definition),
                "forced": force,
            },
        )
        return d.id

    return _send(ctx, in_transaction(ctx, prepare), force)


def rollback(ctx: Context, release_id: int, *, force: bool = False) -> dict[str, Any]:
    """Send again the config of the last successful release before this one."""

    def prepare(session: Session) -> int:
        d = _find(session, release_id)
        previous = session.scalar(
            select(Deployment)
            .where(
                Deployment.environment == d.environment,
                Deployment.service == d.service,
                Deployment.status == "succeeded",
                Deployment.id < d.id,
            )
            .order_by(Deployment.id.desc())
            .limit(1)
        )
        if previous is None:
            raise ConflictError(
                f"there is no successful release of {d.service} in {d.environment} before "
                f"release {d.id} to roll back to"
            )
        alloc = find_allocation(session, previous.environment, previous.service)
        held = sorted(p.port for p in alloc.ports)
        if _config_ports(previous.config) != held:
            raise ConflictError(
                f"release {previous.id} binds host ports {_config_ports(previous.config)}, but "
                f"{previous.service} holds {held} now (allocation version "
                f"{previous.allocation_version} → {alloc.version}): sending it again could "
                f"collide; deploy its image {previous.image} again instead"
            )
        again = _record(
            ctx,
            session,
            {
                "cluster_id": previous.cluster_id,
                "environment": previous.environment,
                "service": previous.service,
                "app_id": previous.app_id,
                "image": previous.image,
                "build_url": previous.build_url,
                "git_sha": previous.git_sha,
                "allocation_version": previous.allocation_version,
                "config": previous.config,
                "config_hash": previous.config_hash,
                "forced": force,
                "rollback_of": d.id,
            },
        )
        return again.id

    return _send(ctx, in_transaction(ctx, prepare), force)


def _config_ports(config: dict[str, Any]) -> list[int]:
    ports = [p.get("port") for p in config.get("portDefinitions") or []]
    ports += [m.get("hostPort") for m in (config.get("container") or {}).get("portMappings") or []]
    return sorted(int(p) for p in ports if p)


def _find(session: Session, release_id: int) -> Deployment:
    d = session.get(Deployment, release_id)
    if d is None:
        raise NotFoundError(f"there is no deployment {release_id}")
    return d


def follow(ctx: Context, release_id: int) -> dict[str, Any]:
    """The release as Marathon sees it now; a finished one is recorded as such.

    Success is judged by what runs: the app carries this release's config hash and all its
    tasks run. Two releases of one config (concurrent deploys of one build) both succeed.
    """
    d = in_transaction(ctx, lambda s: deployment_view(_find(s, release_id)))
    if d["status"] != "deploying":
        return d
    endpoints = in_transaction(
        ctx, lambda s: Endpoints.of(find_cluster(s, _cluster_name(s, release_id)))
    )
    marathon = endpoints.marathon(ctx)
    try:
        running = {x.id: x for x in marathon.deployments()}
        mine = d["marathon_deployment_id"]
        if mine in running:
            step = running[mine]
            progress = {"step": step.current_step, "steps": step.total_steps}
            return {**d, "progress": {**progress, **_instances(marathon, d["app_id"])}}
        app = marathon.app(d["app_id"])
    except ClusterNotFoundError:
        _finish(ctx, release_id, "failed", f"{d['app_id']} no longer exists in Marathon")
        return in_transaction(ctx, lambda s: deployment_view(_find(s, release_id)))
    except ClusterError as exc:
        return {**d, "observed": False, "observation_error": _why(exc)}
    labels = app.definition.get("labels") or {}
    instances = int(app.definition.get("instances", 0))
    if app.deployment_ids and labels.get("BERTH_CONFIG_HASH") == d["config_hash"]:
        counts = {"instances": instances, "tasks_running": app.tasks_running}
        counts["tasks_healthy"] = app.tasks_healthy
        return {**d, "progress": {"step": 0, "steps": 0, **counts}}  # still rolling out
    if labels.get("BERTH_CONFIG_HASH") == d["config_hash"] and app.tasks_running >= instances:
        status, error = "succeeded", None
    elif app.deployment_ids:
        return d  # another change is rolling out; ask again later
    else:
        status = "failed"
        error = (
            f"{d['app_id']} runs config {str(labels.get('BERTH_CONFIG_HASH', '?'))[:12]} with "
            f"{app.tasks_running}/{instances} tasks, not this release's "
            f"{d['config_hash'][:12]} (rolled back, superseded or cancelled)"
        )
    _finish(ctx, release_id, status, error)
    return in_transaction(ctx, lambda s: deployment_view(_find(s, release_id)))


def _instances(marathon: Any, app_id: str) -> dict[str, int]:
    """How far the app is while its deployment runs (what a pipeline shows as progress):
    the instances wanted, tasks running and tasks healthy; nothing before the app exists."""
    try:
        app = marathon.app(app_id)
    except ClusterError:
        return {}
    return {
        "instances": int(app.definition.get("instances", 0)),
        "tasks_running": app.tasks_running,
        "tasks_healthy": app.tasks_healthy,
    }


def _cluster_name(session: Session, release_id: int) -> str:
    d = _find(session, release_id)
    cluster = session.get(Cluster, d.cluster_id)
    assert cluster is not None
    return cluster.name


def history(
    ctx: Context, *, service: str | None = None, environment: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        query = select(Deployment).order_by(Deployment.id.desc()).limit(limit)
        if service is not None:
            query = query.where(Deployment.service == service)
        if environment is not None:
            query = query.where(Deployment.environment == environment)
        return [deployment_view(d) for d in session.scalars(query)]

    return in_transaction(ctx, work)
