"""Who watches a cluster's event stream now, and how fresh the live state it keeps is."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class WatchLease(Base):
    """One row per watched cluster: the watcher holding it, and the times readers show.

    Separate from `SyncLease` on purpose: a sync's lease is taken and let go per reading
    (by the API, `sync`, and the watcher's own reconciliations), while a watcher holds this
    one for as long as it runs, renewing it; the others stand by until it expires.
    """

    __tablename__ = "watch_leases"

    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    holder: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None]
    connected: Mapped[bool] = mapped_column(default=False)
    last_event_at: Mapped[datetime | None]  # when the last event applied was sent (Marathon's time)
    last_applied_at: Mapped[datetime | None]  # when berth stored it
    last_reconciled_at: Mapped[datetime | None]
