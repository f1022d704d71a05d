"""A local HTTP server that behaves like today's WhatsApp Web, for driving the real channel in real Chromium.

Two markups (`markup`): "2025" as below, and "2026" (page.html's header cites the public observations it is
built from): bare-id rows without direction classes, ticks as aria-labels over `wds-ic-*` svgs (`tick_labels`
False leaves only the svg), the "What's new" dialog after login, the QR in `link-device-qr-code`, and in both
markups a virtualised chat list (`render_limit`) with All / Unread filter tabs and the restriction bar on new
chats (`new_chats_restricted`).

The page (page.html, whose header says where each shape comes from) shows a splash, a rotating QR canvas
inside `div[data-ref]` with a reload button after `qr_max_rotations`, the "Loading your chats" progress bar
(moving, or stuck at `loading_stuck_at`), `#pane-side` once logged in, the `/send?phone=&text=` chat with
earlier messages, rows `div[role=row] > div[data-id] > ... > div.message-out` whose id has one of three shapes
(`id_shape`), the Lexical composer filled from the URL after `prefill_ms` with the microphone/send swap, ticks
msg-time -> msg-check -> msg-dblcheck (" Delivered ") -> msg-dblcheck (" Read "), popups without
role=dialog (invalid number, "open in another window" with Use here, restricted, banned), update-needed and
unsupported-browser pages, a phone-offline banner, an overlay that catches clicks, a slow page and a
"changed" page. Tests drive it through `FakeWhatsAppWeb` and read exactly what was sent from `sent()`.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
#: a saved copy of real WhatsApp Web markup (its header says where each part comes from), logged in already.
REAL_PAGE = (Path(__file__).parent / "real_page.html").read_text(encoding="utf-8")
REAL_PAGE_TOKEN = "saved-real-page"
ACK_LEVELS = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass
class FakeConfig:
    """What the page does; change it at any time with `FakeWhatsAppWeb.configure(...)`."""

    qr_rotate_ms: int = 20_000  # the real QR changes about every 20 s
    qr_max_rotations: int = 5
    startup_ms: int = 200  # the splash (logo, "End-to-end encrypted") before the QR or the loading screen
    loading_tick_ms: int = 50  # the "Loading your chats" bar moves by `loading_step` percent this often
    loading_step: int = 25
    loading_stuck_at: int | None = None  # the bar stops moving at this percent (a stuck first sync)
    slow_ms: int = 0  # delay before a chat opens ("slow page")
    prefill_ms: int = 100  # the composer is filled from the URL's text this long after the chat opens
    mode: str = "normal"  # "changed": composer and send button no longer match any selector
    page: str = "normal"  # "update" / "unsupported" pages; "real": the saved copy of real markup (real_page.html)
    #: row ids: "c.us" (true_<n>@c.us_<hex>), "lid" (true_<opaque>@lid_<hex>), "hex" (bare 20-32 characters);
    #: None: "hex" in the 2026 markup, "c.us" in the 2025 one
    id_shape: str | None = None
    earlier_messages: bool = True  # a chat already holds an incoming and an outgoing message when it opens
    invalid_numbers: list[str] = field(default_factory=list)
    #: digits -> the name the phone's address book gives that number: its chat is titled by the name, not the number
    contact_names: dict[str, str] = field(default_factory=dict)
    banned: bool = False
    restricted: bool = False
    throttled: bool = False
    phone_offline: bool = False
    overlay_ms: int = 0  # an overlay catches clicks this long after a chat opens
    overlay_escape: bool = True  # ... unless Escape closes it first
    session_poll_ms: int = 300  # how often the page asks the server about the session (conflict, notices)
    auto_sent_ms: int | None = 100  # clock -> single tick after this long; None: stays on the clock
    #: "2025" (message-in/out rows, msg-* ticks) or "2026" (bare-id rows, aria-label ticks over wds-ic-* svgs)
    markup: str = "2025"
    render_limit: int = 70  # the chat list is virtualised: only this many chats of the filter are in the page
    whats_new: bool | None = None  # "What's new on WhatsApp Web" after login (None: in the 2026 markup)
    tick_labels: bool = True  # 2026: ticks carry their aria-label (False: only the svg's title tells)
    profile_name: str = "Shop"  # 2026: data-pre-plain-text names our profile, not "You"
    new_chats_restricted: bool = False  # a chat with no messages yet shows the restriction bar, no message box
    attach_button: bool = True  # False: the chat has no attach button (the page changed)


@dataclass
class SentMessage:
    id: str  # the server's own message id (hex)
    phone: str
    text: str
    at: float
    row_id: str = ""  # what the page shows in the row's data-id (one of the three shapes)
    ack: int = 0
    direction: str = "out"
    sender: str = "You"
    earlier: bool = False  # seeded history, not sent during the test
    unread: bool = False  # an incoming message nobody opened yet
    #: a file sent through the attach menu: {"filename", "mime", "size", "data" (bytes), "accept", "as_document"}
    media: dict[str, Any] | None = None


def clock() -> tuple[str, str]:
    now = time.localtime()
    return time.strftime("%H:%M", now), time.strftime("%d/%m/%Y", now)


class FakeState:
    """Everything the server knows, behind one lock (handler threads and the test thread share it)."""

    def __init__(self, config: FakeConfig) -> None:
        self.lock = threading.Lock()
        self.config = config
        self.tokens: set[str] = set()
        self.scan_pending = False
        self.qr_refs: list[str] = []
        self.reload_clicks = 0
        self.messages: list[SentMessage] = []
        self.user_agents: set[str] = set()
        self.conflict = False
        self.use_here_clicks = 0
        self.page_loads = 0
        self.browsers: list[dict[str, Any]] = []  # navigator.webdriver and navigator.language of each load
        self.lids: dict[str, str] = {}
        self.seeded: set[str] = set()
        self.counter = 0
        self.whats_new_closed = 0

    def new_id(self) -> str:
        self.counter += 1
        return f"3EB0{secrets.token_hex(6).upper()}{self.counter:04X}"

    def row_id(self, phone: str, hex_id: str, outgoing: bool = True) -> str:
        new_markup = self.config.markup == "2026"
        shape = self.config.id_shape or ("hex" if new_markup else "c.us")
        if shape == "hex":
            # 2026 field notes: incoming ids of 20 characters, ours of 32
            return f"{hex_id}{secrets.token_hex(6).upper()}" if outgoing and new_markup else hex_id
        own = "true" if outgoing else "false"
        if shape == "lid":
            # A LID is an opaque number that is NOT the phone number.
            lid = self.lids.setdefault(phone, str(100_000_000_000_000 + secrets.randbelow(10**14)))
            return f"{own}_{lid}@lid_{hex_id}"
        return f"{own}_{phone}@c.us_{hex_id}"

    def seed(self, phone: str) -> None:
        """Earlier messages in a chat the first time it opens: one from them, one of ours (read)."""
        if phone in self.seeded or not self.config.earlier_messages:
            return
        self.seeded.add(phone)
        for direction, text in (("in", "Hi, is the shop open today?"), ("out", "Yes, until 6 pm.")):
            hex_id = self.new_id()
            self.messages.append(
                SentMessage(
                    id=hex_id,
                    phone=phone,
                    text=text,
                    at=time.monotonic() - 3600,
                    row_id=self.row_id(phone, hex_id, direction == "out"),
                    ack=3,
                    direction=direction,
                    sender="You" if direction == "out" else f"+{phone}",
                    earlier=True,
                )
            )

    def ack_of(self, message: SentMessage) -> int:
        auto = self.config.auto_sent_ms
        if message.ack == 0 and auto is not None and (time.monotonic() - message.at) * 1000 >= auto:
            message.ack = 1
        return message.ack


class FakeWhatsAppWeb:
    """Runs the fake on 127.0.0.1 with a free port in a daemon thread. Use as a context manager."""

    def __init__(self, **config: Any) -> None:
        self.state = FakeState(FakeConfig(**config))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-whatsapp-web", daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def start(self) -> FakeWhatsAppWeb:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeWhatsAppWeb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a test does with the phone ------------------------------------------------------------------
    def configure(self, **changes: Any) -> None:
        with self.state.lock:
            for key, value in changes.items():
                if not hasattr(self.state.config, key):
                    raise AttributeError(key)
                setattr(self.state.config, key, value)

    def scan(self) -> None:
        """The phone scans whatever QR the page shows next time it polls."""
        with self.state.lock:
            self.state.scan_pending = True

    def logout(self) -> None:
        """Log out every linked device, as "Log out" on the phone does."""
        with self.state.lock:
            self.state.tokens.clear()
            self.state.scan_pending = False

    def ack(self, message_id: str, status: str) -> None:
        """Move one message's ticks to `pending`, `sent`, `delivered` or `read`."""
        with self.state.lock:
            for message in self.state.messages:
                if message.id == message_id:
                    message.ack = ACK_LEVELS[status]
                    return
        raise KeyError(message_id)

    def sent(self) -> list[dict[str, Any]]:
        """Every message sent through the page (not the earlier messages a chat opened with)."""
        with self.state.lock:
            return [asdict(m) for m in self.state.messages if not m.earlier and m.direction == "out"]

    def receive(self, phone: str, text: str) -> str:
        """Someone writes to us: an unread incoming message in their chat. Returns its row id."""
        with self.state.lock:
            self.state.seed(phone)
            hex_id = self.state.new_id()
            message = SentMessage(
                id=hex_id,
                phone=phone,
                text=text,
                at=time.monotonic(),
                row_id=self.state.row_id(phone, hex_id, outgoing=False),
                direction="in",
                sender=f"+{phone}",
                unread=True,
            )
            self.state.messages.append(message)
            return message.row_id

    def fill_chat_list(self, count: int, first_phone: int = 19990000000) -> None:
        """`count` more chats, each with a message someone sent that was read already, all newer than every chat
        so far: whatever was listed before now sits below them."""
        with self.state.lock:
            for n in range(count):
                phone = str(first_phone + n)
                hex_id = self.state.new_id()
                self.state.messages.append(
                    SentMessage(
                        id=hex_id,
                        phone=phone,
                        text=f"Thanks, see you ({n})",
                        at=time.monotonic(),
                        row_id=self.state.row_id(phone, hex_id, outgoing=False),
                        direction="in",
                        sender=f"+{phone}",
                    )
                )
                self.state.seeded.add(phone)

    def whats_new_closed(self) -> int:
        """How often the "What's new" dialog was closed (Continue or Close)."""
        with self.state.lock:
            return self.state.whats_new_closed

    def chat_rows(self, phone: str) -> list[dict[str, Any]]:
        """Everything the chat with `phone` shows, earlier messages included."""
        with self.state.lock:
            return [asdict(m) for m in self.state.messages if m.phone == phone]

    def open_elsewhere(self) -> None:
        """The user opens WhatsApp Web in another browser: this page shows "open in another window"."""
        with self.state.lock:
            self.state.conflict = True

    def use_here_clicks(self) -> int:
        with self.state.lock:
            return self.state.use_here_clicks

    def qr_refs(self) -> list[str]:
        with self.state.lock:
            return list(self.state.qr_refs)

    def reload_clicks(self) -> int:
        with self.state.lock:
            return self.state.reload_clicks

    def user_agents(self) -> set[str]:
        """Every User-Agent that loaded the page."""
        with self.state.lock:
            return set(self.state.user_agents)

    def page_loads(self) -> int:
        with self.state.lock:
            return self.state.page_loads

    def browsers(self) -> list[dict[str, Any]]:
        """What each page load saw of its browser: navigator.webdriver and navigator.language."""
        with self.state.lock:
            return list(self.state.browsers)

    def logged_in_devices(self) -> int:
        with self.state.lock:
            return len(self.state.tokens)


def _make_handler(state: FakeState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fake whatsapp: " + format, *args)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path in ("/", "/send"):
                with state.lock:
                    shown = asdict(state.config)
                    if shown["whats_new"] is None:
                        shown["whats_new"] = state.config.markup == "2026"
                    config = json.dumps(shown)
                    state.user_agents.add(self.headers.get("User-Agent", ""))
                    state.page_loads += 1
                    real = state.config.page == "real"
                    if real:
                        state.tokens.add(REAL_PAGE_TOKEN)
                html = REAL_PAGE.replace("__TOKEN__", REAL_PAGE_TOKEN) if real else PAGE.replace("__CONFIG__", config)
                self._reply(200, html, "text/html; charset=utf-8")
            elif url.path == "/_api/whoami":
                with state.lock:
                    c = state.config
                    valid = query.get("token", "") in state.tokens
                    flags = {
                        "banned": c.banned,
                        "throttled": c.throttled,
                        "restricted": c.restricted,
                        "phone_offline": c.phone_offline,
                        "conflict": state.conflict,
                        "chats": _chats(state) if valid else [],
                    }
                self._json({"valid": valid, **flags})
            elif url.path == "/_api/chat":
                phone = query.get("phone", "")
                with state.lock:
                    new = not any(m.phone == phone for m in state.messages)
                    blocked = new and state.config.new_chats_restricted
                    if not blocked:
                        state.seed(phone)
                    rows = []
                    for m in state.messages:
                        if m.phone != phone:
                            continue
                        hhmm, date = clock()
                        rows.append(
                            {
                                "id": m.id,
                                "row_id": m.row_id,
                                "text": m.text,
                                "ack": state.ack_of(m),
                                "dir": m.direction,
                                "sender": m.sender,
                                "time": hhmm,
                                "date": date,
                            }
                        )
                self._json({"messages": rows, "blocked": blocked})
            elif url.path == "/_api/acks":
                wanted = set(query.get("ids", "").split(","))
                with state.lock:
                    self._json({m.id: state.ack_of(m) for m in state.messages if m.id in wanted})
            elif url.path == "/_test/sent":
                with state.lock:
                    self._json([asdict(m) for m in state.messages])
            else:
                self._reply(404, "not found", "text/plain")

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            with state.lock:
                answer = _post(state, url.path, body)
            if answer is None:
                self._reply(404, "not found", "text/plain")
            else:
                self._json(answer)

        def _json(self, data: Any) -> None:
            self._reply(200, json.dumps(data), "application/json")

        def _reply(self, status: int, text: str, content_type: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _chats(state: FakeState) -> list[dict[str, Any]]:
    """The chat list: chats someone wrote in, the one with the newest message first, with their unread counts."""
    chats: dict[str, dict[str, Any]] = {}
    for message in sorted(state.messages, key=lambda m: m.at):
        if message.direction == "in" and not message.earlier:
            chat = chats.setdefault(message.phone, {"phone": message.phone, "unread": 0, "last": "", "at": 0.0})
            chat["unread"] += int(message.unread)
            chat["last"], chat["at"] = message.text, message.at
    ordered = sorted(chats.values(), key=lambda c: c["at"], reverse=True)
    return [{k: v for k, v in c.items() if k != "at"} for c in ordered]


def _post(state: FakeState, path: str, body: dict[str, Any]) -> Any:
    """Answer one POST; the caller holds state.lock."""
    if path == "/_api/qr":
        ref = body.get("ref", "")
        if ref and (not state.qr_refs or state.qr_refs[-1] != ref):
            state.qr_refs.append(ref)
        if state.scan_pending:
            state.scan_pending = False
            token = secrets.token_hex(8)
            state.tokens.add(token)
            return {"token": token}
        return {}
    if path == "/_api/whats_new_closed":
        state.whats_new_closed += 1
        return {}
    if path == "/_api/reload":
        state.reload_clicks += 1
        return {}
    if path in ("/_api/send", "/_api/send_media"):
        if body.get("token") not in state.tokens:
            return {"error": "logged out"}
        if state.conflict:
            return {"error": "open in another window"}
        hex_id = state.new_id()
        phone = body["phone"]
        media = None
        if path == "/_api/send_media":
            data = base64.b64decode(body["data_b64"])
            media = {"filename": body["filename"], "mime": body["mime"], "size": len(data), "data": data,
                     "accept": body["accept"], "as_document": body["accept"] == "*"}  # fmt: skip
        message = SentMessage(
            id=hex_id,
            phone=phone,
            text=body["text"],
            at=time.monotonic(),
            row_id=state.row_id(phone, hex_id),
            media=media,
        )
        state.messages.append(message)
        hhmm, date = clock()
        return {"id": message.id, "row_id": message.row_id, "time": hhmm, "date": date}
    if path == "/_api/hello":
        state.browsers.append({"webdriver": body.get("webdriver"), "language": body.get("language")})
        return {}
    if path == "/_api/use_here":
        if body.get("token") in state.tokens:
            state.conflict = False
            state.use_here_clicks += 1
        return {}
    if path == "/_api/read":
        for message in state.messages:
            if message.phone == body.get("phone"):
                message.unread = False
        return {}
    if path == "/_api/logout":
        state.tokens.discard(body.get("token", ""))
        return {}
    if path == "/_test/scan":
        state.scan_pending = True
        return {"ok": True}
    if path == "/_test/logout":
        state.tokens.clear()
        return {"ok": True}
    if path == "/_test/ack":
        for message in state.messages:
            if message.id == body["id"]:
                message.ack = ACK_LEVELS[body["status"]]
                return {"ok": True}
        return {"error": "no such message"}
    if path == "/_test/config":
        for key, value in body.items():
            setattr(state.config, key, value)
        return asdict(state.config)
    return None
