"""A what-if plan: scale factors for one environment's cluster over a window, and its verdict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow
from models.environment import Environment


class Plan(Base):
    """The request and the answer are kept as JSON: a plan is a record of what was asked
    and what the ledger said at that time, never recomputed, so later changes to the
    ledger do not rewrite it. Deleting the environment deletes its plans (they only
    make sense against it)."""

    __tablename__ = "plans"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="window_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    fits: Mapped[bool]
    extra_agents: Mapped[int | None]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # the reservations made from it (ids; one per service that grows); a deleted
    # reservation leaves its id here, and is then no longer counted as reserved
    reservation_ids: Mapped[list[Any]]
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    environment: Mapped[Environment] = relationship(lazy="joined")
