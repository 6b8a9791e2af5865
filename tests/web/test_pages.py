"""The pages: a login for everything, CSRF on every form, roles on changes, HTML errors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ledger.tokens import create_token, revoke_token
from tests.web.conftest import csrf_of, login

PAGES = [
    "/",
    "/reports/capacity?cluster=shop",
    "/reservations",
    "/services/order-service",
    "/environments/production",
    "/reports/capacity.csv?cluster=shop",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_needs_a_login(browser: FlaskClient, page: str) -> None:
    response = browser.get(page)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_login_takes_a_valid_token_and_keeps_only_its_hash(
    browser: FlaskClient, tokens: dict[str, str]
) -> None:
    refused = login(browser, "berth_not-a-token")
    assert refused.status_code == 401
    assert "unknown or revoked" in refused.get_data(as_text=True)
    assert browser.get("/").status_code == 302
    answer = login(browser, tokens["viewer"], next_url="/reservations")
    assert answer.status_code == 302 and answer.headers["Location"] == "/reservations"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert tokens["viewer"] not in cookie  # the cookie is readable: it must not hold the token
    page = browser.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "test-viewer (viewer)" in page.get_data(as_text=True)


def test_a_login_never_sends_anyone_to_another_site(
    browser: FlaskClient, tokens: dict[str, str]
) -> None:
    for target in (
        "//evil.example/x",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\\evil.example",
        "/%5Cevil.example",
    ):
        answer = login(browser, tokens["viewer"], next_url=target)
        assert answer.headers["Location"] == "/", target


def test_revoking_the_token_ends_the_session(app: Flask, browser: FlaskClient) -> None:
    ctx = app.extensions["berth"].context()
    token = create_token(ctx, "short-lived", "viewer")
    try:
        login(browser, token)
        assert browser.get("/").status_code == 200
        revoke_token(ctx, "short-lived")
        assert browser.get("/").status_code == 302
    finally:
        with app.extensions["berth"].engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM api_tokens WHERE name = 'short-lived'")


def test_logout_needs_the_csrf_token_and_ends_the_session(
    browser: FlaskClient, tokens: dict[str, str]
) -> None:
    login(browser, tokens["viewer"])
    assert browser.post("/logout").status_code == 400  # a forged logout does nothing
    assert browser.get("/").status_code == 200
    page = browser.get("/logout")
    assert browser.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    assert browser.get("/").status_code == 302


def _reservation(env: str = "production", reason: str = "promo") -> dict[str, Any]:
    return {
        "environment": env,
        "count": "2",
        "cpus": "0.5",
        "mem": "512",
        "starts_at": "2030-01-10T00:00",
        "ends_at": "2030-01-12T00:00",
        "reason": reason,
    }


def _held(ops: Any) -> list[dict[str, Any]]:
    return ops.get("/api/v1/reservations").get_json()


def test_reservations_through_the_form_need_ops_and_csrf(
    browser: FlaskClient, tokens: dict[str, str], ops: Any, shop: Any
) -> None:
    before = _held(ops)
    login(browser, tokens["ops"])
    page = browser.get("/reservations")
    token = csrf_of(page)
    # no CSRF token, or a wrong one: 400, an HTML page, nothing held
    for data in (_reservation(), {**_reservation(), "csrf_token": "forged"}):
        refused = browser.post("/reservations", data=data)
        assert refused.status_code == 400 and refused.mimetype == "text/html"
        assert "nothing was changed" in refused.get_data(as_text=True)
    assert _held(ops) == before
    # invalid fields: the form again with the message, nothing held
    bad = browser.post(
        "/reservations", data={**_reservation(), "ends_at": "2030-01-09T00:00", "csrf_token": token}
    )
    assert bad.status_code == 422 and "must be after the start" in bad.get_data(as_text=True)
    # what the API's schema refuses, the form refuses too
    old = {**_reservation(), "starts_at": "1960-01-01T00:00", "csrf_token": token}
    ancient = browser.post("/reservations", data=old)
    assert ancient.status_code == 422 and "between 1970 and 9999" in ancient.get_data(as_text=True)
    assert _held(ops) == before
    data = {**_reservation(reason="<b>x</b>"), "csrf_token": token}
    made = browser.post("/reservations", data=data)
    assert made.status_code == 302, made.get_data(as_text=True)
    after = _held(ops)
    (new,) = [r for r in after if r not in before]
    assert (new["count"], new["mem"], new["owner"]) == (2, 512, "test-ops")
    assert new["starts_at"].startswith("2030-01-10T00:00:00")
    listing = browser.get("/reservations").get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt;" in listing and "<b>x</b>" not in listing
    # a viewer sees the list but may not delete: 403 page, still held
    viewer_browser = browser.application.test_client()
    login(viewer_browser, tokens["viewer"])
    token_v = csrf_of(viewer_browser.get("/"))
    denied = viewer_browser.post(f"/reservations/{new['id']}/delete", data={"csrf_token": token_v})
    assert denied.status_code == 403 and denied.mimetype == "text/html"
    assert any(r["id"] == new["id"] for r in _held(ops))
    gone = browser.post(f"/reservations/{new['id']}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    assert all(r["id"] != new["id"] for r in _held(ops))
    # the JSON API with a bearer token needs no CSRF token
    body = {
        **_reservation(),
        "count": 1,
        "cpus": 0.5,
        "mem": 256,
        "starts_at": "2030-02-01T00:00:00Z",
        "ends_at": "2030-02-02T00:00:00Z",
    }
    response = ops.post("/api/v1/reservations", json=body)
    assert response.status_code == 201, response.get_json()


def test_pages_show_the_ledger_with_charts(
    browser: FlaskClient, tokens: dict[str, str], shop: Any
) -> None:
    login(browser, tokens["viewer"])
    overview = browser.get("/").get_data(as_text=True)
    assert "shop" in overview and "production" in overview and "<svg" in overview
    report = browser.get("/reports/capacity?cluster=shop")
    assert report.status_code == 200
    text = report.get_data(as_text=True)
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 8
    assert "/reports/capacity.csv?cluster=shop" in text
    csv = browser.get("/reports/capacity.csv?cluster=shop")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("scope,cluster,")
    env = browser.get("/environments/production")
    assert env.status_code == 200 and "<svg" in env.get_data(as_text=True)
    svc = browser.get("/services/order-service").get_data(as_text=True)
    assert "production" in svc and "<code>" in svc  # the running image


@pytest.mark.parametrize(
    "page, status",
    [
        ("/services/nowhere", 404),
        ("/environments/nowhere", 404),
        ("/reports/capacity?cluster=nowhere", 404),
        ("/reports/capacity?cluster=a&team=b", 422),
    ],
)
def test_errors_are_pages_not_problems(
    browser: FlaskClient, tokens: dict[str, str], page: str, status: int
) -> None:
    login(browser, tokens["viewer"])
    response = browser.get(page)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.get_data(as_text=True)


def test_plans_through_the_form_need_ops_and_can_be_reserved(
    browser: FlaskClient, tokens: dict[str, str], ops: Any, shop: Any
) -> None:
    team = ops.get("/api/v1/services/order-service").get_json()["team"]
    login(browser, tokens["viewer"])
    token = csrf_of(browser.get("/plans"))
    form = {
        "environment": "production",
        # a plan that fits, so that its reservation (with the services' host ports) does
        "scale": f"team:{team}=1, cart-service=1.2",
        "starts_at": "2030-03-01T00:00",
        "ends_at": "2030-03-03T00:00",
        "csrf_token": token,
    }
    assert browser.post("/plans", data=form).status_code == 403  # a viewer only looks
    assert ops.get("/api/v1/plans").get_json()["total"] == 0
    login(browser, tokens["ops"])
    token = csrf_of(browser.get("/plans"))
    for bad, why in (("order-service", "NAME=FACTOR"), ("Bad Name=2", "a service name")):
        refused = browser.post("/plans", data={**form, "scale": bad, "csrf_token": token})
        assert refused.status_code == 422 and why in refused.get_data(as_text=True), bad
    assert browser.post("/plans", data={**form, "csrf_token": "x"}).status_code == 400
    assert ops.get("/api/v1/plans").get_json()["total"] == 0
    made = browser.post("/plans", data={**form, "csrf_token": token})
    assert made.status_code == 302, made.get_data(as_text=True)
    (plan,) = ops.get("/api/v1/plans").get_json()["plans"]
    assert made.headers["Location"] == f"/plans/{plan['id']}"
    assert plan["request"]["scale"] == {f"team:{team}": 1.0, "cart-service": 1.2}
    page = browser.get(f"/plans/{plan['id']}").get_data(as_text=True)
    assert f"{plan['instances_before']} → {plan['instances_after']}" in page
    reserve = browser.post(f"/plans/{plan['id']}/reserve", data={"csrf_token": token})
    assert reserve.status_code == 302
    held = ops.get(f"/api/v1/plans/{plan['id']}").get_json()["reservations"]
    assert held and all(r["id"] in held for r in _held(ops) if r["reason"].startswith("plan "))


def test_a_plans_page_shows_the_cheapest_machines_and_what_binds(
    browser: FlaskClient, tokens: dict[str, str], ops: Any, shop: Any
) -> None:
    login(browser, tokens["ops"])
    token = csrf_of(browser.get("/plans"))
    form = {
        "environment": "production",
        "scale": "order-service=200",
        "starts_at": "2030-03-01T00:00",
        "ends_at": "2030-03-03T00:00",
        "machines": "m16=16/65536@1.0, r16=16/131072/200000@1.4",
        "csrf_token": token,
    }
    refused = browser.post("/plans", data={**form, "machines": "m16=16@1"})
    assert refused.status_code == 422 and "CPUS/MEM_MIB" in refused.get_data(as_text=True)
    made = browser.post("/plans", data=form)
    assert made.status_code == 302, made.get_data(as_text=True)
    (plan,) = ops.get("/api/v1/plans").get_json()["plans"]
    mix = plan["mix"]
    assert [s["name"] for s in mix["shapes"]] == ["m16", "r16"]
    assert mix["shapes"][1]["disk"] == 200000 and mix["agents"] > 0, (
        plan["advice"],
        mix,
        plan["fits"],
        plan["extra_agents"],
    )
    page = browser.get(f"/plans/{plan['id']}").get_data(as_text=True)
    assert "The cheapest machines to add" in page
    assert f"Binds: <strong>{mix['binds']}</strong>" in page
    assert f"{mix['cost']:g}" in page


def _web_routes(app: Flask) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("web.") or rule.endpoint in ("web.static", "web.login"):
            continue
        url = re.sub(r"<int(?:\([^)]*\))?:[^>]+>", "1", rule.rule)
        url = re.sub(r"<(?:[^:>]+:)?[^>]+>", "x", url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_every_page_present_and_future_needs_a_login_and_every_post_a_csrf_token(
    app: Flask, browser: FlaskClient, tokens: dict[str, str]
) -> None:
    routes = _web_routes(app)
    assert sum(1 for m, _ in routes if m == "POST") >= 4  # the walk really sees the forms
    for method, url in routes:
        if method == "GET":
            assert browser.get(url).status_code == 302, url
        else:
            assert browser.post(url, data={}).status_code == 400, url  # no CSRF token
    login(browser, tokens["admin"])
    for method, url in routes:
        if method == "POST":
            refused = browser.post(url, data={})
            assert refused.status_code == 400 and refused.mimetype == "text/html", url
