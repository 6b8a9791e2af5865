"""The client as a new user gets it: `pip install <checkout>/client` into a fresh venv
brings no server dependency, and the installed `berth` deploys through a running berth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import ROOT
from simulator import Simulator, serve
from tests import factories as f

SERVER_ONLY = ("flask", "sqlalchemy", "marshmallow", "flask_smorest", "alembic", "networkx")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with the client installed from a copy of client/ (pip builds in the
    tree it is given; the checkout stays clean). PyPI (or the configured index) provides
    click and requests; pip's cache makes a second run quick."""
    where = tmp_path_factory.mktemp("berth-cli")
    source = where / "client"
    shutil.copytree(
        ROOT / "client", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
        + [str(source)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield venv / "bin"


def test_a_fresh_install_has_no_server_dependencies(installed: Path) -> None:
    names = subprocess.run(
        [str(installed / "pip"), "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "berth-cli==" in names and "click==" in names and "requests==" in names
    for module in SERVER_ONLY:
        probe = subprocess.run(
            [str(installed / "python"), "-c", f"import {module}"], capture_output=True
        )
        assert probe.returncode != 0, f"{module} came with the client"
    shown = subprocess.run(
        [str(installed / "berth"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("alloc", "ports", "render", "deploy", "rollback", "plan", "reserve"):
        assert command in shown
    for command in ("reservations", "drift", "report", "token"):
        assert command in shown
    completion = subprocess.run(
        [str(installed / "berth")],
        env={**os.environ, "_BERTH_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
    ).stdout
    assert "_berth_completion" in completion and "complete " in completion


def test_the_installed_command_deploys_and_waits(
    installed: Path, berth_url: str, admin: Any, ops: Any, tokens: dict[str, str]
) -> None:
    with serve(Simulator(agents=6, seed=5)) as sim:
        f.synced_world(admin, sim.url)
        assert f.allocate(ops, instances=2).status_code == 201
        env = {**os.environ, "BERTH_URL": berth_url, "BERTH_TOKEN": tokens["pipeline"]}
        image = "registry.local/shop/order-service:7.7"
        done = subprocess.run(
            [str(installed / "berth"), "deploy", "order-service", "production", image]
            + ["--wait", "--interval", "0.2", "--timeout", "60"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "succeeded" in done.stderr and image in done.stderr
        refused = subprocess.run(
            [str(installed / "berth"), "deploy", "nope", "production", image, "--wait"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert refused.returncode == 2 and "berth refused" in refused.stderr
