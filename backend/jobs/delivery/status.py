"""The delivery-status job: the 5-second reconciler of DESIGN section 6.

Each run:
0. makes due at once every waiting (back-off) or expired message that got a new final communication since the
   last runs looked (a cursor over communication ids), so a callback settles its message right away and a late
   callback still settles an expired one, whoever wrote the communication (any webhook, a provider poll);
1. settles at once, in one fenced statement per batch and without a lease, the due messages (not leased by a
   live worker) that already have a final communication (most of them, once callbacks came in), with their
   events; then, for what remains,
   claims due messages in batches, one statement per batch, with a lease (owner + expiry) that ends when the
   batch's work ends; an expired lease is claimable again, and leases of a dead process on this host are
   released when a job starts;
2. matches the batch with each message's first final communication inside the statement that settles them
   (delivered true for `delivered`/`read`, false for `failed`/`undelivered`/`bounce`/`dropped`; the provider
   adapters set `success` accordingly), so the match is one join for the whole batch;
3. gives unmatched messages the next check at now + 1 s x 2^(attempts - 1), and after 10 checks `expired`;
4. before that, asks the provider (channels implementing `fetch_delivery`) about messages no callback reached,
   outside any transaction, and records the answers as communications;
5. writes every outcome with fenced bulk statements (only rows still leased by this job change) and, in the same
   transaction, the `message.updated` events (built by the database: backend/jobs/delivery/events.py).
On PostgreSQL a large sweep runs on PG_LANES connections at once.

`nudge()` runs the job now on its own worker thread (a webhook calls it after writing a communication); nudges
that arrive during a run coalesce into one more run. Runs of one job never overlap (a lock), and runs of
different jobs or processes never touch the same message at once (the lease; SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.communications import record_communication
from backend.dispatch import fallback
from backend.jobs.delivery import store as store
from backend.jobs.delivery import writes as writes
from backend.jobs.delivery.events import record_updated_events, settle_due_with_events
from backend.jobs.delivery.poll import channel_can_be_polled, poll_providers
from backend.jobs.delivery.probe import Prober
from backend.jobs.delivery.store import DeliveryClaim
from backend.jobs.delivery.writes import Reschedule
from backend.store.models import utcnow
from backend.store.process import owner_is_dead, worker_id
from backend.views import MAX_DELIVERY_CHECKS

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: messages claimed (and settled) per statement; a sweep runs batches until nothing due is left.
BATCH_SIZE = 25_000
#: PostgreSQL settings for the job's write transactions: sorts of a batch stay in memory, a commit does not
#: wait for its WAL to reach the disk (a crash can lose the last sweep's writes, never half of them: the messages
#: are then still due and the next sweep settles them again, with their events, from the same communications),
#: and no JIT: a batch's statement is planned above the JIT threshold and compiling it took 320 ms of 4.3 s.
PG_SWEEP_SETTINGS = ("SET LOCAL work_mem = '64MB'", "SET LOCAL synchronous_commit = off", "SET LOCAL jit = off")
#: batches checked at once on PostgreSQL (one per core of a small server; see run_once).
PG_LANES = 2
#: how long a claimed batch stays ours: well beyond a batch's work, polls included.
LEASE_S = 120.0


def next_check_delay_s(check_attempts: int) -> float:
    """The wait after the `check_attempts`-th check found no final status: 1 s x 2^(attempts - 1)."""
    return float(2 ** (check_attempts - 1))


class CommunicationCursor:
    """Which communication ids the job has already looked at, for step 0.

    Ids of communications committed out of order (PostgreSQL: two writers' transactions) could fall behind a
    plain high-water mark, so the floor handed out is the highest id seen at least `grace_s` ago: recent ids are
    looked at again for a while, which is cheap, and none is missed. Before any scan the floor is 0 (everything
    is looked at once); right after the first scan it is that scan's maximum less `margin` ids.
    """

    def __init__(self, grace_s: float = 10.0, margin: int = 1000) -> None:
        self.grace_s = grace_s
        self.margin = margin
        self._seen: deque[tuple[float, int]] = deque()

    def floor(self, mono_now: float) -> int:
        while len(self._seen) > 1 and self._seen[1][0] <= mono_now - self.grace_s:
            self._seen.popleft()
        if not self._seen:
            return 0
        seen_at, top = self._seen[0]
        return top if seen_at <= mono_now - self.grace_s else max(top - self.margin, 0)

    def observe(self, mono_now: float, top: int) -> None:
        if not self._seen or top > self._seen[-1][1]:
            self._seen.append((mono_now, top))


class DeliveryStatusJob:
    def __init__(
        self,
        services: Services,
        *,
        clock: Callable[[], datetime] = utcnow,
        batch_size: int = BATCH_SIZE,
        lease_s: float = LEASE_S,
        owner: str | None = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.clock = clock
        self.batch_size = batch_size
        self.lease_s = lease_s
        # host:pid:role:random: unique per job, and owner_is_dead() can still read the pid back.
        self.owner = owner or f"{worker_id('delivery')}:{secrets.token_hex(3)}"
        self.cursor = CommunicationCursor()
        self.prober = Prober(self.db)
        self._run_lock = threading.Lock()
        self._nudged = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the worker thread that nudges run on ----------------------------------------------------------------

    def start(self) -> None:
        """Release leases of dead processes, start the nudge worker, and sweep once right away."""
        if self._thread is not None and self._thread.is_alive():
            return
        try:
            self.release_dead_leases()
        except Exception:
            log.exception("could not release the delivery leases of stopped processes; they expire by themselves")
        self._stop.clear()
        self._nudged.set()
        self._thread = threading.Thread(target=self._nudge_loop, name="delivery-status", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._nudged.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.prober.close()

    def nudge(self) -> None:
        """Run the job now on the worker thread (no-op until `start`); a burst of nudges costs one more run."""
        self._nudged.set()

    def _nudge_loop(self) -> None:
        while True:
            self._nudged.wait()
            if self._stop.is_set():
                return
            self._nudged.clear()
            try:
                self.run_once()
            except Exception:
                log.exception("delivery-status run failed; the next sweep tries again")
                self._stop.wait(1.0)

    # -- one run ---------------------------------------------------------------------------------------------

    def run_once(self, account_id: int | None = None) -> dict[str, Any]:
        """Check every due message (of one account, or all); returns what it did.

        Keys: claimed, delivered, undelivered, not_final, expired, polled, made_due, duration_ms; `claimed`
        counts every message checked, those settled directly (without a lease) included.
        """
        with self._run_lock:
            started = time.perf_counter()
            stats = dict.fromkeys(
                ("claimed", "delivered", "undelivered", "not_final", "expired", "polled", "made_due"), 0
            )
            due_by = self.clock()
            stats["made_due"], due = self._make_due(due_by, account_id)
            lanes: list[dict[str, int]] = []
            if due:
                direct = self.settle_due(due_by, account_id)
                lanes.append(direct)
                if direct["claimed"] == self.batch_size:
                    lanes += self._settle_due_in_lanes(due_by, account_id)
            first = self.claim(due_by=due_by, account_id=account_id) if due else []
            if len(first) == self.batch_size and self.db.dialect == "postgresql":
                # More is waiting: PostgreSQL checks batches on more connections at once (SKIP LOCKED keeps them
                # apart), since the database, not this process, does most of the work. SQLite has one writer.
                with ThreadPoolExecutor(PG_LANES - 1, thread_name_prefix="delivery-lane") as pool:
                    more = [pool.submit(self._sweep, [], due_by, account_id) for _ in range(PG_LANES - 1)]
                    lanes.append(self._sweep(first, due_by, account_id))
                    lanes += [future.result() for future in more]
            elif first:
                lanes.append(self._sweep(first, due_by, account_id))
            for lane in lanes:
                for key, value in lane.items():
                    stats[key] += value
            result: dict[str, Any] = dict(stats)
            result["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if stats["claimed"] or stats["made_due"]:
            log.info("delivery-status: %s", result)
        return result

    def settle_due(self, due_by: datetime, account_id: int | None = None) -> dict[str, int]:
        """Settle up to a batch of due messages that already have a final communication in one fenced statement,
        without a lease (none is needed: nothing is polled), and write their events in the same transaction.

        Messages leased by a live worker are left to it. Returns claimed (= settled), delivered, undelivered.
        """
        with self.db.write() as session:
            self._tune(session)
            now = self.clock()
            hub = self.services.hub
            settled = settle_due_with_events(
                session, hub, due_by=due_by, now=now, limit=self.batch_size, account_id=account_id
            )
            fallback.after_delivery(self.services, session, settled, ())
        delivered = sum(settled.values())
        return {"claimed": len(settled), "delivered": delivered, "undelivered": len(settled) - delivered}

    def _settle_due_in_lanes(self, due_by: datetime, account_id: int | None) -> list[dict[str, int]]:
        """More settle at once is waiting: settle batches until one comes back short, on PG_LANES connections on
        PostgreSQL (SKIP LOCKED keeps them apart), on this thread on SQLite (one writer)."""

        def sweep() -> dict[str, int]:
            stats: dict[str, int] = {}
            while True:
                done = self.settle_due(due_by, account_id)
                for key, value in done.items():
                    stats[key] = stats.get(key, 0) + value
                if done["claimed"] < self.batch_size:
                    return stats

        if self.db.dialect != "postgresql":
            return [sweep()]
        with ThreadPoolExecutor(PG_LANES, thread_name_prefix="delivery-lane") as pool:
            futures = [pool.submit(sweep) for _ in range(PG_LANES)]
            return [future.result() for future in futures]

    def _sweep(self, batch: list[DeliveryClaim], due_by: datetime, account_id: int | None) -> dict[str, int]:
        """Check and settle `batch`, then claim and settle more until nothing due by `due_by` is left."""
        stats: dict[str, int] = {}
        while True:
            if not batch:
                batch = self.claim(due_by=due_by, account_id=account_id)
                if not batch:
                    return stats
            done = {"claimed": len(batch), "polled": self._poll(batch), **self.settle(batch)}
            for key, value in done.items():
                stats[key] = stats.get(key, 0) + value
            if len(batch) < self.batch_size:
                return stats
            batch = []

    def _make_due(self, now: datetime, account_id: int | None) -> tuple[int, bool]:
        """Step 0; returns (messages made due, whether anything is due now). An idle run is one read, on one
        round trip (backend/jobs/delivery/probe.py)."""
        mono = time.monotonic()
        floor = self.cursor.floor(mono)
        top, due = self.prober.probe(due_by=now, now=now, account_id=account_id)
        made_due = 0
        if top > floor:
            with self.db.write() as session:
                made_due = store.make_due(session, after_id=floor, now=now, account_id=account_id)
        if account_id is None:
            # A run for one account looked at that account only: the cursor moves for whole sweeps alone.
            self.cursor.observe(mono, top)
        return made_due, due or made_due > 0

    def claim(self, *, due_by: datetime, account_id: int | None = None) -> list[DeliveryClaim]:
        """Lease the next batch of messages due by `due_by` (committed before any other work)."""
        now = self.clock()
        with self.db.read() as session:
            if not store.has_due(session, due_by=due_by, now=now, account_id=account_id):
                return []
        with self.db.write() as session:
            return store.claim_due(
                session,
                owner=self.owner,
                due_by=due_by,
                now=now,
                lease_s=self.lease_s,
                limit=self.batch_size,
                account_id=account_id,
            )

    def _poll(self, batch: list[DeliveryClaim]) -> int:
        """Step 4 for the batch's messages on channels that can be asked; returns how many were asked."""
        candidates = [m for m in batch if m.provider_message_id and channel_can_be_polled(m.channel)]
        if not candidates:
            return 0
        with self.db.read() as session:
            reported = store.reported(session, [m.id for m in candidates])
        waiting = [m for m in candidates if not reported.get(m.id, False)]
        reports, asked = poll_providers(self.services.channels, waiting, heard_from=set(reported))
        if reports:
            with self.db.write() as session:
                for message, report in reports:
                    record_communication(session, message.account_id, message.id, report)
        return asked

    def settle(self, batch: list[DeliveryClaim]) -> dict[str, int]:
        """Match, decide and write a claimed batch, with its events, in one transaction; end its leases.

        Rows whose lease is no longer ours (it expired and another worker took them) are left alone.
        """
        with self.db.write() as session:
            self._tune(session)
            now = self.clock()
            settled = writes.settle_from_communications(session, [m.id for m in batch], owner=self.owner, now=now)
            rest = [m for m in batch if m.id not in settled]
            last_check = [m.id for m in rest if m.delivery_check_attempts >= MAX_DELIVERY_CHECKS]
            expired = writes.expire(session, last_check, owner=self.owner, now=now)
            later = [next_check(m, now) for m in rest if m.delivery_check_attempts < MAX_DELIVERY_CHECKS]
            rescheduled = writes.reschedule(session, later, owner=self.owner)
            record_updated_events(session, self.services.hub, [*settled, *expired], now=now)
            fallback.after_delivery(self.services, session, settled, expired)
        delivered = sum(settled.values())
        stats = {
            "delivered": delivered,
            "undelivered": len(settled) - delivered,
            "not_final": rescheduled,
            "expired": len(expired),
        }
        lost = len(batch) - len(settled) - len(expired) - rescheduled
        if lost:
            log.warning("delivery-status: %d message(s) changed hands before their check was written", lost)
        return stats

    def _tune(self, session: Session) -> None:
        if self.db.dialect == "postgresql":
            for setting in PG_SWEEP_SETTINGS:
                session.execute(text(setting))

    def release_dead_leases(self) -> int:
        """End the delivery leases of processes of this host that no longer run (after a crash)."""
        with self.db.read() as session:
            dead = [owner for owner in store.lease_owners(session) if owner_is_dead(owner)]
        if not dead:
            return 0
        with self.db.write() as session:
            released = store.release_leases(session, dead)
        log.warning("released %d delivery check lease(s) of stopped process(es) %s", released, ", ".join(dead))
        return released


def next_check(message: DeliveryClaim, now: datetime) -> Reschedule:
    """A check that found no final status (before the last one): count it and wait 1 s x 2^(attempts - 1)."""
    attempts = message.delivery_check_attempts + 1
    return Reschedule(message.id, attempts, now + timedelta(seconds=next_check_delay_s(attempts)))
