"""The send journal: which claimed messages a dispatcher started, and what came of them, ahead of the store.

A dispatcher claims messages in batches and writes their results in batches (one write transaction per batch).
Between two commits the store cannot tell a claimed message that was never started from one whose send was in
flight or already answered. The journal can: the dispatcher appends `S <id>` just before a message's first byte
goes to the provider and `O <id> <outcome>` as soon as the provider answered, each with one `write(2)` on an
O_APPEND file under the data directory. A process killed in any way (SIGKILL included) leaves the file complete
up to its last write: the data already sits in the kernel. After each commit the dispatcher empties the file.

Recovery (`backend.dispatch.recovery`) reads the journal of a dead dispatcher: claimed and never started ->
queued again; started and answered -> that answer is recorded; started without an answer -> `uncertain` (at
most one per worker: a dispatcher's workers each send one message at a time).

Several worker threads write one dispatcher's journal; each line is one `write(2)` under a lock. After a commit
the lines of the committed messages are no longer needed, but a worker may be in the middle of a send: the file is
emptied while nothing is open, and otherwise replaced in one atomic `rename(2)` by a file holding just the open
messages' lines (a crash at any moment leaves the old or the new file, both complete).

A journal that cannot be compacted (the disk is full: the new file cannot be written) keeps its old file and
refuses new starts (`started` raises OSError) until a later compaction succeeds: a stale line of a committed
message could otherwise be read as the state of the same message claimed again. `committed` itself never raises,
so a full disk never stops the dispatcher that calls it.

Not covered by the journal: a power cut or kernel crash may lose its last writes (it is not fsynced; that would
cost milliseconds per message). The header names the boot the file was written in; a journal from an earlier
boot is not trusted, and recovery then treats every claimed message as `uncertain`, as without a journal.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from backend.dispatch.outcomes import Outcome

log = logging.getLogger(__name__)

MAGIC = "bulkmsg-send-journal 1"
SUFFIX = ".journal"
#: boot times (the fallback where no boot id exists) further apart than this are different boots.
BOOT_TOLERANCE_S = 120


def boot_id() -> str:
    """This boot of the machine: the kernel's boot id on Linux, else the boot time (psutil: every platform)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"t{int(psutil.boot_time())}"


def same_boot(recorded: str, current: str) -> bool:
    if recorded == current:
        return True
    if recorded.startswith("t") and current.startswith("t"):
        try:
            return abs(int(recorded[1:]) - int(current[1:])) <= BOOT_TOLERANCE_S
        except ValueError:
            return False
    return False


def journal_dir(data_dir: Path) -> Path:
    """Where the dispatchers of a data directory keep their journals."""
    return Path(data_dir) / "journal"


def journal_path(directory: Path, owner: str) -> Path:
    return directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", owner) + SUFFIX)


class SendJournal:
    """One dispatcher's journal file, written by its worker threads (each line one write under a lock)."""

    def __init__(self, directory: Path, owner: str) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = journal_path(directory, owner)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        self._header = f"{MAGIC} {boot_id()} {owner}\n".encode()
        os.write(self._fd, self._header)
        self._size = len(self._header)
        self._lock = threading.Lock()
        #: messages started and not committed yet: their lines (the `S` line, then the `O` line once answered).
        self._open: dict[int, list[bytes]] = {}
        #: the file still holds lines of committed messages (a compaction failed): no start until it is rewritten.
        self._stale = False

    def started(self, message_id: int) -> None:
        """Written before the message's first byte leaves for the provider."""
        line = b"S %d\n" % message_id
        with self._lock:
            if self._stale:
                self._compact()
            os.write(self._fd, line)
            self._size += len(line)
            self._open[message_id] = [line]

    def finished(self, message_id: int, outcome: Outcome) -> None:
        """Written as soon as the provider answered (or the send failed)."""
        line = b"O %d %s\n" % (message_id, outcome.to_json().encode())
        with self._lock:
            os.write(self._fd, line)
            self._size += len(line)
            self._open.setdefault(message_id, []).append(line)

    def committed(self, message_ids: list[int] | None = None) -> bool:
        """These results (None: every answered one) are in the store: forget them. Lines of sends still in flight
        stay until their own result is committed. Never raises: False when the file could not be rewritten (it
        is then `stale` and refuses starts until a later call rewrites it)."""
        with self._lock:
            if message_ids is None:
                message_ids = [mid for mid, lines in self._open.items() if len(lines) > 1]
            for message_id in message_ids:
                self._open.pop(message_id, None)
            try:
                if not self._open:
                    if self._size > len(self._header):
                        os.ftruncate(self._fd, len(self._header))
                        self._size = len(self._header)
                    self._stale = False
                elif message_ids or self._stale:
                    self._compact()
            except OSError as exc:
                if not self._stale:
                    log.error("send journal %s cannot be rewritten (%s); no send starts until it can", self.path, exc)
                self._stale = True
                return False
            return True

    def _compact(self) -> None:
        """Replace the file by one holding only the open messages' lines (write a new file, then rename)."""
        data = self._header + b"".join(line for lines in self._open.values() for line in lines)
        temporary = self.path.with_name(self.path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, "short write")
            os.rename(temporary, self.path)
        except OSError:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            self._stale = True
            raise
        os.close(self._fd)
        self._fd, self._size, self._stale = fd, len(data), False

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def close(self, *, remove: bool = True) -> None:
        """Close the file; with nothing in flight (`remove`) it goes, else it stays for recovery to read."""
        os.close(self._fd)
        if remove:
            self.path.unlink(missing_ok=True)


@dataclass
class JournalContents:
    path: Path
    owner: str
    trusted: bool
    started: set[int] = field(default_factory=set)
    outcomes: dict[int, Outcome] = field(default_factory=dict)


def read_journal(path: Path) -> JournalContents | None:
    """What a journal says; None when the file is not a journal. An unfinished last line is ignored (its write
    never completed: a `S` line means the send had not started, an `O` line that its answer is unknown)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    lines = raw.split(b"\n")
    header = lines[0].decode("utf-8", "replace").split(" ")
    if len(lines) < 2 or " ".join(header[:2]) != MAGIC or len(header) != 4:
        return None
    contents = JournalContents(path, header[3], same_boot(header[2], boot_id()))
    for line in lines[1:-1]:  # the last piece has no newline: complete only if empty
        kind, _, rest = line.decode("utf-8", "replace").partition(" ")
        try:
            if kind == "S":
                message_id = int(rest)
                contents.started.add(message_id)
                contents.outcomes.pop(message_id, None)
            elif kind == "O":
                ident, _, outcome = rest.partition(" ")
                contents.outcomes[int(ident)] = Outcome.from_json(outcome)
        except (ValueError, TypeError):
            log.warning("send journal %s: unreadable line skipped", path.name)
    return contents


def journals(directory: Path) -> list[Path]:
    """The journal files in `directory` (none when it does not exist or cannot be read, which is logged)."""
    try:
        return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.error("send journals in %s cannot be read (%s); lost sends will be marked uncertain", directory, exc)
        return []
