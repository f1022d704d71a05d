"""A local fake of WhatsApp Web's DOM (DESIGN section 8) and the pytest helpers that start it."""

from __future__ import annotations

from tests.fakes.whatsapp_web.fixtures import (
    StatusRecorder,
    chromium_paths,
    leftover_browser_processes,
    require_chromium,
    wait_until,
    whatsapp_context,
)
from tests.fakes.whatsapp_web.server import FakeConfig, FakeWhatsAppWeb

__all__ = [
    "FakeConfig",
    "FakeWhatsAppWeb",
    "chromium_paths",
    "leftover_browser_processes",
    "StatusRecorder",
    "require_chromium",
    "whatsapp_context",
    "wait_until",
]
