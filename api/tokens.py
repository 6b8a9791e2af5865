"""/api/v1/tokens: API tokens, managed over HTTP by admins (the `berth token` command).

The secret is in the answer to POST alone: berth keeps only its SHA-256, so it cannot be
shown again, and it appears in no log and no audit event."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.auth import requires
from api.blueprint import Blueprint
from api.request_context import ledger_context
from api.schemas import StrictSchema
from ledger import tokens
from models.token import ROLES

blp = Blueprint(
    "tokens",
    __name__,
    url_prefix="/api/v1/tokens",
    description="API tokens (admin): create one (its secret is shown once), list, revoke",
)


class TokenIn(StrictSchema):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=63),
            validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._@-]*\Z", error="letters, digits and . _ @ -"),
        ],
        metadata={"description": "who or what uses the token, e.g. jenkins"},
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class TokenOut(Schema):
    id = fields.Integer()
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = fields.String(
        metadata={"description": "the secret, shown this once; only its hash is kept"}
    )


@blp.route("")
class Tokens(MethodView):
    @requires("admin")
    @blp.response(200, TokenOut(many=True))
    def get(self) -> Any:
        """Every token, active and revoked, by name; never a secret."""
        return tokens.list_tokens(ledger_context())

    @requires("admin")
    @blp.arguments(TokenIn)
    @blp.response(201, TokenCreatedOut)
    def post(self, data: dict[str, Any]) -> Any:
        """A new token; `token` in the answer is its secret, shown this once.

        409 while an active token has the name (revoke it first; a revoked name may be
        reused)."""
        view = tokens.issue_token(ledger_context(), data["name"], data["role"])
        return view, 201, {"Location": f"/api/v1/tokens/{view['id']}"}


@blp.route("/<int(max=2147483647):token_id>")
class TokenById(MethodView):
    @requires("admin")
    @blp.response(204)
    def delete(self, token_id: int) -> None:
        """Revoke a token at once (its next request is a 401); 404 for an unknown or already
        revoked one, 409 for the last active admin token."""
        tokens.revoke_token_by_id(ledger_context(), token_id)
