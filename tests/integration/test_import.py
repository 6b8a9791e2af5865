"""Import from a running Marathon: every app lands in the ledger as it runs; twice is once."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from models import AuditEvent, ImportConflict
from simulator import Simulator, serve
from simulator.demo import populate
from tests.integration.conftest import sim_cluster


def _import(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["import-marathon", *args])


def _count(app: Flask, model: type) -> int:
    with app.extensions["berth"].sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture(scope="module")
def demo_cluster() -> Any:
    sim = Simulator(agents=12, seed=1)
    populate(sim, ["/prod"], seed=1)
    with serve(sim) as server:
        yield server


def test_every_running_app_is_imported_with_its_resources_and_ports(
    app: Flask, admin: Any, viewer: Any, demo_cluster: Any
) -> None:
    sim_cluster(admin, "prod", [demo_cluster.url], demo_cluster.url)
    admin.post(
        "/api/v1/environments",
        json={"name": "production", "cluster": "prod", "marathon_group": "/prod"},
    )
    result = _import(app, "--cluster", "prod", "--environment", "production")
    assert result.exit_code == 0, result.output
    apps = requests.get(f"{demo_cluster.url}/v2/apps", timeout=10).json()["apps"]
    assert len(apps) >= 100
    ledger = {
        a["service"]: a
        for a in viewer.get("/api/v1/environments/production/allocations").get_json()
    }
    assert len(ledger) == len(apps)
    for marathon_app in apps:
        name = marathon_app["id"].rsplit("/", 1)[-1]
        allocation = ledger[name]
        assert allocation["cpus"] == marathon_app["cpus"]
        assert allocation["mem"] == marathon_app["mem"]
        assert allocation["instances"] == marathon_app["instances"]
        host = marathon_app.get("networks", [{"mode": "host"}])[0]["mode"] == "host"
        assert allocation["network"] == ("host" if host else "bridge")
        if host:
            expected = {p["name"]: p["port"] for p in marathon_app.get("portDefinitions", [])}
            if not marathon_app.get("requirePorts"):
                expected = {k: allocation["ports"][k] for k in expected}
        else:
            expected = {m["name"]: m["hostPort"] for m in marathon_app["container"]["portMappings"]}
        assert allocation["ports"] == expected, name
        service = viewer.get(f"/api/v1/services/{name}").get_json()
        assert service["team"] == marathon_app["labels"]["team"]
        deps = sorted(d.rsplit("/", 1)[-1] for d in marathon_app.get("dependencies", []))
        assert sorted(c["service"] for c in service["calls"]) == deps
    # the first deploy through berth keeps each app's own variables; berth still sizes the
    # JVM heap by mem and writes the Dubbo port
    java = [a for a in apps if "JAVA_OPTS" in (a.get("env") or {})]
    assert java
    for marathon_app in java[:5]:
        name = marathon_app["id"].rsplit("/", 1)[-1]
        url = f"/api/v1/environments/production/allocations/{name}/marathon?image=r/{name}:2"
        rendered = admin.get(url)
        assert rendered.status_code == 200, rendered.get_json()
        assert rendered.get_json()["dependencies"] == sorted(marathon_app["dependencies"])
        env = rendered.get_json()["env"]
        for key, value in marathon_app["env"].items():
            if key not in ("JAVA_OPTS", "DUBBO_PORT_TO_REGISTRY"):
                assert env[key] == value, (name, key)
        heap = int(marathon_app["mem"] * 0.75)
        assert env["JAVA_OPTS"].startswith(f"-Xms{heap}m -Xmx{heap}m"), env["JAVA_OPTS"]
        kept = [f for f in marathon_app["env"]["JAVA_OPTS"].split() if not f.startswith("-Xm")]
        assert env["JAVA_OPTS"].split()[2:] == kept, name


def test_a_second_import_is_a_no_op(app: Flask, admin: Any, demo_cluster: Any) -> None:
    sim_cluster(admin, "prod", [demo_cluster.url], demo_cluster.url)
    admin.post(
        "/api/v1/environments",
        json={"name": "production", "cluster": "prod", "marathon_group": "/prod"},
    )
    assert _import(app, "--cluster", "prod", "--environment", "production").exit_code == 0
    events = _count(app, AuditEvent)
    again = _import(app, "--cluster", "prod", "--environment", "production")
    assert again.exit_code == 0, again.output
    assert "0 services and 0 allocations created" in again.output
    assert _count(app, AuditEvent) == events


def test_conflicts_are_recorded_and_the_import_goes_on(app: Flask, admin: Any, viewer: Any) -> None:
    sim = Simulator(agents=4, seed=2)
    with serve(sim) as server:
        host_app = {
            "cmd": "sleep 1000",
            "cpus": 0.1,
            "mem": 64,
            "networks": [{"mode": "host"}],
            "requirePorts": True,
            "portDefinitions": [{"port": 31500, "name": "http"}],
        }
        for app_id in ("/prod/alpha", "/prod/beta"):  # two apps on one host port
            requests.post(f"{server.url}/v2/apps", json={**host_app, "id": app_id}, timeout=5)
        requests.post(
            f"{server.url}/v2/apps",
            json={
                "id": "/prod/gamma",
                "cmd": "sleep 1000",
                "cpus": 0.1,
                "mem": 64,
                "networks": [{"mode": "container/bridge"}],
                "container": {
                    "type": "DOCKER",
                    "docker": {"image": "nginx"},
                    "portMappings": [{"containerPort": 80, "hostPort": 40000, "name": "web"}],
                },
            },
            timeout=5,
        )
        sim_cluster(admin, "prod", [server.url], server.url)
        admin.post(
            "/api/v1/environments",
            json={"name": "production", "cluster": "prod", "marathon_group": "/prod"},
        )
        first = _import(app, "--cluster", "prod", "--environment", "production")
        assert first.exit_code == 0, first.output
        assert "port-taken" in first.output and "port-outside-ranges" in first.output
        ports = {
            a["service"]: a["ports"]
            for a in viewer.get("/api/v1/environments/production/allocations").get_json()
        }
        assert ports["alpha"] == {"http": 31500}
        assert ports["beta"]["http"] != 31500 and ports["gamma"]["web"] != 40000
        conflicts = _count(app, ImportConflict)
        events = _count(app, AuditEvent)
        assert conflicts == 2
        again = _import(app, "--cluster", "prod", "--environment", "production")
        assert again.exit_code == 0
        assert (_count(app, ImportConflict), _count(app, AuditEvent)) == (conflicts, events)


def test_marathon_down_fails_the_import_cleanly(
    dead_url: str, app: Flask, admin: Any, quick_timeouts: None
) -> None:
    sim_cluster(admin, "prod", [dead_url], dead_url)
    admin.post(
        "/api/v1/environments",
        json={"name": "production", "cluster": "prod", "marathon_group": "/prod"},
    )
    events = _count(app, AuditEvent)
    result = _import(app, "--cluster", "prod", "--environment", "production")
    assert result.exit_code == 1 and "cannot reach" in result.output
    assert _count(app, AuditEvent) == events


def test_odd_apps_are_conflicts_and_the_rest_is_imported(
    app: Flask, admin: Any, viewer: Any
) -> None:
    sim = Simulator(agents=3, seed=4)
    base = {"cmd": "sleep 1000", "cpus": 0.1, "mem": 64, "networks": [{"mode": "host"}]}
    odd = [
        # a health check by port number, and an unnamed port beside one called port0
        {
            **base,
            "id": "/qa/a/web",
            "portDefinitions": [{"port": 0}, {"port": 0, "name": "port0"}],
            "healthChecks": [{"protocol": "MESOS_HTTP", "port": 8080, "path": "/"}],
        },
        {**base, "id": "/qa/b/web"},  # the same name in another subgroup
        {**base, "id": "/qa/huge", "cpus": 1000},  # beyond what the API would take
        {**base, "id": "/qa/fine", "portDefinitions": [{"port": 0, "name": "http"}]},
    ]
    with serve(sim) as server:
        for definition in odd:
            requests.post(f"{server.url}/v2/apps", json=definition, timeout=5).raise_for_status()
        sim_cluster(admin, "qa", [server.url], server.url)
        admin.post(
            "/api/v1/environments", json={"name": "qa", "cluster": "qa", "marathon_group": "/qa"}
        )
        result = _import(app, "--cluster", "qa", "--environment", "qa")
    assert result.exit_code == 0, result.output
    services = {a["service"] for a in viewer.get("/api/v1/environments/qa/allocations").get_json()}
    assert services == {"web", "fine"}
    web = viewer.get("/api/v1/services/web").get_json()
    assert [p["name"] for p in web["ports"]] == ["port0-1", "port0"] or len(
        {p["name"] for p in web["ports"]}
    ) == 2
    assert "/qa/huge" in result.output and "cpus 1000" in result.output
    assert "also the name of" in result.output


def test_export_then_import_templates_round_trip(
    app: Flask, admin: Any, ops: Any, viewer: Any, tmp_path: Any
) -> None:
    from tests import factories as f

    f.world(admin)
    f.service(admin, "cart-api", ["http"], runtime="node")
    f.allocate(ops, "production", instances=3, constraints=[["hostname", "UNIQUE"]])
    f.allocate(ops, "production", "cart-api", network="bridge", mem=256)
    called = admin.patch(
        "/api/v1/services/order-service", json={"calls": [{"service": "cart-api"}]}
    )
    assert called.status_code == 200, called.get_json()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["export", "--environment", "production", str(tmp_path)])
    assert out.exit_code == 0, out.output
    # the export renders every app as the pipeline's endpoint does, dependencies included
    exported = json.loads((tmp_path / "order-service.json").read_text())
    assert [d.rsplit("/", 1)[-1] for d in exported["dependencies"]] == ["cart-api"]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["cart-api.json", "order-service.json"]
    first = (tmp_path / "order-service.json").read_text()
    again = runner.invoke(args=["export", "--environment", "production", str(tmp_path)])
    assert again.exit_code == 0 and (tmp_path / "order-service.json").read_text() == first
    (tmp_path / "notes.json").write_text("[1, 2]")  # a file that is not an app: reported
    f.cluster(admin, "west")
    f.environment(admin, "staging", "west")
    taken = runner.invoke(args=["import-templates", "--environment", "staging", str(tmp_path)])
    assert taken.exit_code == 0, taken.output
    assert "notes.json" in taken.output
    staged = {
        a["service"]: a for a in viewer.get("/api/v1/environments/staging/allocations").get_json()
    }
    source = {
        a["service"]: a
        for a in viewer.get("/api/v1/environments/production/allocations").get_json()
    }
    for name in ("order-service", "cart-api"):
        for key in ("cpus", "mem", "instances", "network", "ports", "constraints"):
            assert staged[name][key] == source[name][key], (name, key)
