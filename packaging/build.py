"""`make dist`: the one-folder app with PyInstaller, its freedesktop launcher and icon set, and an AppImage when
`appimagetool` is on PATH.

Writes, under `dist/`:
- `BulkMessenger/` the app (`BulkMessenger/BulkMessenger` opens the window, `... serve` runs the server),
  with `share/icons/hicolor/...` and `share/applications/bulk-messenger.desktop` inside it;
- `bulk-messenger.desktop` a launcher pointing at this folder's executable (copy it to
  ~/.local/share/applications);
- `BulkMessenger-x86_64.AppImage` when appimagetool is available (otherwise the reason it was skipped);
- `build-info.json`: build seconds, folder size, and what was skipped and why.
When PyInstaller cannot run here the build is skipped with the reason (exit 0; exit 1 under
BULKMSG_REQUIRE_ALL=1), and `build-info.json` says why, so `make dist-check` can skip or fail accordingly.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulkmsg_desktop.freedesktop import ICON_NAME, write_appdir, write_icon_set, write_launcher  # noqa: E402

log = logging.getLogger("dist")
NAME = "BulkMessenger"
BUILD_TIMEOUT_S = 1800


def pyinstaller_problem() -> str | None:
    """Why PyInstaller cannot build the app here, or None."""
    if importlib.util.find_spec("PyInstaller") is None:
        return "PyInstaller is not installed (pip install 'bulkmsg-app[dist]')."
    if sys.platform.startswith("linux") and not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return "this Python has no shared libpython, which PyInstaller needs (build Python with --enable-shared)."
    if sys.platform.startswith("linux") and importlib.util.find_spec("PyQt6.QtWebEngineWidgets") is None:
        return "Qt WebEngine is not installed (pip install 'bulkmsg-app[desktop]')."
    return None


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def run_pyinstaller(dist: Path, work: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(ROOT / "packaging" / f"{NAME}.spec"),
        ],
        cwd=ROOT,
        check=True,
        timeout=BUILD_TIMEOUT_S,
    )
    return time.monotonic() - started


def build_appimage(dist: Path, app: Path) -> str:
    """Build the AppImage; returns its path, or why it was skipped."""
    tool = shutil.which("appimagetool")
    if tool is None:
        return "skipped: appimagetool is not on PATH (get it from the AppImage project's releases, then make dist)"
    appdir = write_appdir(app, dist / f"{NAME}.AppDir")
    target = dist / f"{NAME}-{platform.machine()}.AppImage"
    env = {**os.environ, "ARCH": platform.machine()}
    subprocess.run([tool, "--no-appstream", str(appdir), str(target)], check=True, env=env, timeout=BUILD_TIMEOUT_S)
    shutil.rmtree(appdir)
    return str(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description="Build the packaged app (make dist).")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller", help="PyInstaller work folder")
    parser.add_argument("--no-pyinstaller", action="store_true", help="reuse the built folder: launcher, icons only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dist: Path = args.dist.resolve()
    dist.mkdir(parents=True, exist_ok=True)
    info_path = dist / "build-info.json"
    info_path.unlink(missing_ok=True)
    app = dist / NAME
    info: dict[str, object] = {"platform": sys.platform, "python": platform.python_version()}

    problem = pyinstaller_problem()
    if problem:
        info["skipped"] = f"The app was not built: {problem}"
        info_path.write_text(json.dumps(info, indent=2))
        log.warning("%s", info["skipped"])
        return 1 if os.environ.get("BULKMSG_REQUIRE_ALL") == "1" else 0
    if not args.no_pyinstaller:
        log.info("Building %s with PyInstaller (a few minutes)...", app)
        info["build_s"] = round(run_pyinstaller(dist, args.work.resolve()), 1)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the icons are drawn with Qt, without a display
    write_icon_set(app / "share")
    write_launcher(app / "share" / "applications" / f"{ICON_NAME}.desktop", NAME)
    launcher = write_launcher(dist / f"{ICON_NAME}.desktop", app / NAME)
    info["size_mb"] = round(folder_size(app) / 1e6, 1)
    info["launcher"] = str(launcher)
    info["appimage"] = build_appimage(dist, app) if sys.platform.startswith("linux") else "skipped: not Linux"
    info_path.write_text(json.dumps(info, indent=2))
    log.info("Built %s (%s MB) in %s s; AppImage: %s", app, info["size_mb"], info.get("build_s", "-"), info["appimage"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
