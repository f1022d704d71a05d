"""Install the Linux launcher: `python -m bulkmsg_desktop.install` adds Bulk Messenger to the applications menu.

It writes `bulk-messenger.desktop` (with Exec pointing at this environment's `bulkmsg-desktop`) to
~/.local/share/applications and the icon to ~/.local/share/icons. Windows and macOS get a console-less
launcher from the `bulkmsg-desktop` gui-script entry point instead.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def launcher_text(executable: Path) -> str:
    text = (HERE / "bulk-messenger.desktop").read_text()
    return text.replace("Exec=bulkmsg-desktop", f"Exec={shlex.quote(str(executable))}")


def install(home: Path, executable: Path) -> Path:
    apps = home / ".local/share/applications"
    icons = home / ".local/share/icons/hicolor/scalable/apps"
    apps.mkdir(parents=True, exist_ok=True)
    icons.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "bulk-messenger.svg", icons / "bulk-messenger.svg")
    target = apps / "bulk-messenger.desktop"
    target.write_text(launcher_text(executable))
    target.chmod(0o755)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bulkmsg_desktop.install", description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path.home(), help="install under this home directory")
    args = parser.parse_args(argv)
    executable = Path(sys.executable).with_name("bulkmsg-desktop")
    if not executable.exists():
        print(f"{executable} is missing: install the app first (pip install -e '.[desktop]').", file=sys.stderr)
        return 1
    print(f"Installed {install(args.home, executable)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
