"""Processes a test run leaves behind (issue 23 item 7): every process started during the run carries a marker in
its environment (inherited from the run's first pytest process, so chromedriver, Chromium, `bulkmsg serve`,
Dovecot and the fakes all do); at the end of the run, any marked process still alive is a leak.

psutil reads each process's environment (`Process.environ()`); processes of other users (the system's
PostgreSQL) cannot be read and are not ours.
"""

from __future__ import annotations

import os
import time
import uuid

import psutil

MARKER = "BULKMSG_TEST_RUN"


def mark_run() -> str:
    """Mark this run (once: xdist workers inherit the controller's marker); returns it."""
    return os.environ.setdefault(MARKER, uuid.uuid4().hex)


def _is_runner(proc: psutil.Process) -> bool:
    """A pytest process of this run (the controller or an xdist worker winding down), or the multiprocessing
    resource tracker of one (the inbox's mail parser starts it; it ends with the process that started it): not a
    leak."""
    try:
        cmdline = " ".join(proc.cmdline())
        parent = proc.parent()
        parent_line = " ".join(parent.cmdline()) if parent is not None else ""
    except (psutil.Error, OSError):
        return False
    if "multiprocessing.resource_tracker" in cmdline:
        return "pytest" in parent_line or "execnet" in parent_line or "xdist" in parent_line
    return "pytest" in cmdline or "execnet" in cmdline or "xdist" in cmdline


def marked_processes(marker: str) -> list[psutil.Process]:
    """Live (not zombie) processes, other than this one and its ancestors, that carry `marker`."""
    me = psutil.Process()
    skip = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in skip:
            continue
        try:
            if proc.environ().get(MARKER) != marker or proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.Error, OSError):
            continue
        if not _is_runner(proc):
            found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())[:160]}"
    except (psutil.Error, OSError):
        return f"{proc.pid} (gone)"


def leftovers(marker: str, grace_s: float = 10.0) -> list[str]:
    """What is still running with `marker` after up to `grace_s` (servers that are stopping get that long); each
    leftover is killed, and described in the answer."""
    deadline = time.monotonic() + grace_s
    found = marked_processes(marker)
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = marked_processes(marker)
    described = [describe(proc) for proc in found]
    for proc in found:
        try:
            proc.kill()
        except psutil.Error:
            pass
    return described
