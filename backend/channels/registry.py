"""Which channels exist and where each lives (imported lazily: WhatsApp pulls in Selenium)."""

from __future__ import annotations

import importlib

from backend.channels.base import Channel

CHANNELS: dict[str, str] = {
    "whatsapp": "backend.channels.whatsapp.channel:WhatsAppChannel",
    "gmail": "backend.channels.gmail.channel:GmailChannel",
    "smtp": "backend.channels.smtp.channel:SmtpChannel",
    "sms": "backend.channels.sms.channel:SmsChannel",
}


class UnknownChannel(LookupError):
    pass


def channel_class(name: str) -> type[Channel]:
    target = CHANNELS.get(name)
    if target is None:
        raise UnknownChannel(name)
    module, _, attr = target.partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module), attr)
    return cls
