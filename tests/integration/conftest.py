"""The simulator served over real HTTP on 127.0.0.1, as berth's clients meet Marathon and Mesos."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask

from simulator import Simulator, serve


@pytest.fixture
def sim() -> Simulator:
    return Simulator(agents=6, seed=5)


@pytest.fixture
def sim_server(sim: Simulator) -> Iterator[Any]:
    server = serve(sim)
    yield server
    server.shutdown()


@pytest.fixture
def sim_follower(sim: Simulator, sim_server: Any) -> Iterator[Any]:
    server = serve(sim, leader=sim_server)
    yield server
    server.shutdown()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def quick_timeouts(app: Flask) -> Iterator[None]:
    """Short client timeouts, so that a slow-cluster test takes a second, not a minute."""
    berth = app.extensions["berth"]
    original = berth.settings
    berth.settings = replace(original, cluster_timeout=(0.5, 0.5))
    yield
    berth.settings = original


def sim_cluster(api: Any, name: str, masters: list[str], marathon: str) -> dict:
    body = {
        "name": name,
        "mesos_masters": masters,
        "marathon_url": marathon,
        "port_ranges": ["31000-32000"],
    }
    response = api.post("/api/v1/clusters", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()
