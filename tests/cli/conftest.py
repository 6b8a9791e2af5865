"""The `berth` client against berth under gunicorn on a free loopback port (SQLite: the
client speaks HTTP and does not care which database is behind it), and the simulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app import ROOT
from tests.servers import gunicorn_berth

sys.path.insert(0, str(ROOT / "client"))  # the client is its own package, not the server's

from berth_cli.main import cli  # noqa: E402

PORTS = range(8500, 8600)  # these tests' loopback range


@pytest.fixture
def berth_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """berth under gunicorn (one worker) on the test's database."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the client speaks HTTP; one database behind it shows it")
    with gunicorn_berth(database_url, tmp_path / "gunicorn.log", PORTS) as url:
        yield url


class Berth:
    """`berth …` run in-process with click's CliRunner, against a real URL with a token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def __call__(self, *args: str, token: str | None = None, **env: str) -> Result:
        runner = CliRunner(env={"BERTH_BACKOFF": "0.05", "BERTH_OUTPUT": None, **env})
        return runner.invoke(
            cli,
            ["--url", self.url, "--token", token or self.token, "--retries", "2", *args],
            catch_exceptions=False,
        )


@pytest.fixture
def berth(berth_url: str, tokens: dict[str, str]) -> Berth:
    """The client as an ops person (the admin token for the admin-only commands)."""
    return Berth(berth_url, tokens["ops"])


def ok(result: Result, code: int = 0) -> Any:
    assert result.exit_code == code, result.output
    return result
