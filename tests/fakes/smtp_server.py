"""A real SMTP server for tests and benchmarks (aiosmtpd on loopback).

Modes: plain, STARTTLS (a generated P-256 self-signed certificate, STARTTLS required), implicit TLS (`ssl`);
optional AUTH (PLAIN/LOGIN, only after TLS unless plain). On demand: a per-recipient 4xx/5xx answer
(`refuse[address] = "550 5.1.1 No such user"`) at RCPT TO or, with `refuse_data(address, answer)`, at the final
dot (content refused after it arrived, as spam and virus filters do), dropping the connection after a message's
content arrived but before answering (`drop_data_for.add(address)`), never answering a message's final dot
(`hang_data_for`, until `release_hangs()`), or accepting silently. Everything that arrived is recorded in
`received` (parsed `email.message.EmailMessage` plus envelope).

Latency (issue 12): `reply_delay_s` delays every reply the server writes by that much, in order, without holding
up the reading of the next command: a server that far away on the network (a real server's replies to pipelined
commands travel back together). `handler_delay_s` instead sleeps in handle_MAIL/RCPT/DATA (server think time,
which holds the connection). The EHLO answer advertises PIPELINING (RFC 2920), as Postfix, Exim and the big
providers do; aiosmtpd reads commands line by line from its stream, so pipelined commands are served in order.
`reads` records each TCP read of a connection (the data as it came off the socket), so a test can see that MAIL
FROM, RCPT TO and DATA arrived in one read.

Run as a script (`python -m tests.fakes.smtp_server`) it serves plain SMTP in its own process, prints
`PORT <n>` and, on each line `count` read from stdin, prints how many messages arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.fakes.delay_line import DelayLine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 / localhost; returns (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    #: the client's (host, port): messages over one reused connection share it.
    peer: tuple[str, int]
    #: time.monotonic() when the content was accepted.
    at: float = 0.0


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    #: how many more times a refusal in `refuse` is given (absent: for ever).
    refuse_times: dict[str, int] = field(default_factory=dict)
    drop_data_for: set[str] = field(default_factory=set)
    #: the answer to a message's final dot, by recipient (instead of taking it).
    refuse_data_for: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    keep_messages: bool = True
    handler_delay_s: float = 0.0
    pipelining: bool = True
    hang_data_for: set[str] = field(default_factory=set)
    #: set (from the server's loop) to let every hung message's answer go.
    release: asyncio.Event | None = None
    #: envelope recipients and time.monotonic() of each MAIL FROM (to see when sends started).
    mail_at: list[float] = field(default_factory=list)
    #: a line per accepted message (its recipients), written at once (the subprocess mode's `--log`).
    log_file: Any = None

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> Any:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.lock:
            self.mail_at.append(time.monotonic())
        if self.handler_delay_s:
            await asyncio.sleep(self.handler_delay_s)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.handler_delay_s:
            await asyncio.sleep(self.handler_delay_s)
        key = address.lower()
        answer = self.refuse.get(key)
        if answer:
            left = self.refuse_times.get(key)
            if left is not None:
                if left <= 1:
                    self.refuse.pop(key, None)
                    self.refuse_times.pop(key, None)
                else:
                    self.refuse_times[key] = left - 1
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.handler_delay_s:
            await asyncio.sleep(self.handler_delay_s)
        if any(r.lower() in self.hang_data_for for r in envelope.rcpt_tos):
            if self.release is None:
                self.release = asyncio.Event()
            await self.release.wait()  # no answer to the final dot until released
            return "451 4.3.0 Released without taking it"
        if any(r.lower() in self.drop_data_for for r in envelope.rcpt_tos):
            # The content arrived, the answer never will: the client cannot know whether we kept it.
            server.transport.abort()
            return "421 dropped"
        refusal = next(
            (self.refuse_data_for[r.lower()] for r in envelope.rcpt_tos if r.lower() in self.refuse_data_for), None
        )
        if refusal is not None:
            return refusal
        raw = envelope.original_content or envelope.content
        with self.lock:
            self.count += 1
            if self.log_file is not None:
                self.log_file.write(" ".join(envelope.rcpt_tos) + "\n")
            if self.keep_messages:
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                peer = tuple(session.peer)
                item = Received(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed, peer, time.monotonic())  # type: ignore[arg-type]
                self.received.append(item)
        return "250 Message accepted for delivery"


class FakeSmtpServer:
    """`FakeSmtpServer(mode="plain"|"starttls"|"ssl", auth=("user", "pass") or None)`; use as a context manager."""

    def __init__(
        self,
        mode: str = "plain",
        auth: tuple[str, str] | None = None,
        keep_messages: bool = True,
        *,
        reply_delay_s: float = 0.0,
        handler_delay_s: float = 0.0,
        pipelining: bool = True,
        port: int | None = None,
        size_limit: int | None = None,
    ) -> None:
        self.size_limit = size_limit
        self.mode = mode
        self.auth = auth
        self.handler = Handler(keep_messages=keep_messages, handler_delay_s=handler_delay_s, pipelining=pipelining)
        self.reply_delay_s = reply_delay_s
        #: each TCP read: (connection number, the bytes read).
        self.reads: list[tuple[int, bytes]] = []
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = tempfile.TemporaryDirectory()
        self.cert_file: Path | None = None
        self.controller: Controller | None = None

    # -- on-demand behaviour ----------------------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def count(self) -> int:
        with self.handler.lock:
            return self.handler.count

    def refuse(self, address: str, answer: str, times: int | None = None) -> None:
        """Answer RCPT TO `address` with `answer` (e.g. "451 4.3.0 Try later"), `times` times or for ever."""
        self.handler.refuse[address.lower()] = answer
        if times is not None:
            self.handler.refuse_times[address.lower()] = times

    def drop_during_data(self, address: str) -> None:
        self.handler.drop_data_for.add(address.lower())

    def refuse_data(self, address: str, answer: str) -> None:
        """Answer the final dot of a message to `address` with `answer` (e.g. "554 5.7.1 Spam"): not taken."""
        self.handler.refuse_data_for[address.lower()] = answer

    def hang_during_data(self, address: str) -> None:
        """Never answer the final dot of a message to `address` (until release_hangs)."""
        self.handler.hang_data_for.add(address.lower())

    def release_hangs(self) -> None:
        """Answer the hung messages (451, not taken) and hang no more."""
        self.handler.hang_data_for.clear()
        controller = self.controller
        if controller is not None and self.handler.release is not None:
            controller.loop.call_soon_threadsafe(self.handler.release.set)

    def mail_times(self) -> list[float]:
        """time.monotonic() of each MAIL FROM that arrived."""
        with self.handler.lock:
            return list(self.handler.mail_at)

    def arrivals(self) -> Counter[str]:
        """How many messages each recipient got."""
        return Counter(r.lower() for item in self.received for r in item.rcpt_tos)

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Channel settings that reach this server."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": {"plain": "none"}.get(self.mode, self.mode),
            "from_address": "news@example.com",
            "from_name": "Example News",
            "verify_tls": False,
            "timeout_s": 10,
        }
        if self.auth:
            values.update(username=self.auth[0], password=self.auth[1])
        values.update(changes)
        return values

    # -- lifecycle --------------------------------------------------------------------------------------
    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        ok = (data.login.decode(), data.password.decode()) == self.auth
        return AuthResult(success=ok, handled=False)

    def start(self) -> FakeSmtpServer:
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        kwargs: dict[str, Any] = {}
        if self.size_limit is not None:  # aiosmtpd announces it as SIZE in EHLO (RFC 1870) and enforces it
            kwargs["data_size_limit"] = self.size_limit
        ssl_context = None
        if self.mode in ("starttls", "ssl"):
            cert, key = self_signed_cert(Path(self._dir.name))
            self.cert_file = cert
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if self.mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                ssl_context = context
        if self.auth:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # implicit TLS is encrypted from the start; aiosmtpd only knows about STARTTLS
                auth_require_tls=self.mode == "starttls",
            )
        self.controller = _Controller(
            self.handler,
            hostname=self.host,
            port=self.port,
            ssl_context=ssl_context,
            server_kwargs=kwargs,
            reply_delay_s=self.reply_delay_s,
            reads=self.reads,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        self._dir.cleanup()

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Controller(Controller):
    def __init__(
        self,
        handler: Handler,
        *,
        server_kwargs: dict[str, Any],
        reply_delay_s: float = 0.0,
        reads: list[tuple[int, bytes]] | None = None,
        **kwargs: Any,
    ) -> None:
        self._server_kwargs = server_kwargs
        self._reply_delay_s = reply_delay_s
        self._reads = reads if reads is not None else []
        super().__init__(handler, ready_timeout=10, **kwargs)

    def factory(self) -> SMTP:
        return _SMTP(
            self.handler,
            hostname="fake-smtp.test",
            reply_delay_s=self._reply_delay_s,
            reads=self._reads,
            **self._server_kwargs,
        )


class _SMTP(SMTP):
    """aiosmtpd's server, recording each TCP read and optionally delaying each reply (network latency)."""

    _connections = 0

    def __init__(self, *args: Any, reply_delay_s: float = 0.0, reads: list[tuple[int, bytes]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reply_delay_s = reply_delay_s
        self._reads = reads
        _SMTP._connections += 1
        self._number = _SMTP._connections
        self._outbox: asyncio.Queue[tuple[float, bytes]] | None = None
        self._delivering: asyncio.Task[None] | None = None

    def data_received(self, data: bytes) -> None:
        self._reads.append((self._number, data))
        super().data_received(data)

    async def push(self, status: Any) -> None:
        if not self._reply_delay_s:
            await super().push(status)
            return
        text = status if isinstance(status, bytes) else bytes(status, "utf-8" if self.enable_SMTPUTF8 else "ascii")
        response = text + b"\r\n"
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._delivering = self.loop.create_task(self._deliver(self._outbox))
        self._outbox.put_nowait((self.loop.time() + self._reply_delay_s, response))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._delivering is not None:
            self._delivering.cancel()
        super().connection_lost(exc)

    async def _deliver(self, outbox: asyncio.Queue[tuple[float, bytes]]) -> None:
        """Write each reply when its delay is over, in order (the way replies come back over a slow link)."""
        while True:
            due, response = await outbox.get()
            wait = due - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            transport = self.transport
            if transport is None or transport.is_closing():
                return
            transport.write(response)


def main() -> None:
    """Serve plain SMTP in this process (tests and benchmarks): print `PORT n`, answer `count` lines with the
    count. Options: `--port N` (serve on that port: a restart on the same port), `--log FILE` (append each
    accepted message's recipients, one line each, flushed: what arrived survives a kill -9 of this process),
    `--reply-delay S`, `--wire-rtt S` (a delay line of that round trip in front: `PORT` is then the line's)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log")
    parser.add_argument("--reply-delay", type=float, default=0.0)
    parser.add_argument("--wire-rtt", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeSmtpServer(keep_messages=False, reply_delay_s=args.reply_delay, port=args.port or None)
    if args.log:
        server.handler.log_file = open(args.log, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    server.start()
    line = DelayLine(server.port, args.wire_rtt).start() if args.wire_rtt else None
    print(f"PORT {line.port if line is not None else server.port}", flush=True)
    for command in sys.stdin:
        if command.strip() == "count":
            print(server.count, flush=True)
        elif command.strip() == "quit":
            break
    if line is not None:
        line.stop()
    server.stop()


if __name__ == "__main__":
    main()
