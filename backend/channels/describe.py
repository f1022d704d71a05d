"""What the front end needs to know about a channel besides its state: its title, whether a message has a
subject, what a recipient is, the longest body, and the pace it sends at unless a campaign says otherwise
(the class defaults, overridden by the channel's saved settings). Served in `GET /api/channels` as `limits`.
Its settings form (`form`: an intro and each field's key, label, widget, bounds, hint and fix) comes from the
channel's declared settings (backend/channels/fields.py); the front end draws it as it is served."""

from __future__ import annotations

from typing import Any

from backend.channels.fields import form_of
from backend.channels.registry import channel_class

RATE_KEYS = ("per_minute", "min_delay_s", "max_delay_s", "daily_cap")


def limits(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    cls = channel_class(name)
    defaults = cls.rate_defaults
    rate: dict[str, Any] = {key: getattr(defaults, key) for key in RATE_KEYS}
    for key in RATE_KEYS:
        value = settings.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            rate[key] = value
    return {
        "title": cls.title,
        "needs_subject": cls.needs_subject,
        "recipient_kind": cls.recipient_kind,
        "max_body_length": cls.max_body_length,
        "rate": rate,
    }


def form(name: str) -> dict[str, Any]:
    """The channel's settings form, as `GET /api/channels` serves it under `form`."""
    return form_of(channel_class(name).settings_model)
