"""Screenshots of the desktop window, taken on the GUI thread (Qt widgets may only be touched there)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any


# Grabbers live on the GUI thread; keeping them here stops Python from deleting them from another thread.
_grabbers: list[Any] = []


class CaptureError(RuntimeError):
    """The window could not be captured (a GUI other than Qt, or the grab did not finish in time)."""


def grab_window(window: Any, path: Path, *, timeout_s: float = 10.0) -> Path:
    """Save a PNG of `window` to `path`. Call from any thread but the GUI thread; blocks until it is written."""
    native = getattr(window, "native", None)
    if native is None or not hasattr(native, "grab"):
        raise CaptureError("Screenshots need the Qt GUI (pip install 'pywebview[qt]').")
    from qtpy.QtCore import QCoreApplication, QObject, Signal, Slot

    done = threading.Event()
    outcome: dict[str, Any] = {}

    class _Grabber(QObject):
        requested = Signal()

        @Slot()
        def grab(self) -> None:
            try:
                outcome["saved"] = native.grab().save(str(path))
            except Exception as error:  # reported to the caller below, on its own thread
                outcome["error"] = error
            finally:
                done.set()

    grabber = _Grabber()
    _grabbers.append(grabber)
    grabber.moveToThread(QCoreApplication.instance().thread())
    # The grabber lives on the GUI thread, so this emit is delivered there as a queued call.
    grabber.requested.connect(grabber.grab)
    grabber.requested.emit()
    if not done.wait(timeout_s):
        raise CaptureError(f"The window was not captured within {timeout_s:.0f} s.")
    if "error" in outcome:
        raise CaptureError(f"The window could not be captured: {outcome['error']}")
    if not outcome.get("saved"):
        raise CaptureError(f"Qt could not write the screenshot to {path}.")
    return path
