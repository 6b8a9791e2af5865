"""Whether this process can serve the ledger: the database answers and its schema is the
one this code was written for (alembic's revision in the database is the scripts' head).

A load balancer or Marathon asks every few seconds on every replica, so the answer is kept
for READY_CACHE_SECONDS per process and the scripts' head is read from disk only once
(the migrations in a running process never change).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ledger.context import Context

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
READY_CACHE_SECONDS = 1.5


@dataclass(frozen=True)
class Readiness:
    """The answer of one check: `problems` says, in words, what keeps the process unready."""

    database: str  # "reachable" or "unreachable"
    revision: str | None  # the database's alembic revision, None when unknown
    head: str
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


@cache
def script_head() -> str:
    """The newest migration of this checkout; several heads would be a broken release."""
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return ",".join(sorted(heads))


_lock = threading.Lock()
_cached: dict[int, tuple[float, Readiness]] = {}


def readiness(ctx: Context, max_age: float = READY_CACHE_SECONDS) -> Readiness:
    """The database's state as of at most `max_age` seconds ago (one query when stale)."""
    key = id(ctx.sessions)
    now = time.monotonic()
    with _lock:
        kept = _cached.get(key)
        if kept is not None and now - kept[0] < max_age:
            return kept[1]
    answer = _check(ctx)
    with _lock:
        _cached[key] = (time.monotonic(), answer)
    return answer


def _check(ctx: Context) -> Readiness:
    head = script_head()
    try:
        with ctx.sessions() as session:
            rows = session.execute(text("SELECT version_num FROM alembic_version")).scalars()
            revision = ",".join(sorted(rows)) or None
            session.rollback()
    except DBAPIError as exc:
        if exc.connection_invalidated or _unreachable(exc):
            return Readiness(
                "unreachable", None, head, [f"the database is unreachable: {_first_line(exc)}"]
            )
        # reachable, but no alembic_version table: never migrated
        return Readiness(
            "reachable", None, head, ["the database has no schema; run 'flask --app app migrate'"]
        )
    except SQLAlchemyError as exc:
        return Readiness(
            "unreachable", None, head, [f"the database is unreachable: {_first_line(exc)}"]
        )
    if revision != head:
        return Readiness(
            "reachable",
            revision,
            head,
            [
                f"the database is at migration {revision or 'none'}, this code needs {head}; "
                "run 'flask --app app migrate'"
            ],
        )
    return Readiness("reachable", revision, head)


def _unreachable(exc: DBAPIError) -> bool:
    # psycopg: OperationalError (connect refused, server gone); SQLite: cannot open the file
    name = type(exc.orig).__name__ if exc.orig is not None else ""
    return name == "OperationalError" and "no such table" not in str(exc.orig)


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
