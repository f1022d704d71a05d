"""`/ws` bounds (issue 14, item 9; issue 21, item 8): connections that never say hello are closed at the 5-second
deadline and free their threads at once (not at the next 25-second ping); a flood beyond the pending-hello bounds
(per remote address and in all) evicts its own oldest connections at once, so a dashboard with a valid ticket
always gets in; each account has at most MAX_SOCKETS_PER_ACCOUNT live sockets."""

from __future__ import annotations

import threading
import time
from typing import Any

import websocket

from backend.security.ws_limits import MAX_PENDING_HELLOS, MAX_PENDING_PER_PEER, MAX_SOCKETS_PER_ACCOUNT, SocketSlots
from tests.helpers import EventSocket, wait_for


def _ws_threads() -> int:
    # Each /ws connection holds a Werkzeug request thread and a simple_websocket reader thread.
    names = ("simple_websocket", "process_request_thread")
    return sum(1 for t in threading.enumerate() if any(n in t.name for n in names))


def test_it_frees_the_threads_of_200_connections_that_never_say_hello(live_server: Any) -> None:
    before = _ws_threads()
    url = live_server.url.replace("http://", "ws://") + "/ws"
    sockets = [websocket.create_connection(url, timeout=10, origin=live_server.url) for _ in range(200)]
    try:
        started = time.monotonic()
        # Beyond the per-address bound, the oldest hello-less connections are ended at once (the server may take
        # the newest ones in a slightly different order, so only the oldest half is checked one by one).
        slots = live_server.app.extensions["bulkmsg_ws_slots"]
        wait_for(lambda: slots.pending_count() <= MAX_PENDING_PER_PEER, timeout=3.0, what="the flood to evict itself")
        assert all(_ended_within(ws, 2) for ws in sockets[: len(sockets) // 2])
        wait_for(lambda: _ws_threads() <= before + 2, timeout=9.0, what="the hello-less connections' threads to end")
        assert time.monotonic() - started < 9.0  # 5 s hello deadline + margin; it used to take about 26 s
    finally:
        for ws in sockets:
            ws.close(timeout=0)


def _ended_within(ws: Any, seconds: float) -> bool:
    ws.settimeout(seconds)
    try:
        return bool(ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE)
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return True
    except websocket.WebSocketTimeoutException:
        return False


def test_it_lets_a_dashboard_in_past_64_hello_less_local_connections(live_server: Any) -> None:
    url = live_server.url.replace("http://", "ws://") + "/ws"
    flood = [websocket.create_connection(url, timeout=10, origin=live_server.url) for _ in range(MAX_PENDING_HELLOS)]
    try:
        started = time.monotonic()
        dashboard = EventSocket(live_server.url, live_server.token)
        live_server.app.extensions["bulkmsg"].hub.emit(1, "test.ping", "you are in")
        assert dashboard.until(lambda f: f.get("type") == "test.ping")["text"] == "you are in"
        assert time.monotonic() - started < 4.0  # well before the flood's 5-second hello deadline
        dashboard.close()
    finally:
        for ws in flood:
            ws.close(timeout=0)


def test_it_bounds_hello_less_connections_per_address_without_touching_other_addresses() -> None:
    slots = SocketSlots(pending=8, per_peer=3)
    shut: list[str] = []
    held = []
    for n in range(3):
        held.append(slots.awaiting_hello("192.0.2.9", lambda n=n: shut.append(f"far-{n}")))
        held[-1].__enter__()
    for n in range(5):
        held.append(slots.awaiting_hello("203.0.113.5", lambda n=n: shut.append(f"flood-{n}")))
        held[-1].__enter__()
    # The flooding address evicts only its own oldest; the other address keeps its three.
    assert shut == ["flood-0", "flood-1"] and slots.pending_count() == 6
    for n in range(3):
        held.append(slots.awaiting_hello("198.51.100.7", lambda n=n: shut.append(f"third-{n}")))
        held[-1].__enter__()
    # At the total bound the busiest address gives way (a tie: the oldest of the first one found).
    assert shut == ["flood-0", "flood-1", "far-0"] and slots.pending_count() == 8
    for slot in held:
        slot.__exit__(None, None, None)
    assert slots.pending_count() == 0


def test_it_caps_live_sockets_per_account(live_server: Any) -> None:
    # after=0: each socket replays the stored events once it holds its slot, so seeing the ping proves it holds one.
    opened = [EventSocket(live_server.url, live_server.token, after=0) for _ in range(MAX_SOCKETS_PER_ACCOUNT)]
    try:
        # Each connection's hello is handled on its own server thread: wait until all of them hold their slot, or the
        # extra one's hello could overtake a slow one and take its slot (seen once in CI under load).
        live_server.app.extensions["bulkmsg"].hub.emit(1, "test.ping", "all in")
        for sock in opened:
            assert sock.until(lambda f: f.get("type") == "test.ping")["text"] == "all in"
        extra = EventSocket(live_server.url, live_server.token)
        extra.ws.settimeout(5)
        opcode, data = extra.ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1008
        assert b"too many connections" in data
        other = live_server.app.extensions["bulkmsg"].account_token("other")
        elsewhere = EventSocket(live_server.url, other, after=0)  # another account is not affected
        live_server.app.extensions["bulkmsg"].hub.emit(2, "test.ping", "hello there")
        assert elsewhere.until(lambda f: f.get("type") == "test.ping")["text"] == "hello there"
        elsewhere.close()
    finally:
        for sock in opened:
            sock.close()
    # The slots come back once the server sees the sockets closed: a new one then gets live events.
    services = live_server.app.extensions["bulkmsg"]

    def live_again() -> bool:
        probe = EventSocket(live_server.url, live_server.token, after=0)
        try:
            services.hub.emit(1, "test.ping", "back")
            probe.until(lambda f: f.get("type") == "test.ping" and f.get("text") == "back", timeout=3)
            return True
        except (AssertionError, ValueError, websocket.WebSocketException):
            return False
        finally:
            probe.close()

    wait_for(live_again, timeout=15, what="a socket slot to be given back")
