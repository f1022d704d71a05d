"""The SMTP channel's optional inbox (IMAP), where replies and delivery reports arrive (DESIGN section 9).

Settings: `imap_host`, `imap_port` (default 993 for ssl, 143 otherwise), `imap_security` (`ssl` | `starttls` |
`none`, default ssl), `imap_username`, `imap_password` (a secret: encrypted, masked, and bound to the IMAP host,
port and user: changing any of them requires the password again), `imap_folder` (default INBOX).

The settings are checked with the channel's (backend/channels/smtp/settings.py); no inbox when `imap_host` is empty.
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
from backend.channels.smtp.settings import IMAP_PORTS
from backend.store.models import InboxCursor

log = logging.getLogger(__name__)


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
