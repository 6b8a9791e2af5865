"""Errors of the use-case layer; only api/errors.py knows their HTTP status."""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every refusal the ledger gives; `detail` is meant for the operator."""

    title = "Request refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFoundError(LedgerError):
    title = "Not found"


class InvalidError(LedgerError):
    """Fields that are well-formed but wrong in context (an unknown cluster, say)."""

    title = "Invalid fields"

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("; ".join(f"{k}: {in_words(v)}" for k, v in errors.items()), errors=errors)
        self.errors = errors


def in_words(messages: Any) -> str:
    """Field messages (lists, nested dicts) as one readable sentence, not a Python repr."""
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {in_words(v)}" for k, v in messages.items())
    if isinstance(messages, list | tuple):
        return "; ".join(in_words(m) for m in messages)
    return str(messages)


class UnstorableValueError(LedgerError):
    """A value the database refuses to store (a NUL byte, a number out of its range)."""

    title = "Value cannot be stored"


class ConflictError(LedgerError):
    title = "Conflict"


class AlreadyExistsError(ConflictError):
    title = "Already exists"


class InUseError(ConflictError):
    title = "Still in use"


class PortTakenError(ConflictError):
    title = "Host port taken"


class PortOutsideRangesError(ConflictError):
    title = "Host port outside the cluster's ranges"


class PortsExhaustedError(ConflictError):
    title = "No free host port"


class ContentionError(ConflictError):
    """Concurrent writers kept colliding after every retry; the client may try again."""

    title = "Concurrent change"


class PreconditionFailedError(LedgerError):
    title = "Precondition failed"


class DatabaseUnavailableError(LedgerError):
    title = "Database unavailable"


class DatabaseBusyError(DatabaseUnavailableError):
    """A lock (a busy cluster's) or a statement took longer than its timeout: nothing was
    saved, and a retry a little later will likely pass."""

    title = "Database busy"


class UpstreamError(LedgerError):
    """Marathon or a Mesos master failed; berth's own records stay as they were."""

    title = "Cluster error"


class UpstreamUnavailableError(UpstreamError):
    """Marathon or Mesos cannot be reached or did not answer in time (503)."""

    title = "Cluster unavailable"


class UpstreamFailedError(UpstreamError):
    """Marathon or Mesos answered with an error or nonsense (502)."""

    title = "Cluster failed"


class SnapshotStaleError(UpstreamUnavailableError):
    title = "Cluster snapshot too old"


class SyncBusyError(ConflictError):
    title = "Sync already running"
