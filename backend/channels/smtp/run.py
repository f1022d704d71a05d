"""One SMTP connection's run of messages: a worker's messages back to back, one round trip each (DESIGN 8).

Without PIPELINING each command waits for its reply: MAIL FROM, RCPT TO, DATA, then the content (four round
trips a message). With PIPELINING offered (RFC 2920), a message's MAIL FROM, RCPT TO and DATA leave in one write,
and RFC 2920 section 3.1 lets the message content open the next group: the content, its final dot and the next
message's MAIL FROM, RCPT TO and DATA go in one write, so each message costs one round trip:

    write  MAIL 1, RCPT 1, DATA 1                      read  250, 250, 354
    write  content 1, ".", MAIL 2, RCPT 2, DATA 2       read  250 (1 taken), 250, 250, 354
    write  content 2, ".", MAIL 3, RCPT 3, DATA 3       read  ...

The replies come back in order and each is applied to its own command, so a refusal touches exactly its message:
a 5xx or 4xx at MAIL, RCPT or DATA answers that message (RSET ends its transaction), a 5xx or 4xx at the final
dot answers the message whose content it ends, and the next message's envelope is judged on its own replies.

Exactly-once. A message is reported `starting` (may it still go?) once its envelope was accepted, and its own
`content_going_out()` hook (the dispatcher records the send's start) is called just before its content leaves,
in the same write as the next message's envelope when pipelining; when the start cannot be recorded the hook
raises SendError(outage=True): that content is not sent and the connection ends. An envelope alone cannot make
the server send anything (a transaction without its final dot is discarded when the connection ends). So at
most one message per connection is ever between its content and its answer:
- the connection drops or times out before the final dot's reply: that message is `uncertain`; the next one,
  whose envelope went out but whose content did not, goes back to the queue (no attempt used);
- a 421 (the server is closing) is an answer, not a loss: the message it answers was not taken; it and the rest
  go back to the queue as an outage (no attempt used) and the dispatcher waits for the server;
- the feed refuses to start a message whose envelope the server accepted (the dispatcher is stopping, its
  campaign just met an error): the connection is closed in the middle of DATA, which discards it.
A connection lost before any content of the run left is re-opened once and the envelope sent again. A message
larger than the server's announced SIZE (RFC 1870) is refused (permanent) before any of it, envelope included,
is sent.
"""

from __future__ import annotations

import select
import smtplib
import ssl
from dataclasses import dataclass
from typing import Protocol

from backend.channels.base import OutboundMessage, SendError, SendFeed
from backend.channels.smtp.replies import Reply, reason_of, refusal, text_of

#: the exceptions of a connection that is gone (closed, reset, timed out).
LOST = (smtplib.SMTPServerDisconnected, OSError)


@dataclass(frozen=True, slots=True)
class Mail:
    """A message ready for the wire: its envelope recipient, its dot-stuffed content ending in CRLF.CRLF, and its
    size as RFC 1870 counts it (the message before dot-stuffing)."""

    message: OutboundMessage
    recipient: str
    content: bytes
    message_id: str
    size: int


class ConnectionPool(Protocol):
    """What a run needs from the channel: its connections, its sender and its messages rendered."""

    @property
    def quoted_from(self) -> str:
        """The sender as MAIL FROM gives it (`<address>`)."""
        ...

    def checkout(self) -> smtplib.SMTP:
        """An open connection for this run alone. Raises SendError (an outage when the server cannot be reached)."""
        ...

    def checkin(self, conn: smtplib.SMTP) -> None: ...

    def discard(self, conn: smtplib.SMTP) -> None: ...

    @property
    def closed(self) -> bool:
        """The channel was closed (its settings changed): finish what is under way, take nothing more."""
        ...

    @property
    def late_answer_s(self) -> float:
        """How long a message's final dot may go unanswered before the message pipelined behind it is released."""
        ...

    def where(self) -> str: ...

    def mail_of(self, message: OutboundMessage) -> Mail:
        """The message rendered. Raises SendError (permanent) when it cannot be sent at all."""
        ...


class _RunOver(Exception):
    """The connection cannot carry more of this run (every message it affected has been answered)."""


class _Dropped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageRun:
    """Sends `first`, then the feed's next messages while it has one ready, over one connection."""

    def __init__(self, pool: ConnectionPool, feed: SendFeed) -> None:
        self.pool = pool
        self.feed = feed
        self.conn: smtplib.SMTP | None = None

    def run(self, first: OutboundMessage) -> None:
        try:
            mail = self._ready(first)
            waiting = self._envelope_alone(mail) if mail is not None else None
            while True:
                if waiting is None:
                    mail = self._next_mail()
                    if mail is None:
                        return
                    waiting = self._envelope_alone(mail)
                    continue
                if not self.feed.starting(waiting.message):
                    self._drop()  # in the middle of DATA: the server discards the transaction
                    return
                following = self._next_mail() if self._pipelining() else None
                waiting = self._content(waiting, following)
        except _RunOver:
            return
        except BaseException:
            self._drop()
            raise
        finally:
            if self.conn is not None:
                self.pool.checkin(self.conn)
                self.conn = None

    # -- messages -----------------------------------------------------------------------------------------
    def _ready(self, message: OutboundMessage) -> Mail | None:
        try:
            return self.pool.mail_of(message)
        except SendError as exc:
            self.feed.answered(message, exc)
            return None

    def _next_mail(self) -> Mail | None:
        """The feed's next message that can be sent, or None (nothing ready, or the channel was closed)."""
        while not self.pool.closed:
            message = self.feed.next_ready()
            if message is None:
                return None
            mail = self._ready(message)
            if mail is not None and self._fits(mail):
                return mail
        return None

    def _fits(self, mail: Mail) -> bool:
        """False, with the message answered, when it is larger than the server's announced SIZE (RFC 1870): it is
        refused before any of it is sent. True while no connection is open (checked again once one is)."""
        conn = self.conn
        announced = conn.esmtp_features.get("size", "").strip() if conn is not None and conn.does_esmtp else ""
        limit = int(announced) if announced.isdigit() else 0
        if not limit or mail.size <= limit:
            return True
        why = (
            f"the message is {mail.size / 1_048_576:.1f} MB with its files; "
            f"the mail server takes at most {limit / 1_048_576:.1f} MB"
        )
        self.feed.answered(mail.message, SendError(why, permanent=True))
        return False

    # -- the wire -----------------------------------------------------------------------------------------
    def _pipelining(self) -> bool:
        conn = self.conn
        return conn is not None and bool(conn.does_esmtp) and bool(conn.has_extn("pipelining"))

    def _commands(self, mail: Mail) -> list[bytes]:
        # The recipient passed check_address (a bare ASCII local@domain): quoted as smtplib.quoteaddr would.
        return [
            f"MAIL FROM:{self.pool.quoted_from}\r\n".encode("ascii"),
            f"RCPT TO:<{mail.recipient}>\r\n".encode("ascii"),
            b"DATA\r\n",
        ]

    def _envelope_alone(self, mail: Mail) -> Mail | None:
        """MAIL FROM, RCPT TO and DATA of `mail` (one write when pipelining, else one by one); returns `mail` when
        the server is ready for its content, None when the message was answered (refused)."""
        for attempt in (1, 2):
            if self.conn is None:
                try:
                    self.conn = self.pool.checkout()
                except SendError as exc:
                    self.feed.answered(mail.message, exc)
                    raise _RunOver from None
            if not self._fits(mail):
                return None
            try:
                replies = self._send_envelope(self.conn, mail)
            except _Dropped as exc:
                # Nothing of this message left yet: a connection the server closed while idle is normal.
                self._drop()
                if attempt == 2:
                    why = f"The SMTP server keeps closing the connection ({exc.reason})"
                    self.feed.answered(mail.message, SendError(why, outage=True))
                    raise _RunOver from None
                continue
            return self._accepted(mail, replies)
        raise AssertionError("unreachable")

    def _send_envelope(self, conn: smtplib.SMTP, mail: Mail) -> list[Reply]:
        commands = self._commands(mail)
        try:
            if self._pipelining():
                conn.send(b"".join(commands))
                return [conn.getreply() for _ in commands]
            replies: list[Reply] = []
            for command in commands:
                conn.send(command)
                replies.append(conn.getreply())
                if replies[-1][0] not in (250, 251, 354):
                    break
            return replies
        except LOST as exc:
            raise _Dropped(reason_of(exc)) from exc

    def _content(self, waiting: Mail, following: Mail | None) -> Mail | None:
        """`waiting`'s content and final dot, with `following`'s envelope in the same write; answers `waiting`
        and returns `following` when the server is ready for its content."""
        conn = self.conn
        assert conn is not None
        data = waiting.content + (b"".join(self._commands(following)) if following is not None else b"")
        late = False
        try:
            # Records `waiting`'s start just before its content leaves; SendError(outage=True) when that cannot
            # be recorded: nothing of it is sent and the connection ends in the middle of DATA (the server
            # discards the transaction; `following`'s envelope never left and it goes back to the queue).
            waiting.message.content_going_out()
        except SendError as exc:
            self.feed.answered(waiting.message, exc)
            self._drop()
            raise _RunOver from None
        try:
            conn.send(data)
            if following is not None and not _answer_within(conn, self.pool.late_answer_s):
                # A slow or hung answer must not hold up the next message: it goes back to the queue for another
                # connection, and this one ends once the late answer is in (the next envelope is then abandoned).
                self.feed.release(following.message)
                following, late = None, True
            code, reply = conn.getreply()
        except LOST as exc:
            why = f"Connection to {self.pool.where()} lost while sending the message: {reason_of(exc)}"
            self.feed.answered(waiting.message, SendError(why, uncertain=True))
            self._drop()  # `following`'s content never left: it goes back to the queue
            raise _RunOver from exc
        if code == 421:
            # An answer, so not uncertain: the server did not take the message and is closing the session.
            self._closing(waiting, code, reply)
        if code == 250:
            self.feed.answered(waiting.message, waiting.message_id)
        else:
            self.feed.answered(waiting.message, refusal(code, reply, "message"))
        if late:
            self._drop()
            raise _RunOver
        if following is None:
            return None
        try:
            replies = [conn.getreply() for _ in range(3)]
        except LOST as exc:
            self._drop()  # only `following`'s envelope left: it goes back to the queue
            raise _RunOver from exc
        return self._accepted(following, replies)

    def _accepted(self, mail: Mail, replies: list[Reply]) -> Mail | None:
        """Judge an envelope's replies: `mail` when DATA got its 354, else None with the refusal answered."""
        (mail_code, mail_reply), *rest = replies
        rcpt = rest[0] if rest else None
        data = rest[1] if len(rest) > 1 else None
        envelope_ok = mail_code == 250 and rcpt is not None and rcpt[0] in (250, 251)
        if data is not None and data[0] == 354 and not envelope_ok:
            # The server took DATA though the envelope failed: end the empty message so the session stays usable.
            self._end_empty_data()
        for code, reply in replies:
            if code == 421:
                self._closing(mail, code, reply)
        if envelope_ok and data is not None and data[0] == 354:
            return mail
        self._reset()
        if mail_code != 250:
            self.feed.answered(mail.message, refusal(mail_code, mail_reply, "sender address", pause=True))
        elif rcpt is None or rcpt[0] not in (250, 251):
            code, reply = rcpt if rcpt is not None else (554, b"no answer to RCPT TO")
            self.feed.answered(mail.message, refusal(code, reply, mail.recipient, mailbox=True))
        else:
            code, reply = data if data is not None else (554, b"no answer to DATA")
            self.feed.answered(mail.message, refusal(code, reply, "message"))
        return None

    def _closing(self, mail: Mail, code: int, reply: bytes) -> None:
        """A 421: the server is not taking mail and closes the session (an outage, not the message's fault)."""
        why = f"The SMTP server is not taking mail now ({text_of(code, reply)})"
        self.feed.answered(mail.message, SendError(why, outage=True))
        self._drop()
        raise _RunOver

    def _end_empty_data(self) -> None:
        conn = self.conn
        try:
            if conn is not None:
                conn.send(b".\r\n")
                conn.getreply()
        except LOST:
            self._drop()

    def _reset(self) -> None:
        """RSET after a refusal; a connection that cannot take it is closed (the next message opens another)."""
        conn = self.conn
        if conn is None:
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            self.pool.discard(conn)


def _answer_within(conn: smtplib.SMTP, seconds: float) -> bool:
    """Whether the server's next reply arrives within `seconds` (True at once when something can be read).

    Called only after every reply sent so far has been read, so smtplib's buffer is empty and the socket (or TLS'
    own buffer) tells."""
    sock = conn.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        readable, _, _ = select.select([sock], [], [], seconds)
    except (OSError, ValueError):
        return True  # getreply meets the problem and says what it is
    return bool(readable)
