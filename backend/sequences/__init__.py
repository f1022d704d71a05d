"""Sequences (DESIGN section 18): a campaign of `kind` `sequence` whose steps go to each enrolled contact over
time, through the ordinary dispatcher, until the contact has had them all, replies or opts out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from backend.jobs.schedule import Job

if TYPE_CHECKING:
    from backend.services import Services


def install(app: Flask, services: Services) -> None:
    """The sequence job (triggers and due steps), run by the runtime's scheduler."""
    from backend.sequences import progress, triggers
    from backend.sequences.engine import INTERVAL_S, SequenceEngine

    engine = SequenceEngine(services)
    services.jobs.append(Job("sequences", engine.run, INTERVAL_S))
    services.after_send_results.append(progress.after_results)
    services.on_opt_out.append(progress.on_opt_out)
    services.on_inbound.append(triggers.on_inbound)
    services.on_campaign_cancelled.append(progress.end_all)
