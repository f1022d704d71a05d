"""How a WhatsApp Web tick reads (DESIGN section 8): the aria-label first, the icon name second; 2026's
`wds-ic-delivered` is the SINGLE tick (sent, not delivered), only a double tick is delivered, read when its label
says so or it is blue. Shapes and sources: backend/channels/whatsapp/selectors.py."""

from __future__ import annotations

import re

_I = re.IGNORECASE
#: aria-labels (2026 first, read before any icon; the page runs in English).
TICK_LABELS = {"pending": "pending", "sent": "sent", "delivered": "delivered", "read": "read"}
#: icon names (`data-icon` or the svg's `<title>`). `wds-ic-delivered` is the SINGLE tick: sent, NOT delivered.
TICK_PENDING = ("wds-ic-pending", "msg-time", "status-time")
TICK_SENT = ("wds-ic-delivered", "wds-ic-sent", "msg-check", "status-check")
TICK_DOUBLE = ("wds-ic-read", "msg-dblcheck", "status-dblcheck", "msg-dblcheck-ack")
TICK_FAILED = ("msg-error", "status-error", "message-fail")
#: A double tick is "read" when its label says so (" Read ") or it is blue (2026 `wds-ic-read`, #53bdeb).
READ_LABEL = re.compile(r"\bread\b", _I)


def tick_status(icon: str | None, label: str | None, title: str | None = None, blue: bool = False) -> str | None:
    """Map one tick element to `pending` `sent` `delivered` `read` `failed`, None if it says nothing.

    The aria-label comes first (" Sent ", " Delivered "...), the icon name second (`data-icon`, else the svg's
    `<title>`): `wds-ic-delivered` is the single tick (sent), only a double tick is delivered, and it is read
    when the label says Read or the tick is blue."""
    said = (label or "").strip().lower()
    if said in TICK_LABELS:
        return TICK_LABELS[said]
    for name in (icon, title):
        name = (name or "").strip().lower()
        if name in TICK_PENDING:
            return "pending"
        if name in TICK_SENT:
            return "sent"
        if name in TICK_DOUBLE:
            return "read" if (label and READ_LABEL.search(label)) or blue else "delivered"
        if name in TICK_FAILED:
            return "failed"
    return None
