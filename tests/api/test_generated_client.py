"""A client generated from the OpenAPI document by openapi-python-client, used as a pipeline
would use it against berth under gunicorn: render a definition, read an allocation."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator import serve
from tests import factories as f
from tests.integration.conftest import sim_cluster
from tests.servers import gunicorn_berth

PORTS = range(8400, 8500)  # this test's loopback range


@pytest.fixture
def berth_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """berth under gunicorn on a free loopback port, on the test's database (SQLite: the
    document and the client are the same on both)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the document and the client are the same on both databases")
    with gunicorn_berth(database_url, tmp_path / "gunicorn.log", PORTS) as url:
        yield url


def _generate(spec: dict[str, Any], into: Path) -> Any:
    """The client package openapi-python-client makes of `spec`, imported."""
    (into / "spec.json").write_text(json.dumps(spec))
    tool = Path(sys.executable).with_name("openapi-python-client")
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(tool), "generate", "--path", "spec.json", "--output-path", "out"],
        cwd=into,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout, done.stdout  # every operation and schema made it
    sys.path.insert(0, str(into / "out"))
    try:
        return importlib.import_module("berth_client")
    finally:
        sys.path.remove(str(into / "out"))


def test_a_generated_client_renders_a_definition_and_reads_an_allocation(
    berth_url: str, admin: Any, ops: Any, tokens: dict[str, str], tmp_path: Path
) -> None:
    url = berth_url
    with serve(f.three_racks()) as server:
        sim_cluster(admin, "east", [server.url], server.url)
        f.environment(admin, "production", "east")
        f.service(ops, "order-service", ["http"], team="orders")
        assert ops.post("/api/v1/clusters/east/sync").status_code == 200
        put = ops.put(
            f.allocation_url("production", "order-service"), json={"cpus": 0.5, "mem": 512}
        )
        assert put.status_code == 201, put.get_json()
        spec = requests.get(f"{url}/api/v1/openapi.json", timeout=10).json()
        client_pkg = _generate(spec, tmp_path)
        from berth_client import AuthenticatedClient  # type: ignore[import-not-found]
        from berth_client.api.allocations import (  # type: ignore[import-not-found]
            get_allocation,
            render_marathon_app,
        )

        assert client_pkg.AuthenticatedClient is AuthenticatedClient
        pipeline = AuthenticatedClient(base_url=url, token=tokens["pipeline"])
        rendered = render_marathon_app.sync_detailed(
            env="production",
            service="order-service",
            client=pipeline,
            image="registry.local/shop/order-service:1.2.3",
        )
        assert rendered.status_code == 200
        definition = rendered.parsed.to_dict()
        assert definition["id"] == "/production/order-service"
        assert definition["container"]["docker"]["image"].endswith("order-service:1.2.3")
        assert rendered.headers["ETag"]
        viewer = AuthenticatedClient(base_url=url, token=tokens["viewer"])
        allocation = get_allocation.sync(env="production", service="order-service", client=viewer)
        assert allocation.cpus == 0.5 and allocation.mem == 512
        # a field berth adds later does not break the client: output schemas are open
        assert allocation.additional_properties is not None
        later = type(allocation).from_dict({**allocation.to_dict(), "added_later": [1]})
        assert later.additional_properties["added_later"] == [1] and later.mem == 512
        dockerfile = requests.get(
            f"{url}/api/v1/services/order-service/dockerfile?environment=production",
            headers={"Authorization": f"Bearer {tokens['viewer']}"},
            timeout=10,
        )
        assert dockerfile.headers["Content-Type"].startswith("text/plain")


def test_every_operation_has_a_stable_unique_id_and_outputs_stay_open(viewer: Any) -> None:
    spec = viewer.get("/api/v1/openapi.json").get_json()
    ids = [
        (method, path, op.get("operationId"))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert [(m, p) for m, p, i in ids if not i] == []  # a new route: name it in api/openapi.py
    names = [i for *_, i in ids]
    assert len(names) == len(set(names))
    assert (
        "get",
        "/api/v1/environments/{env}/allocations/{service}/marathon",
        "renderMarathonApp",
    ) in ids
    assert ("put", "/api/v1/environments/{env}/allocations/{service}", "putAllocation") in ids
    schemas = spec["components"]["schemas"]
    closed = sorted(n for n, s in schemas.items() if s.get("additionalProperties") is False)
    # what berth reads is strict (unknown fields are 422), what it answers may grow
    assert closed and all(not n.endswith("Out") for n in closed), closed
    assert schemas["AllocationOut"]["additionalProperties"] is True
    assert schemas["AllocationIn"]["additionalProperties"] is False
