"""API tokens: created and revoked from the command line, checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.context import Context, in_transaction
from ledger.errors import AlreadyExistsError, InvalidError, NotFoundError
from models import ApiToken
from models.base import utcnow
from models.token import ROLES

TOKEN_PREFIX = "berth_"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(ctx: Context, name: str, role: str) -> str:
    """A new token for `name`; the plain text exists only in the return value."""
    if role not in ROLES:
        raise InvalidError({"role": [f"must be one of {', '.join(ROLES)}"]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)

    def work(session: Session) -> None:
        old = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if old is not None and old.revoked_at is None:
            raise AlreadyExistsError(f"a token named '{name}' already exists; revoke it first")
        if old is not None:
            session.delete(old)  # a revoked token's name may be reused
            session.flush()
        session.add(ApiToken(name=name, role=role, token_hash=hash_token(token)))
        ctx.audit(session, "create", "token", name, None, {"name": name, "role": role})

    in_transaction(ctx, work)
    return token


def revoke_token(ctx: Context, name: str) -> None:
    def work(session: Session) -> None:
        row = session.scalar(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        )
        if row is None:
            raise NotFoundError(f"there is no active token named '{name}'")
        before = {"name": row.name, "role": row.role}
        row.revoked_at = utcnow()
        ctx.audit(session, "revoke", "token", name, before, None)

    in_transaction(ctx, work)


def list_tokens(ctx: Context) -> list[dict[str, object]]:
    def work(session: Session) -> list[dict[str, object]]:
        rows = session.scalars(select(ApiToken).order_by(ApiToken.name))
        return [
            {"name": r.name, "role": r.role, "created_at": r.created_at, "revoked_at": r.revoked_at}
            for r in rows
        ]

    return in_transaction(ctx, work)


def authenticate(ctx: Context, token: str) -> Caller | None:
    """The caller a token belongs to, or None; the stored hash is compared in constant time."""
    return authenticate_digest(ctx, hash_token(token))


def authenticate_digest(ctx: Context, digest: str) -> Caller | None:
    """As authenticate, by the token's hash: a login session keeps only the hash, so that
    its cookie never carries the token itself and a revoked token ends the session."""

    def work(session: Session) -> Caller | None:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.token_hash, digest):
            return None
        return Caller(row.name, row.role)

    return in_transaction(ctx, work)
