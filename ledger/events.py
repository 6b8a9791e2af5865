"""One log event for every change the ledger commits, every sync and every deploy.

The audit table says the same with before and after; these lines are for the log
pipeline (one JSON object a line, see api/logs.py), so that a write, a sync or a deploy
can be found next to the request that caused it by its request_id. Fields are names and
numbers only: never a token, never a request header.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("berth.events")


def emit(event: str, actor: str, request_id: str, message: str, **fields: Any) -> None:
    """Log `event` (write, sync, sync_failed, deploy, deploy_failed) with its fields."""
    log.info(
        message,
        extra={"event": event, "actor": actor, "request_id": request_id, **fields},
    )
