"""A private PostgreSQL server in a temporary directory, which a test may restart at will.

The shared server on 5432 is never touched: this one is initdb'ed into its own folder and
listens on 127.0.0.1 only, on the first free port from 5499 (a server that a killed run
left behind must not fail the next one). As root, PostgreSQL's tools run as the
`postgres` OS user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from bench.servers import free_port

PORTS = range(5499, 5530)


def _free_port() -> int:
    wanted = os.environ.get("BERTH_PRIVATE_POSTGRES_PORT")
    return int(wanted) if wanted else free_port(PORTS.start, PORTS.stop - 1)


def _bin(tool: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))
    return found[-1] if found else shutil.which(tool)


class PrivatePostgres:
    """initdb, start, restart and stop one throwaway server; `url` is SQLAlchemy's."""

    def __init__(self, port: int | None = None) -> None:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL's initdb and pg_ctl are not installed")
        self.pg_ctl = pg_ctl
        self.port = port if port is not None else _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="berth-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N"
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as_user, *args], check=True, capture_output=True, text=True, timeout=120
        )

    def _ctl(self, action: str, *extra: str) -> None:
        # fsync off: a throwaway server; a fast shutdown still writes every commit out
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            self.pg_ctl, action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", opts, *extra
        )

    def start(self) -> None:
        self._ctl("start")
        self.wait()

    def restart(self, down_seconds: float = 0.0) -> None:
        """Fast restart: open connections are cut, in-flight transactions are rolled back.

        With `down_seconds` the server stays stopped that long (a stop, then a start), so
        that requests certainly meet it down, as during a failover.
        """
        if down_seconds <= 0:
            self._ctl("restart", "-m", "fast")
        else:
            self._ctl("stop", "-m", "fast")
            time.sleep(down_seconds)
            self._ctl("start")
        self.wait()

    def wait(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                psycopg.connect(
                    f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)
