"""The /ws protocol: hello with a ticket, replay after an id, live events per account, 1008 for bad hellos."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import websocket

from backend.accounts import get_or_create_account
from backend.store.models import Event, utcnow
from tests.helpers import EventSocket, bearer


def _emit(server, text: str, account: str = "default") -> int:
    services = server.app.extensions["bulkmsg"]
    with services.db.write() as session:
        account_id = get_or_create_account(session, account).id
    return services.hub.emit(account_id, "send.progress", text, data={"status": "sent"})


def test_it_streams_live_events_to_a_socket(live_server) -> None:
    sock = EventSocket(live_server.url, live_server.token, live_only=True)  # "after": null
    time.sleep(0.2)  # the hello is processed before events are emitted
    _emit(live_server, "Sent to +15551234567")
    frame = sock.until(lambda f: f.get("text") == "Sent to +15551234567", timeout=5)
    assert frame["type"] == "send.progress" and frame["level"] == "info" and frame["data"]["status"] == "sent"
    sock.close()


def test_it_replays_every_missed_event_in_order_after_reconnect(live_server) -> None:
    first = _emit(live_server, "event 0")
    for i in range(1, 30):
        _emit(live_server, f"event {i}")
    sock = EventSocket(live_server.url, live_server.token, after=first)
    texts = [sock.next()["text"] for _ in range(29)]
    assert texts == [f"event {i}" for i in range(1, 30)]
    _emit(live_server, "live after replay")
    assert sock.next()["text"] == "live after replay"
    sock.close()


def test_it_says_resync_when_too_much_was_missed(live_server, monkeypatch) -> None:
    import backend.events.ws as ws_module

    monkeypatch.setattr(ws_module, "REPLAY_LIMIT", 5)
    first = _emit(live_server, "start")
    for i in range(10):
        _emit(live_server, f"missed {i}")
    sock = EventSocket(live_server.url, live_server.token, after=first)
    assert sock.next() == {"type": "resync"}
    _emit(live_server, "fresh")
    assert sock.until(lambda f: f.get("text") == "fresh")["text"] == "fresh"
    sock.close()


def test_it_never_shows_one_account_the_events_of_another(live_server) -> None:
    services = live_server.app.extensions["bulkmsg"]
    token_b = services.account_token("other")
    sock_b = EventSocket(live_server.url, token_b)
    time.sleep(0.2)
    _emit(live_server, "for default only")
    _emit(live_server, "for other", account="other")
    frame = sock_b.next(timeout=5)
    assert frame["text"] == "for other"
    sock_b.close()


def _raw_socket(url: str, origin: str | None = None):
    return websocket.create_connection(url.replace("http://", "ws://") + "/ws", timeout=10, origin=origin or url)


@pytest.mark.parametrize(
    "hello",
    [
        None,  # nothing sent: closed after 5 s
        "not json",
        json.dumps({"type": "hello", "ticket": "forged", "after": None}),
        json.dumps({"type": "subscribe"}),
    ],
)
def test_it_closes_a_socket_without_a_valid_hello_with_1008(live_server, hello) -> None:
    ws = _raw_socket(live_server.url)
    if hello is not None:
        ws.send(hello)
    _emit(live_server, "secret event")
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert int.from_bytes(payload[:2], "big") == 1008
    ws.close()


def test_it_refuses_an_api_token_as_a_ticket(live_server) -> None:
    ws = _raw_socket(live_server.url)
    ws.send(json.dumps({"type": "hello", "ticket": live_server.token, "after": None}))
    opcode, payload = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(payload[:2], "big") == 1008


def test_it_refuses_the_handshake_from_a_foreign_origin_or_host(live_server) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        _raw_socket(live_server.url, origin="http://attacker.example")
    assert refused.value.status_code == 403
    port = live_server.url.rsplit(":", 1)[1]
    with pytest.raises(websocket.WebSocketBadStatusException) as rebound:
        websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=5, host="attacker.example")
    assert rebound.value.status_code == 403


def test_it_gives_a_slow_client_resync_without_slowing_others(live_server) -> None:
    """A client that stops reading fills its socket, then its queue, then falls too far behind to catch up: it
    gets `resync`; the other keeps up."""
    services = live_server.app.extensions["bulkmsg"]
    services.hub.subscriber_queue = 200
    services.hub.catch_up_limit = 500  # the stalled client ends about 3,800 events behind
    # reads nothing until the end, with a small receive buffer so that its backlog builds up quickly
    slow = EventSocket(live_server.url, live_server.token, receive_buffer=4096)
    fast = EventSocket(live_server.url, live_server.token)
    time.sleep(0.2)
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    padding = "x" * 2000
    for batch in range(40):
        with services.db.write() as session:
            for i in range(100):
                services.hub.record(session, account_id, "send.progress", f"bulk {batch}-{i}", data={"p": padding})
        texts = [fast.next()["text"] for _ in range(100)]
        assert texts[-1] == f"bulk {batch}-99"
    assert {"type": "resync"} not in fast.received
    # Reading now, the stalled client first gets what its socket buffered, then `resync`.
    deadline = time.monotonic() + 30
    while slow.next(timeout=5) != {"type": "resync"}:
        assert time.monotonic() < deadline, "no resync for the stalled client"
    slow.close()
    fast.close()


def test_it_gives_a_reading_client_every_event_of_a_burst_without_resync(live_server) -> None:
    """A dashboard reading normally while a burst outruns its queue: it catches up from the store, in order."""
    services = live_server.app.extensions["bulkmsg"]
    services.hub.subscriber_queue = 100  # a burst of 6,000 overflows it many times over
    reader = EventSocket(live_server.url, live_server.token)
    time.sleep(0.2)
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    for batch in range(6):
        with services.db.write() as session:
            for i in range(1000):
                services.hub.record(session, account_id, "send.progress", f"Sent to +1555{batch}{i:06d}")
    got: list[dict[str, Any]] = []
    while len(got) < 6000:
        frame = reader.next(timeout=10)
        assert frame != {"type": "resync"}, f"resync after {len(got)} events"
        got.append(frame)
    assert [f["text"] for f in got] == [f"Sent to +1555{b}{i:06d}" for b in range(6) for i in range(1000)]
    assert [f["id"] for f in got] == sorted({f["id"] for f in got})
    reader.close()


def test_it_puts_only_the_full_queue_into_catch_up(services) -> None:
    hub = services.hub
    hub.subscriber_queue = 3
    drained, stalled = hub.subscribe(1), hub.subscribe(1)
    for event_id in range(1, 7):
        hub._fan_out([Event(id=event_id, account_id=1, ts=utcnow(), type="t", level="info", text="", data={})])
        item = drained.get(timeout=0.1)
        assert isinstance(item, tuple) and item[0] == event_id
    assert not drained.lagging
    assert stalled.lagging and [i[0] for i in stalled.take(0.1)] == [1, 2, 3]  # type: ignore[index]
    assert stalled.caught_up(3)[:2] == (False, 6)  # 4 to 6 come from the store
    assert stalled.caught_up(6)[0] and not stalled.lagging
    hub._fan_out([Event(id=7, account_id=1, ts=utcnow(), type="t", level="info", text="", data={})])
    assert stalled.get(timeout=0.1)[0] == 7  # type: ignore[index]
    hub.unsubscribe(drained)
    hub.unsubscribe(stalled)
    assert hub.subscriber_count() == 0


def test_it_closes_sockets_with_going_away_when_the_server_stops(start_server) -> None:
    server = start_server()
    sock = EventSocket(server.url, server.token)
    time.sleep(0.2)
    server.stop(pause_campaigns=False)
    opcode, payload = sock.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(payload[:2], "big") == 1001
    assert not any(t.name.startswith("event-") and t.is_alive() for t in __import__("threading").enumerate())


def test_it_issues_tickets_only_with_a_token(live_server) -> None:
    assert requests.post(f"{live_server.url}/api/ws-ticket", timeout=5).status_code == 401
    ok = requests.post(f"{live_server.url}/api/ws-ticket", headers=bearer(live_server.token), timeout=5)
    assert ok.status_code == 200 and ok.json()["ticket"]


def test_it_still_sends_an_event_that_commits_late_inside_the_replay_range(services) -> None:
    """PostgreSQL can commit a lower id after a higher one: the replay never saw it, the queue must pass it."""
    from sqlalchemy import delete

    from backend.events.ws import _replay

    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    ids = [services.hub.emit(account_id, "send.progress", f"e{i}") for i in range(5)]
    with services.db.write() as session:  # ids[2] is "not committed yet" when the replay reads
        session.execute(delete(Event).where(Event.id == ids[2]))

    class Socket:
        """The two layers `_send_frames` writes through: the frame encoder and the socket."""

        connected = True
        sent: list[str] = []

        class ws:  # noqa: N801 - the attribute name simple_websocket uses
            @staticmethod
            def send(event: Any) -> bytes:
                return event.data.encode() + b"\n"

        class sock:  # noqa: N801
            @staticmethod
            def sendall(data: bytes) -> None:
                Socket.sent.extend(line.decode() for line in data.split(b"\n") if line)

    socket = Socket()
    already_sent, newest = _replay(socket, services.db, account_id, ids[0])
    assert newest == ids[4]
    assert [json.loads(f)["text"] for f in socket.sent] == ["e1", "e3", "e4"]
    assert not already_sent(ids[2]), "the late event must still go out"
    assert already_sent(ids[1]) and already_sent(ids[4]) and already_sent(ids[0])
    assert not already_sent(ids[4] + 1)
