"""Throwaway PostgreSQL and Redis servers on free loopback ports, one of each per test session.

Outside CI a missing binary skips the tests that need it; under CI=true it fails them, because
`.ci/run` installs both. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
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

START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is not installed; .ci/run installs it")
    pytest.skip(f"{what} is not installed")


def _wait_port(port: int, proc: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


@dataclass
class Postgres:
    port: int
    admin_url: str  # the maintenance database, for CREATE DATABASE

    def new_database(self) -> str:
        """A fresh empty database; returns its postgresql:// URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://poolgate@127.0.0.1:{self.port}/{name}"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster (initdb'd in a temporary directory) that can be stopped and started again."""

    bindir: Path
    root: Path
    port: int
    prefix: list[str]

    @classmethod
    def create(cls) -> PgCluster:
        bindir = _pg_bin()
        if bindir is None:
            _missing("PostgreSQL (initdb)")
            raise AssertionError  # unreachable: _missing skips or fails
        root = Path(tempfile.mkdtemp(prefix="poolgate-pg-"))
        data, sock = root / "data", root / "sock"
        data.mkdir()
        sock.mkdir()
        prefix: list[str] = []
        log = root / "server.log"
        log.touch()
        if os.geteuid() == 0:
            # postgres will not run as root: hand the directories to the postgres system user.
            os.chmod(root, 0o755)
            for path in (data, sock, log):
                shutil.chown(path, "postgres", "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        cluster = cls(bindir, root, _free_port(), prefix)
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "poolgate", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        return cluster

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root / 'sock'} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        )
        data, log = self.root / "data", self.root / "server.log"
        subprocess.run(
            [
                *self.prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        _wait_port(self.port, None, "postgres")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "stop"],
            capture_output=True,
            timeout=60,
        )

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def server(self) -> Postgres:
        return Postgres(self.port, f"postgresql://poolgate@127.0.0.1:{self.port}/postgres")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    cluster = PgCluster.create()
    try:
        yield cluster.server
    finally:
        cluster.remove()


@dataclass
class Redis:
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(port: int) -> subprocess.Popen[bytes]:
    """A throwaway redis-server on 127.0.0.1:port, listening when this returns."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server")
        raise AssertionError  # unreachable
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "redis-server")
    except BaseException:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    port = _free_port()
    proc = start_redis(port)
    try:
        yield Redis(port)
    finally:
        stop_process(proc)


def free_port() -> int:
    return _free_port()
