"""Freedesktop files for the packaged app: the `.desktop` launcher, the hicolor icon set and an AppImage's AppDir.

Conventions followed (freedesktop.org Icon Theme and Desktop Entry specifications, AppImage's AppDir layout):
- icons: `share/icons/hicolor/<N>x<N>/apps/bulk-messenger.png` for the usual sizes 16..512 and
  `share/icons/hicolor/scalable/apps/bulk-messenger.svg`; the launcher names the icon without a path or suffix;
- launcher: `Type=Application`, `Exec` (the executable, `%U`-free: the app takes no file arguments),
  `Categories=Network;Office;` (registered main categories), `Terminal=false`;
- AppDir: `AppRun` (executable), one `.desktop` and its icon at the top level, `.DirIcon`, the app under `usr/`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ICON_NAME = "bulk-messenger"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
SVG = HERE / f"{ICON_NAME}.svg"
TEMPLATE = HERE / f"{ICON_NAME}.desktop"
RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
APP_RUN = """#!/bin/sh
# AppImage entry: run the one-folder app that sits under usr/lib, passing every argument on.
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/lib/{name}/{name}" "$@"
"""


def render_icon(size: int, target: Path, svg: Path = SVG) -> Path:
    """Rasterise the SVG icon to a `size`x`size` PNG with Qt's SVG renderer."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QImage, QPainter
    from PyQt6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG image.")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target), "PNG"):
        raise OSError(f"Could not write {target}.")
    return target


def write_icon_set(share: Path) -> list[Path]:
    """The hicolor theme's PNG sizes and the scalable SVG under `share/icons/hicolor`."""
    hicolor = share / "icons" / "hicolor"
    written = [render_icon(n, hicolor / f"{n}x{n}" / "apps" / f"{ICON_NAME}.png") for n in ICON_SIZES]
    scalable = hicolor / "scalable" / "apps" / f"{ICON_NAME}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SVG, scalable)
    return [*written, scalable]


def launcher_text(exec_command: str) -> str:
    """The `.desktop` entry with `Exec` set to `exec_command` (already quoted as the spec requires)."""
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_command}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def exec_quote(word: str) -> str:
    """One `Exec` argument quoted as the Desktop Entry spec says: double quotes around a word with reserved
    characters, with `"`, `` ` ``, `$` and `\\` escaped by a backslash; `%` doubled; then backslashes escaped
    once more, as in every string value of the file."""
    word = word.replace("%", "%%")
    if any(c in word for c in RESERVED):
        word = '"' + "".join("\\" + c if c in '"`$\\' else c for c in word) + '"'
    return word.replace("\\", "\\\\")


def write_launcher(target: Path, executable: Path | str) -> Path:
    """A launcher that starts `executable` (an absolute path, or a name on PATH)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(launcher_text(exec_quote(str(executable))))
    target.chmod(0o755)
    return target


def write_appdir(app_folder: Path, appdir: Path) -> Path:
    """An AppDir for appimagetool around the one-folder app (hard links where possible, so it costs no space)."""
    if appdir.exists():
        shutil.rmtree(appdir)
    name = app_folder.name
    lib = appdir / "usr" / "lib" / name
    lib.parent.mkdir(parents=True)
    shutil.copytree(app_folder, lib, symlinks=True, copy_function=_link_or_copy)
    write_icon_set(appdir / "usr" / "share")
    write_launcher(appdir / f"{ICON_NAME}.desktop", name)
    write_launcher(appdir / "usr" / "share" / "applications" / f"{ICON_NAME}.desktop", name)
    shutil.copyfile(appdir / "usr/share/icons/hicolor/256x256/apps" / f"{ICON_NAME}.png", appdir / f"{ICON_NAME}.png")
    (appdir / ".DirIcon").symlink_to(f"{ICON_NAME}.png")
    app_run = appdir / "AppRun"
    app_run.write_text(APP_RUN.format(name=name))
    app_run.chmod(0o755)
    return appdir


def _link_or_copy(source: str, target: str) -> object:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target
