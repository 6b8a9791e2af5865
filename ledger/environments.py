"""Use cases for environments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.clusters import find_cluster
from ledger.context import Context, in_transaction
from ledger.errors import AlreadyExistsError, InUseError, InvalidError, NotFoundError
from ledger.renders import check_environment_defaults
from ledger.views import environment_view
from models import Allocation, Cluster, Environment, Reservation


def find_environment(session: Session, name: str) -> Environment:
    env = session.scalar(select(Environment).where(Environment.name == name))
    if env is None:
        raise NotFoundError(f"there is no environment named '{name}'")
    return env


def _cluster_for(session: Session, name: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == name))
    if cluster is None:
        raise InvalidError({"cluster": [f"there is no cluster named '{name}'"]})
    return cluster


def create_environment(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        if session.scalar(select(Environment.id).where(Environment.name == data["name"])):
            raise AlreadyExistsError(f"an environment named '{data['name']}' already exists")
        fields = {k: v for k, v in data.items() if k != "cluster"}
        env = Environment(cluster=_cluster_for(session, data["cluster"]), **fields)
        env.defaults = data.get("defaults", {})
        session.add(env)
        session.flush()
        check_environment_defaults(session, env)
        view = environment_view(env)
        ctx.audit(session, "create", "environment", env.name, None, view)
        return view

    return in_transaction(ctx, work)


def list_environments(ctx: Context, cluster: str | None = None) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        query = select(Environment).order_by(Environment.name)
        if cluster is not None:
            query = query.where(Environment.cluster_id == find_cluster(session, cluster).id)
        return [environment_view(e) for e in session.scalars(query)]

    return in_transaction(ctx, work)


def get_environment(ctx: Context, name: str) -> dict[str, Any]:
    return in_transaction(ctx, lambda session: environment_view(find_environment(session, name)))


def _allocation_count(session: Session, env: Environment) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.environment_id == env.id)
        )
        or 0
    )


def update_environment(ctx: Context, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        env = find_environment(session, name)
        before = environment_view(env)
        changes_ = dict(changes)
        if "cluster" in changes_:
            cluster = _cluster_for(session, changes_.pop("cluster"))
            if cluster.id != env.cluster_id:
                held = session.scalar(
                    select(func.count())
                    .select_from(Reservation)
                    .where(Reservation.environment_id == env.id)
                )
                if held:
                    raise InUseError(
                        f"environment '{name}' holds {held} reservations on its cluster; "
                        "delete them before moving it"
                    )
                count = _allocation_count(session, env)
                if count:
                    raise InUseError(
                        f"environment '{name}' holds {count} allocations whose host ports "
                        "belong to its cluster; delete them before moving it"
                    )
                env.cluster = cluster
        for key, value in changes_.items():
            setattr(env, key, value)
        session.flush()
        if {"defaults", "marathon_group"} & changes_.keys():
            check_environment_defaults(session, env)
        after = environment_view(env)
        if after != before:
            ctx.audit(session, "update", "environment", env.name, before, after)
        return after

    return in_transaction(ctx, work)


def delete_environment(ctx: Context, name: str) -> None:
    def work(session: Session) -> None:
        env = find_environment(session, name)
        count = _allocation_count(session, env)
        if count:
            raise InUseError(
                f"environment '{name}' still holds {count} allocations; delete them first"
            )
        held = session.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(Reservation.environment_id == env.id)
        )
        if held:
            raise InUseError(f"environment '{name}' still holds {held} reservations; delete them")
        before = environment_view(env)
        session.delete(env)
        ctx.audit(session, "delete", "environment", name, before, None)

    in_transaction(ctx, work)
