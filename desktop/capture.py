"""Screenshots of the desktop window, taken on the GUI thread (Qt widgets may only be touched there)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

# Grabbers live on the GUI thread; keeping them here stops Python from deleting them from another thread.
_grabbers: list[Any] = []


class CaptureError(RuntimeError):
    """The window could not be captured (a GUI other than Qt, or the grab did not finish in time)."""


def grab_window(window: Any, path: Path, *, timeout_s: float = 10.0) -> Path:
    """Save a PNG of `window` to `path`. Call from any thread but the GUI thread; blocks until it is written.

    The web view's compositor can lag a frame or two behind the page, so the window is grabbed until two
    grabs in a row are identical (or the time is up), and the settled image is saved.
    """
    deadline = time.monotonic() + timeout_s
    previous = None
    while True:
        image = _grab_once(window, max(0.5, deadline - time.monotonic()))
        if previous is not None and image == previous:
            break
        if time.monotonic() > deadline:
            break
        previous = image
        time.sleep(0.15)
    if not image.save(str(path)):
        raise CaptureError(f"Qt could not write the screenshot to {path}.")
    return path


def _grab_once(window: Any, timeout_s: float) -> Any:
    """One QImage of the window, taken on the GUI thread."""
    native: Any = getattr(window, "native", None)
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
                outcome["image"] = native.grab().toImage()
            except Exception as error:  # reported to the caller below, on its own thread
                outcome["error"] = error
            finally:
                done.set()

    grabber = _Grabber()
    _grabbers.append(grabber)
    app = QCoreApplication.instance()
    if app is None:
        raise CaptureError("There is no Qt application to capture (is the window open?).")
    grabber.moveToThread(app.thread())
    # The grabber lives on the GUI thread, so this emit is delivered there as a queued call.
    grabber.requested.connect(grabber.grab)
    grabber.requested.emit()
    if not done.wait(timeout_s):
        raise CaptureError(f"The window was not captured within {timeout_s:.0f} s.")
    if "error" in outcome:
        raise CaptureError(f"The window could not be captured: {outcome['error']}")
    return outcome["image"]
