"""Bounds on `/ws` connections (DESIGN section 11): each holds a server thread (and a reader thread), so

- at most `MAX_PENDING_HELLOS` connections may be waiting for their hello at once (more are closed at once with
  1013 "try again later"): a flood of hello-less connections cannot take every thread for the hello deadline;
- at most `MAX_SOCKETS_PER_ACCOUNT` live sockets per account (one per open dashboard tab, with room to spare);
  one more is closed with 1008 and the reason;
- a socket that ends, for any reason, has its TCP connection shut down at once (`release_socket`), so the
  websocket library's reader thread, which otherwise waits for the next ping (25 s), ends with it.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_PENDING_HELLOS = 64
MAX_SOCKETS_PER_ACCOUNT = 20
#: how long a finished socket's handler waits for the reader thread to notice the shutdown.
READER_JOIN_S = 1.0


class SocketSlots:
    """Counts pending hellos and live sockets per account; thread-safe."""

    def __init__(self, pending: int = MAX_PENDING_HELLOS, per_account: int = MAX_SOCKETS_PER_ACCOUNT) -> None:
        self._lock = threading.Lock()
        self._pending = 0
        self._max_pending = pending
        self._live: Counter[int] = Counter()
        self._max_per_account = per_account

    @contextmanager
    def awaiting_hello(self) -> Iterator[bool]:
        """Yields False when too many connections already wait for their hello (refuse this one)."""
        with self._lock:
            admitted = self._pending < self._max_pending
            if admitted:
                self._pending += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    self._pending -= 1

    def take(self, account_id: int) -> bool:
        """Take a live-socket slot of the account; False when it has MAX_SOCKETS_PER_ACCOUNT already."""
        with self._lock:
            if self._live[account_id] >= self._max_per_account:
                return False
            self._live[account_id] += 1
            return True

    def give_back(self, account_id: int) -> None:
        with self._lock:
            self._live[account_id] -= 1
            if self._live[account_id] <= 0:
                del self._live[account_id]


def release_socket(ws: Any) -> None:
    """Shut the connection down (after any close frame was sent) so its reader thread ends now."""
    raw = getattr(ws, "sock", None)
    if raw is None:
        return
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer
    reader = getattr(ws, "thread", None)
    if reader is not None and reader is not threading.current_thread():
        # Wait (briefly) while the socket is still open: closing it under the reader's poll would leave the reader
        # asleep until its next ping.
        reader.join(READER_JOIN_S)
