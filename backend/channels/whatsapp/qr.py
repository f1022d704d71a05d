"""The QR code a user scans, as the PNG data URL that `channel.qr` carries (DESIGN section 7)."""

from __future__ import annotations

import base64
import io

import qrcode


def qr_data_url(payload: str) -> str:
    """A `data:image/png;base64,...` URL of a QR code encoding `payload` (WhatsApp Web's `data-ref`)."""
    image = qrcode.make(payload, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
