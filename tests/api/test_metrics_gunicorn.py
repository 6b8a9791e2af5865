"""Under gunicorn with several workers, /metrics counts the requests of all of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from app import ROOT
from bench.servers import free_port

PORTS = range(8300, 8400)  # this test's loopback range


def _wait_until_up(url: str, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # refused until bound, slow while workers boot
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer in 30 s: {log.read_text()[-2000:]}")


def test_request_counts_are_summed_over_workers(
    database_url: str, tokens: dict[str, str], tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the sum is prometheus_client's; one database shows it")
    port, multiproc = free_port(PORTS.start, PORTS.stop - 1), tmp_path / "prometheus"
    multiproc.mkdir()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "BERTH_DATABASE_URL": database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "BERTH_LOG_LEVEL": "WARNING",
    }
    with log.open("w") as out:
        # --preload boots the app once (4 s less on a busy machine); the workers still count
        # in files of their own pids, as they do when each loads the app itself
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}"]
            + ["app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/v1/openapi.json", proc, log)
        headers = {"Authorization": f"Bearer {tokens['viewer']}"}

        def call(_: int) -> int:
            return requests.get(f"{base}/api/v1/clusters", headers=headers, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(call, range(40))) == {200}
        text = requests.get(f"{base}/metrics", timeout=10).text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    counted = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "berth_http_requests_total"
    }
    key = (("method", "GET"), ("route", "/api/v1/clusters"), ("status", "200"))
    assert counted[key] == 40
    workers = {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}
    assert len(workers) == 2, f"both workers should have answered: {workers}"
