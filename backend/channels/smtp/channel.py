"""The SMTP channel: any mail server, over `connections` connections each reused for a whole run (DESIGN 8).

Contract:
- Settings: host, port, security (`starttls` | `ssl` | `none`), username, password (secret), from_address,
  from_name; optional verify_tls (default true; false accepts a self-signed certificate) and timeout_s.
- `verify()` opens its own connection: EHLO, STARTTLS, AUTH, NOOP, QUIT; raises SendError with the reason. With
  an inbox (imap_* settings, backend/channels/smtp/inbox.py) it also logs in to it and selects the folder.
- `connections` (default 4, 1-20): the dispatcher runs that many workers (`concurrency()`); each worker's
  `send_run` checks out an idle connection (or opens one), keeps it to itself for its run of messages and puts it
  back, so every worker in effect keeps its own connection for the whole campaign; one the server dropped is
  re-opened. `close()` ends them all, and a run under way takes no more messages.
- PIPELINING (RFC 2920): when the server's EHLO offers it, a message costs one round trip: its content goes in
  one write with the next message's MAIL FROM, RCPT TO and DATA (backend/channels/smtp/run.py). Without it, each
  command waits for its reply.
- Per-recipient 5xx -> SendError(permanent; with a 5.1.x status also opt_out="email", a hard bounce);
  4xx -> SendError (transient, retried with backoff); a connection lost or timed out after the message content
  started -> SendError(uncertain) (the server may have it), and the message whose envelope rode with that content
  goes back to the queue; lost before any content -> re-opened once and tried again. Refused login ->
  SendError(pause_campaign). Connection-level failures (refused, DNS, TLS handshake, a 421 "service not
  available", a connection that cannot be kept) -> SendError(outage): the channel is down, not the message
  (DESIGN section 5).
  Returns the Message-ID (deterministic per message, see email_mime).
- Through SendGrid's relay (host `*.sendgrid.net`) every message carries `X-SMTPAPI` unique_args naming our
  account and message (backend.channels.sendgrid_events), so SendGrid's event webhook maps back to it.
- Every socket operation has a timeout (timeout_s, default 30 s).
"""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import ssl
import threading
from smtplib import quoteaddr
from typing import Any, ClassVar

from backend.channels.base import Channel, ChannelContext, OutboundMessage, SendError, SendFeed
from backend.channels.email_mime import check_address, domain_of, render_email, unsubscribe_header
from backend.channels.fields import secret_keys
from backend.channels.sendgrid_events import sendgrid_headers
from backend.channels.smtp.inbox import has_inbox, verify_inbox
from backend.channels.smtp.replies import connection_failure, dot_stuff, verify_failure
from backend.channels.smtp.run import Mail, MessageRun
from backend.channels.smtp.settings import (
    DEFAULT_CONNECTIONS,
    DEFAULT_PORTS,
    DEFAULT_TIMEOUT_S,
    SmtpSettings,
    validate_settings,
)

log = logging.getLogger(__name__)

#: the socket operations one send may wait on (connect, greeting, EHLO, STARTTLS, EHLO, AUTH, MAIL/RCPT/DATA,
#: content, plus a reconnect): the dispatcher's lease outlives them all.
OPERATIONS_PER_SEND = 12
#: bounds of `late_answer_s` (seconds).
LATE_ANSWER_S = (0.25, 2.0)


class SmtpChannel(Channel):
    name: ClassVar[str] = "smtp"
    title: ClassVar[str] = "Email (SMTP)"
    settings_model: ClassVar[type[SmtpSettings]] = SmtpSettings
    secret_keys: ClassVar[frozenset[str]] = secret_keys(SmtpSettings)
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
        """See backend/channels/smtp/settings.py."""
        return validate_settings(raw, current)

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

    def mail_of(self, message: OutboundMessage) -> Mail:
        """The message rendered for the wire (see run.ConnectionPool). Raises SendError (permanent)."""
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
        content = dot_stuff(mail.data)
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        return Mail(message, recipient, content + b".\r\n", mail.message_id, len(mail.data))

    def send(self, message: OutboundMessage) -> str:
        answer = _OneAnswer()
        self.send_run(message, answer)
        if isinstance(answer.result, SendError):
            raise answer.result
        if answer.result is None:
            raise SendError(f"Connection to {self._where()} ended before the message could go", outage=True)
        return answer.result

    def send_run(self, first: OutboundMessage, feed: SendFeed) -> None:
        """`first`, then the feed's next messages while it has one ready, over one connection of this worker's
        (backend/channels/smtp/run.py: one round trip a message when the server offers PIPELINING)."""
        MessageRun(self, feed).run(first)

    @property
    def quoted_from(self) -> str:
        return self._quoted_from

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def where(self) -> str:
        return self._where()

    @property
    def late_answer_s(self) -> float:
        """A quarter of the timeout, within LATE_ANSWER_S: a server that answers a final dot later than that is
        slow or hung, and the message pipelined behind it goes to another connection."""
        return min(max(self._timeout / 4, LATE_ANSWER_S[0]), LATE_ANSWER_S[1])

    def checkout(self) -> smtplib.SMTP:
        """An open connection for one run alone: an idle one, or a new one."""
        with self._lock:
            self._closed = False
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        with self._lock:
            self._busy.add(conn)
        return conn

    def checkin(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._busy.discard(conn)
            if not self._closed:
                self._idle.append(conn)
                return
        _quit_quietly(conn)

    def discard(self, conn: smtplib.SMTP) -> None:
        """Close a connection that cannot go on, without QUIT: it may be in the middle of DATA (where QUIT would be
        taken as content) or waiting for an answer that will not come."""
        with self._lock:
            self._busy.discard(conn)
        try:
            conn.close()
        except OSError:
            pass


class _OneAnswer:
    """The feed of a lone `send`: one message, always allowed to start, its answer kept."""

    def __init__(self) -> None:
        self.result: str | SendError | None = None

    def next_ready(self) -> OutboundMessage | None:
        return None

    def starting(self, message: OutboundMessage) -> bool:
        return True

    def answered(self, message: OutboundMessage, result: str | SendError) -> None:
        self.result = result

    def release(self, message: OutboundMessage) -> None:
        raise AssertionError("a lone send takes no second message")


def is_sendgrid_host(host: str) -> bool:
    """True for SendGrid's SMTP relay (`smtp.sendgrid.net` or any other `*.sendgrid.net` name)."""
    name = host.strip().rstrip(".").lower()
    return name == "sendgrid.net" or name.endswith(".sendgrid.net")


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
