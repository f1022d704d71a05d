"""The Gmail API channel (see channel.py); the registry names `backend.channels.gmail:GmailChannel`."""

from backend.channels.gmail.channel import GmailChannel

__all__ = ["GmailChannel"]
