"""Parsing mail from outside in a process of its own, with a time budget per mail (DESIGN section 11).

`MailParser().parse(raw)` -> `ParsedMail`, or `Unreadable(reason)` (returned, not raised) when the mail cannot
be read or its parse took longer than BUDGET_S; `parse_many(raws)` does a batch in one round trip. The parse
runs in one long-lived child process (spawned, so it shares no locks with the server's threads); a parse over
budget kills that process and the next mail gets a new one. Nothing of the parse runs in the server process,
so a hostile mail can neither hold a database transaction nor slow another route; one MailParser serves one
reader at a time (the reader holds its lock). The parse itself is bounded (mail_parse.py); the budget is the
backstop for what a library might still do. No library runs a function under a time limit across platforms
without a process; this is the smallest one.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

from backend.conversations.mail_parse import ParsedMail, Unreadable, read_mail

log = logging.getLogger(__name__)

BUDGET_S = 1.0
START_BUDGET_S = 30.0  # the first parse also waits for the child to import the libraries


def _serve(conn: Connection) -> None:
    """The child: read a batch of raw mails (a list), answer each in turn with ParsedMail or ("unreadable",
    reason), until the pipe closes."""
    while True:
        try:
            raws = conn.recv()
        except (EOFError, OSError):
            return
        for raw in raws:
            conn.send(_answer(raw))


def _answer(raw: bytes) -> Any:
    try:
        return read_mail(raw)
    except Unreadable as exc:
        return ("unreadable", exc.reason)
    except RecursionError:
        return ("unreadable", "its structure is nested too deep")
    except Exception as exc:  # a library's own bug on odd input: this mail is set aside, not the inbox
        return ("unreadable", f"it could not be parsed ({type(exc).__name__})")


class MailParser:
    def __init__(self, budget_s: float = BUDGET_S) -> None:
        self.budget_s = budget_s
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self._fresh = True

    def parse(self, raw: bytes) -> ParsedMail | Unreadable:
        return self.parse_many([raw])[0]

    def parse_many(self, raws: list[bytes]) -> list[ParsedMail | Unreadable]:
        """Each of `raws` parsed, in order. They go to the child in one message (a batch costs one round trip,
        not one per mail) and each answer must come within the budget of the one before; a mail over budget
        kills the child and the rest go to a new one."""
        out: list[ParsedMail | Unreadable] = []
        with self._lock:
            while len(out) < len(raws):
                out += self._batch(raws[len(out) :])
        return out

    def _batch(self, raws: list[bytes]) -> list[ParsedMail | Unreadable]:
        """Answers for a prefix of `raws` (all of them, or up to and including the first that failed)."""
        conn = self._ensure()
        out: list[ParsedMail | Unreadable] = []
        try:
            conn.send(raws)
            for _raw in raws:
                if not conn.poll(START_BUDGET_S if self._fresh else self.budget_s):
                    self._kill()
                    return [*out, Unreadable(f"reading it took longer than {self.budget_s:g} s")]
                answer = conn.recv()
                self._fresh = False
                out.append(Unreadable(str(answer[1])) if isinstance(answer, tuple) else answer)
        except (EOFError, OSError, BrokenPipeError):
            self._kill()
            return [*out, Unreadable("the mail reader stopped while reading it")]
        return out

    def pid(self) -> int | None:
        """The mail reader process's id, while it runs."""
        process = self._process
        return int(process.pid) if process is not None and process.is_alive() else None

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _ensure(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._kill()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="bulkmsg-mail-reader", daemon=True)
        process.start()
        child.close()
        self._process, self._conn, self._fresh = process, parent, True
        return parent

    def _kill(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
