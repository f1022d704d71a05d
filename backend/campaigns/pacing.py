"""Pacing of campaign messages: per channel and per campaign, in this process.

A pace is a `RateDefaults`-like set: `per_minute` (at most that many a minute), `min_delay_s`..`max_delay_s` (a
random pause after each send), `daily_cap` (at most that many sent in any rolling 24 hours).

A `per_minute` pace is a rate, not a concurrency limit (DESIGN section 5): each campaign has a token bucket that
fills at `per_minute / 60` tokens a second up to BURST_S seconds' worth (at least one), and each message claimed
takes a token, so a campaign keeps as many sends in flight as the channel's workers allow and reaches its pace.
Only a random pause sends one message at a time: after each send the next one of the same campaign (and of the
same channel) may go at `now + max(60 / per_minute, uniform(min, max))`. Daily caps count the messages whose
`sent_at` lies in the last 24 hours, read from the store (so the window survives restarts and sees other
processes), cached and advanced locally between reads.

Conversation messages are never held back; they do count towards the channel's daily cap.
Thread-safe: one Pacer serves every dispatcher of the process.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.store.models import Message, utcnow

WINDOW = timedelta(hours=24)
#: how long a daily count read from the store is trusted before it is read again.
COUNT_TTL_S = 30.0
#: a campaign's token bucket holds this many seconds' worth of its pace (at least one message): enough for the
#: dispatcher's claims, made every FLUSH_INTERVAL_S or so, to keep up with a fast pace, and small enough that a
#: slow pace (150 a minute) still spaces its messages one by one.
BURST_S = 0.25


@dataclass(frozen=True)
class Pace:
    per_minute: float | None = None
    min_delay_s: float = 0.0
    max_delay_s: float = 0.0
    daily_cap: int | None = None
    #: `rate.batch`: a pause of `batch_pause_s` after every `batch_size` messages (DESIGN section 15).
    batch_size: int | None = None
    batch_pause_s: float = 0.0

    @classmethod
    def from_mapping(cls, raw: dict[str, Any] | None) -> Pace:
        raw = raw or {}
        per_minute = raw.get("per_minute")
        low = float(raw.get("min_delay_s") or 0.0)
        high = float(raw.get("max_delay_s") or low)
        cap = raw.get("daily_cap")
        given = raw.get("batch")
        batch: dict[str, Any] = given if isinstance(given, dict) else {}
        return cls(
            per_minute=float(per_minute) if per_minute else None,
            min_delay_s=low,
            max_delay_s=max(high, low),
            daily_cap=int(cap) if cap else None,
            batch_size=int(batch["size"]) if batch.get("size") else None,
            batch_pause_s=float(batch.get("pause_s") or 0.0),
        )

    @property
    def paced(self) -> bool:
        return bool(self.per_minute) or self.max_delay_s > 0 or self.batched

    @property
    def batched(self) -> bool:
        return bool(self.batch_size) and self.batch_pause_s > 0

    @property
    def one_at_a_time(self) -> bool:
        """A random pause after each message (WhatsApp's gaps) or a pause after each batch: the next message
        waits for this one's result, so the pause falls exactly after the batch's last message."""
        return self.max_delay_s > 0 or self.batched

    @property
    def burst(self) -> float:
        """The token bucket's size: BURST_S seconds of the pace, at least one message."""
        return max(1.0, (self.per_minute or 0.0) / 60.0 * BURST_S)

    def gap_s(self) -> float:
        """Seconds to wait after a send before the next one."""
        gap = 60.0 / self.per_minute if self.per_minute else 0.0
        if self.max_delay_s > 0:
            gap = max(gap, random.uniform(self.min_delay_s, self.max_delay_s))
        return gap


@dataclass
class _Daily:
    count: int = 0
    read_at: float = float("-inf")


@dataclass
class _Bucket:
    """Tokens of a campaign's `per_minute` pace at `at` (monotonic); may run below zero (a claim larger than
    what was there is paid back before the next one)."""

    tokens: float
    at: float

    def refill(self, pace: Pace, now: float) -> float:
        rate = (pace.per_minute or 0.0) / 60.0
        self.tokens = min(pace.burst, self.tokens + max(0.0, now - self.at) * rate)
        self.at = now
        return self.tokens


class Pacer:
    """Next-allowed times per (account, channel) and per campaign, and rolling daily counts."""

    def __init__(self, read_session: Callable[[], Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._read_session = read_session
        self._clock = clock
        self._lock = threading.Lock()
        self._channel_next: dict[tuple[int, str], float] = {}
        self._campaign_next: dict[int, float] = {}
        self._campaign_pace: dict[int, Pace] = {}
        self._daily: dict[tuple[Any, ...], _Daily] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._batch_counts: dict[int, int] = {}

    # -- questions the dispatcher asks before a claim ---------------------------------------------------
    def channel_wait_s(self, account_id: int, channel: str, pace: Pace) -> float:
        with self._lock:
            wait = self._channel_next.get((account_id, channel), 0.0) - self._clock()
        if pace.daily_cap and self._daily_count(("channel", account_id, channel), pace.daily_cap) >= pace.daily_cap:
            return max(wait, COUNT_TTL_S)
        return wait

    def held_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        """Campaigns (of any account/channel known here) whose own pace or daily cap holds them back now."""
        now = self._clock()
        with self._lock:
            waiting = [cid for cid, at in self._campaign_next.items() if at > now]
            waiting += [cid for cid, p in self._campaign_pace.items() if p.per_minute and self._tokens(cid, p) < 1]
            capped = [(cid, p.daily_cap) for cid, p in self._campaign_pace.items() if p.daily_cap]
        held = set(waiting)
        for cid, cap in capped:
            if cap and self._daily_count(("campaign", cid), cap) >= cap:
                held.add(cid)
        return tuple(sorted(held))

    def next_ready_s(self) -> float:
        """Seconds until the earliest paced campaign or channel may send again (1 s when none waits)."""
        now = self._clock()
        with self._lock:
            times = [at - now for at in (*self._channel_next.values(), *self._campaign_next.values()) if at > now]
            for campaign_id, pace in self._campaign_pace.items():
                tokens = self._tokens(campaign_id, pace) if pace.per_minute else 1.0
                if tokens < 1:
                    times.append((1 - tokens) * 60.0 / (pace.per_minute or 1.0))
        return min(times, default=1.0)

    def tokens(self, campaign_id: int, pace: Pace) -> float:
        """How many messages the campaign's `per_minute` pace lets be claimed now (inf: no such pace)."""
        if not pace.per_minute:
            return float("inf")
        with self._lock:
            return self._tokens(campaign_id, pace)

    def take(self, campaign_id: int, pace: Pace, n: int) -> None:
        """`n` messages of the campaign were claimed: they take `n` tokens of its pace."""
        if not pace.per_minute or n <= 0:
            return
        with self._lock:
            self._tokens(campaign_id, pace)
            self._buckets[campaign_id].tokens -= n

    def _tokens(self, campaign_id: int, pace: Pace) -> float:
        """Called under `_lock`."""
        now = self._clock()
        bucket = self._buckets.get(campaign_id)
        if bucket is None:
            bucket = self._buckets[campaign_id] = _Bucket(pace.burst, now)
        return bucket.refill(pace, now)

    # -- what happened ----------------------------------------------------------------------------------
    def note_campaign_pace(self, campaign_id: int, pace: Pace) -> None:
        with self._lock:
            self._campaign_pace[campaign_id] = pace

    def after_send(
        self, account_id: int, channel: str, channel_pace: Pace, campaign_id: int | None, sent: bool
    ) -> None:
        """Advance the next-allowed times after a campaign send attempt; count a sent message in the windows."""
        now = self._clock()
        with self._lock:
            # A per-minute pace alone is kept by the token bucket (campaign) and the dispatcher's start gap
            # (channel); only a random pause waits after the send itself.
            if campaign_id is not None:
                if channel_pace.one_at_a_time:
                    self._channel_next[(account_id, channel)] = now + channel_pace.gap_s()
                pace = self._campaign_pace.get(campaign_id)
                if pace is not None and pace.one_at_a_time:
                    self._campaign_next[campaign_id] = now + self._batch_gap_s(campaign_id, pace)
            if sent:
                for key in (("channel", account_id, channel), ("campaign", campaign_id)):
                    entry = self._daily.get(key)
                    if entry is not None:
                        entry.count += 1

    def _batch_gap_s(self, campaign_id: int, pace: Pace) -> float:
        """The gap after this send: the pace's own, or the batch pause after every `batch_size` sends. Called
        under `_lock`; the count is this process's (after a restart the batch starts anew)."""
        gap = pace.gap_s()
        if pace.batched and pace.batch_size:
            done = self._batch_counts.get(campaign_id, 0) + 1
            self._batch_counts[campaign_id] = done % pace.batch_size
            if done >= pace.batch_size:
                gap = max(gap, pace.batch_pause_s)
        return gap

    def daily_left(self, key: tuple[Any, ...], cap: int) -> int:
        """How many more may be sent within the rolling window (0 when the cap is reached)."""
        return max(0, cap - self._daily_count(key, cap))

    def campaign_paces(self, campaign_ids: set[int]) -> dict[int, Pace]:
        """The paces known here of these campaigns (a campaign not seen yet is missing)."""
        with self._lock:
            return {cid: self._campaign_pace[cid] for cid in campaign_ids if cid in self._campaign_pace}

    def daily_reached(self, key: tuple[Any, ...], cap: int | None) -> bool:
        return bool(cap) and self._daily_count(key, cap or 0) >= (cap or 0)

    def forget_campaign(self, campaign_id: int) -> None:
        with self._lock:
            self._campaign_next.pop(campaign_id, None)
            self._campaign_pace.pop(campaign_id, None)
            self._buckets.pop(campaign_id, None)
            self._batch_counts.pop(campaign_id, None)
            self._daily.pop(("campaign", campaign_id), None)

    # -- rolling window ---------------------------------------------------------------------------------
    def _daily_count(self, key: tuple[Any, ...], cap: int) -> int:
        now = self._clock()
        with self._lock:
            entry = self._daily.get(key)
            if entry is not None and now - entry.read_at < COUNT_TTL_S:
                return entry.count
        count = self._read_count(key)
        with self._lock:
            self._daily[key] = _Daily(count, now)
        return count

    def _read_count(self, key: tuple[Any, ...]) -> int:
        since = utcnow() - WINDOW
        query = select(func.count()).select_from(Message).where(Message.sent_at >= since)
        if key[0] == "channel":
            query = query.where(Message.account_id == key[1], Message.channel == key[2])
        else:
            query = query.where(Message.campaign_id == key[1])
        session: Session
        with self._read_session() as session:
            return int(session.scalar(query) or 0)
