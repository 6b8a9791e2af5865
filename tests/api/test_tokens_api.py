"""/api/v1/tokens: admins make, list and revoke tokens over HTTP; the secret is shown once
and kept only as a hash."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from models import ApiToken


def test_an_admin_creates_lists_and_revokes_a_token(
    admin: Any, anonymous: Any, viewer: Any, app: Flask
) -> None:
    made = admin.post("/api/v1/tokens", json={"name": "jenkins", "role": "pipeline"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    secret = body["token"]
    assert secret.startswith("berth_") and body["role"] == "pipeline" and body["revoked_at"] is None
    assert made.headers["Location"] == f"/api/v1/tokens/{body['id']}"
    with app.extensions["berth"].sessions() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "jenkins"))
        assert row is not None and secret not in row.token_hash and len(row.token_hash) == 64
    # the new token works at once
    fresh = anonymous.get("/api/v1/clusters", headers={"Authorization": f"Bearer {secret}"})
    assert fresh.status_code == 200
    listed = admin.get("/api/v1/tokens").get_json()
    mine = [t for t in listed if t["name"] == "jenkins"]
    assert mine and "token" not in mine[0] and "token_hash" not in mine[0]
    assert admin.post("/api/v1/tokens", json={"name": "jenkins", "role": "ops"}).status_code == 409
    events = admin.get("/api/v1/audit?entity_type=token").get_json()
    assert secret not in str(events)
    assert admin.delete(f"/api/v1/tokens/{body['id']}").status_code == 204
    gone = anonymous.get("/api/v1/clusters", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401
    assert admin.delete(f"/api/v1/tokens/{body['id']}").status_code == 404
    # a revoked name may be reused
    again = admin.post("/api/v1/tokens", json={"name": "jenkins", "role": "pipeline"})
    assert again.status_code == 201
    assert admin.delete(f"/api/v1/tokens/{again.get_json()['id']}").status_code == 204
    assert viewer.get("/api/v1/tokens").status_code == 403


def test_bad_input_and_the_last_admin_token(admin: Any, app: Flask) -> None:
    bad = admin.post("/api/v1/tokens", json={"name": "x y", "role": "king", "extra": 1})
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) >= {"name", "role", "extra"}
    listed = admin.get("/api/v1/tokens").get_json()
    admins = [t for t in listed if t["role"] == "admin" and t["revoked_at"] is None]
    if len(admins) == 1:  # only the tests' own admin token: it may not go
        refused = admin.delete(f"/api/v1/tokens/{admins[0]['id']}")
        assert refused.status_code == 409 and "last active admin" in refused.get_json()["detail"]
