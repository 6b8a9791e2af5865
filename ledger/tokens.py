"""API tokens: created and revoked over the admin API (`/api/v1/tokens`, the `berth token`
command) or, for the first admin token, `flask --app app token`; checked on every request.
Only a hash of a token is stored; its plain text exists once, in the answer that makes it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.context import Context, in_transaction
from ledger.errors import AlreadyExistsError, ConflictError, InvalidError, NotFoundError
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
    return str(issue_token(ctx, name, role)["token"])


def _view(row: ApiToken) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


def issue_token(ctx: Context, name: str, role: str) -> dict[str, object]:
    """A new token for `name` as the admin API answers it: its record and, this once, the
    plain text under "token" (never stored, never logged, never audited)."""
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
        row = ApiToken(name=name, role=role, token_hash=hash_token(token))
        session.add(row)
        session.flush()
        ctx.audit(session, "create", "token", name, None, {"name": name, "role": role})
        return _view(row)

    return {**in_transaction(ctx, work), "token": token}


def revoke_token(ctx: Context, name: str) -> None:
    def work(session: Session) -> None:
        row = session.scalar(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        )
        if row is None:
            raise NotFoundError(f"there is no active token named '{name}'")
        _revoke(ctx, session, row)

    in_transaction(ctx, work)


def revoke_token_by_id(ctx: Context, token_id: int) -> None:
    """Revoke a token over the API. The last active admin token stays: revoking it would
    leave nobody able to make another but someone with the database at hand."""

    def work(session: Session) -> None:
        row = session.get(ApiToken, token_id)
        if row is None or row.revoked_at is not None:
            raise NotFoundError(f"there is no active token with id {token_id}")
        if row.role == "admin":
            admins = session.scalars(
                select(ApiToken.id).where(ApiToken.role == "admin", ApiToken.revoked_at.is_(None))
            ).all()
            if list(admins) == [row.id]:
                raise ConflictError(
                    f"'{row.name}' is the last active admin token; create another admin token "
                    "before revoking it"
                )
        _revoke(ctx, session, row)

    in_transaction(ctx, work)


def _revoke(ctx: Context, session: Session, row: ApiToken) -> None:
    before = {"name": row.name, "role": row.role}
    row.revoked_at = utcnow()
    ctx.audit(session, "revoke", "token", row.name, before, None)


def list_tokens(ctx: Context) -> list[dict[str, object]]:
    def work(session: Session) -> list[dict[str, object]]:
        return [_view(r) for r in session.scalars(select(ApiToken).order_by(ApiToken.name))]

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
