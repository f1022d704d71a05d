"""Environment Qt WebEngine needs before it is imported (set only where the user has not set it)."""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def prepare_qt_environment(env: MutableMapping[str, str]) -> None:
    """Chromium inside Qt WebEngine refuses to start as root without --no-sandbox; say so once, up front."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags.split():
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
    # Keep Qt's own logging about missing optional plugins out of the user's terminal.
    env.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false;qt.webenginecontext.debug=false")
