"""Reading the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.context import Context, in_transaction
from models import AuditEvent


def list_events(
    ctx: Context,
    *,
    entity_type: str | None = None,
    entity: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Events newest first, and how many match in all."""

    def work(session: Session) -> tuple[list[dict[str, Any]], int]:
        query = select(AuditEvent)
        if entity_type is not None:
            query = query.where(AuditEvent.entity_type == entity_type)
        if entity is not None:
            query = query.where(AuditEvent.entity == entity)
        if actor is not None:
            query = query.where(AuditEvent.actor == actor)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if until is not None:
            query = query.where(AuditEvent.at < until)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
        ).all()
        return [
            {
                "id": r.id,
                "at": r.at,
                "actor": r.actor,
                "action": r.action,
                "entity_type": r.entity_type,
                "entity": r.entity,
                "before": r.before,
                "after": r.after,
                "request_id": r.request_id,
            }
            for r in rows
        ], total

    return in_transaction(ctx, work)
