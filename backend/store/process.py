"""Process identity: who holds a lease (host, pid, role), and whether that process still runs.

Leases (`backend.store.leases`, the outbox's claims, the delivery job's claims) name their owner with
`worker_id`; whoever finds a lease held by a process of this host that no longer runs may take it over.
"""

from __future__ import annotations

import os
import socket


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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
