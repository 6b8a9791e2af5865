"""berth under a real gunicorn on a free loopback port, for the tests whose client speaks
HTTP (a generated client, the `berth` command): the server a user runs, not a test client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app import ROOT
from bench.servers import free_port


@contextmanager
def gunicorn_berth(database_url: str, log: Path, ports: range) -> Iterator[str]:
    """berth (one worker) on `database_url`, its URL once it answers; gunicorn's output in
    `log`, shown when it fails to come up."""
    port = free_port(ports.start, ports.stop - 1)
    env = {**os.environ, "BERTH_DATABASE_URL": database_url, "BERTH_LOG_LEVEL": "WARNING"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}"]
            + ["app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited: {log.read_text()[-2000:]}")
            try:
                requests.get(f"{url}/api/v1/openapi.json", timeout=5)
                break
            except requests.RequestException:  # refused until bound, slow while booting
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not answer: {log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
