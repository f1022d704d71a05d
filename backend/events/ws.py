"""`/ws`: the one WebSocket of the dashboard (DESIGN section 7).

The client's first frame must be {"type": "hello", "ticket": T, "after": ID|null} within 5 s; otherwise the
socket is closed with 1008 and gets nothing. Then: the events it missed (after `after`) in order, or `resync`
when too many were missed, then live events of its account only. This handler's thread is the only writer of
its socket: it sends what is queued in batches (one socket write for many frames), and when its queue overflowed
it reads the missed events back from the store before going live again (see `Subscription`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed
from sqlalchemy import select
from wsproto.events import TextMessage

from backend.events import refs
from backend.events.hub import CLOSING, RESYNC, Subscription, envelope
from backend.security.hardening import loads_bounded
from backend.security.tokens import Principal, TokenError
from backend.security.ws_limits import MAX_SOCKETS_PER_ACCOUNT, SocketSlots, release_socket, shut_socket
from backend.store.models import Event

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5
POLICY_VIOLATION = 1008
GOING_AWAY = 1001
#: more missed events than this and the client is told to resync instead of replaying them.
REPLAY_LIMIT = 5000
RESYNC_FRAME = json.dumps({"type": "resync"})
#: queued events sent with one socket write.
SEND_BATCH = 512
#: events read from the store per page while a lagging socket catches up.
CATCH_UP_PAGE = 1000
_ROWS = select(Event.id, Event.ts, Event.type, Event.level, Event.text, Event.data)

sock = Sock()


def init_ws(app: Flask) -> None:
    sock.init_app(app)
    app.extensions["bulkmsg_ws_slots"] = SocketSlots()


@sock.route("/ws")
def events_socket(ws: Any) -> None:
    try:
        _serve_socket(ws, current_app.extensions["bulkmsg"], current_app.extensions["bulkmsg_ws_slots"])
    finally:
        release_socket(ws)


def _serve_socket(ws: Any, services: Services, slots: SocketSlots) -> None:
    with slots.awaiting_hello(request.remote_addr or "", lambda: shut_socket(ws)):
        hello = _read_hello(ws, services)
    if hello is None:
        return
    principal, after = hello
    if not slots.take(principal.account_id):
        _close(ws, POLICY_VIOLATION, f"too many connections for this account (at most {MAX_SOCKETS_PER_ACCOUNT})")
        return
    try:
        _stream(ws, services, principal, after)
    finally:
        slots.give_back(principal.account_id)


def _stream(ws: Any, services: Services, principal: Principal, after: int | None) -> None:
    hub = services.hub
    sub = hub.subscribe(principal.account_id)
    try:
        already_sent, last_sent = _replay(ws, services.db, principal.account_id, after)
        while ws.connected:
            items = sub.take(timeout=1.0, limit=SEND_BATCH)
            frames: list[str] = []
            for item in items:
                if item == CLOSING:
                    _send_frames(ws, frames)
                    _close(ws, GOING_AWAY, "server stopping")
                    return
                if item == RESYNC:
                    frames.append(RESYNC_FRAME)
                    continue
                assert isinstance(item, tuple)
                event_id, payload = item
                if already_sent(event_id):
                    continue
                frames.append(payload)
                last_sent = max(last_sent, event_id)
            _send_frames(ws, frames)
            # Lagging first, then empty: once lagging nothing more is queued, so the store has the rest.
            if sub.lagging and sub.queue.empty():
                last_sent = _catch_up(ws, services.db, sub, last_sent, hub.catch_up_limit)
    except (ConnectionClosed, OSError):
        pass  # the client went away
    finally:
        hub.unsubscribe(sub)


def _send_frames(ws: Any, frames: list[str]) -> None:
    """Send text frames with one socket write: at thousands of events a second, a write per frame is the cost."""
    if not frames:
        return
    if not ws.connected:
        raise ConnectionClosed(ws.close_reason, ws.close_message)
    data = b"".join(ws.ws.send(TextMessage(data=frame)) for frame in frames)
    ws.sock.sendall(data)


def _catch_up(ws: Any, db: Any, sub: Subscription, last_sent: int, limit: int) -> int:
    """Send, from the store, what a lagging subscription missed; returns the last id sent once live again."""
    sent_now: set[int] = set()
    while True:
        live, target, late = sub.caught_up(last_sent)
        frames = [payload for event_id, payload in late if event_id not in sent_now]
        if live:
            _send_frames(ws, frames)
            return last_sent
        if target - last_sent > limit:
            # Too far behind to be worth replaying: the client reloads its views (DESIGN section 7).
            frames.append(RESYNC_FRAME)
            _send_frames(ws, frames)
            last_sent = target
            sent_now.clear()
            continue
        with db.read() as session:
            rows = session.execute(
                _ROWS.where(Event.account_id == sub.account_id, Event.id > last_sent, Event.id <= target)
                .order_by(Event.id)
                .limit(CATCH_UP_PAGE)
            ).all()
            views = refs.message_views(session, rows)
        for ev in rows:
            frames.append(json.dumps(envelope(ev, views), separators=(",", ":")))
            sent_now.add(ev.id)
        # Ids up to `target` that are not in the store yet are PostgreSQL commits still in flight: the hub
        # offers them later, as late events.
        last_sent = rows[-1].id if len(rows) == CATCH_UP_PAGE else target
        _send_frames(ws, frames)


def _read_hello(ws: Any, services: Services) -> tuple[Principal, int | None] | None:
    try:
        raw = ws.receive(timeout=HELLO_TIMEOUT_S)
    except ConnectionClosed:
        return None
    reason = "hello expected"
    if raw is not None:
        try:
            msg = loads_bounded(raw)
            if not isinstance(msg, dict) or msg.get("type") != "hello":
                raise ValueError("not a hello")
            principal = services.signer.verify(str(msg.get("ticket") or ""), kind="ws")
            after = msg.get("after")
            if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
                raise ValueError("after must be an event id or null")
            return principal, after
        except (ValueError, TypeError, RecursionError, TokenError) as exc:
            reason = "invalid hello" if not isinstance(exc, TokenError) else "invalid ticket"
    _close(ws, POLICY_VIOLATION, reason)
    return None


def _close(ws: Any, code: int, reason: str) -> None:
    try:
        ws.close(reason=code, message=reason)
    except ConnectionClosed:
        pass


def _replay(ws: Any, db: Any, account_id: int, after: int | None) -> tuple[Callable[[int], bool], int]:
    """Send the events after `after` up to the newest at subscribe time; return which queued ids to skip and the
    newest id the client has (or does not want).

    The subscription is already open, so every event committed from now on arrives through its queue. Only the
    ids the replay itself sent are skipped: on PostgreSQL a transaction holding a lower id can commit after the
    replay read, and the hub delivers it late; it must still be sent. Live-only (`after` null) and `resync`
    skip everything up to the subscribe point, which the client did not ask for or reloads anyway.
    """
    with db.read() as session:
        horizon = session.scalar(
            select(Event.id).where(Event.account_id == account_id).order_by(Event.id.desc()).limit(1)
        )
        if after is None or horizon is None or horizon <= after:
            point = horizon if after is None else max(after, horizon or 0)
            return (lambda event_id: point is not None and event_id <= point), point or 0
        rows = session.scalars(
            select(Event)
            .where(Event.account_id == account_id, Event.id > after, Event.id <= horizon)
            .order_by(Event.id)
            .limit(REPLAY_LIMIT + 1)
        ).all()
        views = refs.message_views(session, rows) if len(rows) <= REPLAY_LIMIT else {}
    if len(rows) > REPLAY_LIMIT:
        ws.send(RESYNC_FRAME)
        return (lambda event_id: event_id <= horizon), horizon
    _send_frames(ws, [json.dumps(envelope(ev, views), separators=(",", ":")) for ev in rows])
    sent = {ev.id for ev in rows}
    return (lambda event_id: event_id in sent or (after is not None and event_id <= after)), horizon
