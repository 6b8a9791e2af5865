"""A real standalone ZooKeeper on 127.0.0.1 for the tests: session-scoped, nothing mocked.

Use the `zookeeper` fixture (re-exported by tests/conftest.py) and give each test a
path of its own:

    def test_x(zookeeper: ZooKeeper) -> None:
        zk = zookeeper.zk("/mesos-x")       # "127.0.0.1:PORT/mesos-x", for serve(zk=...)
        url = zookeeper.url("/mesos-x")     # "zk://127.0.0.1:PORT/mesos-x", as berth takes it

The server runs from Debian's `zookeeper` package (scripts/ensure-zookeeper installs it),
with a config and data dir in a temp directory; nothing under /etc is read or touched.
Tests that use it are skipped, with the reason, only when ZooKeeper cannot be installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
JAR = Path("/usr/share/java/zookeeper.jar")  # its manifest names the other jars
MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"


@dataclass
class ZooKeeper:
    host: str
    port: int

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"

    def zk(self, path: str) -> str:
        return f"{self.hosts}/{path.strip('/')}"

    def url(self, path: str) -> str:
        return f"zk://{self.zk(path)}"

    def unique_path(self, prefix: str = "mesos") -> str:
        return f"/{prefix}-{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    """Whether the server answers the `srvr` four-letter word (allowed by default)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"srvr")
            return b"Mode:" in sock.recv(4096)
    except OSError:
        return False


def _ensure_installed() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts/ensure-zookeeper")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not JAR.exists() or shutil.which("java") is None:
        pytest.skip(f"ZooKeeper cannot be installed here: {result.stderr.strip()[-300:]}")


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeper]:
    _ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="berth-zk-"))
    (workdir / "data").mkdir()
    port = _free_port()
    (workdir / "zoo.cfg").write_text(
        f"tickTime=500\ndataDir={workdir / 'data'}\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n",
        encoding="utf-8",
    )
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        ["java", "-Xmx256m", "-cp", str(JAR), MAIN, str(workdir / "zoo.cfg")],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (workdir / "server.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"ZooKeeper did not start on 127.0.0.1:{port}:\n{tail}")
            time.sleep(0.1)
        yield ZooKeeper("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
