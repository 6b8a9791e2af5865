"""Loopback ports and berth under gunicorn, for the benchmarks and the tests that run berth
as its own process (as it runs in production) rather than through the test client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port(lo: int = 8400, hi: int = 8499) -> int:
    """A free loopback port in the range kept for load runs and fault tests."""
    for port in range(lo, hi + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {lo}-{hi}")


def start_gunicorn(url: str, port: int, workers: int, threads: int = 1) -> subprocess.Popen[bytes]:
    """berth under gunicorn on 127.0.0.1:`port` with the database `url`, once it answers."""
    env = {**os.environ, "BERTH_DATABASE_URL": url, "BERTH_LOG_LEVEL": "WARNING"}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [gunicorn, "--workers", str(workers), "--threads", str(threads)]
        + ["--bind", f"127.0.0.1:{port}", "--timeout", "120", "app:create_app()"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=20)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer on 127.0.0.1:{port}")


def start_simulator_process(
    agents: int,
    seed: int,
    *,
    ports: tuple[int, int] = (5090, 5099),
    tries: int = 100,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m simulator` with `agents` agents on a free loopback port in `ports`, once
    its control API answers; the process and its URL."""
    port = free_port(*ports)
    url = f"http://127.0.0.1:{port}"
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--bind", f"127.0.0.1:{port}"]
        + ["--agents", str(agents), "--seed", str(seed)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec_fn,  # noqa: PLW1509 - only a plain setrlimit before exec
    )
    for _ in range(tries):
        try:
            requests.get(f"{url}/_sim/agents", timeout=5)
            return sim, url
        except requests.RequestException:
            time.sleep(0.1)
    sim.terminate()
    raise RuntimeError(f"the simulator did not answer on {url}")


def start_berth_on_sqlite(stack: ExitStack, workers: int) -> tuple[str, requests.Session]:
    """berth under gunicorn on a fresh SQLite file (gone with `stack`): its API's base URL
    and an HTTP session that asks as an admin."""
    from app import upgrade_database
    from ledger.context import Context
    from ledger.tokens import create_token
    from models.session import make_engine, make_session_factory

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    url = f"sqlite:///{folder / 'berth.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    token = create_token(Context(make_session_factory(engine)), "bench", "admin")
    engine.dispose()
    port = free_port()
    server = start_gunicorn(url, port, workers)
    stack.callback(server.terminate)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return f"http://127.0.0.1:{port}/api/v1", http
