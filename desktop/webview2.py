"""Windows: the window needs the Microsoft Edge WebView2 Runtime; say so plainly when it is missing.

Without it pywebview falls back to the old MSHTML engine, which cannot run the front end's ES modules, so the
window would stay blank. The check reads the registry value `pv` (the runtime's version) under
`...\\EdgeUpdate\\Clients\\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}`: per user (HKCU, the evergreen installer's
default without elevation), per machine (HKLM, `WOW6432Node` on 64-bit Windows), as Microsoft's "Distribute your
app and the WebView2 Runtime" guide and pywebview's own winforms backend do. A missing key, an empty value or
"0.0.0.0" means "not installed".
"""

from __future__ import annotations

import sys
from collections.abc import Callable

RUNTIME_CLIENT = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
DOWNLOAD_URL = "https://go.microsoft.com/fwlink/p/?LinkId=2124703"
MISSING_MESSAGE = (
    "Bulk Messenger needs the Microsoft Edge WebView2 Runtime, which is not installed on this computer. "
    f"Install it from {DOWNLOAD_URL} (the Evergreen Bootstrapper), then start Bulk Messenger again."
)
NOT_INSTALLED = "0.0.0.0"  # noqa: S104 - a version string (what a removed runtime leaves), not an address
#: (hive name, key path) in the order they are looked up.
LOCATIONS = (
    ("HKEY_CURRENT_USER", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT}"),
    ("HKEY_LOCAL_MACHINE", rf"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT}"),
    ("HKEY_LOCAL_MACHINE", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{RUNTIME_CLIENT}"),
)

#: reads one registry string value: (hive name, key path, value name) -> value, or None when absent.
RegistryReader = Callable[[str, str, str], str | None]


def read_registry(hive: str, path: str, name: str) -> str | None:
    if sys.platform != "win32":
        return None
    import winreg

    try:
        with winreg.OpenKey(getattr(winreg, hive), path) as key:
            value, _kind = winreg.QueryValueEx(key, name)
    except OSError:
        return None
    return str(value)


def runtime_version(reader: RegistryReader = read_registry) -> str | None:
    """The installed WebView2 Runtime's version, or None when it is not installed."""
    for hive, path in LOCATIONS:
        value = (reader(hive, path, "pv") or "").strip()
        if value and value != NOT_INSTALLED:
            return value
    return None


def missing_runtime_message(reader: RegistryReader = read_registry) -> str | None:
    """The sentence to show when the runtime is missing, else None."""
    return None if runtime_version(reader) else MISSING_MESSAGE


def show_error(message: str, title: str = "Bulk Messenger") -> None:
    """A native message box (the windowed app has no console to print to)."""
    import ctypes

    windll = ctypes.windll  # type: ignore[attr-defined]
    windll.user32.MessageBoxW(None, message, title, 0x10)  # MB_ICONERROR
