"""Every text field of every write route, as the OpenAPI document lists them: a lone
surrogate is refused with 422 naming the field, and random Unicode (surrogates, NUL,
control characters, astral planes) never gets a 5xx.

Query parameters and path segments cannot carry a lone surrogate: they arrive as bytes,
and werkzeug decodes what is not UTF-8 into U+FFFD, which is valid text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Simulator, serve
from tests import factories as f
from tests.conftest import Api

SURROGATE = "\ud800"
WRITES = ("post", "put", "patch")
# path parameters: names that exist in the world below
PARAMS = {
    "name": None,  # per resource, below
    "env": "production",
    "service": "order-service",
    "reservation_id": "1",
    "release_id": "1",
    "plan_id": "1",
}
RESOURCE_NAMES = {"clusters": "east", "environments": "production", "services": "order-service"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _text_paths(doc: dict[str, Any], schema: dict[str, Any], prefix: str) -> Iterator[str]:
    """The dotted paths of every text a body of this schema may carry."""
    schema = _resolve(doc, schema)
    for either in ("oneOf", "anyOf", "allOf"):
        for alternative in schema.get(either, ()):
            yield from _text_paths(doc, alternative, prefix)
    kind = schema.get("type")
    if kind == "string":
        yield prefix
    elif kind == "array":
        yield from _text_paths(doc, schema.get("items", {}), f"{prefix}.0")
    elif kind == "object" or "properties" in schema:
        for name, sub in (schema.get("properties") or {}).items():
            yield from _text_paths(doc, sub, f"{prefix}.{name}" if prefix else name)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            yield from _text_paths(doc, extra, f"{prefix}.x" if prefix else "x")
        elif extra is not False and prefix and not schema.get("properties"):
            yield f"{prefix}.x"  # a free-form object: its values are text too


def text_fields(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, concrete path, dotted field) of every text field of every write route."""
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in WRITES:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" not in body:
                continue
            resource = path.removeprefix("/api/v1/").split("/")[0]
            concrete = path
            declared = [*item.get("parameters", []), *op.get("parameters", [])]
            for param in [p["name"] for p in declared if p.get("in") == "path"]:
                value = PARAMS.get(param) or RESOURCE_NAMES.get(resource, "x")
                concrete = concrete.replace("{" + param + "}", value)
            for field in dict.fromkeys(_text_paths(doc, body["schema"], "")):
                out.append((method, concrete, field))
    return out


def _set(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """`body` with the value at the dotted path (made where missing)."""
    parts = dotted.split(".")
    at: Any = body
    for part, following in zip(parts, parts[1:], strict=False):
        key: Any = int(part) if isinstance(at, list) else part
        if isinstance(at, list):
            while len(at) <= key:
                at.append([] if following.isdigit() else {})
            if not isinstance(at[key], list | dict):
                at[key] = [] if following.isdigit() else {}
        else:
            if not isinstance(at.get(key), list | dict):
                at[key] = [] if following.isdigit() else {}
        at = at[key]
    last = parts[-1]
    if isinstance(at, list):
        index = int(last)
        while len(at) <= index:
            at.append(None)
        at[index] = value
    else:
        at[last] = value
    return body


def test_every_text_field_refuses_a_lone_surrogate_with_422(app: Flask, admin: Api) -> None:
    doc = admin.get("/api/v1/openapi.json").get_json()
    fields = text_fields(doc)
    assert len(fields) > 40  # every route's text, not a handful
    missed = []
    for method, path, field in fields:
        answer = getattr(admin, method)(path, json=_set({}, field, f"a{SURROGATE}b"))
        errors = (answer.get_json() or {}).get("errors", {})
        if answer.status_code != 422 or field not in errors:
            missed.append(f"{method.upper()} {path} {field}: {answer.status_code} {errors}")
    assert not missed, missed


def test_what_cannot_carry_a_surrogate_is_decoded_to_valid_text(viewer: Api) -> None:
    assert viewer.get("/api/v1/services?team=%ED%A0%80").status_code == 422
    assert viewer.get("/api/v1/services/%ED%A0%80").status_code == 404


# --- random text in valid bodies ----------------------------------------------------------------


@pytest.fixture
def world(admin: Api, ops: Api) -> Iterator[None]:
    sim = Simulator(agents=3, seed=4)
    with serve(sim) as server:
        f.synced_world(admin, server.url)
        assert f.allocate(ops, instances=1, mem=256).status_code == 201
        yield


BASES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/clusters"): {
        "name": "west",
        "mesos_masters": ["http://127.0.0.1:9"],
        "marathon_url": "http://127.0.0.1:9",
    },
    ("patch", "/api/v1/clusters/east"): {"description": "d"},
    ("post", "/api/v1/environments"): {"name": "qa", "cluster": "east", "marathon_group": "/qa"},
    ("patch", "/api/v1/environments/production"): {"description": "d"},
    ("post", "/api/v1/services"): {"name": "new-service", "runtime": "java", "team": "t"},
    ("patch", "/api/v1/services/order-service"): {"description": "d"},
    ("put", "/api/v1/environments/production/allocations/order-service"): {
        "cpus": 0.5,
        "mem": 256,
        "instances": 1,
    },
    ("post", "/api/v1/reservations"): {
        "cluster": "east",
        "count": 1,
        "cpus": 0.1,
        "mem": 64,
        "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-02T00:00:00Z",
        "reason": "r",
    },
    ("post", "/api/v1/deployments"): {
        "service": "order-service",
        "environment": "production",
        "image": "registry.local/shop/order-service:1.0",
    },
    ("post", "/api/v1/plans"): {"environment": "production", "scale": {"order-service": 2}},
}
TEXT = st.text(st.characters(exclude_categories=()), max_size=40)


# PostgreSQL only: the stricter database (NUL, text it cannot store), and half the time
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_random_unicode_in_any_text_field_never_gets_a_5xx(
    app: Flask, admin: Api, world: None
) -> None:
    doc = admin.get("/api/v1/openapi.json").get_json()
    fields = text_fields(doc)

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(fields), TEXT)
    def run(target: tuple[str, str, str], text: str) -> None:
        method, path, field = target
        body = _set(copy.deepcopy(BASES.get((method, path), {})), field, text)
        answer = getattr(admin, method)(path, json=body)
        assert answer.status_code < 500, (method, path, field, text, answer.get_json())

    run()
