"""Send windows at the dispatcher (DESIGN section 16): the claim's check, and the check again right before a send.

`ClaimWindows` is the campaign hooks' memory of the windows of the messages they let through:
- `gate(session, claimed)` (the claim's transaction): puts back the messages whose window is closed
  (`quiet_hours.gate_claimed`) and remembers until when each kept one's window stays open;
- `reopens(message, outbound)` (a send worker, right before the message goes: no store access): None when its
  window is still open (SMS: its ValidityPeriod counted again from now), else when the window opens again: it
  closed while the message waited in the dispatcher, and the message goes back to wait without using an attempt;
- `validity_s(message_id)`: how long a provider may hold the message (SMS: Twilio's ValidityPeriod).
"Now" is the app's clock (`services.clock`). Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.campaigns import quiet_hours
from backend.campaigns.windows import SendWindow
from backend.channels.base import OutboundMessage
from backend.dispatch.claims import CAMPAIGNS, ClaimedMessage

#: how long a campaign's window is cached (a changed window is seen this fast).
WINDOW_TTL_S = 10.0
#: past this many remembered messages, those whose window has closed are forgotten (given back, never sent).
PRUNE_ABOVE = 10_000


class ClaimWindows:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        #: campaign id -> (its send window or None, when read (monotonic)).
        self._windows: dict[int, tuple[SendWindow | None, float]] = {}
        #: message id -> until when its window stays open (from its claim to its pre-send check).
        self._open_until: dict[int, quiet_hours.OpenUntil] = {}

    def gate(self, session: Session, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        """The claimed messages whose window is open now; the others are put back (see the module docstring)."""
        windows = self._windows_of(session, {m.campaign_id for m in claimed if m.campaign_id is not None})
        if not windows:
            return claimed
        now = self.clock()
        gate = quiet_hours.gate_claimed(session, claimed, windows, now)
        with self._lock:
            if len(self._open_until) > PRUNE_ABOVE:
                self._open_until = {k: v for k, v in self._open_until.items() if v.closes > now}
            self._open_until.update(gate.open_until)
        return gate.keep

    def _windows_of(self, session: Session, campaigns: set[int]) -> dict[int, SendWindow]:
        """The send windows of these campaigns (read again every WINDOW_TTL_S)."""
        now = time.monotonic()
        stale = sorted(c for c in campaigns if now - self._windows.get(c, (None, float("-inf")))[1] >= WINDOW_TTL_S)
        if stale:
            rows = session.execute(select(CAMPAIGNS.c.id, CAMPAIGNS.c.send_window).where(CAMPAIGNS.c.id.in_(stale)))
            for campaign_id, raw in rows.all():
                self._windows[campaign_id] = (quiet_hours.window_of(raw), now)
        found = {c: self._windows[c][0] for c in campaigns if c in self._windows}
        return {c: w for c, w in found.items() if w is not None}

    def validity_s(self, message_id: int) -> int | None:
        with self._lock:
            open_until = self._open_until.get(message_id)
        return open_until.validity_s(self.clock()) if open_until is not None else None

    def reopens(self, message: ClaimedMessage, outbound: OutboundMessage) -> datetime | None:
        with self._lock:
            open_until = self._open_until.pop(message.id, None)
        if open_until is None:
            return None  # no window (or checked already: a message is checked once per claim)
        now = self.clock()
        reopens = open_until.reopens(now)
        if reopens is None:
            outbound.metadata["validity_s"] = open_until.validity_s(now)
        return reopens
