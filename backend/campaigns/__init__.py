"""Campaigns: templates, creation, lifecycle actions, the scheduler job and the dispatcher hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from backend.campaigns.hooks import CampaignHooks
from backend.campaigns.jobs import INTERVAL_S, pause_all_running, run_campaign_job
from backend.campaigns.uncertain_check import install as install_uncertain_check
from backend.jobs.schedule import Job

if TYPE_CHECKING:
    from backend.services import Services


def install(app: Flask, services: Services) -> None:
    """Dispatcher hooks (pacing, counters, completion), the campaign job and the stop hook."""
    services.hooks = CampaignHooks(services)
    services.jobs.append(Job("campaigns", lambda: run_campaign_job(services), INTERVAL_S))
    install_uncertain_check(app, services)

    def on_stop(pause_campaigns: bool) -> None:
        if pause_campaigns:
            pause_all_running(services, "the app was closed; resume when ready")

    services.on_stop.append(on_stop)
