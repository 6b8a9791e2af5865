"""Fixtures of the page tests: a browser-like client that logs in through the form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from simulator import serve
from tests.web.dataset import load_shop, shop_simulator

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: Any) -> str:
    found = CSRF.search(page.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def login(client: FlaskClient, token: str, next_url: str = "") -> Any:
    form = client.get("/login")
    query = f"?next={next_url}" if next_url else ""
    return client.post(f"/login{query}", data={"token": token, "csrf_token": csrf_of(form)})


@pytest.fixture
def browser(app: Flask) -> FlaskClient:
    """A client of its own, so that its session cookie is not shared with the API fixtures."""
    return app.test_client()


@pytest.fixture
def shop(app: Flask, admin: Any, ops: Any) -> Iterator[dict[str, Any]]:
    with serve(shop_simulator()) as server:
        yield load_shop(app, admin, ops, server.url)
