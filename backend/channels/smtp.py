"""The SMTP channel: any mail server, over `connections` connections each reused for a whole run (DESIGN 8).

Contract:
- Settings: host, port, security (`starttls` | `ssl` | `none`), username, password (secret), from_address,
  from_name; optional verify_tls (default true; false accepts a self-signed certificate) and timeout_s.
- `verify()` opens its own connection: EHLO, STARTTLS, AUTH, NOOP, QUIT; raises SendError with the reason. With
  an inbox (imap_* settings, backend/channels/smtp_inbox.py) it also logs in to it and selects the folder.
- `connections` (default 4, 1-20): the dispatcher runs that many workers (`concurrency()`), and `send` may be
  called by all of them at once: each call checks out an idle connection (or opens one), keeps it to itself for
  the send and puts it back, so every worker in effect keeps its own connection for the whole run; one the server
  dropped is re-opened. `close()` ends them all.
- PIPELINING (RFC 2920): when the server's EHLO offers it, MAIL FROM, RCPT TO and DATA go out in one write and
  their three replies are read after it (one round trip instead of three); the content follows the 354 as usual.
  Without it, each command waits for its reply.
- Per-recipient 5xx -> SendError(permanent; with a 5.1.x status also opt_out="email", a hard bounce);
  4xx -> SendError (transient, retried with backoff); a connection
  lost or timed out after the message content started -> SendError(uncertain) (the server may have it); lost
  before that -> re-opened once and tried again. Refused login -> SendError(pause_campaign).
  Connection-level failures (refused, DNS, TLS handshake, a 421 "service not available", a connection that
  cannot be kept) -> SendError(outage): the channel is down, not the message (DESIGN section 5).
  Returns the Message-ID (deterministic per message, see email_mime).
- Through SendGrid's relay (host `*.sendgrid.net`) every message carries `X-SMTPAPI` unique_args naming our
  account and message (backend.channels.sendgrid_events), so SendGrid's event webhook maps back to it.
- Every socket operation has a timeout (timeout_s, default 30 s).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from smtplib import quoteaddr
from typing import Any, ClassVar

from backend.channels.base import Channel, ChannelContext, OutboundMessage, SendError, SettingsError
from backend.channels.email_mime import check_address, domain_of, render_email, unsubscribe_header
from backend.channels.sendgrid_events import sendgrid_headers
from backend.channels.smtp_inbox import IMAP_KEYS, check_inbox_settings, has_inbox, verify_inbox
from backend.security.hosts import host_problem
from backend.security.masking import MASK

log = logging.getLogger(__name__)

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT_S = 30.0
#: RFC 3463 enhanced status codes for a bad destination mailbox or address (5.1.0 - 5.1.10).
BAD_MAILBOX = re.compile(r"^5\.1\.\d{1,2}\b")
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 20
#: the socket operations one send may wait on (connect, greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL/RCPT/DATA,
#: content, plus a reconnect): the dispatcher's lease outlives them all.
OPERATIONS_PER_SEND = 12


class SmtpChannel(Channel):
    name: ClassVar[str] = "smtp"
    title: ClassVar[str] = "Email (SMTP)"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password", "imap_password"})
    max_attempts: ClassVar[int] = 5
    needs_subject: ClassVar[bool] = True
    recipient_kind: ClassVar[str] = "email"
    #: connect + TLS + AUTH + MAIL/RCPT/DATA, each bounded by timeout_s (see longest_send_s).
    send_timeout_s: ClassVar[float] = OPERATIONS_PER_SEND * DEFAULT_TIMEOUT_S
    default_concurrency: ClassVar[int] = DEFAULT_CONNECTIONS
    provider_title: ClassVar[str] = "The SMTP server"
    #: the send counts as started just before the DATA payload, not at MAIL FROM (`_transaction`).
    announces_content: ClassVar[bool] = True

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        super().__init__(settings, secrets, context)
        #: open connections nobody is sending over right now (a send checks one out and puts it back).
        self._idle: list[smtplib.SMTP] = []
        self._busy: set[smtplib.SMTP] = set()
        self._closed = False
        self._lock = threading.RLock()
        #: mail relayed through SendGrid carries our ids (X-SMTPAPI unique_args) so its event webhook maps back.
        self.via_sendgrid = is_sendgrid_host(str(settings.get("host") or ""))
        self._quoted_from = quoteaddr(self.from_address)
        #: the server's SIZE (`size_limit`): False until asked.
        self._size_limit: int | None | bool = False

    @property
    def reports_delivery(self) -> bool:
        # Only SendGrid's relay reports delivery events; a plain SMTP server's 250 is all we will ever hear.
        return self.via_sendgrid

    # -- settings ---------------------------------------------------------------------------------------
    @classmethod
    def validate_settings(
        cls, raw: dict[str, Any], current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check host, port (1..65535, default by security), security, username, password, from_address,
        from_name, verify_tls, timeout_s. A password of `****` or none keeps the stored one."""
        merged = {**(current or {}), **{k: v for k, v in raw.items() if not (k == "password" and v == MASK)}}
        problems: list[dict[str, str]] = []
        known = {"host", "port", "security", "username", "password", "from_address", "from_name", "verify_tls"}
        known.add("connections")
        for key in sorted(set(raw) - known - {"timeout_s"} - IMAP_KEYS):
            problems.append({"field": key, "reason": "unknown setting"})
        host = str(merged.get("host") or "").strip()
        if host_problem(host):
            problems.append({"field": "host", "reason": f"give the mail server's host name: {host_problem(host)}"})
        security = str(merged.get("security") or "starttls").lower()
        if security not in SECURITY:
            problems.append({"field": "security", "reason": "must be starttls, ssl or none"})
        port = merged.get("port") or DEFAULT_PORTS.get(security, 587)
        if isinstance(port, str) and port.isascii() and port.isdigit() and len(port) < 10:
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append({"field": "port", "reason": "must be a port number between 1 and 65535"})
        from_address = str(merged.get("from_address") or "").strip()
        try:
            check_address(from_address, "from address")
        except SendError:
            problems.append({"field": "from_address", "reason": "must be an email address like news@example.com"})
        from_name = str(merged.get("from_name") or "").strip()
        username = str(merged.get("username") or "").strip()
        password = str(merged.get("password") or "")
        for key, value in (("from_name", from_name), ("username", username), ("password", password)):
            if "\r" in value or "\n" in value:
                problems.append({"field": key, "reason": "must not contain line breaks"})
        if username and not password:
            problems.append({"field": "password", "reason": "give the password for this username"})
        verify_tls = merged.get("verify_tls", True)
        if not isinstance(verify_tls, bool):
            problems.append({"field": "verify_tls", "reason": "must be true or false"})
        timeout = merged.get("timeout_s", DEFAULT_TIMEOUT_S)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 300:
            problems.append({"field": "timeout_s", "reason": "must be between 1 and 300 seconds"})
        inbox, inbox_secrets, inbox_problems = check_inbox_settings(raw, current or {})
        problems.extend(inbox_problems)
        connections = merged.get("connections", DEFAULT_CONNECTIONS)
        if (
            isinstance(connections, str)
            and connections.strip().isascii()
            and connections.strip().isdigit()
            and len(connections) < 10
        ):
            connections = int(connections)
        if isinstance(connections, bool) or not isinstance(connections, int) or not 1 <= connections <= MAX_CONNECTIONS:
            problems.append(
                {"field": "connections", "reason": f"must be a whole number from 1 to {MAX_CONNECTIONS} (default 4)"}
            )
        if problems:
            raise SettingsError("Invalid SMTP settings", problems)
        settings = {
            "host": host,
            "port": port,
            "security": security,
            "username": username,
            "from_address": from_address,
            "from_name": from_name,
            "verify_tls": verify_tls,
            "timeout_s": float(timeout),
            **inbox,
            "connections": connections,
        }
        return settings, ({"password": password} if password else {}) | inbox_secrets

    @property
    def from_address(self) -> str:
        return str(self.settings.get("from_address") or "")

    @property
    def _timeout(self) -> float:
        return float(self.settings.get("timeout_s") or DEFAULT_TIMEOUT_S)

    def concurrency(self) -> int:
        return int(self.settings.get("connections") or DEFAULT_CONNECTIONS)

    def longest_send_s(self) -> float:
        return OPERATIONS_PER_SEND * self._timeout

    def _where(self) -> str:
        return f"{self.settings.get('host')}:{self.settings.get('port')}"

    # -- connection -------------------------------------------------------------------------------------
    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.get("verify_tls") is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> smtplib.SMTP:
        """A connected, secured and logged-in SMTP session. Raises SendError with the reason (an outage when the
        server cannot be reached or will not talk)."""
        host, security = str(self.settings["host"]), str(self.settings.get("security") or "starttls")
        port = int(self.settings.get("port") or DEFAULT_PORTS[security])
        conn: smtplib.SMTP | None = None
        try:
            if security == "ssl":
                conn = smtplib.SMTP_SSL(host, port, timeout=self._timeout, context=self._tls_context())
            else:
                conn = smtplib.SMTP(host, port, timeout=self._timeout)
            conn.ehlo()
            if security == "starttls":
                if not conn.has_extn("starttls"):
                    raise SendError(f"{self._where()} does not offer STARTTLS; choose security `none` or `ssl`")
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            username = str(self.settings.get("username") or "")
            if username:
                conn.login(username, self.secrets.get("password", ""))
            return conn
        except SendError:
            _quit_quietly(conn)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _quit_quietly(conn)
            raise SendError(
                f"The server refused the username or password ({exc.smtp_code})", pause_campaign=True
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _quit_quietly(conn)
            raise SendError(f"{self._where()} does not support login (AUTH) on this connection") from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quit_quietly(conn)
            raise SendError(connection_failure(exc), outage=True) from exc

    def verify(self) -> str:
        """EHLO, STARTTLS, AUTH and NOOP on a fresh connection; returns a detail text or raises SendError (in our
        words: `verify_failure`)."""
        try:
            conn = self._open()
        except SendError as exc:
            cause = exc.__cause__
            raise SendError(verify_failure(cause) if cause is not None else exc.reason) from cause
        try:
            code, _ = conn.noop()
            if code != 250:
                raise SendError(f"{self._where()} answered NOOP with {code}")
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(verify_failure(exc)) from exc
        finally:
            _quit_quietly(conn)
        security = str(self.settings.get("security") or "starttls")
        user = self.settings.get("username")
        detail = f"Connected to {self._where()}" + (f" as {user}" if user else "") + f" ({security})"
        if has_inbox(self.settings):
            verify_tls = self.settings.get("verify_tls") is not False
            detail += "; reading the " + verify_inbox(self.settings, self.secrets, self._timeout, verify_tls)
        return detail

    def size_limit(self) -> int | None:
        """The largest message the server takes (its EHLO `SIZE`, RFC 1870), asked once and kept; None when it
        names none or cannot be asked now (the send itself still checks)."""
        if self._size_limit is False:
            try:
                conn = self._open()
            except SendError:
                return None
            try:
                announced = conn.esmtp_features.get("size", "").strip() if conn.does_esmtp else ""
                self._size_limit = int(announced) if announced.isdigit() and int(announced) > 0 else None
            finally:
                _quit_quietly(conn)
        return self._size_limit if isinstance(self._size_limit, int) else None

    def close(self) -> None:
        """End every idle connection now and each busy one as its send ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for conn in idle:
            _quit_quietly(conn)

    # -- sending ----------------------------------------------------------------------------------------
    def unsubscribe_value(self, message: OutboundMessage) -> str | None:
        """Campaign mail carries List-Unsubscribe (mailto to the sender, plus the link the hooks supplied)."""
        if message.sender_type != "campaign":
            return None
        return unsubscribe_header(self.from_address, message.metadata.get("unsubscribe_url"))

    def send(self, message: OutboundMessage) -> str:
        if self.via_sendgrid:
            message = dataclasses.replace(message, headers={**message.headers, **sendgrid_headers(message)})
        mail = render_email(
            message,
            self.from_address,
            self.settings.get("from_name") or None,
            domain_of(self.from_address),
            unsubscribe=self.unsubscribe_value(message),
            unsubscribe_one_click=bool(message.metadata.get("unsubscribe_url")),
            id_key=self.context.options.get("message_id_key"),
        )
        recipient = check_address(message.recipient)
        if not recipient.isascii():
            raise SendError(f"{recipient} has non-ASCII characters, which this channel cannot send to", permanent=True)
        payload = mail.data
        for attempt in (1, 2):
            conn = self._checkout()
            try:
                self._transaction(conn, recipient, payload, message.content_going_out)
            except _Dropped as exc:
                # Nothing of this message left yet: a connection the server closed while idle is normal.
                self._discard(conn)
                if attempt == 2:
                    raise SendError(
                        f"The SMTP server keeps closing the connection ({exc.reason})", outage=True
                    ) from None
                continue
            except SendError as exc:
                if exc.uncertain or exc.outage:
                    self._discard(conn)
                else:
                    self._checkin(conn)
                raise
            except BaseException:
                self._discard(conn)
                raise
            self._checkin(conn)
            return mail.message_id
        raise AssertionError("unreachable")

    def _checkout(self) -> smtplib.SMTP:
        """An open connection for this send alone: an idle one, or a new one."""
        with self._lock:
            self._closed = False
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        with self._lock:
            self._busy.add(conn)
        return conn

    def _checkin(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._busy.discard(conn)
            if not self._closed:
                self._idle.append(conn)
                return
        _quit_quietly(conn)

    def _discard(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._busy.discard(conn)
        _quit_quietly(conn)

    def _transaction(
        self, conn: smtplib.SMTP, recipient: str, payload: bytes, content_going_out: Callable[[], None]
    ) -> None:
        """MAIL FROM, RCPT TO and DATA (pipelined when the server offers it), then `content_going_out()` and the
        content.

        Raises _Dropped when the connection was lost before any of the content left (safe to retry), SendError
        otherwise (uncertain once the content started)."""
        _check_size(conn, payload)
        # `recipient` passed check_address (a bare local@domain): quoted as smtplib.quoteaddr would.
        commands = (f"MAIL FROM:{self._quoted_from}", f"RCPT TO:<{recipient}>", "DATA")
        try:
            if conn.does_esmtp and conn.has_extn("pipelining"):
                conn.send("".join(f"{command}\r\n" for command in commands))
                replies = [conn.getreply() for _ in commands]
            else:
                replies = []
                for command in commands:
                    conn.putcmd(command)
                    replies.append(conn.getreply())
                    if replies[-1][0] not in (250, 251, 354):
                        break
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(_reason(exc)) from exc
        (mail_code, mail_reply), *rest = replies
        rcpt = rest[0] if rest else None
        data = rest[1] if len(rest) > 1 else None
        if data is not None and data[0] == 354 and (mail_code != 250 or (rcpt and rcpt[0] not in (250, 251))):
            # The server took DATA though the envelope failed: end the empty message so the session stays usable.
            self._end_empty_data(conn)
        for code, reply in replies:
            if code == 421:
                raise SendError(f"The SMTP server is not taking mail now ({_text(code, reply)})", outage=True)
        if mail_code != 250:
            self._reset(conn)
            raise _refusal(mail_code, mail_reply, "sender address", pause=True)
        if rcpt is None or rcpt[0] not in (250, 251):
            self._reset(conn)
            code, reply = rcpt if rcpt is not None else (554, b"no answer to RCPT TO")
            raise _refusal(code, reply, recipient, mailbox=True)
        if data is None or data[0] != 354:
            self._reset(conn)
            code, reply = data if data is not None else (554, b"no answer to DATA")
            raise _refusal(code, reply, "message")
        body = dot_stuff(payload)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        content_going_out()  # raises SendError(outage=True) when the start cannot be recorded: nothing sent
        try:
            conn.send(body + b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise SendError(
                f"Connection to {self._where()} lost while sending the message: {_reason(exc)}", uncertain=True
            ) from exc
        if code == 421:
            # An answer, so not uncertain: the server did not take the message and is closing the session.
            raise SendError(f"The SMTP server is not taking mail now ({_text(code, reply)})", outage=True)
        if code != 250:
            self._reset(conn)
            raise _refusal(code, reply, "message")

    def _end_empty_data(self, conn: smtplib.SMTP) -> None:
        try:
            conn.send(b".\r\n")
            conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(_reason(exc)) from exc

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refusal; a connection that cannot take it is closed (its next use re-opens one)."""
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            conn.close()


def _check_size(conn: smtplib.SMTP, payload: bytes) -> None:
    """A message larger than the server's announced SIZE (RFC 1870) is refused here, before anything is sent."""
    announced = conn.esmtp_features.get("size", "").strip() if conn.does_esmtp else ""
    limit = int(announced) if announced.isdigit() else 0
    if limit and len(payload) > limit:
        raise SendError(
            f"the message is {len(payload) / 1_048_576:.1f} MB with its files; "
            f"the mail server takes at most {limit / 1_048_576:.1f} MB",
            permanent=True,
        )


def connection_failure(exc: BaseException) -> str:
    """A failure to reach or keep an SMTP server, in words (the channel's state while it lasts)."""
    if isinstance(exc, ConnectionRefusedError):
        return "The SMTP server refused the connection"
    if isinstance(exc, socket.gaierror):
        return "The SMTP server's name could not be found"
    if isinstance(exc, socket.timeout | TimeoutError) or isinstance(exc.__context__, socket.timeout | TimeoutError):
        return "The SMTP server timed out before answering"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The SMTP server's TLS certificate is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"The TLS handshake with the SMTP server failed ({exc.reason or 'TLS error'})"
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPResponseException):
        return f"The SMTP server is not taking mail now ({_reason(exc)})"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "The SMTP server closed the connection"
    return f"Could not connect to the SMTP server: {_reason(exc)}"


def verify_failure(exc: BaseException) -> str:
    """Why checking the settings failed, in our words. Never what the other side sent (the host may be any
    service: its banner or reply is not ours to show), and a port that refuses, one that drops the connection and
    one that never answers read the same, so saving settings cannot map which services listen where."""
    if isinstance(exc, socket.gaierror):
        return "The SMTP server's name could not be found"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The SMTP server's TLS certificate is not trusted: {exc.verify_message}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"The server refused the username or password ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "The SMTP server does not support login (AUTH) on this connection; check the security setting"
    return "Could not connect to an SMTP server at this host and port: check the host, the port and the security"


def _text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())[:200]}"


def is_sendgrid_host(host: str) -> bool:
    """True for SendGrid's SMTP relay (`smtp.sendgrid.net` or any other `*.sendgrid.net` name)."""
    name = host.strip().rstrip(".").lower()
    return name == "sendgrid.net" or name.endswith(".sendgrid.net")


class _Dropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refusal(code: int, reply: bytes | str, what: str, *, pause: bool = False, mailbox: bool = False) -> SendError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())[:200]
    if 500 <= code < 600:
        # A recipient refused with a 5.1.x status (no such mailbox, bad address) is a hard bounce: suppressed.
        hard = mailbox and BAD_MAILBOX.match(text) is not None
        return SendError(f"{code} {text}", permanent=not pause, pause_campaign=pause, opt_out="email" if hard else None)
    return SendError(f"{code} {text} (the server refused the {what} for now)")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {' '.join(str(text).split())[:200]}"
    return str(exc) or type(exc).__name__


def _quit_quietly(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        try:
            conn.close()
        except OSError:
            pass


#: a line of mail text that starts with a period (RFC 5321 section 4.5.2).
_LEADING_PERIOD = re.compile(rb"^\.", re.MULTILINE)


def dot_stuff(payload: bytes) -> bytes:
    """The mail text as DATA sends it (RFC 5321 section 4.5.2, "transparency"): one more period before every
    line that starts with one, so no line of the mail can end DATA early; the server removes it again."""
    return _LEADING_PERIOD.sub(b"..", payload)
