"""Simulators served on 127.0.0.1 (any free port) and a clock the tests move by hand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from simulator import ServerHandle, Simulator, serve

REFERENCE = Path(__file__).parents[2].parent / "shared/reference"
TIMEOUT = 10


class Clock:
    """An injectable `now`: deployments finish when a test says time has passed."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Http:
    """requests with a base URL and a timeout on every call."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self("DELETE", path, **kwargs)


def missing_reference() -> None:
    """Skip on a machine without ../shared; in CI, where it is always there, fail instead."""
    message = f"reference material not found at {REFERENCE}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def reference(relative: str) -> Any:
    """A reference payload; the test is skipped when ../shared/reference is not there."""
    import json

    path = REFERENCE / relative
    if not path.exists():
        missing_reference()
    return json.loads(path.read_text(encoding="utf-8"))


def sleeper(app_id: str, **fields: Any) -> dict[str, Any]:
    """A small command app; `fields` override or add to it."""
    return {"id": app_id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, **fields}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> Simulator:
    return Simulator(agents=4, seed=3, now=clock)


@pytest.fixture
def server(sim: Simulator) -> Iterator[ServerHandle]:
    with serve(sim) as handle:
        yield handle


@pytest.fixture
def http(server: ServerHandle) -> Http:
    return Http(server.url)
