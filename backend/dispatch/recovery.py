"""After a crash: every message a dead or stalled dispatcher held is settled, and none is sent twice.

1. The send journal of each dead dispatcher on this host (`backend.dispatch.journal`) says what became of the
   messages it held: an answered send gets its answer recorded; a claimed message that never started is
   queued again; the one send that had started without an answer becomes `uncertain`.
2. Any other `sending` message whose lease expired, or whose process on this host is dead with no journal
   to tell (another data directory, another machine, an earlier boot): where the store records each send's
   start (PostgreSQL: `send_started_at`, see `backend.dispatch.sending`), one that never started is queued
   again (the release is fenced on `send_started_at` still null, and the start on the lease, so a stalled
   owner that wakes up cannot send it too); the others become `uncertain`: they may have reached the provider,
   so they are never re-sent automatically. The reason says which: the app stopped (its process is gone), or the lease
   ran out while its process still lives (a live dispatcher renews its leases, so that process stopped answering
   or lost the database) or on another machine.

Results go through `record_results`, the dispatcher's own path: fenced on the dead owner's lease, with the
campaign bookkeeping and a `send.progress` event for each.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import select

from backend.dispatch.claims import (
    CLAIM_COLUMNS,
    MESSAGES,
    SENDING,
    ClaimedMessage,
    claimed_from_row,
    held_by,
    release,
)
from backend.dispatch.hooks import DispatchHooks
from backend.dispatch.journal import JournalContents, journal_dir, journals, read_journal
from backend.dispatch.outcomes import Outcome, record_results
from backend.dispatch.sending import starts_in_store
from backend.store import states
from backend.store.models import utcnow
from backend.store.process import owner_is_dead

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

LOST_SEND = "the app stopped while sending; the provider may or may not have it"
LOST = Outcome(states.UNCERTAIN, error=LOST_SEND, interrupted=True)
STALLED_SEND = (
    "its sender stopped renewing the lease (the process hung or lost the database); the provider may or may not have it"
)
STALLED = Outcome(states.UNCERTAIN, error=STALLED_SEND, interrupted=True)
#: messages looked at per run of the lease sweep.
SWEEP_LIMIT = 1000


def recover_lost_sends(services: Services) -> int:
    """Settle what dead or stalled dispatchers held; returns how many messages were settled or queued again."""
    settled = replay_journals(services)
    settled += sweep_expired(services)
    return settled


def _hooks(services: Services) -> DispatchHooks:
    return services.hooks


def replay_journals(services: Services) -> int:
    """Step 1 for every journal in the data directory whose dispatcher's process is gone."""
    settled = 0
    for path in journals(journal_dir(services.config.data_dir)):
        contents = read_journal(path)
        if contents is None or not owner_is_dead(contents.owner):
            continue
        settled += _replay(services, contents)
        path.unlink(missing_ok=True)
        # A kill during compaction leaves its half-written copy; the journal itself was whole (a rename replaces it).
        path.with_name(path.name + ".new").unlink(missing_ok=True)
    return settled


def _replay(services: Services, journal: JournalContents) -> int:
    requeued: set[tuple[int, str]] = set()
    with services.db.write() as session:
        held = held_by(session, journal.owner)
        answered: list[tuple[ClaimedMessage, Outcome]] = []
        unstarted: list[int] = []
        for message in held:
            if journal.trusted and message.id in journal.outcomes:
                answered.append((message, journal.outcomes[message.id]))
            elif journal.trusted and message.id not in journal.started:
                unstarted.append(message.id)
                requeued.add((message.account_id, message.channel))
            else:
                answered.append((message, LOST))
        record_results(services, session, journal.owner, _hooks(services), answered)
        # A start the store knows of but this journal lost (its disk was full) is left to the sweep: uncertain.
        release(session, journal.owner, unstarted, utcnow(), unstarted_only=True)
    lost = sum(1 for _, outcome in answered if outcome is LOST)
    if held:
        log.warning(
            "recovered %d message(s) of a stopped dispatcher: %d answered, %d queued again, %d uncertain",
            len(held),
            len(answered) - lost,
            len(unstarted),
            lost,
        )
    for account_id, channel in requeued:
        services.dispatchers.wake(account_id, channel)
    return len(held)


def sweep_expired(services: Services) -> int:
    """Step 2: `sending` messages whose lease expired or whose owner process is dead become `uncertain`."""
    now = utcnow()
    m = MESSAGES.c
    starts_known = starts_in_store(services.db)
    requeued: set[tuple[int, str]] = set()
    with services.db.write() as session:
        rows = session.execute(
            select(*CLAIM_COLUMNS, m.lease_owner, m.lease_until, m.send_started_at)
            .where(SENDING)
            .order_by(m.lease_until)
            .limit(SWEEP_LIMIT)
            .with_for_update(skip_locked=True)
        ).all()
        by_owner: dict[str, list[tuple[ClaimedMessage, Outcome]]] = defaultdict(list)
        unstarted: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            *columns, owner, lease_until, started_at = row
            if not owner:
                log.error("message %s is sending without a lease owner; left alone", columns[0])
                continue
            dead = owner_is_dead(owner)
            if not dead and (lease_until is None or lease_until >= now):
                continue
            message = claimed_from_row(columns)
            if starts_known and started_at is None:
                unstarted[owner].append(message.id)
                requeued.add((message.account_id, message.channel))
            else:
                by_owner[owner].append((message, LOST if dead else STALLED))
        given_back = sum(release(session, owner, ids, now, unstarted_only=True) for owner, ids in unstarted.items())
        hooks = _hooks(services)
        settled = sum(record_results(services, session, owner, hooks, lost) for owner, lost in by_owner.items())
    if settled or given_back:
        log.warning("%d interrupted send(s) marked uncertain, %d never started queued again", settled, given_back)
    for account_id, channel in requeued:
        services.dispatchers.wake(account_id, channel)
    return settled + given_back
