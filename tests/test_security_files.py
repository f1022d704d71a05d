"""The data directory is private (issue 14, item 9): 0700 directories and 0600 files for the SQLite file and its
-wal/-shm, the log, the key and the send journal, also when an older version left them 0755 / 0644."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

from backend.app import create_app
from backend.logs import setup_logging
from backend.security.files import private_dir
from backend.store.migrate import upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _loose_modes(data_dir: Path) -> list[str]:
    loose = []
    for path in [data_dir, *data_dir.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        if not path.is_symlink() and _mode(path) != want:
            loose.append(f"{path.relative_to(data_dir)}: {oct(_mode(path))}")
    return loose


def test_it_keeps_the_data_directory_private_also_when_upgrading_one_left_open(
    make_config: Any, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "whatsapp-profile" / "Default").mkdir(parents=True)
    for name in ("bulkmsg.sqlite3", "logs/bulkmsg.log", "whatsapp-profile/Default/Cookies", "secret.key"):
        (data_dir / name).write_bytes(b"" if name != "secret.key" else b"k" * 32)
    for path in [data_dir, *data_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # what an older version (or a umask of 022) left
    not_ours = data_dir / "notes.sh"  # a data directory pointed at a folder that holds other things
    not_ours.write_text("echo hi\n")
    not_ours.chmod(0o755)

    app = create_app(make_config(data_dir=data_dir))
    services = app.extensions["bulkmsg"]
    (data_dir / "bulkmsg.sqlite3").unlink()  # a fresh store is created private too
    services.db.dispose()
    app = create_app(make_config(data_dir=data_dir))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        setup_logging("INFO", data_dir)
        logging.getLogger("bulkmsg.test").info("a line in the log")
        client = app.test_client()
        token = services.account_token()
        answer = client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org"},
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert answer.status_code == 201
        assert (data_dir / "bulkmsg.sqlite3-wal").exists()  # WAL mode: the side files exist while open
        assert _loose_modes(data_dir) == ["notes.sh: 0o755"]  # the app's own files only
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        services.db.dispose()


def test_it_makes_new_private_directories_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "profile"
    private_dir(target)
    assert _mode(target) == 0o700
