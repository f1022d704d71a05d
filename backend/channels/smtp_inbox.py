"""The SMTP channel's optional inbox (IMAP), where replies and delivery reports arrive (DESIGN section 9).

Settings: `imap_host`, `imap_port` (default 993 for ssl, 143 otherwise), `imap_security` (`ssl` | `starttls` |
`none`, default ssl), `imap_username`, `imap_password` (a secret: encrypted, masked, and bound to the IMAP host,
port and user: changing any of them requires the password again), `imap_folder` (default INBOX).

`check_inbox_settings(raw, current)` -> (plain settings, secrets, problems); no inbox when `imap_host` is empty.
`inbox_status(session, account_id)` -> {"unreadable": N, "text", "set_aside": [{"uid", "reason", "at"}]}: the
mails the reader set aside (backend/conversations/mailbox.py), as `GET /api/channels` shows them under `inbox`.
`open_inbox(settings, secrets, timeout_s)` -> a logged-in IMAPClient with the folder selected, or SendError with a
plain reason (every socket operation bounded by the timeout). IMAPClient (a well-kept IMAP library) does the
protocol.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.base import SendError
from backend.security.hosts import host_problem
from backend.security.masking import MASK
from backend.store.models import InboxCursor

IMAP_KEYS = frozenset({"imap_host", "imap_port", "imap_security", "imap_username", "imap_password", "imap_folder"})
IMAP_SECURITY = ("ssl", "starttls", "none")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
#: what the password is bound to: changing one of these asks for the password again.
BOUND_TO = ("imap_host", "imap_port", "imap_username")

log = logging.getLogger(__name__)


def check_inbox_settings(
    raw: dict[str, Any], current: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, str]]]:
    problems: list[dict[str, str]] = []
    given = {k: raw[k] for k in IMAP_KEYS if k in raw}
    merged = {**{k: current.get(k) for k in IMAP_KEYS if k in current}, **given}
    host = str(merged.get("imap_host") or "").strip()
    if not host:
        return {}, {}, problems
    if host_problem(host):
        problems.append({"field": "imap_host", "reason": f"give the mail server's host name: {host_problem(host)}"})
    security = str(merged.get("imap_security") or "ssl").lower()
    if security not in IMAP_SECURITY:
        problems.append({"field": "imap_security", "reason": "must be ssl, starttls or none"})
        security = "ssl"
    port = merged.get("imap_port") or IMAP_PORTS[security]
    if isinstance(port, str) and port.isascii() and port.isdigit() and len(port) < 6:
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.append({"field": "imap_port", "reason": "must be a port number between 1 and 65535"})
    username = str(merged.get("imap_username") or "").strip()
    if not username:
        problems.append({"field": "imap_username", "reason": "give the mailbox's user name"})
    folder = str(merged.get("imap_folder") or "INBOX").strip()
    if len(folder) > 200 or not folder.isprintable():
        problems.append({"field": "imap_folder", "reason": "give a folder name such as INBOX"})
    password = raw.get("imap_password")
    if password is None or password == MASK:
        moved = any(k in given and given[k] != current.get(k) for k in BOUND_TO) and bool(current.get("imap_host"))
        password = None if moved else current.get("imap_password")
        if moved:
            problems.append({"field": "imap_password", "reason": "give the password again for the new host or user"})
    if not password and not any(p["field"] == "imap_password" for p in problems):
        problems.append({"field": "imap_password", "reason": "give the mailbox's password"})
    for key, value in (("imap_username", username), ("imap_password", str(password or ""))):
        if "\r" in value or "\n" in value:
            problems.append({"field": key, "reason": "must not contain line breaks"})
    settings = {
        "imap_host": host,
        "imap_port": port,
        "imap_security": security,
        "imap_username": username,
        "imap_folder": folder,
    }
    return settings, ({"imap_password": str(password)} if password else {}), problems


def has_inbox(settings: dict[str, Any]) -> bool:
    return bool(settings.get("imap_host"))


def inbox_status(session: Session, account_id: int) -> dict[str, Any]:
    rows = session.scalars(
        select(InboxCursor).where(InboxCursor.account_id == account_id, InboxCursor.channel == "smtp")
    ).all()
    aside = [item for row in rows for item in (row.set_aside or [])]
    count = len(aside)
    text = "every mail was read" if not count else f"{count} mail{'' if count == 1 else 's'} could not be read"
    # `state` "ok" here; the outage check (backend/conversations/inbox_health.py) makes it "error" with the reason.
    return {"state": "ok", "unreadable": count, "text": text, "set_aside": aside[-20:]}


def open_inbox(
    settings: dict[str, Any], secrets: dict[str, str], timeout_s: float, verify_tls: bool = True
) -> tuple[Any, int]:
    """A logged-in client with the folder selected read-only (nothing we fetch is marked seen), and the
    folder's UIDVALIDITY. Raises SendError with a plain reason."""
    host, security = str(settings["imap_host"]), str(settings.get("imap_security") or "ssl")
    port = int(settings.get("imap_port") or IMAP_PORTS[security])
    where = f"{host}:{port}"
    context = ssl.create_default_context()
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    client: IMAPClient | None = None
    try:
        client = IMAPClient(host, port=port, ssl=security == "ssl", ssl_context=context, timeout=timeout_s)
        if security == "starttls":
            client.starttls(context)
        client.login(str(settings.get("imap_username") or ""), secrets.get("imap_password", ""))
        selected = client.select_folder(str(settings.get("imap_folder") or "INBOX"), readonly=True)
        return client, int(selected.get(b"UIDVALIDITY") or 0)
    except LoginError:
        logout_quietly(client)
        raise SendError(f"The mail server {where} refused the inbox user name or password") from None
    except ssl.SSLCertVerificationError as exc:
        logout_quietly(client)
        raise SendError(f"TLS certificate of {where} is not trusted: {exc.verify_message}") from None
    except (IMAPClientError, TimeoutError, OSError, ssl.SSLError) as exc:
        # In our words only: the host may be any service, and what it sent (a banner, a reply) is not ours to
        # show; a port that refuses, drops or never answers reads the same.
        logout_quietly(client)
        log.info("inbox at %s could not be opened: %s", where, _short(exc))
        if client is not None and isinstance(exc, IMAPClientError) and not isinstance(exc, IMAPClient.AbortError):
            folder = settings.get("imap_folder") or "INBOX"
            raise SendError(f"The inbox {folder} on {where} could not be opened: check the folder's name") from None
        raise SendError(
            f"Could not connect to an IMAP inbox at {where}: check the host, the port and the security"
        ) from None


def verify_inbox(settings: dict[str, Any], secrets: dict[str, str], timeout_s: float, verify_tls: bool = True) -> str:
    """Log in and select the folder; returns a detail text or raises SendError."""
    client, _validity = open_inbox(settings, secrets, timeout_s, verify_tls)
    logout_quietly(client)
    return f"inbox {settings.get('imap_folder') or 'INBOX'} on {settings['imap_host']}"


def logout_quietly(client: Any) -> None:
    if client is None:
        return
    try:
        client.logout()
    except (IMAPClientError, OSError):
        try:
            client.shutdown()
        except (IMAPClientError, OSError):
            pass


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return text or type(exc).__name__
