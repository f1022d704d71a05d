"""Kills the Chromium of one profile when the app that started it goes away, even by a crash.

Run as a separate small process: `python -P reaper.py <profile_dir>` with a pipe on stdin (`-P`: this folder's
`selectors.py` must not shadow the standard library's). It blocks reading
stdin; the read returns when the parent closes the pipe (a clean close) or dies (the operating system closes
it), and then every live process whose command line names `--user-data-dir=<profile_dir>` is terminated, then
killed, and so is the chromedriver that started them (else it would stay behind, orphaned, over a defunct
Chromium). It imports nothing from the app, so it runs from any working directory; processes are found and
signalled with psutil, so it works on Linux, macOS and Windows alike.
"""

from __future__ import annotations

import os
import sys
import time

import psutil


def profile_processes(profile_dir: str) -> list[int]:
    """Live (not zombie) processes whose command line names this Chromium profile directory."""
    # Chromium's helpers rewrite their argv as one space-separated string, so match on spaces.
    needle = f" --user-data-dir={profile_dir} "
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        if info["pid"] == os.getpid() or not info["cmdline"]:
            continue
        if info["status"] in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            continue
        if needle in " " + " ".join(info["cmdline"]) + " ":
            found.append(int(info["pid"]))
    return found


def drivers_of(pids: list[int]) -> list[int]:
    """The chromedriver processes that are parents of these processes."""
    found = set()
    for pid in pids:
        try:
            parent = psutil.Process(pid).parent()
            if parent is not None and parent.name().removesuffix(".exe") == "chromedriver":
                found.add(parent.pid)
        except psutil.Error:
            continue
    return sorted(found)


def kill_profile_processes(profile_dir: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM every process of the profile (Chromium then flushes the profile) and the chromedriver that
    started it, SIGKILL what is left after `grace_s`. Returns the pids that were found."""
    pids = profile_processes(profile_dir)
    drivers = drivers_of(pids)
    for pid in pids:
        _signal(pid, kill=False)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and profile_processes(profile_dir):
        time.sleep(0.05)
    for pid in profile_processes(profile_dir):
        _signal(pid, kill=True)
    for pid in drivers:
        _signal(pid, kill=False)  # its Chromium is gone: nothing is left for it to do
    return pids + drivers


def _signal(pid: int, *, kill: bool) -> None:
    """Terminate (SIGTERM; TerminateProcess on Windows) or kill the process; one that is gone is left alone."""
    try:
        proc = psutil.Process(pid)
        if kill:
            proc.kill()
        else:
            proc.terminate()
    except psutil.Error:
        pass


def main(argv: list[str]) -> int:
    profile_dir = argv[1]
    try:
        sys.stdin.buffer.read()
    except (OSError, KeyboardInterrupt):
        pass
    kill_profile_processes(profile_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
