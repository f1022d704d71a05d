"""Send windows (quiet hours, DESIGN section 16): when a campaign's message may go, in its recipient's time.

`SendWindow.parse(raw)` checks `{"days": ["mon", ...], "start": "09:00", "end": "20:00", "timezone": "recipient" |
<IANA name>}` and raises WindowError listing each problem (`field` is the request's name for it). A window opens
on each listed day at `start` and closes at `end` the same day, or the next day when `end` is before `start` (it
crosses midnight). A `start` (or `end`) inside a DST gap moves forward to the moment the clocks jump; in a DST
fold the first of the two moments counts. All times given and returned are aware UTC; `zone` is a ZoneInfo.

Hand-written on `zoneinfo`: no library on the package lists answers "the next opening of a weekly local-time
window" with these DST rules; the arithmetic is small and tested against real zones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backend.campaigns.zones import zone_named

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RECIPIENT = "recipient"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class WindowError(ValueError):
    """A send window that cannot be used; `problems` are `{"field", "reason"}` (HTTP 400)."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['reason']}" for p in problems))
        self.problems = problems


def _hhmm(value: Any, field: str, problems: list[dict[str, str]]) -> time | None:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        problems.append({"field": field, "reason": 'give a time of day as "HH:MM" (00:00 to 23:59)'})
        return None
    return time(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class SendWindow:
    days: frozenset[int]
    start: time
    end: time
    timezone: str

    @classmethod
    def parse(cls, raw: Any, field: str = "send_window") -> SendWindow:
        if not isinstance(raw, dict):
            raise WindowError([{"field": field, "reason": "must be an object with days, start, end and timezone"}])
        problems: list[dict[str, str]] = []
        unknown = sorted(set(raw) - {"days", "start", "end", "timezone"})
        problems += [{"field": f"{field}.{k}", "reason": "unknown setting"} for k in unknown]
        days = raw.get("days", list(DAYS))
        if not isinstance(days, list) or not all(isinstance(d, str) and d.lower() in DAYS for d in days):
            problems.append({"field": f"{field}.days", "reason": "give days as mon, tue, wed, thu, fri, sat, sun"})
            days = []
        elif not days:
            problems.append({"field": f"{field}.days", "reason": "the window has no open hour in a week: give a day"})
        start = _hhmm(raw.get("start"), f"{field}.start", problems)
        end = _hhmm(raw.get("end"), f"{field}.end", problems)
        if start is not None and start == end:
            problems.append({"field": f"{field}.end", "reason": "must differ from start (the window would be empty)"})
        zone = raw.get("timezone", RECIPIENT)
        if zone != RECIPIENT and zone_named(zone) is None:
            problems.append({"field": f"{field}.timezone", "reason": 'give "recipient" or an IANA time zone name'})
        if problems:
            raise WindowError(problems)
        assert start is not None and end is not None
        return cls(frozenset(DAYS.index(d.lower()) for d in days), start, end, str(zone))

    def to_json(self) -> dict[str, Any]:
        return {
            "days": [DAYS[d] for d in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "timezone": self.timezone,
        }

    @property
    def per_recipient(self) -> bool:
        return self.timezone == RECIPIENT

    # -- one day's opening --------------------------------------------------------------------------------
    def interval(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The window that opens on local `day`, as UTC [opens, closes)."""
        opens = local_instant(day, self.start, zone)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return opens, local_instant(end_day, self.end, zone)

    def _intervals_from(self, at: datetime, zone: ZoneInfo, days: int) -> list[tuple[datetime, datetime]]:
        first = at.astimezone(zone).date() - timedelta(days=1)
        spans = []
        for k in range(days):
            day = first + timedelta(days=k)
            if day.weekday() in self.days:
                spans.append(self.interval(day, zone))
        return spans

    def open_interval(self, at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        """The opening `at` lies in, or None when the window is closed then."""
        for opens, closes in self._intervals_from(at, zone, 2):
            if opens <= at < closes:
                return opens, closes
        return None

    def is_open(self, at: datetime, zone: ZoneInfo) -> bool:
        return self.open_interval(at, zone) is not None

    def next_opening(self, at: datetime, zone: ZoneInfo) -> datetime:
        """`at` when the window is open then, else when it next opens."""
        for opens, closes in self._intervals_from(at, zone, 10):
            if at < closes:
                return max(opens, at)
        raise AssertionError("a window with a day and start != end opens within a week")


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the local clock of `zone` shows `wall` on `day`; inside a DST gap, the moment the clocks
    jump (the time moves forward); inside a fold, the first of the two."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # A gap: fold=1 reads the wall time with the offset after the jump, an instant before `first`; the jump lies
    # between them, where the local time passes `naive`.
    low, high = naive.replace(tzinfo=zone, fold=1).astimezone(UTC), first
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)  # the jump is on a whole second, and high lies within a second after it
