"""Logging to stderr and a rotating file in the data directory."""

from __future__ import annotations

import logging
import logging.handlers
from io import TextIOWrapper
from pathlib import Path

from backend.security.files import private_dir, private_file

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Each new log file (after a rotation too) is created 0600: the log names contacts and addresses."""

    def _open(self) -> TextIOWrapper:
        private_file(Path(self.baseFilename))
        return super()._open()


def setup_logging(level: str, data_dir: Path | None) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stream)
    if data_dir is not None:
        logs = data_dir / "logs"
        private_dir(logs)
        private_file(logs / "bulkmsg.log")
        file_handler = PrivateRotatingFileHandler(
            logs / "bulkmsg.log", maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
        )
        file_handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(file_handler)
    # Third-party chatter that would otherwise drown our lines (and may echo request URLs).
    for noisy in ("alembic", "apscheduler", "werkzeug", "urllib3", "selenium", "googleapiclient.discovery_cache"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
