"""The background parts of a serving process: event pump, dispatchers, scheduler jobs.

`create_app` builds; `Runtime.start()` (called by `serve` and the desktop shell only) runs. Jobs are plain
functions of `services` registered in `scheduled_jobs`; APScheduler runs each with max_instances=1 and
coalesce=True, and coordination between processes happens in the database, never in the scheduler.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from backend.dispatch.recovery import recover_lost_sends
from backend.jobs.schedule import Job
from backend.services import Services
from backend.store.db import CHECKPOINT_S

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.services: Services = app.extensions["bulkmsg"]
        self.scheduler: BackgroundScheduler | None = None
        self.started = False

    def scheduled_jobs(self) -> list[Job]:
        services = self.services
        pool = services.dispatchers
        jobs = [
            Job("recover-lost-sends", lambda: recover_lost_sends(services), 5.0),
            Job("dispatcher-sync", pool.sync, 5.0),
        ]
        if services.db.is_sqlite:  # WAL checkpoints off the commit path (backend/store/db.py)
            jobs.append(Job("sqlite-checkpoint", services.db.checkpoint, CHECKPOINT_S))
        return [*jobs, *services.jobs]

    def start(self) -> None:
        if self.started:
            return
        services = self.services
        services.hub.start()
        recover_lost_sends(services)
        services.dispatchers.start()
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True})
        for job in self.scheduled_jobs():
            self.scheduler.add_job(job.func, "interval", seconds=job.seconds, id=job.id, name=job.id)
        self.scheduler.start()
        for hook in services.on_start:
            hook()
        self.started = True
        log.info("background jobs started")

    def stop_sending(self) -> None:
        """The first thing on SIGTERM, Ctrl+C or a closed window: no send starts from now on (DESIGN section 5)."""
        if self.started:
            self.services.dispatchers.request_stop()

    def stop(self, *, pause_campaigns: bool = False) -> None:
        """Stop everything this process runs; with pause_campaigns, running campaigns are paused first."""
        if not self.started:
            return
        services = self.services
        self.stop_sending()
        for hook in services.on_stop:
            try:
                hook(pause_campaigns)
            except Exception:
                log.exception("a stop hook failed")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        services.dispatchers.stop()
        services.channels.close_all()
        services.hub.stop()
        self.started = False
        log.info("background jobs stopped")
