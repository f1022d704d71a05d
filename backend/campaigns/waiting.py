"""Why a running campaign sends nothing now, in its own status (`status_reason`, DESIGN section 9).

A running campaign's `status_reason` is null while it can send. When it cannot, it says what it waits for, the
first that applies:
- the disk or the database (the store's health probe, `backend.store.health`);
- the channel: its dispatcher in this process met an outage or cannot write the store or its journal, or the
  channel's stored state (written by whichever process holds the dispatcher) is an error or a session that is
  down;
- a window: the daily cap is used up until the next day.
A paused campaign keeps the reason it was paused for (stored); this module fills in running ones only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.store import states
from backend.store.models import ChannelConfig

if TYPE_CHECKING:
    from backend.services import Services

WAITING_FOR_DISK = "Waiting for the disk"
WAITING_FOR_DATABASE = "Waiting for the database"
WAITING_FOR_CHANNEL = "Waiting for the channel"
WAITING_FOR_WINDOW = "Waiting for the next day: the daily cap is used up"
#: channel states that mean nothing goes out on it now.
DOWN_STATES = (states.ERROR, states.DISCONNECTED)


def with_waiting_reason(services: Services, session: Session, account_id: int, view: dict[str, Any]) -> dict[str, Any]:
    """`view` (a campaign as the API shows it) with `status_reason` filled in for a running campaign."""
    if view.get("status") == states.RUNNING and not view.get("status_reason"):
        counts = view.get("counts") or {}
        if counts.get(states.QUEUED, 1) or counts.get(states.SENDING, 0):
            view["status_reason"] = waiting_reason(services, session, account_id, view)
    return view


def waiting_reason(services: Services, session: Session, account_id: int, view: dict[str, Any]) -> str | None:
    """What the running campaign `view` waits for, or None when nothing holds it back."""
    for problem in services.store_health.problems():
        where = WAITING_FOR_DISK if problem.code.startswith("disk") else WAITING_FOR_DATABASE
        return f"{where}: {problem.message}"
    channel = str(view["channel"])
    local = services.dispatchers.waiting_reason(account_id, channel)
    if local is not None:
        return local if local.startswith("Waiting for") else f"{WAITING_FOR_CHANNEL}: {local}"
    row = session.execute(
        select(ChannelConfig.state, ChannelConfig.detail).where(
            ChannelConfig.account_id == account_id, ChannelConfig.channel == channel
        )
    ).first()
    if row is not None and row[0] in DOWN_STATES:
        return f"{WAITING_FOR_CHANNEL}: {row[1] or row[0]}"
    if view.get("limited_by") == "daily_cap":
        return WAITING_FOR_WINDOW
    return None
