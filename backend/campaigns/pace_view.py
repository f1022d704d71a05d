"""What holds a running campaign's rate back (issue 12 item 8): the configured pace, the daily cap, or the provider.

`pace_fields(session, campaign, rate_per_min)` -> {"pace_per_min", "limited_by"} for `GET /api/campaigns/<id>`:
- `pace_per_min`: the pace the settings allow, messages a minute: the slower of the campaign's own rate and its
  channel's (a random pause of min..max seconds counts as its mean); null when neither sets one.
- `measured`: false while a running campaign is still starting (less than MEASURE_AFTER since it started, or
  nothing sent in the last minute): the monitor then says "Starting…" instead of a rate, a time left or a cause.
- `limited_by`: for a running, measured campaign, `"daily_cap"` when the campaign's or the channel's daily cap is
  reached, else `"pace"` when it sends at (within PACE_SHARE of) its pace, else `"provider"` only when the
  provider asked us to slow down (a 429 or its equal, waiting to be retried in the last minute), else `"speed"`:
  it sends as fast as the provider and the network answer, and nothing of the user's holds it back. Null when
  not running or not measured yet.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.campaigns.pacing import Pace
from backend.channels.registry import UnknownChannel, channel_class
from backend.store import states
from backend.store.models import Campaign, ChannelConfig, Message, utcnow

#: a rate at least this share of the pace is "held back by the pace" (a paced send waits its gap, then takes its
#: own time, and a loaded machine adds to it); below it, something else is slower than the pace.
PACE_SHARE = 0.5
PACE_KEYS = ("per_minute", "min_delay_s", "max_delay_s", "daily_cap")
#: how long a campaign runs before its rate means something.
MEASURE_AFTER = timedelta(seconds=15)
#: the words our channels' SendErrors use when a provider asks to slow down (429, rateLimitExceeded, 421 4.7.0).
THROTTLE_WORDS = ("429", "slow down", "rate limit", "ratelimit", "too many")


def per_minute(pace: Pace) -> float | None:
    """A pace as messages a minute (None: unpaced)."""
    rates = []
    if pace.per_minute:
        rates.append(pace.per_minute)
    if pace.max_delay_s > 0:
        rates.append(60.0 / ((pace.min_delay_s + pace.max_delay_s) / 2))
    return min(rates) if rates else None


def channel_pace(session: Session, campaign: Campaign) -> Pace:
    """The channel's pace from its stored settings (the class defaults where they say nothing)."""
    try:
        defaults = asdict(channel_class(campaign.channel).rate_defaults)
    except UnknownChannel:
        return Pace()
    settings = session.scalar(
        select(ChannelConfig.settings).where(
            ChannelConfig.account_id == campaign.account_id, ChannelConfig.channel == campaign.channel
        )
    )
    chosen = {key: (settings or {})[key] for key in PACE_KEYS if key in (settings or {})}
    return Pace.from_mapping({**defaults, **chosen})


def _sent_since(session: Session, campaign: Campaign, *, whole_channel: bool) -> int:
    query = select(func.count()).select_from(Message).where(Message.sent_at >= utcnow() - timedelta(hours=24))
    if whole_channel:
        query = query.where(Message.account_id == campaign.account_id, Message.channel == campaign.channel)
    else:
        query = query.where(Message.campaign_id == campaign.id)
    return int(session.scalar(query) or 0)


def _throttled(session: Session, campaign: Campaign) -> bool:
    """Whether the provider asked this campaign to slow down in the last minute (a message waits to be retried
    with a rate-limit reason)."""
    now = utcnow()
    words = [func.lower(Message.last_error).contains(word) for word in THROTTLE_WORDS]
    query = select(Message.id).where(
        Message.campaign_id == campaign.id,
        Message.status == states.QUEUED,
        Message.attempts > 0,
        Message.updated_at >= now - timedelta(minutes=1),
        or_(*words),
    )
    return session.scalar(query.limit(1)) is not None


def is_measured(campaign: Campaign, rate_per_min: float) -> bool:
    started = campaign.started_at
    return rate_per_min > 0 and started is not None and utcnow() - started >= MEASURE_AFTER


def pace_fields(session: Session, campaign: Campaign, rate_per_min: float) -> dict[str, Any]:
    own, channel = Pace.from_mapping(campaign.rate), channel_pace(session, campaign)
    paces = [p for p in (per_minute(own), per_minute(channel)) if p]
    pace = round(min(paces), 1) if paces else None
    limited_by: str | None = None
    running = campaign.status == states.RUNNING
    if running:
        capped = (own.daily_cap and _sent_since(session, campaign, whole_channel=False) >= own.daily_cap) or (
            channel.daily_cap and _sent_since(session, campaign, whole_channel=True) >= channel.daily_cap
        )
        if capped:
            limited_by = "daily_cap"
        elif is_measured(campaign, rate_per_min):
            if pace is not None and rate_per_min >= PACE_SHARE * pace:
                limited_by = "pace"
            else:
                limited_by = "provider" if _throttled(session, campaign) else "speed"
    measured = not running or limited_by == "daily_cap" or is_measured(campaign, rate_per_min)
    return {"pace_per_min": pace, "limited_by": limited_by, "measured": measured}
