"""Keeps one Dispatcher running per configured (account, channel)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.hooks import DispatchHooks, NoHooks
from backend.store import states
from backend.store.models import ChannelConfig

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)


class DispatcherPool:
    def __init__(self, services: Services, hooks_factory: Callable[[], DispatchHooks] | None = None) -> None:
        self.services = services
        self.hooks_factory = hooks_factory or NoHooks
        self._dispatchers: dict[tuple[int, str], Dispatcher] = {}
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        self._running = True
        self.sync()

    def sync(self) -> None:
        """Start a dispatcher for every configured channel that has none (called every few seconds)."""
        if not self._running:
            return
        with self.services.db.read() as session:
            configured = {
                (row.account_id, row.channel)
                for row in session.scalars(select(ChannelConfig))
                if row.settings and row.state != states.NOT_CONFIGURED
            }
        with self._lock:
            for key in configured:
                current = self._dispatchers.get(key)
                if current is None or not current.alive:
                    dispatcher = Dispatcher(self.services, key[0], key[1], self.hooks_factory())
                    self._dispatchers[key] = dispatcher
                    dispatcher.start()
                    log.info("dispatcher started for account %s, channel %s", *key)

    def wake(self, account_id: int, channel: str) -> None:
        """New work was queued: claim it now instead of at the next poll."""
        with self._lock:
            dispatcher = self._dispatchers.get((account_id, channel))
        if dispatcher is not None:
            dispatcher.wake()
        elif self._running:
            self.sync()

    def waiting_reason(self, account_id: int, channel: str) -> str | None:
        """What this process's dispatcher of the channel waits for (the store, the disk, the channel), or None."""
        with self._lock:
            dispatcher = self._dispatchers.get((account_id, channel))
        if dispatcher is None:
            return None
        return dispatcher.store_problem or dispatcher.outage

    def campaign_stopped(self, account_id: int, channel: str, campaign_id: int) -> None:
        """A campaign was paused or cancelled (committed): its dispatcher sends none of it from the batch at hand."""
        with self._lock:
            dispatcher = self._dispatchers.get((account_id, channel))
        if dispatcher is not None:
            dispatcher.campaign_stopped(campaign_id)

    def request_stop(self) -> None:
        """No send starts after this call (in any dispatcher); sends in flight finish. Safe from a signal handler."""
        self._running = False
        with self._lock:
            dispatchers = list(self._dispatchers.values())
        for dispatcher in dispatchers:
            dispatcher.request_stop()

    def stop(self) -> None:
        """Stop every dispatcher: sends in flight finish within their timeout and are recorded."""
        self._running = False
        with self._lock:
            dispatchers = list(self._dispatchers.values())
            self._dispatchers.clear()
        for dispatcher in dispatchers:
            dispatcher.request_stop()
        for dispatcher in dispatchers:
            dispatcher.stop()
