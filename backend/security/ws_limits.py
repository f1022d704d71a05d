"""Bounds on `/ws` connections (DESIGN section 11): each holds a server thread (and a reader thread), so

- at most `MAX_PENDING_HELLOS` connections may be waiting for their hello at once, and at most
  `MAX_PENDING_PER_PEER` from one remote address. A new connection is never the one turned away: when a bound is
  reached, the oldest hello-less connection of the peer with the most of them (this peer's own, past its bound)
  is shut instead. A real dashboard says hello within milliseconds of connecting, so a flood of hello-less
  connections, local or not, cannot lock it out; the flood only evicts itself;
- at most `MAX_SOCKETS_PER_ACCOUNT` live sockets per account (one per open dashboard tab, with room to spare);
  one more is closed with 1008 and the reason;
- a socket that ends, for any reason, has its TCP connection shut down at once (`release_socket`), so the
  websocket library's reader thread, which otherwise waits for the next ping (25 s), ends with it.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MAX_PENDING_HELLOS = 64
MAX_PENDING_PER_PEER = 16
MAX_SOCKETS_PER_ACCOUNT = 20
#: how long a finished socket's handler waits for the reader thread to notice the shutdown.
READER_JOIN_S = 1.0


class _Pending:
    """One connection waiting for its hello: who it is from, and how to shut it if it must make room."""

    def __init__(self, peer: str, shut: Callable[[], None]) -> None:
        self.peer = peer
        self.shut = shut


class SocketSlots:
    """Counts pending hellos (per peer and in all) and live sockets per account; thread-safe."""

    def __init__(
        self,
        pending: int = MAX_PENDING_HELLOS,
        per_account: int = MAX_SOCKETS_PER_ACCOUNT,
        per_peer: int = MAX_PENDING_PER_PEER,
    ) -> None:
        self._lock = threading.Lock()
        self._pending: dict[_Pending, None] = {}  # oldest first
        self._max_pending = pending
        self._max_per_peer = per_peer
        self._live: Counter[int] = Counter()
        self._max_per_account = per_account

    @contextmanager
    def awaiting_hello(self, peer: str, shut: Callable[[], None]) -> Iterator[None]:
        """Hold a pending-hello slot while the hello is read. Room is made first when a bound is reached: the
        oldest waiting connection of this peer (past its own bound) or of the busiest peer is shut (`shut`, which
        must end that connection's wait for its hello at once)."""
        entry = _Pending(peer, shut)
        with self._lock:
            victim = self._make_room(peer)
            self._pending[entry] = None
        if victim is not None:
            victim.shut()
        try:
            yield
        finally:
            with self._lock:
                self._pending.pop(entry, None)

    def _make_room(self, peer: str) -> _Pending | None:
        """The waiting connection to evict for a new one from `peer` (no longer counted); None when there is room."""
        by_peer = Counter(p.peer for p in self._pending)
        if by_peer[peer] >= self._max_per_peer:
            crowded = peer
        elif len(self._pending) >= self._max_pending:
            crowded = by_peer.most_common(1)[0][0]
        else:
            return None
        victim = next(p for p in self._pending if p.peer == crowded)
        del self._pending[victim]
        return victim

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

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


def shut_socket(ws: Any) -> None:
    """End a connection from another thread: its reader sees the end and its `receive` stops waiting."""
    raw = getattr(ws, "sock", None)
    if raw is not None:
        try:
            raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


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
