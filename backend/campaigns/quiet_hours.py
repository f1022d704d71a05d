"""Quiet hours at work (DESIGN section 16): a campaign's messages wait, `queued`, outside their send window.

Each message of a campaign with a window carries the zone its window is read in (`messages.zone`: the
recipient's zone, or the window's fixed zone). Outside its window a message waits in `queued` with
`next_attempt_at` at the next opening, so the claim does not take it and no attempt is used:
- `defer_closed` moves, per zone, every queued message of a campaign whose window is closed now to that zone's
  next opening (when the campaign starts or resumes, and whenever a claim meets a closed window);
- `gate_claimed` runs on every claimed batch (the dispatcher's transaction): a message whose window closed since
  it was queued is put back (`queued`, its attempt undone, due at the next opening) and its zone deferred with it;
  a message inside its window learns when the window closes (`Gate.open_until`);
- `OpenUntil.reopens(now)` is asked again right before the message goes out (the dispatcher's pre-send hook): a
  window that closed while the message waited in the dispatcher sends it back to wait for the next opening, and
  `validity_s(now)` is how long the provider may hold it (SMS: Twilio's ValidityPeriod);
- `quiet_fields` tells the monitor how many wait and until when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from backend.campaigns.windows import SendWindow, WindowError
from backend.campaigns.zones import zone_named
from backend.dispatch.claims import ClaimedMessage
from backend.store import states
from backend.store.models import Campaign, Message, UTCDateTime

#: Twilio keeps a message in its queue at most this long (its `ValidityPeriod` limit, 10 hours).
MAX_VALIDITY_S = 36_000

_DEFER_ZONE = (
    update(Message)
    .where(
        Message.campaign_id == bindparam("p_campaign"),
        Message.status == states.QUEUED,
        Message.zone == bindparam("p_zone"),
        Message.next_attempt_at < bindparam("p_opens", type_=UTCDateTime()),
    )
    .values(next_attempt_at=bindparam("p_opens", type_=UTCDateTime()))
    .execution_options(synchronize_session=False)
)


def window_of(campaign: Campaign | dict[str, Any] | None) -> SendWindow | None:
    raw = campaign.send_window if isinstance(campaign, Campaign) else campaign
    if not raw:
        return None
    try:
        return SendWindow.parse({k: v for k, v in raw.items() if k != "zones_from"})
    except WindowError:
        return None  # checked when the campaign was created; a stored window that no longer parses is ignored


def queued_zones(session: Session, campaign_id: int) -> list[tuple[str | None, int]]:
    rows = session.execute(
        select(Message.zone, func.count())
        .where(Message.campaign_id == campaign_id, Message.status == states.QUEUED)
        .group_by(Message.zone)
    ).all()
    return [(zone, int(n)) for zone, n in rows]


def defer_closed(session: Session, campaign: Campaign, now: datetime) -> int:
    """Move the campaign's queued messages whose window is closed now to its next opening; returns how many."""
    window = window_of(campaign)
    if window is None:
        return 0
    moved = 0
    for zone_name, _ in queued_zones(session, campaign.id):
        moved += _defer_zone(session, campaign.id, window, zone_name, now)
    return moved


def _defer_zone(session: Session, campaign_id: int, window: SendWindow, zone_name: str | None, now: datetime) -> int:
    zone = zone_named(zone_name) if zone_name else None
    if zone is None or window.is_open(now, zone):
        return 0
    opens = window.next_opening(now, zone)
    params = {"p_campaign": campaign_id, "p_zone": zone_name, "p_opens": opens}
    return int(session.execute(_DEFER_ZONE, params).rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OpenUntil:
    """A kept message's window: open until `closes`, in `zone`."""

    closes: datetime
    window: SendWindow
    zone: ZoneInfo

    def reopens(self, now: datetime) -> datetime | None:
        """None while the window is still open at `now`, else when it next opens."""
        return None if now < self.closes else self.window.next_opening(now, self.zone)

    def validity_s(self, now: datetime) -> int:
        """How long a provider may hold the message before it would land after the window (1 s to 10 hours)."""
        return max(1, min(MAX_VALIDITY_S, int((self.closes - now).total_seconds())))


@dataclass
class Gate:
    """What `gate_claimed` decided: the messages kept, and until when each one's window stays open."""

    keep: list[ClaimedMessage]
    open_until: dict[int, OpenUntil]


def gate_claimed(
    session: Session, claimed: list[ClaimedMessage], windows: dict[int, SendWindow], now: datetime
) -> Gate:
    """Keep the claimed messages inside their window; put back the others (see the module's docstring)."""
    windowed = [m.id for m in claimed if m.campaign_id in windows]
    if not windowed:
        return Gate(claimed, {})
    zones = dict(session.execute(select(Message.id, Message.zone).where(Message.id.in_(windowed))).all())
    keep, back, open_until = [], [], {}
    for message in claimed:
        window = windows.get(message.campaign_id) if message.campaign_id is not None else None
        zone = zone_named(zones.get(message.id) or "") if window is not None else None
        if window is None or zone is None:
            keep.append(message)
            continue
        span = window.open_interval(now, zone)
        if span is None:
            back.append((message, window, zones[message.id], window.next_opening(now, zone)))
            continue
        keep.append(message)
        open_until[message.id] = OpenUntil(span[1], window, zone)
    for message, window, zone_name, opens in back:
        session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status == states.SENDING)
            .values(
                status=states.QUEUED,
                attempts=Message.attempts - 1,
                lease_owner=None,
                lease_until=None,
                next_attempt_at=opens,
            )
            .execution_options(synchronize_session=False)
        )
        assert message.campaign_id is not None
        _defer_zone(session, message.campaign_id, window, zone_name, now)
    return Gate(keep, open_until)


def quiet_fields(session: Session, campaign: Campaign, now: datetime) -> dict[str, Any]:
    """{"quiet_hours": {"waiting", "opens", "text"} or None} for the campaign's view."""
    window = window_of(campaign)
    if window is None or campaign.status not in (states.RUNNING, states.SCHEDULED, states.PAUSED, states.DRAFT):
        return {"quiet_hours": None}
    waiting, soonest = 0, None
    for zone_name, n in queued_zones(session, campaign.id):
        zone = zone_named(zone_name) if zone_name else None
        if zone is None or window.is_open(now, zone):
            continue
        waiting += n
        opens = window.next_opening(now, zone)
        soonest = opens if soonest is None else min(soonest, opens)
    if not waiting:
        return {"quiet_hours": None}
    start = window.start.strftime("%H:%M")
    where = "their time zone" if window.per_recipient else window.timezone
    noun = "message waits" if waiting == 1 else "messages wait"
    text = f"Quiet hours: {waiting:,} {noun} for {start} in {where}"
    return {"quiet_hours": {"waiting": waiting, "opens_at": soonest.isoformat() if soonest else None, "text": text}}
