"""Uncertain sends checked against the provider (DESIGN section 6.8, issue 13 item 4).

An `uncertain` message may or may not have reached the provider (the answer was lost). Where the channel can ask
(`Channel.can_find_sent`: Twilio lists messages by `To` and date sent), this job asks, outside any transaction:
- found: the message becomes `sent` with the provider's id (and its delivery is then checked as usual);
- not found, and the send is older than `absent_after_s` (the provider lists a message it accepted within
  seconds): `reconcile_state` `absent`, "the provider never got it: safe to send again"; younger: checked again;
- the channel cannot ask at all: `reconcile_state` `unknown` (the UI keeps "check with the recipient").
A provider that cannot be asked right now is simply asked again later. Every write is fenced on the message
still being `uncertain`, so a re-queue by the user or another process's check wins; each change writes its
`message.updated` event, and each campaign touched gets its counts rebuilt and a `campaign.status` event.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle
from backend.channels.base import FoundSend
from backend.store import states
from backend.store.models import Campaign, Message, utcnow
from backend.views import message_view

log = logging.getLogger(__name__)

INTERVAL_S = 15.0
BATCH = 50
#: a send this recent is not looked up yet: the provider needs a moment to list what it accepted.
FIRST_CHECK_AFTER_S = 20.0
#: not found this long after the send: surely absent.
ABSENT_AFTER_S = 120.0
RECHECK_S = 30.0
#: the lookup window starts this long before the message became uncertain (the send itself took up to its
#: timeouts, and clocks differ a little).
LOOKUP_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Candidate:
    id: int
    account_id: int
    channel: str
    recipient: str
    body: str
    uncertain_since: datetime
    campaign_id: int | None


class UncertainCheck:
    def __init__(self, services: Any) -> None:
        self.services = services
        self.first_check_after_s = FIRST_CHECK_AFTER_S
        self.absent_after_s = ABSENT_AFTER_S
        self._lock = threading.Lock()

    def run_once(self) -> dict[str, int]:
        """Check the due uncertain messages; returns {checked, found, absent, unknown, later}."""
        with self._lock:
            return self._run()

    def _run(self) -> dict[str, int]:
        now = utcnow()
        outcome = {"checked": 0, "found": 0, "absent": 0, "unknown": 0, "later": 0}
        candidates = self._due(now)
        decisions: list[tuple[Candidate, str, FoundSend | None]] = []
        for candidate in candidates:
            decision, found = self._ask(candidate, now)
            decisions.append((candidate, decision, found))
            outcome["checked"] += 1
            outcome[decision] += 1
        if decisions:
            self._write(decisions, now)
        return outcome

    def _due(self, now: datetime) -> list[Candidate]:
        m = Message
        ready = now - timedelta(seconds=self.first_check_after_s)
        query = (
            select(m.id, m.account_id, m.channel, m.recipient, m.body, m.updated_at, m.campaign_id)
            .where(
                m.status == "uncertain",
                or_(m.reconcile_state.is_(None), m.reconcile_state == "checking"),
                or_(m.reconcile_next_at.is_(None), m.reconcile_next_at <= now),
                m.updated_at <= ready,
            )
            .order_by(m.id)
            .limit(BATCH)
        )
        with self.services.db.read() as session:
            return [Candidate(*row) for row in session.execute(query).all()]

    def _ask(self, candidate: Candidate, now: datetime) -> tuple[str, FoundSend | None]:
        """'found' | 'absent' | 'unknown' | 'later', with the provider's answer. Network, no transaction."""
        try:
            channel = self.services.channels.instance(candidate.account_id, candidate.channel)
        except Exception:
            return "later", None  # not configured (now): ask again later
        if not channel.can_find_sent:
            return "unknown", None
        try:
            found = channel.find_sent(candidate.recipient, candidate.body, candidate.uncertain_since - LOOKUP_MARGIN)
        except Exception:
            log.exception("checking uncertain message %s with the provider failed", candidate.id)
            found = None
        if found is None:
            return "later", None
        if found.sid:
            return "found", found
        old_enough = now - candidate.uncertain_since >= timedelta(seconds=self.absent_after_s)
        return ("absent" if old_enough else "later"), found

    def _write(self, decisions: list[tuple[Candidate, str, FoundSend | None]], now: datetime) -> None:
        services = self.services
        touched: dict[int, dict[str, int]] = defaultdict(lambda: {"found": 0, "absent": 0})
        with services.db.write() as session:
            sids = [f.sid for _, d, f in decisions if d == "found" and f is not None and f.sid]
            taken = set(
                session.scalars(select(Message.provider_message_id).where(Message.provider_message_id.in_(sids)))
            )
            changed: list[tuple[Candidate, str]] = []
            for candidate, decision, found in decisions:
                values = _new_values(decision, found, taken, now)
                if values is None:
                    continue  # that provider message is another row's: look again later
                done = session.execute(
                    update(Message)
                    .where(and_(Message.id == candidate.id, Message.status == "uncertain"))
                    .values(**values, updated_at=now if decision == "found" else Message.updated_at)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if done and decision in ("found", "absent"):
                    changed.append((candidate, decision))
            for candidate, decision in changed:
                message = session.get(Message, candidate.id)
                if message is None:
                    continue
                session.refresh(message)
                if decision == "found":
                    text, level = f"Found at the provider: {candidate.recipient} got the message (now sent)", "success"
                else:
                    text = f"The provider never got the message to {candidate.recipient}: safe to send it again"
                    level = "info"
                services.hub.record(
                    session, candidate.account_id, "message.updated", text, level=level,
                    data={"message": message_view(message)},
                )  # fmt: skip
                if candidate.campaign_id is not None:
                    touched[candidate.campaign_id][decision] += 1
            self._report_campaigns(session, touched)

    def _report_campaigns(self, session: Session, touched: dict[int, dict[str, int]]) -> None:
        """Each touched campaign's counts reconciled and a `campaign.status` saying what the check found."""
        for campaign_id, tally in touched.items():
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                continue
            lifecycle.reconcile(session, campaign)
            words = []
            if tally["found"]:
                words.append(f"{tally['found']} sent after all")
            if tally["absent"]:
                words.append(f"{tally['absent']} never reached it (safe to send again)")
            text = f"Checked uncertain messages with the provider: {', '.join(words)}"
            lifecycle.record_status(self.services, session, campaign, text)


def _new_values(decision: str, found: FoundSend | None, taken: set[str], now: datetime) -> dict[str, Any] | None:
    """The columns a decision writes; None for a found provider message another row already holds."""
    if decision == "found" and found is not None and found.sid and found.sid not in taken:
        taken.add(found.sid)
        return {
            "status": states.SENT,
            "provider_message_id": found.sid,
            "sent_at": found.sent_at or now,
            "last_error": None,
            "delivery_next_check_at": now,
            "reconcile_state": "found",
            "reconcile_next_at": None,
        }
    if decision == "found":
        return None
    if decision in ("absent", "unknown"):
        return {"reconcile_state": decision, "reconcile_next_at": None}
    return {"reconcile_state": "checking", "reconcile_next_at": now + timedelta(seconds=RECHECK_S)}
