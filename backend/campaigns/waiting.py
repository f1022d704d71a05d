"""Why a running campaign sends nothing now, in its own status (`status_reason`, DESIGN section 9).

A running campaign's `status_reason` is null while it can send. When it cannot, it says what it waits for, the
first that applies:
- the disk or the database (the store's health probe, `backend.store.health`);
- the channel: its dispatcher in this process met an outage or cannot write the store or its journal, or the
  channel's stored state (written by whichever process holds the dispatcher) is an error or a session that is
  down;
- a window: every message still to go waits for its send window to open (quiet hours: "Waiting for the send
  window (Mon-Fri 09:00-17:00, Europe/Madrid)"), or the daily cap is used up until the next day.
A paused campaign keeps the reason it was paused for (stored); this module fills in running ones only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.campaigns.quiet_hours import window_of
from backend.campaigns.windows import DAYS
from backend.store import states
from backend.store.models import ChannelConfig

if TYPE_CHECKING:
    from backend.services import Services

WAITING_FOR_DISK = "Waiting for the disk"
WAITING_FOR_DATABASE = "Waiting for the database"
WAITING_FOR_CHANNEL = "Waiting for the channel"
WAITING_FOR_WINDOW = "Waiting for the next day: the daily cap is used up"
WAITING_FOR_SEND_WINDOW = "Waiting for the send window"
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
    held = (view.get("quiet_hours") or {}).get("waiting") or 0
    counts = view.get("counts") or {}
    if held and held >= counts.get(states.QUEUED, 0) and not counts.get(states.SENDING, 0):
        return send_window_reason(view.get("send_window"))
    if view.get("limited_by") == "daily_cap":
        return WAITING_FOR_WINDOW
    return None


def send_window_reason(raw: Any) -> str:
    """ "Waiting for the send window (Mon-Fri 09:00-17:00, Europe/Madrid)" for a campaign's `send_window`."""
    window = window_of(raw if isinstance(raw, dict) else None)
    if window is None:
        return WAITING_FOR_SEND_WINDOW
    where = "each recipient's time zone" if window.per_recipient else window.timezone
    return f"{WAITING_FOR_SEND_WINDOW} ({_days(sorted(window.days))} {window.start:%H:%M}-{window.end:%H:%M}, {where})"


def _days(days: list[int]) -> str:
    """Mon-Fri, Sat-Sun, Mon, Wed, Fri, every day."""
    if len(days) == len(DAYS):
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [DAYS[d].capitalize() for d in range(len(DAYS))]
    return ", ".join(names[r[0]] if len(r) == 1 else f"{names[r[0]]}-{names[r[-1]]}" for r in runs)
