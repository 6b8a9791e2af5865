"""schemathesis against /api/v1/openapi.json, as each role: no 5xx, every answer as documented.

Runs in-process (WSGI) on PostgreSQL with a fixed seed and a bounded number of examples per
operation, so CI is reproducible and the whole file stays within about a minute.
Each operation is fed four ways: generated path values (mostly unknown names: 404s), the
names of the seeded demo-like data (the real code paths), invalid data (negative mode), and
valid data with a lone surrogate (`"\ud800"`) in every string of the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from simulator import Simulator, serve
from tests import factories as f
from tests.conftest import Api

not_a_server_error = schemathesis.checks.not_a_server_error
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
IMAGE = "registry.local/shop/order-service:1.0"
# examples per operation, drawn from generated names, the seeded names and invalid data
EXAMPLES = {"admin": 12, "ops": 4, "pipeline": 2, "viewer": 2}
METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}


@pytest.fixture
def world(app: Flask, admin: Api, tokens: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A synced cluster on the simulator, two environments, services, allocations, a release."""
    sim = Simulator(agents=4, seed=7)
    with serve(sim) as server:
        f.synced_world(admin, server.url, ("production", "test"))
        f.service(admin, "user-service", ["http"], calls=["order-service"])
        for env in ("production", "test"):
            for svc in ("order-service", "user-service"):
                assert f.allocate(admin, env, svc, instances=1, mem=256).status_code == 201
        reservation = admin.post(
            "/api/v1/reservations",
            json={
                "environment": "test",
                "count": 1,
                "cpus": 0.5,
                "mem": 256,
                "starts_at": "2030-01-01T00:00:00Z",
                "ends_at": "2030-01-02T00:00:00Z",
                "reason": "fuzz",
            },
        ).get_json()
        release = admin.post(
            "/api/v1/deployments",
            json={"service": "order-service", "environment": "production", "image": IMAGE},
        ).get_json()
        yield {"reservation_id": reservation["id"], "release_id": release["id"]}


def _poisoned(value: Any) -> Any:
    """The value with a lone surrogate in every text of it: valid JSON, no text."""
    if isinstance(value, str):
        return value + "\ud800"
    if isinstance(value, dict):
        return {k: _poisoned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_poisoned(v) for v in value]
    return value


def _with_surrogates(case: Any) -> Any:
    if isinstance(case.body, dict | list):
        case.body = _poisoned(case.body)
    return case


def _seeded(path: str, params: list[str], world: dict[str, Any]) -> dict[str, Any]:
    """Names of the seeded data for the path parameters of `path`."""
    resource = path.removeprefix("/api/v1/").split("/")[0]
    by_resource = {"clusters": "east", "environments": "production", "services": "order-service"}
    known = {"env": "production", "service": "order-service", **world}
    out = {}
    for p in params:
        if p in known:
            out[p] = known[p]
        elif p == "name" and resource in by_resource:
            out[p] = by_resource[resource]
        elif p.endswith("id"):
            out[p] = 1
    return out


def _operations(schema: Any) -> list[Any]:
    ops = [result.ok() for result in schema.get_all_operations()]
    return sorted(ops, key=lambda op: (METHOD_ORDER.get(op.method.upper(), 1), op.path))


def _settings(examples: int) -> settings:
    """Reproducible and bounded: the same examples on every run, no database of them."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _fuzz(op: Any, strategy: Any, examples: int, headers: dict[str, str]) -> None:
    @_settings(examples)
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _fuzz_surrogates(client: Any, strategy: Any, examples: int, headers: dict[str, str]) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        # straight to the app: schemathesis's own transport checks the body against the
        # schema first, and cannot read such text either
        body = case.body if isinstance(case.body, dict | list) else None
        response = client.open(
            case.formatted_path,
            method=case.method,
            query_string=case.query or None,
            json=body,
            headers=headers,
        )
        text = response.get_data(as_text=True)[:300]
        assert response.status_code < 500, (case.method, case.formatted_path, text)
        if _has_text(body) and response.status_code not in (401, 403):
            assert response.status_code == 422, (case.method, case.formatted_path, text)
            assert response.mimetype == "application/problem+json"

    run()


def _has_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    if isinstance(value, dict):
        return any(_has_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_text(v) for v in value)
    return False


# PostgreSQL only: production's database and the stricter one (NUL bytes, integer ranges);
# both databases would double the time this file adds to the suite
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("role", ["viewer", "pipeline", "ops", "admin"])
def test_every_operation_answers_as_documented(
    app: Flask, tokens: dict[str, str], world: dict[str, Any], role: str
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    examples = EXAMPLES[role]
    failures: dict[str, str] = {}
    for op in _operations(schema):
        if op.method.upper() == "DELETE" and op.path.startswith("/api/v1/tokens/"):
            # it would revoke the tokens every other test speaks with (ids 1-4); the
            # revoke's answers are tested in tests/api/test_tokens_api.py
            continue
        params = re.findall(r"{(\w+)}", op.path)
        known = _seeded(op.path, params, world)
        query = {"image": IMAGE} if op.path.endswith("/marathon") else None
        label = f"{op.method.upper()} {op.path}"
        strategy = st.one_of(
            op.as_strategy(),
            op.as_strategy(path_parameters=known, query=query),
            op.as_strategy(GenerationMode.NEGATIVE, path_parameters=known),
        )
        # text that is valid JSON but no Unicode: a lone surrogate in every string (sent as
        # it is: schemathesis's own checks cannot read such a body either)
        poisoned = op.as_strategy(path_parameters=known, query=query).map(_with_surrogates)
        try:
            _fuzz(op, strategy, examples, headers)
            _fuzz_surrogates(app.test_client(), poisoned, examples, headers)
        except (AssertionError, FailureGroup) as exc:  # every operation is tried and reported
            failures[label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"== {k}\n{v}" for k, v in failures.items())
