"""What every use case needs: sessions, who acts, settings; and the one transaction it runs in."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from allocator.right_sizing import RightSizingSettings
from ledger.errors import (
    AlreadyExistsError,
    ContentionError,
    DatabaseBusyError,
    DatabaseUnavailableError,
    UnstorableValueError,
)
from ledger.events import emit
from models import AuditEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

# unique constraints that concurrent writers can trip over; the use case is simply rerun
_RETRYABLE_UNIQUE = (
    "uq_port_assignments_cluster_id_port",
    "port_assignments.cluster_id, port_assignments.port",
    "uq_allocations_environment_id_service_id",
    "allocations.environment_id, allocations.service_id",
    "pk_port_blocks",
    "port_blocks.cluster_id, port_blocks.block",
    "pk_sync_leases",
    "sync_leases.cluster_id",
)
# SQLSTATEs of PostgreSQL that mean "try the transaction again"
_RETRYABLE_SQLSTATE = {"40001", "40P01"}
# ... and those that mean a timeout ran out (lock_timeout, statement_timeout): trying again
# at once would only wait again, so the client is told to come back
_TIMED_OUT_SQLSTATE = {"55P03", "57014"}


@dataclass(frozen=True)
class UsageSettings:
    """Sampling the agents' usage and recommending from it (ledger/usage.py); app.py fills
    it from BERTH_USAGE_* and BERTH_RIGHT_SIZING_* variables."""

    interval_seconds: float = 60.0  # a sampling round this often
    concurrency: int = 32  # agents read at once
    agent_timeout: tuple[float, float] = (2.0, 3.0)  # (connect, read) per agent
    minute_retention: timedelta = timedelta(days=2)
    hour_retention: timedelta = timedelta(days=60)
    cpu_window: timedelta = timedelta(hours=48)  # the p90 of CPU is over this (minutes)
    memory_window: timedelta = timedelta(days=8)  # the memory peak is over this
    right_sizing: RightSizingSettings = field(default_factory=RightSizingSettings)


@dataclass(frozen=True)
class Settings:
    port_quarantine: timedelta = timedelta(minutes=10)
    # test-only switch (see issue 6/6): with it off the unique constraint alone guards ports
    cluster_lock: bool = True
    retries: int = 8
    # (connect, read) seconds for every call to Marathon or Mesos
    cluster_timeout: tuple[float, float] = (3.05, 10.0)
    # capacity reads refuse a snapshot older than this when the cluster cannot be read
    snapshot_max_age: timedelta = timedelta(minutes=5)
    # older snapshots than this are dropped (the newest of a cluster always stays)
    snapshot_retention: timedelta = timedelta(days=7)
    # seconds a verdict may search when a change has no room in the standing placement
    fit_budget: float = 2.0
    # seconds a plan's exact search may take in all (settling k − 1, the cheapest mix)
    plan_budget: float = 5.0
    usage: UsageSettings = field(default_factory=UsageSettings)


@dataclass(frozen=True)
class Context:
    sessions: sessionmaker[Session]
    actor: str = "system"
    request_id: str = ""
    settings: Settings = field(default_factory=Settings)

    def audit(
        self,
        session: Session,
        action: str,
        entity_type: str,
        entity: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        # logged once the transaction commits (in_transaction): a rolled-back or dry-run
        # change was never made
        session.info.setdefault("berth_writes", []).append((action, entity_type, entity))
        session.add(
            AuditEvent(
                actor=self.actor,
                action=action,
                entity_type=entity_type,
                entity=entity,
                before=_jsonable(before),
                after=_jsonable(after),
                request_id=self.request_id,
            )
        )


def _log_writes(ctx: Context, writes: list[tuple[str, str, str]]) -> None:
    for action, entity_type, entity in writes:
        emit(
            "write",
            ctx.actor,
            ctx.request_id,
            f"{action} {entity_type} {entity}",
            action=action,
            entity_type=entity_type,
            entity=entity,
        )


def _jsonable(value: Any) -> Any:
    """Views carry datetimes; the audit log stores them as ISO 8601 text."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)


def _is_retryable(exc: DBAPIError) -> bool:
    text = str(exc.orig)
    if isinstance(exc, IntegrityError):
        return any(name in text for name in _RETRYABLE_UNIQUE)
    if _sqlstate(exc) in _RETRYABLE_SQLSTATE:
        return True
    return "database is locked" in text


def _is_unreachable(exc: DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def in_transaction(ctx: Context, work: Callable[[Session], T], *, dry_run: bool = False) -> T:
    """Run `work` in one transaction: commit on success (roll back for a dry run).

    Collisions between concurrent writers (a unique port taken between our read and our
    insert, a deadlock, SQLite's busy lock) roll the whole attempt back and run it again,
    so the work function must only touch the database through its session.
    """
    attempts = max(1, ctx.settings.retries)
    for attempt in range(1, attempts + 1):
        with ctx.sessions() as session:
            try:
                result = work(session)
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
                    _log_writes(ctx, session.info.pop("berth_writes", []))
                return result
            except DBAPIError as exc:
                session.rollback()
                if _sqlstate(exc) in _TIMED_OUT_SQLSTATE:
                    raise DatabaseBusyError(
                        "the database did not answer in time (a lock held by other requests, "
                        "or a long statement); nothing was saved, try again shortly"
                    ) from exc
                if _is_retryable(exc) and attempt < attempts:
                    log.info("retrying after a collision (attempt %d): %s", attempt, exc.orig)
                    time.sleep(random.uniform(0.005, 0.02) * attempt)
                    continue
                if _is_retryable(exc):
                    raise ContentionError(
                        "other requests kept changing the same cluster at the same time; "
                        "nothing was saved, try again"
                    ) from exc
                if isinstance(exc, IntegrityError):
                    raise AlreadyExistsError(
                        "the change collides with data saved at the same time "
                        f"({exc.orig.__class__.__name__}); nothing was saved"
                    ) from exc
                if isinstance(exc, DataError):
                    raise UnstorableValueError(
                        f"a value cannot be stored: {str(exc.orig).splitlines()[0]}"
                    ) from exc
                if _sqlstate(exc) == "42P01" or "no such table" in str(exc.orig):
                    raise DatabaseUnavailableError(
                        "the database has no berth schema yet; run "
                        "'flask --app app migrate' (alembic upgrade head) first"
                    ) from exc
                if _is_unreachable(exc):
                    raise DatabaseUnavailableError(
                        "the database cannot be reached; nothing was saved, try again later"
                    ) from exc
                raise
    raise AssertionError("unreachable")
