"""The packaged app's one executable (PyInstaller, `packaging/BulkMessenger.spec`).

`BulkMessenger` alone (a double-click) opens the window; `BulkMessenger serve|token|db upgrade|desktop|--help`
runs the command line (`bulkmsg ...`), so the headless server ships in the same folder.

The frozen-app pitfalls are dealt with here, before the app is imported:
- `multiprocessing.freeze_support()` (the entry script calls it first): spawned workers (the contacts importer's
  pool) re-run this executable, which must then act as the worker, not open a second window;
- the WhatsApp reaper is started as `sys.executable <path>/reaper.py <profile>`; frozen, `sys.executable` is this
  program, so that call is routed to the reaper instead of the window;
- a windowed build on Windows has `sys.stdout` / `sys.stderr` set to None: writes would crash, so they go to
  the null device;
- TLS: the bundled OpenSSL looks for CA certificates where the build machine kept them, so `ssl`, `requests`
  and `httplib2` (Gmail) are pointed at certifi's bundle unless the user set `SSL_CERT_FILE` /
  `REQUESTS_CA_BUNDLE`;
- Linux: pywebview would try GTK first, which is not bundled, so the Qt GUI is named (`PYWEBVIEW_GUI=qt`,
  `QT_API=pyqt6`); a session without a locale gets `LC_CTYPE=C.UTF-8` (Qt needs UTF-8); Qt WebEngine as root gets
  `--no-sandbox` from `bulkmsg_desktop.qt_env` as in the source install, and finds its helper process and resources
  through PyInstaller's Qt hooks.
Resources (the front end, the Alembic migrations, the icon) sit under `sys._MEIPASS` at the same relative
places as in the source tree, so the code finds them beside its modules; the data directory is the same
platformdirs folder as the source install's, and the database is upgraded on every start (`start_app_server`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import TextIO

#: options that mean "the command line", not the window (so does any first word that is not an option).
CLI_WORDS = frozenset({"-h", "--help", "--version"})
REAPER_NAMES = frozenset({"reaper.py", "reaper.pyc"})


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def route(words: Sequence[str]) -> str:
    """What a command line asks for: "cli", "reaper" or "desktop" (the default: a double-click has no words)."""
    if words and Path(words[0]).name in REAPER_NAMES:
        return "reaper"
    if words and (words[0] in CLI_WORDS or not words[0].startswith("-")):
        return "cli"  # a command, or a mistyped one: the command line's own error lists the commands
    return "desktop"


def prepare_environment(env: MutableMapping[str, str], *, platform: str = sys.platform) -> None:
    """Settings the frozen app needs before Qt, ssl or requests are imported (only where the user set none)."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        certifi = None  # type: ignore[assignment]
    if certifi is not None:
        bundle = certifi.where()
        if Path(bundle).is_file():
            env.setdefault("SSL_CERT_FILE", bundle)
            env.setdefault("REQUESTS_CA_BUNDLE", bundle)
    if platform.startswith("linux"):
        env.setdefault("PYWEBVIEW_GUI", "qt")
        env.setdefault("QT_API", "pyqt6")
        if not any(env.get(name) for name in ("LC_ALL", "LC_CTYPE", "LANG")):
            env["LC_CTYPE"] = "C.UTF-8"  # a bare session (env -i, some launchers): Qt wants UTF-8 and says so


def null_streams() -> None:
    """Windowed builds (Windows) start without stdout/stderr: give them the null device so writes do not fail."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            stream: TextIO = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
            setattr(sys, name, stream)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    null_streams()
    prepare_environment(os.environ)
    kind = route(words)
    if kind == "reaper":
        from backend.channels.whatsapp import reaper

        return reaper.main(words)
    if kind == "cli":
        from backend.cli import main as cli_main

        return cli_main(words)
    from .app import main as desktop_main

    return desktop_main(words)
