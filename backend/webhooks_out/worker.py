"""The outgoing-webhook worker: one loop per process hands each endpoint it can lease to a thread of its own.

Each endpoint is worked by one thread at a time in one process (its lease in the store): the thread turns new
events into deliveries (`store.fan_in`), then POSTs its due deliveries one after the other, renewing the lease
before each, and lets the lease go when nothing is due. A receiver that hangs holds only its own thread (at most
`read timeout` per attempt), never the dispatchers, the event pump or another endpoint; this loop only reads and
writes the webhook tables and the event log, in short transactions with no network call inside.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from backend.events.hub import EventHub
from backend.security.keys import SecretBox
from backend.store.db import Database
from backend.store.process import worker_id
from backend.webhooks_out import signing, store, transport
from backend.webhooks_out.horizon import Horizon
from backend.webhooks_out.urls import AddressPolicy

log = logging.getLogger(__name__)

POLL_S = 0.5
SEND_BATCH = 20
#: successful attempts are written together, at least this often (seconds).
FLUSH_S = 1.0
MAX_THREADS = 32


class WebhookWorker:
    def __init__(
        self,
        db: Database,
        hub: EventHub,
        box: SecretBox,
        policy: AddressPolicy,
        clock: Callable[[], datetime],
        *,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.box = box
        self.policy = policy
        self.clock = clock
        self.owner = owner or worker_id("webhooks")
        #: PostgreSQL commits ids out of order: the cursor waits for late commits (horizon.py).
        self.horizon = Horizon() if db.dialect == "postgresql" else None
        self._busy: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # -- one pass (tests call it directly) ----------------------------------------------------------------

    def run_once(self) -> int:
        """Work every endpoint this process can lease, each to the end, one after the other; returns how many."""
        worked = 0
        for endpoint_id in store.claimable_endpoints(self.db, self.owner, self.clock()):
            if store.take_lease(self.db, endpoint_id, self.owner, self.clock()):
                self.work_endpoint(endpoint_id)
                worked += 1
        return worked

    def work_endpoint(self, endpoint_id: int) -> None:
        """Fan in and send until nothing is due; the lease is let go at the end (or lost: then stop)."""
        renewed = self.clock()
        try:
            while not self._stop.is_set():
                while store.fan_in(self.db, endpoint_id, self.owner, self.clock(), self.horizon):
                    pass
                receiver, due = store.due_deliveries(self.db, endpoint_id, self.clock(), SEND_BATCH)
                if receiver is None or not due:
                    break
                going, renewed = self._send_batch(endpoint_id, receiver, due, renewed)
                if not going:
                    return
        except store.LeaseLost:
            return
        finally:
            store.release_lease(self.db, endpoint_id, self.owner)

    def _send_batch(
        self, endpoint_id: int, receiver: store.Receiver, due: list[store.Due], renewed: datetime
    ) -> tuple[bool, datetime]:
        """Send `due` one after the other, the lease renewed every RENEW_EVERY. Successes are written together
        (at least every FLUSH_S); a failure at once, since it may disable the endpoint. Answers (go on?, when
        the lease was last renewed): not when the endpoint was disabled, the lease lost or the worker stops."""
        secrets = [self.box.open(sealed) for sealed in receiver.sealed_secrets]
        written: list[tuple[store.Due, store.Attempt, datetime]] = []
        flushed = time.monotonic()
        for delivery in due:
            if self._stop.is_set():
                break
            if self.clock() - renewed >= store.RENEW_EVERY:
                if not store.take_lease(self.db, endpoint_id, self.owner, self.clock()):
                    store.record_attempts(self.db, self.hub, written)
                    return False, renewed
                renewed = self.clock()
            attempt = self.send(receiver.url, secrets, delivery)
            written.append((delivery, attempt, self.clock()))
            if attempt.error is not None or time.monotonic() - flushed >= FLUSH_S:
                if store.record_attempts(self.db, self.hub, written):
                    return False, renewed
                written, flushed = [], time.monotonic()
        disabled = store.record_attempts(self.db, self.hub, written)
        return not disabled and not self._stop.is_set(), renewed

    def send(self, url: str, secrets: list[str], delivery: store.Due) -> store.Attempt:
        """One attempt of one delivery, signed with every secret that signs now (no transaction held)."""
        body = delivery.body.encode("utf-8")
        # The signature's time is the wall clock's: receivers compare it with theirs.
        headers = signing.headers(secrets, delivery.webhook_id, int(time.time()), body)
        try:
            answer, took_ms = transport.post(url, body, headers, self.policy)
        except transport.DeliveryFailure as exc:
            return store.Attempt(None, None, None, None, exc.reason)
        error = None if 200 <= answer.status < 300 else _status_error(answer.status)
        return store.Attempt(answer.status, answer.body, took_ms, answer.retry_after_s, error)

    # -- the background loop (serve and the desktop shell) ------------------------------------------------

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._loop, name="webhooks-out", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._pool is not None:
            # Sends in flight end within their timeouts; their leases then expire or are let go.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._hand_out()
            except Exception:
                log.exception("outgoing webhooks: a pass failed; trying again")
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _hand_out(self) -> None:
        pool = self._pool
        if pool is None:
            return
        with self._lock:
            self._busy = {k: f for k, f in self._busy.items() if not f.done()}
            busy = set(self._busy)
        for endpoint_id in store.claimable_endpoints(self.db, self.owner, self.clock()):
            if endpoint_id in busy or len(busy) >= MAX_THREADS:
                continue
            if store.take_lease(self.db, endpoint_id, self.owner, self.clock()):
                with self._lock:
                    self._busy[endpoint_id] = pool.submit(self._work_logged, endpoint_id)
                busy.add(endpoint_id)

    def _work_logged(self, endpoint_id: int) -> None:
        try:
            self.work_endpoint(endpoint_id)
        except Exception:
            log.exception("outgoing webhooks: endpoint %s failed; trying again", endpoint_id)


def _status_error(status: int) -> str:
    if 300 <= status < 400:
        return f"The receiver answered {status} (a redirect, not followed)"
    return f"The receiver answered {status}"
