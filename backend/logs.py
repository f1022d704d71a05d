"""Logging to stderr and a rotating file in the data directory.

When the store is in trouble the log stays readable: a log file that cannot be written (disk full) is said once on
stderr, in one line, and retried every `FILE_RETRY_S` (stderr keeps every line meanwhile); store outages (disk
full, database unreachable) are logged as one sentence, without the traceback repeated by every retry.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from io import TextIOWrapper
from pathlib import Path

from backend.errors import is_outage
from backend.security.files import private_dir, private_file

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FILE_RETRY_S = 30.0


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each new log file (after a rotation too) is created 0600: the log names contacts and addresses."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


class FallbackFileHandler(PrivateRotatingFileHandler):
    """A rotating log file that, when it cannot be written, says so once and leaves the lines to stderr."""

    def __init__(self, filename: Path, **kwargs: object) -> None:
        super().__init__(filename, **kwargs)  # type: ignore[arg-type]
        self.failing = False
        self._just_failed = False
        self._retry_at = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if self.failing and time.monotonic() < self._retry_at:
            return
        super().emit(record)
        if self.failing and self.stream is not None and not self._just_failed:
            self.failing = False
            _stderr_line(f"bulkmsg: the log file {self.baseFilename} can be written again")
        self._just_failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        if not self.failing:
            reason = getattr(error, "strerror", None) or (error.__class__.__name__ if error else "unknown error")
            _stderr_line(
                f"bulkmsg: cannot write the log file {self.baseFilename} ({reason}); "
                f"logging to the terminal only until it can be written"
            )
        self.failing = True
        self._just_failed = True
        self._retry_at = time.monotonic() + FILE_RETRY_S
        # What is buffered could not be flushed: drop the stream, the next try opens the file again.
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


class OutageFilter(logging.Filter):
    """A store outage logged with its traceback becomes one line naming the cause."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and is_outage(record.exc_info[1]):
            cause = str(getattr(record.exc_info[1], "orig", None) or record.exc_info[1]).strip().splitlines()
            record.msg = f"{record.getMessage()} ({cause[0] if cause else record.exc_info[0].__name__})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _stderr_line(line: str) -> None:
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def setup_logging(level: str, data_dir: Path | None) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    outages = OutageFilter()
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(FORMAT))
    stream.addFilter(outages)
    root.addHandler(stream)
    if data_dir is not None:
        logs = data_dir / "logs"
        private_dir(logs)
        private_file(logs / "bulkmsg.log")
        file_handler = FallbackFileHandler(
            logs / "bulkmsg.log", maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(FORMAT))
        file_handler.addFilter(outages)
        root.addHandler(file_handler)
    # Third-party chatter that would otherwise drown our lines (and may echo request URLs).
    for noisy in ("alembic", "apscheduler", "werkzeug", "urllib3", "selenium", "googleapiclient.discovery_cache"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
