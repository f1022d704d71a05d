"""The unsubscribe link's token (`/unsubscribe/<token>`): names the account and contact to opt out, unforgeable
without the app key (an HMAC), so a link scanner or a guessed URL opts nobody out."""

from __future__ import annotations

import hashlib
import hmac


def unsubscribe_token(key: bytes, account_id: int, contact_id: int) -> str:
    """`<account>.<contact>.<mac>`: names the contact to opt out, unforgeable without the app key."""
    body = f"{account_id}.{contact_id}"
    mac = hmac.new(key, f"unsubscribe:{body}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def read_unsubscribe_token(key: bytes, token: str) -> tuple[int, int] | None:
    parts = token.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts[:2]):
        return None
    account_id, contact_id = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(unsubscribe_token(key, account_id, contact_id), token):
        return None
    return account_id, contact_id
