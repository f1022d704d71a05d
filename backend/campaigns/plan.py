"""The send plan (DESIGN section 16): when a campaign's messages will go, day by day, and what holds them back.

`simulate(groups, window, pace, caps, now, report_zone)` runs the pacer's own rules forward in time over groups of
messages by zone (messages waiting in one zone behave alike): the pace (the slower of the campaign's and the
channel's, a random pause counting as its mean), the daily caps (the campaign's own, and the channel's shared
with its other running campaigns: each gets an equal share, as the dispatcher's turns give it; the last 24 hours'
sends count against the first day), and the send window in each zone. It is event-driven: between two events
(a window opening or closing in some zone, a 24-hour cap period ending, midnight where the report is read) the
set of open zones and the rate are constant, so a plan for 100,000 recipients in 40 zones costs a few thousand
steps, not one per message.

Returns {"days": [{"date", "count", "from"}], "finish_at", "held_by": [...], "timezones": {...}}: `date` in
`report_zone` (the browser's zone, else the account's default, else UTC), `from` the first send of that day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.campaigns.windows import SendWindow
from backend.campaigns.zones import zone_named

#: how far ahead a plan looks (a campaign that would take longer says so with `finish_at` null).
HORIZON = timedelta(days=366)
#: a sending rate assumed when neither the campaign nor its channel sets a pace: one send a second per worker.
UNPACED_SEND_S = 1.0
CAP_PERIOD = timedelta(hours=24)


@dataclass(frozen=True)
class Caps:
    """Daily caps: `per_day` the tighter of the campaign's own and its share of the channel's; `first_left` what
    the last 24 hours' sends leave of it now (None: no cap)."""

    per_day: int | None = None
    first_left: int | None = None


class _ZoneClock:
    """One zone's window, opening by opening, computed as the simulation reaches it."""

    def __init__(self, window: SendWindow | None, zone_name: str | None, end: datetime) -> None:
        zone = zone_named(zone_name) if zone_name else None
        self.window: SendWindow | None = window if zone is not None else None
        self.zone: ZoneInfo | None = zone
        self.end = end
        self.span: tuple[datetime, datetime] | None = None

    def at(self, t: datetime) -> tuple[bool, datetime]:
        """(open at t, when that changes)."""
        if self.window is None or self.zone is None:
            return True, self.end
        if self.span is None or self.span[1] <= t:
            opens = self.window.next_opening(t, self.zone)
            span = self.window.open_interval(opens, self.zone)
            self.span = (opens, span[1] if span else self.end)
        opens, closes = self.span
        return (True, closes) if opens <= t else (False, opens)


def simulate(
    groups: dict[str | None, int],
    window: SendWindow | None,
    per_minute: float,
    caps: Caps,
    now: datetime,
    report_zone: ZoneInfo,
    paced: bool,
) -> dict[str, Any]:
    """The plan for `groups` (zone name or None -> messages left); see the module's docstring."""
    end = now + HORIZON
    left = {z: n for z, n in sorted(groups.items(), key=lambda item: str(item[0])) if n > 0}
    clocks = {z: _ZoneClock(window, z, end) for z in left}
    cap = caps.per_day
    rate_s = per_minute / 60.0
    counts: dict[str, int] = defaultdict(int)
    first_of_day: dict[str, datetime] = {}
    held: list[str] = []
    cap_left = (cap if caps.first_left is None else max(0, min(cap, caps.first_left))) if cap else None
    period_end = now + CAP_PERIOD
    finish_at, budget, t = None, 0.0, now
    while left and t < end:
        if cap and t >= period_end:
            cap_left, period_end = cap, period_end + CAP_PERIOD
        states = {z: clocks[z].at(t) for z in left}
        open_zones = [z for z, (is_open, _) in states.items() if is_open]
        t_next = min([end, _next_midnight(t, report_zone), *(change for _, change in states.values())])
        if cap:
            t_next = min(t_next, period_end)
        if len(open_zones) < len(left) and cap_left != 0:
            _note(held, "window")  # messages of a closed zone wait for their window, not for the cap
        if open_zones and cap_left == 0:
            _note(held, "daily_cap")
        elif open_zones:
            budget += (t_next - t).total_seconds() * rate_s
            can = int(budget) if cap_left is None else min(int(budget), cap_left)
            sent = _take(left, open_zones, can)
            budget = min(budget - sent, 1.0)  # a send not made for want of messages is not saved up
            if sent:
                label = t.astimezone(report_zone).date().isoformat()
                counts[label] += sent
                first_of_day.setdefault(label, t)
                cap_left = None if cap_left is None else cap_left - sent
                if not left:
                    finish_at = t + timedelta(seconds=sent / rate_s)
            if cap_left == 0 and left:
                _note(held, "daily_cap")
        t = t_next
    if paced and sum(groups.values()) / per_minute > 1.0:
        _note(held, "pace")  # more than a minute's sending at the pace
    days = [
        {"date": d, "count": counts[d], "from": first_of_day[d].astimezone(report_zone).isoformat()}
        for d in sorted(counts)
    ]
    return {"days": days, "finish_at": finish_at.isoformat() if finish_at else None, "held_by": held}


def _take(left: dict[str | None, int], open_zones: list[str | None], can: int) -> int:
    """Send up to `can` messages from the open zones, in order; how many went (`left` counts down)."""
    sent = 0
    for zone_name in open_zones:
        take = min(left[zone_name], can - sent)
        left[zone_name] -= take
        sent += take
        if not left[zone_name]:
            del left[zone_name]
    return sent


def _next_midnight(t: datetime, zone: ZoneInfo) -> datetime:
    local = t.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return midnight.astimezone(UTC)


def _note(held: list[str], reason: str) -> None:
    if reason not in held:
        held.append(reason)
