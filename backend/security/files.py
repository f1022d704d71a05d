"""The data directory is private to the user (DESIGN section 11): directories 0700, files 0600.

`secure_data_dir` makes the directory private and, for a directory made by an older version (0755 / 0644), fixes
everything already in it; `private_file` creates a file 0600 (or makes an existing one so) before a library opens
it with its own default mode (SQLite, the log). SQLite creates its -wal and -shm files with the database file's
mode, so a private database file keeps them private too.
"""

from __future__ import annotations

import logging
import os
import stat
from fnmatch import fnmatch
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
#: what the app keeps in its data directory: logs, the send journal, WhatsApp profiles, media files; the key, the
#: store and its side files, the WhatsApp selector overrides.
OWN_DIRS = frozenset({"logs", "journal", "whatsapp-profile", "media"})
OWN_FILES = ("secret.key", "*.sqlite3", "*.sqlite3-*", "*.db", "*.db-*", "whatsapp-selectors.json")
#: the SQLite side files that sit next to a database file.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _chmod(path, DIR_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600, or make the existing file 0600."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _chmod(path, FILE_MODE)


def private_sqlite(path: Path) -> None:
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            _chmod(side, FILE_MODE)


def secure_data_dir(data_dir: Path) -> None:
    """Make `data_dir` 0700 and what the app keeps in it 0700 (directories) / 0600 (files); symlinks are left
    alone. Only the app's own entries are touched (`OWN_DIRS`, `OWN_FILES`), so a data directory pointed at a
    folder that holds other things does not change their modes."""
    private_dir(data_dir)
    for entry in data_dir.iterdir():
        if entry.is_symlink():
            continue
        if entry.is_dir() and entry.name in OWN_DIRS:
            _chmod(entry, DIR_MODE)
            for root, dirs, files in os.walk(entry):
                for name in dirs:
                    _chmod(Path(root, name), DIR_MODE)
                for name in files:
                    _chmod(Path(root, name), FILE_MODE)
        elif entry.is_file() and any(fnmatch(entry.name, pattern) for pattern in OWN_FILES):
            _chmod(entry, FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) == mode:
            return
        path.chmod(mode)
    except OSError as exc:  # a file we do not own (or that vanished): say so, keep going
        log.warning("could not make %s private: %s", path, exc.strerror)
