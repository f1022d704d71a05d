"""Store outages for tests: a small tmpfs as the data directory (a disk that fills), and a private PostgreSQL
cluster on a free loopback port that can be stopped and started under a running app (never the system one)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers import require
from tests.ui_support import free_port


@contextmanager
def small_tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    """`where` as a tmpfs of `size` (root only: elsewhere the test is skipped, mounting is not allowed)."""
    require(os.geteuid() == 0, "mounting a tmpfs needs root; this machine does not allow it")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True, timeout=10
    )
    require(done.returncode == 0, f"cannot mount a tmpfs as root here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


def fill(folder: Path, name: str = "filler.bin") -> Path:
    """Write a file in `folder` until its disk is full to the last page; returns it."""
    filler = folder / name
    with open(filler, "wb", buffering=0) as f:
        for size in (256 * 1024, 4096):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


@contextmanager
def disk_kept_full(folder: Path) -> Iterator[Callable[[], None]]:
    """Fill `folder`'s disk and keep it full (the app frees a little now and then: a WAL checkpoint, a journal
    rotated) until the yielded `release()` is called, which frees the space; released on exit in any case."""
    stop = threading.Event()
    files: list[Path] = [fill(folder)]

    def top_up() -> None:
        while not stop.wait(0.05):
            if shutil.disk_usage(folder).free > 0:
                files.append(fill(folder, f"filler-{len(files)}.bin"))

    thread = threading.Thread(target=top_up, daemon=True)
    thread.start()

    def release() -> None:
        stop.set()
        thread.join(5)
        for path in files:
            path.unlink(missing_ok=True)

    try:
        yield release
    finally:
        release()


class PrivateCluster:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) run as the `postgres` user when we are root."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        require(bool(binaries), "PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="bulkmsg-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            require(shutil.which("runuser") is not None, "runuser is needed to run PostgreSQL as a non-root user")
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=60, cwd=self.root
        )
        require(done.returncode == 0, f"{tool} failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "30", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=30,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
