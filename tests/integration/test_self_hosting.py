"""berth on its own cluster: its Marathon app definition (valid under berth's own check and
taken by the simulator's Marathon over HTTP), its container's start script (gunicorn on
$PORT0, migrations on start when asked) and its Dockerfile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from app import ROOT, create_app
from bench.servers import free_port
from marathon.validation import findings
from simulator import Simulator, serve
from tests.conftest import new_sqlite_database


def _self_definition(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    app = create_app({"DATABASE_URL": new_sqlite_database(tmp_path), "LOG_LEVEL": "WARNING"})
    try:
        result = app.test_cli_runner().invoke(args=["self-definition", *args])
    finally:
        app.extensions["berth"].engine.dispose()
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_berths_own_definition_is_valid_and_the_simulator_deploys_it(tmp_path: Path) -> None:
    code, definition, errors = _self_definition(
        tmp_path,
        "--image",
        "registry.example.com/ops/berth:1.4.0",
        "--instances",
        "3",
        "--env",
        "BERTH_FIT_BUDGET_SECONDS=1",
    )
    assert code == 0, errors
    assert findings(definition) == []
    assert definition["instances"] == 3
    assert definition["container"]["docker"]["image"] == "registry.example.com/ops/berth:1.4.0"
    (check,) = definition["healthChecks"]
    assert check["path"] == "/readyz" and check["portIndex"] == 0
    assert check["protocol"] in ("MESOS_HTTP", "HTTP")
    assert definition["portDefinitions"] == [{"port": 0, "name": "http", "protocol": "tcp"}]
    env = definition["env"]
    assert env["BERTH_DATABASE_URL"] == {"secret": "berth-database-url"}
    assert definition["secrets"]["berth-database-url"] == {"source": "berth/database-url"}
    assert env["BERTH_FIT_BUDGET_SECONDS"] == "1" and env["BERTH_LOG_FORMAT"] == "json"

    with serve(Simulator(agents=4, seed=3)) as server:
        put = requests.put(f"{server.url}/v2/apps/berth", json=definition, timeout=10)
        assert put.status_code in (200, 201), put.text
        app = requests.get(f"{server.url}/v2/apps/berth", timeout=10).json()["app"]
    assert app["healthChecks"][0]["path"] == "/readyz"
    assert app["env"]["BERTH_DATABASE_URL"] == {"secret": "berth-database-url"}
    assert app["instances"] == 3


def test_the_container_start_script_serves_on_port0_after_migrating(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PORT0": str(port),
        "PORT": "1",  # $PORT0 wins
        "BERTH_DATABASE_URL": new_sqlite_database(tmp_path),
        "BERTH_MIGRATE_ON_START": "on",
        "BERTH_LOG_FORMAT": "json",
        "BERTH_SECRET_KEY": "test-only",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "1",
    }
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "container-start")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "stderr.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "stderr.log").read_text()[-2000:]
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "berth did not answer on $PORT0"
                time.sleep(0.2)
        assert ready.status_code == 200, ready.text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)  # the script exec'd gunicorn: this is gunicorn
        server.wait(timeout=30)
    lines = [
        json.loads(line)
        for line in (tmp_path / "stderr.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(line.get("route") == "/readyz" and line.get("status") == 200 for line in lines), (
        lines
    )


def test_the_dockerfile_builds_from_python_slim_and_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line[:1].isupper()]
    keywords = [parts[0] for parts in instructions]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert "pip install -r requirements.txt" in text
    user = [parts[1] for parts in instructions if parts[0] == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("CMD")
    assert 'CMD ["scripts/container-start"]' in text
    assert os.access(ROOT / "scripts" / "container-start", os.X_OK)
    assert "tests" in (ROOT / ".dockerignore").read_text().split()
