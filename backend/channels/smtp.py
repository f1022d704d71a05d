"""The SMTP channel: any mail server, over one connection reused for a whole run (DESIGN section 8).

Contract:
- Settings: host, port, security (`starttls` | `ssl` | `none`), username, password (secret), from_address,
  from_name; optional verify_tls (default true; false accepts a self-signed certificate) and timeout_s.
- `verify()` opens its own connection: EHLO, STARTTLS, AUTH, NOOP, QUIT; raises SendError with the reason.
- `send(message)` uses ONE connection for the channel instance (opened on first use, re-opened when the server
  dropped it). The dispatcher's single thread calls it; a lock keeps a concurrent `verify`/`close` safe.
  Per-recipient 5xx -> SendError(permanent); 4xx -> SendError (transient, retried with backoff); a connection
  lost or timed out after the message content started -> SendError(uncertain) (the server may have it); lost
  before that -> re-opened once and tried again, else transient. Refused login -> SendError(pause_campaign).
  Returns the Message-ID (deterministic per message, see email_mime).
- Through SendGrid's relay (host `*.sendgrid.net`) every message carries `X-SMTPAPI` unique_args naming our
  account and message (backend.channels.sendgrid_events), so SendGrid's event webhook maps back to it.
- Every socket operation has a timeout (timeout_s, default 30 s).
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import socket
import ssl
import threading
from smtplib import quoteaddr
from typing import Any, ClassVar

from backend.channels.base import Channel, ChannelContext, OutboundMessage, SendError, SettingsError
from backend.channels.email_mime import check_address, domain_of, render_email, unsubscribe_header
from backend.channels.sendgrid_events import sendgrid_headers

log = logging.getLogger(__name__)

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT_S = 30.0


class SmtpChannel(Channel):
    name: ClassVar[str] = "smtp"
    title: ClassVar[str] = "Email (SMTP)"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"password"})
    max_attempts: ClassVar[int] = 5
    needs_subject: ClassVar[bool] = True
    recipient_kind: ClassVar[str] = "email"
    #: connect + TLS + AUTH + MAIL/RCPT/DATA, each bounded by timeout_s; the dispatcher's lease covers it.
    send_timeout_s: ClassVar[float] = 120.0

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        super().__init__(settings, secrets, context)
        self._conn: smtplib.SMTP | None = None
        #: MAIL FROM was written ahead by prepare_next(); its reply is read by the next send.
        self._mail_pending = False
        self._lock = threading.RLock()
        #: mail relayed through SendGrid carries our ids (X-SMTPAPI unique_args) so its event webhook maps back.
        self.via_sendgrid = is_sendgrid_host(str(settings.get("host") or ""))
        self._quoted_from = quoteaddr(self.from_address)

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
        merged = {**(current or {}), **{k: v for k, v in raw.items() if not (k == "password" and v == "****")}}
        problems: list[dict[str, str]] = []
        known = {"host", "port", "security", "username", "password", "from_address", "from_name", "verify_tls"}
        for key in sorted(set(raw) - known - {"timeout_s"}):
            problems.append({"field": key, "reason": "unknown setting"})
        host = str(merged.get("host") or "").strip()
        if not host or any(c.isspace() for c in host):
            problems.append({"field": "host", "reason": "give the mail server's host name"})
        security = str(merged.get("security") or "starttls").lower()
        if security not in SECURITY:
            problems.append({"field": "security", "reason": "must be starttls, ssl or none"})
        port = merged.get("port") or DEFAULT_PORTS.get(security, 587)
        if isinstance(port, str) and port.isdigit():
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
        }
        return settings, ({"password": password} if password else {})

    @property
    def from_address(self) -> str:
        return str(self.settings.get("from_address") or "")

    @property
    def _timeout(self) -> float:
        return float(self.settings.get("timeout_s") or DEFAULT_TIMEOUT_S)

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
        """A connected, secured and logged-in SMTP session. Raises SendError with the reason."""
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
        except ssl.SSLCertVerificationError as exc:
            _quit_quietly(conn)
            raise SendError(f"TLS certificate of {self._where()} is not trusted: {exc.verify_message}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            _quit_quietly(conn)
            raise SendError(f"Could not connect to {self._where()}: {_reason(exc)}") from exc

    def verify(self) -> str:
        """EHLO, STARTTLS, AUTH and NOOP on a fresh connection; returns a detail text or raises SendError."""
        conn = self._open()
        try:
            code, _ = conn.noop()
            if code != 250:
                raise SendError(f"{self._where()} answered NOOP with {code}")
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"Could not talk to {self._where()}: {_reason(exc)}") from exc
        finally:
            _quit_quietly(conn)
        security = str(self.settings.get("security") or "starttls")
        user = self.settings.get("username")
        return f"Connected to {self._where()}" + (f" as {user}" if user else "") + f" ({security})"

    def close(self) -> None:
        with self._lock:
            conn, self._conn, self._mail_pending = self._conn, None, False
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
        )
        recipient = check_address(message.recipient)
        if not recipient.isascii():
            raise SendError(f"{recipient} has non-ASCII characters, which this channel cannot send to", permanent=True)
        payload = mail.data
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    self._envelope(conn, recipient)
                except _Dropped as exc:
                    # Nothing of this message left yet: a connection the server closed while idle is normal.
                    self._discard()
                    if attempt == 2:
                        raise SendError(f"Connection to {self._where()} lost: {exc.reason}") from None
                    continue
                self._data(conn, payload)
                return mail.message_id
        raise AssertionError("unreachable")

    def prepare_next(self) -> None:
        """Start the next mail transaction ahead: write `MAIL FROM:<our sender>` on the open connection, so the
        server answers while the dispatcher records the last result and claims the next message (one round trip
        off every message). Nothing of any message leaves; the next `send` reads the answer (a connection that
        died meanwhile is re-opened there as usual). Never raises."""
        with self._lock:
            if self._conn is None or self._mail_pending:
                return
            try:
                self._conn.putcmd("mail", f"FROM:{self._quoted_from}")
                self._mail_pending = True
            except (smtplib.SMTPException, OSError):
                self._discard()

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _discard(self) -> None:
        conn, self._conn, self._mail_pending = self._conn, None, False
        _quit_quietly(conn)

    def _envelope(self, conn: smtplib.SMTP, recipient: str) -> None:
        """MAIL FROM and RCPT TO; raises _Dropped (safe to retry) or SendError."""
        try:
            if self._mail_pending:
                self._mail_pending = False
                code, reply = conn.getreply()
            else:
                conn.putcmd("mail", f"FROM:{self._quoted_from}")
                code, reply = conn.getreply()
            if code != 250:
                self._reset(conn)
                raise _refusal(code, reply, "sender address", pause=True)
            # `recipient` passed check_address (a bare local@domain): quoted as smtplib.quoteaddr would.
            conn.putcmd("rcpt", f"TO:<{recipient}>")
            code, reply = conn.getreply()
            if code not in (250, 251):
                self._reset(conn)
                raise _refusal(code, reply, recipient)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(_reason(exc)) from exc

    def _data(self, conn: smtplib.SMTP, payload: bytes) -> None:
        """DATA: refused before the content -> SendError; lost after the content started -> uncertain."""
        try:
            conn.putcmd("data")
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            raise SendError(f"Connection to {self._where()} lost before the message: {_reason(exc)}") from exc
        if code != 354:
            self._reset(conn)
            raise _refusal(code, reply, "message")
        body = smtplib._quote_periods(payload)  # type: ignore[attr-defined]
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        try:
            conn.send(body + b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            raise SendError(
                f"Connection to {self._where()} lost while sending the message: {_reason(exc)}", uncertain=True
            ) from exc
        if code != 250:
            self._reset(conn)
            raise _refusal(code, reply, "message")

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._discard()


def is_sendgrid_host(host: str) -> bool:
    """True for SendGrid's SMTP relay (`smtp.sendgrid.net` or any other `*.sendgrid.net` name)."""
    name = host.strip().rstrip(".").lower()
    return name == "sendgrid.net" or name.endswith(".sendgrid.net")


class _Dropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refusal(code: int, reply: bytes | str, what: str, *, pause: bool = False) -> SendError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())[:200]
    if 500 <= code < 600:
        return SendError(f"{code} {text}", permanent=not pause, pause_campaign=pause)
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
