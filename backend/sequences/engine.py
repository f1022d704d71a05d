"""The sequence job: every couple of seconds, in every serving process, it enrols the contacts the triggers found
and turns each due step into one ordinary queued message for the dispatcher (pace, send window, fallback and
opt-outs then apply as to any campaign message).

A pass claims due enrolments with a lease (backend/sequences/claims.py), renders their steps outside any write
transaction, then writes the messages in one transaction fenced on the lease: a process that lost its lease (it
stalled past it, another took over) writes nothing, and `sequence_sends` holds each (enrolment, step) once. An
enrolment's next step is due only once its current step's message is sent (backend/sequences/progress.py), a
full `wait_s` after that send: after downtime, a due step goes once and nothing bunches.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert, literal_column, select, update
from sqlalchemy.orm import Session

from backend.sequences import claims, progress, triggers
from backend.sequences.steps import Made, StepMaker
from backend.store.models import Campaign, Message
from backend.store.models.sequences import SequenceEnrollment, SequenceSend

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
#: enrolments claimed and written together.
BATCH = 500
#: longer than rendering a batch takes, by far.
LEASE_S = 120.0
MESSAGES = cast(Table, Message.__table__)
ENROLLMENTS = cast(Table, SequenceEnrollment.__table__)
SENDS = cast(Table, SequenceSend.__table__)


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """A message row keyed by column (the ORM's `meta` is the column `metadata`)."""
    out = dict(row)
    out["metadata"] = out.pop("meta", {})
    return out


def default_owner() -> str:
    return f"sequences:{socket.gethostname()}:{os.getpid()}"


class SequenceEngine:
    def __init__(self, services: Services, owner: str | None = None) -> None:
        self.services = services
        self.owner = owner or default_owner()

    def run(self, max_batches: int = 1000) -> int:
        """One pass: triggers, then due steps until none is left (at most `max_batches`); returns how many
        step messages were queued."""
        now = self.services.clock()
        with self.services.db.read() as session:  # an idle pass is this one read, and takes no write lock
            watching = triggers.watching(session)
            due = any_due(session, now)
        if watching:
            due = triggers.enroll_new(self.services, watching) > 0 or due
        queued = 0
        for _ in range(max_batches):
            if not due:
                break
            now = self.services.clock()
            with self.services.db.write() as session:
                claimed = claims.claim_due(session, self.owner, now, LEASE_S, BATCH)
            if not claimed:
                break
            queued += self.make_and_write(claimed, now)
            due = len(claimed) == BATCH
        return queued

    def make_and_write(self, claimed: list[claims.ClaimedEnrollment], now: datetime) -> int:
        with self.services.db.read() as session:
            made = StepMaker(self.services, session).make(claimed, now)
            session.expunge_all()
        return self.write(made, now)

    def write(self, made: Made, now: datetime) -> int:
        """Insert the step messages and leave the exits, where the lease is still ours (one transaction)."""
        ids = [item.id for item, _ in made.rows] + [item.id for item, _, _ in made.exits] + [i.id for i in made.done]
        wake: set[tuple[int, str]] = set()
        with self.services.db.write() as session:
            ours = claims.still_ours(session, ids, self.owner)
            rows = [(item, row) for item, row in made.rows if item.id in ours]
            if rows:
                _insert_steps(session, rows, now)
                wake.update((row["account_id"], row["channel"]) for _, row in rows)
            for item, reason, detail in made.exits:
                if item.id in ours:
                    progress.leave(self.services, session, item.id, reason, detail, now)
            for item in made.done:
                if item.id in ours:
                    progress.finish(session, item.id, now)
        for account_id, channel in wake:
            self.services.dispatchers.wake(account_id, channel)
        return len(rows)


def _insert_steps(session: Session, rows: list[tuple[claims.ClaimedEnrollment, dict[str, Any]]], now: datetime) -> None:
    standby = [row.pop("_fallback", None) or [] for _, row in rows]
    stmt = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
    message_ids = list(session.scalars(stmt, [_columns(row) for _, row in rows]))
    _insert_standby(session, message_ids, standby)
    session.execute(
        insert(SENDS),
        [
            {
                "account_id": item.account_id,
                "campaign_id": item.campaign_id,
                "enrollment_id": item.id,
                "step": item.step + 1,
                "message_id": message_id,
                "created_at": now,
            }
            for (item, _), message_id in zip(rows, message_ids, strict=True)
        ],
    )
    e = ENROLLMENTS.c
    session.execute(
        update(ENROLLMENTS)
        .where(e.id == bindparam("p_id"))
        .values(message_id=bindparam("p_message"), next_at=None, lease_owner=None, lease_until=None, updated_at=now),
        [{"p_id": item.id, "p_message": message_id} for (item, _), message_id in zip(rows, message_ids, strict=True)],
    )
    per_campaign: dict[int, int] = {}
    for item, _ in rows:
        per_campaign[item.campaign_id] = per_campaign.get(item.campaign_id, 0) + 1
    for campaign_id, count in per_campaign.items():
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(total=Campaign.total + count))


def _insert_standby(session: Session, primaries: list[int], standby: list[list[dict[str, Any]]]) -> None:
    """Each primary's fallback rows (status `standby`), the first naming the primary, a second the first."""
    previous = primaries
    for level in range(max((len(s) for s in standby), default=0)):
        pending = [(i, s[level]) for i, s in enumerate(standby) if level < len(s)]
        rows = [
            {**row, "campaign_id": None, "sender_id": row["sender_id"], "fallback_of": previous[i]}
            for i, row in pending
        ]
        stmt = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
        ids = list(session.scalars(stmt, [_columns(row) for row in rows]))
        nxt = list(previous)
        for (i, _), new_id in zip(pending, ids, strict=True):
            nxt[i] = new_id
        previous = nxt


def any_due(session: Session, now: datetime) -> bool:
    """Whether any enrolment is due, by the due index alone (the look an idle pass costs); a paused sequence's
    due enrolments make the claim run and find nothing, which is as cheap."""
    e = SequenceEnrollment
    found = select(e.id).where(e.status == literal_column("'active'"), e.message_id.is_(None), e.next_at <= now)
    return session.scalar(found.limit(1)) is not None
