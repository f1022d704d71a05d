"""The inputs of a send plan (DESIGN section 16), read from the store: `campaign_plan` for a campaign's messages
still to go (grouped by zone in SQL), `draft_plan` for a draft's body (its recipients counted in SQL as creation
would choose them, grouped by their contacts' zones). See plan.py for the simulation itself."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, not_, or_, select
from sqlalchemy.orm import Session

from backend.audience.filter_sql import has, opted_out
from backend.audience.selection import condition
from backend.campaigns.create import check_request
from backend.campaigns.pace_view import channel_pace, per_minute
from backend.campaigns.pacing import Pace
from backend.campaigns.plan import UNPACED_SEND_S, Caps, simulate
from backend.campaigns.quiet_hours import window_of
from backend.campaigns.timing_create import Timing
from backend.campaigns.zones import DEFAULT, FROM_CONTACT, FROM_PHONE, phone_zone, zone_named
from backend.channels.families import family_of
from backend.channels.registry import channel_class
from backend.store import states
from backend.store.models import Account, Campaign, Contact, Message

if TYPE_CHECKING:
    from backend.services import Services

WINDOW = timedelta(hours=24)


def report_zone(session: Session, account_id: int, asked: str | None) -> ZoneInfo:
    """The zone a plan's days are dated in: the one asked for (the browser's), the account's default, UTC."""
    account = session.get(Account, account_id)
    default = (account.settings or {}).get("default_timezone") if account else None
    return zone_named(asked or "") or zone_named(str(default or "")) or ZoneInfo("UTC")


def _pace_and_caps(session: Session, campaign: Campaign, now: datetime) -> tuple[float, bool, Caps]:
    own, channel = Pace.from_mapping(campaign.rate), channel_pace(session, campaign)
    rates = [r for r in (per_minute(own), per_minute(channel)) if r]
    paced = bool(rates)
    rate = min(rates) if rates else channel_class(campaign.channel).default_concurrency * 60.0 / UNPACED_SEND_S
    since = now - WINDOW
    caps, firsts = [], []
    if own.daily_cap:
        sent = session.scalar(select(func.count()).where(Message.campaign_id == campaign.id, Message.sent_at >= since))
        caps.append(own.daily_cap)
        firsts.append(own.daily_cap - int(sent or 0))
    if channel.daily_cap:
        # Shared with the channel's other running campaigns: the dispatcher gives each its turn.
        others = session.scalar(
            select(func.count()).where(
                Campaign.account_id == campaign.account_id,
                Campaign.channel == campaign.channel,
                Campaign.status == states.RUNNING,
                Campaign.id != campaign.id,
            )
        )
        share = max(1, channel.daily_cap // (int(others or 0) + 1))
        sent = session.scalar(
            select(func.count()).where(
                Message.account_id == campaign.account_id, Message.channel == campaign.channel, Message.sent_at >= since
            )
        )
        caps.append(share)
        firsts.append(max(0, channel.daily_cap - int(sent or 0)) // (int(others or 0) + 1))
    return rate, paced, Caps(min(caps) if caps else None, max(0, min(firsts)) if firsts else None)


def campaign_plan(session: Session, campaign: Campaign, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The plan of the campaign's messages still queued or sending."""
    rows = session.execute(
        select(Message.zone, func.count())
        .where(Message.campaign_id == campaign.id, Message.status.in_((states.QUEUED, states.SENDING)))
        .group_by(Message.zone)
    ).all()
    groups = {z: int(n) for z, n in rows}
    rate, paced, caps = _pace_and_caps(session, campaign, now)
    plan = simulate(groups, window_of(campaign), rate, caps, now, zone, paced)
    found = (campaign.send_window or {}).get("zones_from") or {}
    return {**plan, "timezones": {k: int(found.get(k, 0)) for k in (FROM_CONTACT, FROM_PHONE, DEFAULT)}}


def _draft_groups(
    session: Session, account_id: int, spec: dict[str, Any], timing: Timing, now: datetime
) -> Counter[str | None]:
    """Messages a draft would have, by the zone each is timed in: counted in SQL as creation would choose them
    (the selection, an address for the channel, not opted out of its family), grouped by the contacts' time
    zones; only the recipients with no usable zone of their own are read one by one (their phone's zone)."""
    channel = spec["channel"]
    kind, family = channel_class(channel).recipient_kind, family_of(channel)
    reachable = and_(
        condition(session, account_id, spec["recipients"], now),
        has("email" if kind == "email" else "phone"),
        not_(func.coalesce(opted_out(family), false())),  # no opt-outs at all (NULL, JSON null) is none
    )
    groups: Counter[str | None] = Counter()
    if timing.window is None or not timing.window.per_recipient:
        total = int(session.scalar(select(func.count()).select_from(Contact).where(reachable)) or 0)
        groups[timing.zone_from(None, None)] = total  # no window, or a fixed zone: one group
        return groups
    by_zone = session.execute(select(Contact.timezone, func.count()).where(reachable).group_by(Contact.timezone))
    unusable: list[str] = []
    for zone_name, n in by_zone:
        if zone_name and zone_named(zone_name) is not None:
            groups[timing.zone_from(zone_name, None, int(n))] += int(n)
        elif zone_name:
            unusable.append(zone_name)
    no_zone = (
        or_(Contact.timezone.is_(None), Contact.timezone.in_(unusable)) if unusable else Contact.timezone.is_(None)
    )
    # The phone's zone (remembered per number by phone_zone), else the account's default (or unknown).
    from_phones = Counter(map(phone_zone, session.scalars(select(Contact.phone).where(reachable, no_zone))))
    for zone_name, n in from_phones.items():
        if zone_name is not None:
            timing.sources[FROM_PHONE] += n
            groups[zone_name] += n
        else:
            groups[timing.zone_from(None, None, n)] += n
    return groups


def draft_plan(services: Services, account_id: int, payload: dict[str, Any], asked_zone: str | None) -> dict[str, Any]:
    """The plan of a draft (a create request's body), nothing written."""
    spec = check_request(payload)
    timing = Timing.from_request(services, account_id, payload, spec["channel"])
    now = services.clock()
    with services.db.read() as session:
        groups = _draft_groups(session, account_id, spec, timing, now)
        timing.finish()
        draft = Campaign(
            id=0,
            account_id=account_id,
            channel=spec["channel"],
            rate=spec["rate"],
            send_window={**timing.window.to_json()} if timing.window else None,
        )
        rate, paced, caps = _pace_and_caps(session, draft, now)
        plan = simulate(
            dict(groups), timing.window, rate, caps, now, report_zone(session, account_id, asked_zone), paced
        )
    return {**plan, "timezones": timing.zones_from()}
