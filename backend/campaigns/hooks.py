"""The dispatcher hooks for campaigns: pacing, outcome counters, self-pausing, completion.

Installed as `services.hooks` (backend.campaigns.install). Conversation messages (campaign_id NULL)
pass through untouched: no pacing, position 1 of 1.

Per campaign and batch of results, `after_outcomes` runs in the dispatcher's write transaction: a single
`UPDATE campaigns ... RETURNING` advances the counters and the consecutive-error run (no COUNT over the
campaign); only when the campaign may have finished does it look for a queued or sending message (an index
seek). Batches: a campaign with a random pause sends one message per batch, one with a `per_minute` pace as many
as its token bucket holds (pacing.py), a capped one no more than its daily cap leaves, an unpaced one as many as
the dispatcher claims. The campaign row's lock orders two
processes finishing the last messages, so one of them sees the other's result and completes it; the campaign
job's sweep is the safety net.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle
from backend.campaigns.attachments import with_files
from backend.campaigns.pacing import Pace, Pacer
from backend.campaigns.unsubscribe import unsubscribe_token
from backend.campaigns.window_gate import ClaimWindows
from backend.channels.base import OutboundMessage
from backend.channels.registry import channel_class
from backend.dispatch import fallback
from backend.dispatch.claims import CAMPAIGNS, ClaimedMessage
from backend.dispatch.hooks import MAX_BATCH, outbound_from_row
from backend.dispatch.outcomes import Outcome
from backend.dispatch.prepared import Prepared
from backend.store import states
from backend.store.models import Account, Campaign, UTCDateTime, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: how long a channel's pace (from its settings) and an account's public URL are cached.
SETTINGS_TTL_S = 10.0


#: one prebuilt Core statement per campaign and batch: counters, the consecutive-error run, and what the
#: bookkeeping needs.
_C = CAMPAIGNS.c
_COUNTERS = Prepared(
    update(CAMPAIGNS)
    .where(_C.id == bindparam("p_id"), _C.account_id == bindparam("p_account"))
    .values(
        sent_count=_C.sent_count + bindparam("p_sent"),
        failed_count=_C.failed_count + bindparam("p_failed"),
        uncertain_count=_C.uncertain_count + bindparam("p_uncertain"),
        # p_error: the errors after the batch's last sent message (all of them when none was sent).
        consecutive_errors=case(
            (bindparam("p_reset") == 1, bindparam("p_error")), else_=_C.consecutive_errors + bindparam("p_error")
        ),
        updated_at=bindparam("p_now", type_=UTCDateTime()),
    )
    .returning(
        _C.total,
        _C.sent_count,
        _C.failed_count,
        _C.uncertain_count,
        _C.cancelled_count,
        _C.consecutive_errors,
        _C.status,
        _C.rate,
    )
)


_RUNNING_RATES = select(_C.id, _C.rate).where(
    _C.account_id == bindparam("p_account"), _C.channel == bindparam("p_channel"), _C.status == states.RUNNING
)
_RATES = select(_C.id, _C.rate).where(_C.id.in_(bindparam("p_ids", expanding=True)))
#: how often the running campaigns' paces are read again (a changed rate or a new campaign is seen this fast).
RUNNING_TTL_S = 2.0


def errors_after_last_sent(outcomes: Any) -> int:
    """Results that count as errors (`Outcome.is_error`) after the last sent one."""
    run = 0
    for outcome in outcomes:
        if outcome.status == states.SENT:
            run = 0
        elif outcome.is_error:
            run += 1
    return run


#: session.info key of the settlements `after_outcomes` leaves for `after_events`.
_SETTLE = "bulkmsg_campaign_settle"


class CampaignHooks:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.pacer = Pacer(services.db.read)
        self._lock = threading.Lock()
        self._paces: dict[tuple[int, str], tuple[Pace, float]] = {}
        self._public_urls: dict[int, tuple[str | None, float]] = {}
        self._cap_noted: set[int] = set()
        self._running_read: dict[tuple[int, str], float] = {}
        self.windows = ClaimWindows(lambda: services.clock())

    # -- pacing -----------------------------------------------------------------------------------------
    def channel_pace(self, account_id: int, channel: str) -> Pace:
        """The channel's pace: its `rate()` (settings the user chose) or the class defaults."""
        key = (account_id, channel)
        now = time.monotonic()
        with self._lock:
            cached = self._paces.get(key)
        if cached is not None and now - cached[1] < SETTINGS_TTL_S:
            return cached[0]
        try:
            instance = self.services.channels.instance(account_id, channel)
            rate = instance.rate() if hasattr(instance, "rate") else type(instance).rate_defaults
        except Exception:  # not configured (yet): the class defaults apply
            rate = channel_class(channel).rate_defaults
        pace = Pace(rate.per_minute, rate.min_delay_s, rate.max_delay_s, rate.daily_cap)
        with self._lock:
            self._paces[key] = (pace, now)
        return pace

    def seconds_until_next(self, account_id: int, channel: str) -> float:
        return self.pacer.channel_wait_s(account_id, channel, self.channel_pace(account_id, channel))

    def excluded_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        self._learn_running_paces(account_id, channel)
        return self.pacer.held_campaigns(account_id, channel)

    def _learn_running_paces(self, account_id: int, channel: str) -> None:
        """The paces of the channel's running campaigns, re-read at most every RUNNING_TTL_S: a campaign's daily
        cap holds it back from its first claim (after a restart too), not only after its first send here."""
        key = (account_id, channel)
        now = time.monotonic()
        if now - self._running_read.get(key, float("-inf")) < RUNNING_TTL_S:
            return
        self._running_read[key] = now
        with self.services.db.read() as session:
            rows = session.execute(_RUNNING_RATES, {"p_account": account_id, "p_channel": channel}).all()
        for campaign_id, rate in rows:
            self.pacer.note_campaign_pace(campaign_id, Pace.from_mapping(rate))

    def idle_wait_s(self, account_id: int, channel: str) -> float:
        return self.pacer.next_ready_s()

    def batch_limit(self, account_id: int, channel: str) -> int:
        pace = self.channel_pace(account_id, channel)
        if pace.max_delay_s > 0:
            return 1
        if pace.per_minute:
            # About a second's worth: the dispatcher spaces their starts by start_gap_s.
            return max(1, min(MAX_BATCH, math.ceil(pace.per_minute / 60)))
        if pace.daily_cap:
            return max(1, self.pacer.daily_left(("channel", account_id, channel), pace.daily_cap))
        return MAX_BATCH

    def sequential(self, account_id: int, channel: str) -> bool:
        return self.channel_pace(account_id, channel).max_delay_s > 0

    def paced_campaigns(self, outstanding: dict[int, int]) -> set[int]:
        paces = self.pacer.campaign_paces(set(outstanding))
        unknown = set(outstanding) - set(paces)
        if unknown:
            with self.services.db.read() as session:
                for campaign_id, rate in session.execute(_RATES, {"p_ids": sorted(unknown)}):
                    paces[campaign_id] = Pace.from_mapping(rate)
                    self.pacer.note_campaign_pace(campaign_id, paces[campaign_id])
        held = set()
        for campaign_id, pace in paces.items():
            if pace.one_at_a_time or self.pacer.tokens(campaign_id, pace) < 1:
                held.add(campaign_id)  # a random pause waits for the result; a rate waits for its next token
            elif (
                pace.daily_cap
                and self.pacer.daily_left(("campaign", campaign_id), pace.daily_cap) <= outstanding[campaign_id]
            ):
                held.add(campaign_id)  # what is out already uses up the cap
        return held

    def start_gap_s(self, account_id: int, channel: str) -> float:
        pace = self.channel_pace(account_id, channel)
        return 60.0 / pace.per_minute if pace.per_minute else 0.0

    def trim_batch(self, session: Session, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        return self._trim_paced(session, self.windows.gate(session, claimed))

    def window_reopens(self, message: ClaimedMessage, outbound: OutboundMessage) -> datetime | None:
        return self.windows.reopens(message, outbound)

    def _trim_paced(self, session: Session, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        campaigns = {m.campaign_id for m in claimed if m.campaign_id is not None}
        paces = self.pacer.campaign_paces(campaigns)
        unknown = campaigns - set(paces)
        if unknown:
            for campaign_id, rate in session.execute(_RATES, {"p_ids": sorted(unknown)}):
                paces[campaign_id] = Pace.from_mapping(rate)
                self.pacer.note_campaign_pace(campaign_id, paces[campaign_id])
        room: dict[int, int] = {}
        for campaign_id, pace in paces.items():
            limits = []
            if pace.one_at_a_time:
                limits.append(1)
            if pace.per_minute:
                limits.append(max(1, math.floor(self.pacer.tokens(campaign_id, pace))))
            if pace.daily_cap:
                limits.append(max(1, self.pacer.daily_left(("campaign", campaign_id), pace.daily_cap)))
            if limits:
                room[campaign_id] = min(limits)
        keep = []
        for message in claimed:
            left = room.get(message.campaign_id) if message.campaign_id is not None else None
            if left is None:
                keep.append(message)
            elif left > 0:
                keep.append(message)
                room[message.campaign_id] = left - 1  # type: ignore[index]
        for campaign_id, n in Counter(m.campaign_id for m in keep if m.campaign_id is not None).items():
            self.pacer.take(campaign_id, paces.get(campaign_id, Pace()), n)
        return keep

    # -- the message that goes out ----------------------------------------------------------------------
    def public_url(self, session: Session, account_id: int) -> str | None:
        now = time.monotonic()
        cached = self._public_urls.get(account_id)
        if cached is not None and now - cached[1] < SETTINGS_TTL_S:
            return cached[0]
        account = session.get(Account, account_id)
        url = (account.settings or {}).get("public_url") if account else None
        url = (url or self.services.config.public_url or None) and str(url or self.services.config.public_url)
        self._public_urls[account_id] = (url, now)
        return url

    def outbound(self, session: Session, message: ClaimedMessage) -> OutboundMessage:
        out = outbound_from_row(message)
        if out.metadata.get("attachments"):
            out = with_files(self.services.media, self.public_url(session, out.account_id), out)
        validity = self.windows.validity_s(message.id)
        if validity is not None:
            out.metadata["validity_s"] = validity  # the send window closes then: SMS sets ValidityPeriod
        if message.campaign_id is None or message.contact_id is None:
            return out
        base = self.public_url(session, message.account_id)
        if base:
            token = unsubscribe_token(self.services.keys.jwt_key, message.account_id, message.contact_id)
            out.metadata["unsubscribe_url"] = f"{base.rstrip('/')}/unsubscribe/{token}"
        return out

    # -- bookkeeping ------------------------------------------------------------------------------------
    def after_outcomes(self, session: Session, results: list[tuple[ClaimedMessage, Outcome]]) -> list[dict[str, Any]]:
        extras: list[dict[str, Any]] = [{"current": 1, "total": 1} for _ in results]
        by_campaign: dict[int, list[int]] = {}
        for index, (message, _) in enumerate(results):
            if message.campaign_id is not None:
                by_campaign.setdefault(message.campaign_id, []).append(index)
        settles = []
        for campaign_id, indexes in by_campaign.items():
            settle = self._count(session, campaign_id, [results[i] for i in indexes], [extras[i] for i in indexes])
            if settle is not None:
                settles.append(settle)
        fallback.after_results(self.services, session, results)  # permanent failures queue their fallback rows
        self.services.hub.signal(session, "send_results", results=results)  # a sent sequence step: the next is due
        if settles:
            # Settled after the results' own `send.progress` events are recorded, so that a campaign's last
            # "Sent to" comes before its "Mass messaging complete" in the event log.
            session.info[_SETTLE] = settles
        return extras

    def _count(
        self,
        session: Session,
        campaign_id: int,
        results: list[tuple[ClaimedMessage, Outcome]],
        extras: list[dict[str, Any]],
    ) -> tuple[Any, ...] | None:
        """One campaign's share of a batch: a single `UPDATE campaigns ... RETURNING` advances its counters and
        its run of consecutive errors; fills each result's `current`/`total`; returns what `_settle` needs."""
        account_id, channel = results[0][0].account_id, results[0][0].channel
        run = errors_after_last_sent(outcome for _, outcome in results)
        any_sent = any(outcome.status == states.SENT for _, outcome in results)
        rows, _ = _COUNTERS.run(
            session.connection(),
            {
                "p_id": campaign_id,
                "p_account": account_id,
                "p_sent": sum(outcome.status == states.SENT for _, outcome in results),
                "p_failed": sum(outcome.status == states.FAILED for _, outcome in results),
                "p_uncertain": sum(outcome.status == states.UNCERTAIN for _, outcome in results),
                "p_error": run,
                "p_reset": int(any_sent),
                "p_now": utcnow(),
            },
        )
        if not rows:  # the campaign was deleted meanwhile
            return None
        total, n_sent, n_failed, n_uncertain, n_cancelled, run_now, status, rate = rows[0]
        pace = Pace.from_mapping(rate)
        self.pacer.note_campaign_pace(campaign_id, pace)
        channel_pace = self.channel_pace(account_id, channel)
        if any_sent:
            # Read the rolling counts before counting these sends: the read cannot see these uncommitted rows.
            self.pacer.daily_reached(("campaign", campaign_id), pace.daily_cap)
            self.pacer.daily_reached(("channel", account_id, channel), channel_pace.daily_cap)
        done = n_sent + n_failed + n_uncertain + n_cancelled
        current = done - sum(outcome.counts_as_done for _, outcome in results)
        for (_, outcome), extra in zip(results, extras, strict=True):
            sent = outcome.status == states.SENT
            self.pacer.after_send(account_id, channel, channel_pace, campaign_id, sent)
            current += int(outcome.counts_as_done)
            extra.update(current=current, total=total)
        if status != states.RUNNING:
            return None
        # The result that speaks for the batch: a pause request, else the last error, else the last result.
        speaker = next(
            (o for _, o in results if o.pause_campaign),
            next((o for _, o in reversed(results) if o.is_error), results[-1][1]),
        )
        return (campaign_id, speaker, run_now, rate, done >= total, pace, any_sent)

    def after_events(self, session: Session) -> None:
        for pending in session.info.pop(_SETTLE, None) or ():
            self._settle(session, *pending)

    def _settle(
        self,
        session: Session,
        campaign_id: int,
        outcome: Outcome,
        run: int,
        rate: dict[str, Any] | None,
        maybe_done: bool,
        pace: Pace,
        sent: bool,
    ) -> None:
        limit = lifecycle.max_consecutive_errors(rate)
        if outcome.pause_campaign or run >= limit or maybe_done or (sent and pace.daily_cap):
            campaign = session.get(Campaign, campaign_id, populate_existing=True)
            if campaign is None:
                return
            if outcome.pause_campaign:
                reason = outcome.error or "the channel asked to pause"
                lifecycle.pause(self.services, session, campaign, reason, resume_at=outcome.resume_at)
            elif run >= limit:
                reason = f"{run} errors in a row; the last one: {outcome.error}"
                lifecycle.pause(self.services, session, campaign, reason)
            elif maybe_done and lifecycle.complete_if_done(self.services, session, campaign):
                self.pacer.forget_campaign(campaign_id)
            elif sent and pace.daily_cap:
                self._note_daily_cap(session, campaign, pace.daily_cap)

    def _note_daily_cap(self, session: Session, campaign: Campaign, cap: int) -> None:
        reached = self.pacer.daily_reached(("campaign", campaign.id), cap)
        if not reached:
            self._cap_noted.discard(campaign.id)
            return
        if campaign.id in self._cap_noted:
            return
        self._cap_noted.add(campaign.id)
        text = f"Daily cap of {cap} messages reached; sending continues as the 24-hour window allows"
        lifecycle.record_status(self.services, session, campaign, text, level="warning")
