"""Kills the Chromium of one profile when the app that started it goes away, even by a crash.

Run as a separate small process: `python reaper.py <profile_dir>` with a pipe on stdin. It blocks reading
stdin; the read returns when the parent closes the pipe (a clean close) or dies (the kernel closes it), and
then every live process whose command line names `--user-data-dir=<profile_dir>` is terminated, then killed,
and so is the chromedriver that started them (else it would stay behind, orphaned, over a defunct Chromium).
It imports nothing from the app, so it runs from any working directory. Linux only (reads /proc); elsewhere
it exits without doing anything.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def profile_processes(profile_dir: str) -> list[int]:
    """Live (not zombie) processes whose command line names this Chromium profile directory."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    # Chromium's helpers rewrite their argv as one space-separated string, so match on spaces.
    needle = f" --user-data-dir={profile_dir} ".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in b" " + cmdline.replace(b"\0", b" ") + b" " and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def drivers_of(pids: list[int]) -> list[int]:
    """The chromedriver processes that are parents of these processes."""
    found = set()
    for pid in pids:
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
            if Path(f"/proc/{parent}/comm").read_text().strip() == "chromedriver":
                found.add(parent)
        except (OSError, IndexError, ValueError):
            continue
    return sorted(found)


def kill_profile_processes(profile_dir: str, grace_s: float = 5.0) -> list[int]:
    """SIGTERM every process of the profile (Chromium then flushes the profile) and the chromedriver that
    started it, SIGKILL what is left after `grace_s`. Returns the pids that were found."""
    pids = profile_processes(profile_dir)
    drivers = drivers_of(pids)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and profile_processes(profile_dir):
        time.sleep(0.05)
    for pid in profile_processes(profile_dir):
        _signal(pid, signal.SIGKILL)
    for pid in drivers:
        _signal(pid, signal.SIGTERM)  # its Chromium is gone: nothing is left for it to do
    return pids + drivers


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
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
