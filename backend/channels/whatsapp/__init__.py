"""WhatsApp Web driven by Selenium in headless Chromium (DESIGN section 8). See `channel.WhatsAppChannel`."""

from __future__ import annotations

from backend.channels.whatsapp.channel import WhatsAppChannel

__all__ = ["WhatsAppChannel"]
