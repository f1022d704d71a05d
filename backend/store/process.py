"""Process identity: who holds a lease (host, pid, role), and whether that process still runs.

Leases (`backend.store.leases`, the outbox's claims, the delivery job's claims) name their owner with
`worker_id`; whoever finds a lease held by a process of this host that no longer runs may take it over.
"""

from __future__ import annotations

import os
import socket

import psutil


def worker_id(role: str) -> str:
    """A lease owner name: host, pid and role. Crash recovery reads the pid back (see owner_is_dead)."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def owner_is_dead(owner: str | None) -> bool:
    """True when `owner` names a process of this host that no longer runs (its leases may be taken now)."""
    if not owner:
        return True
    parts = owner.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    return not process_runs(pid)


def process_runs(pid: int) -> bool:
    """Whether process `pid` of this host runs (a zombie, which has ended but not been reaped, does not)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # another user's process: it exists
