"""Twilio's message statuses and the status callback: the webhook protocol pieces the channel (which asks for
callbacks at CALLBACK_PATH and polls) and the webhook route (backend/webhooks/twilio.py) share."""

from __future__ import annotations

CALLBACK_PATH = "/webhooks/twilio/status"
FINAL_SUCCESS = frozenset({"delivered", "read"})
FINAL_FAILURE = frozenset({"failed", "undelivered", "canceled"})


def delivery_success(status: str) -> bool | None:
    """Twilio's MessageStatus as DeliveryReport.success: True / False when final, None while in flight."""
    if status in FINAL_SUCCESS:
        return True
    if status in FINAL_FAILURE:
        return False
    return None
