"""What a run left behind after shutdown: live threads, an open port, child processes (browsers)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def leftovers(url: str, *, grace_s: float = 5.0) -> dict[str, Any]:
    """Threads still alive (after up to `grace_s` for ones that are ending), whether the port still answers,
    and our child processes (Chromium, chromedriver; Qt WebEngine's own helpers end with this process)."""
    return {
        "threads": live_threads(grace_s),
        "port_open": port_open(url),
        "children": child_processes(os.getpid()),
    }


def live_threads(grace_s: float) -> list[str]:
    deadline = time.monotonic() + grace_s
    while True:
        others = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]
        if not others or time.monotonic() > deadline:
            return [t.name for t in others]
        others[0].join(timeout=0.1)


def port_open(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def child_processes(pid: int) -> list[dict[str, Any]]:
    """{pid, cmd} of every descendant of `pid` (Linux /proc; empty elsewhere)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    parents: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the parent pid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[dict[str, Any]] = []
    stack = list(parents.get(pid, []))
    while stack:
        child = stack.pop()
        try:
            cmdline = (proc / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append({"pid": child, "cmd": cmdline})
        stack.extend(parents.get(child, []))
    return found
