"""Sequences (DESIGN section 18): a campaign of `kind` `sequence` whose steps go to each enrolled contact over
time, through the ordinary dispatcher, until the contact has had them all, replies or opts out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.jobs.schedule import Job

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backend.services import Services


def wire(services: Services) -> None:
    """The sequence job (triggers and due steps), and what sequences do, in the transaction of the change, when
    a step's send is reported, a contact opts out or writes in, or a sequence is cancelled (the hub's signals:
    the parts that raise them never import sequences)."""
    from backend.sequences import progress, triggers
    from backend.sequences.engine import INTERVAL_S, SequenceEngine

    engine = SequenceEngine(services)
    services.jobs.append(Job("sequences", engine.run, INTERVAL_S))
    hub = services.hub

    def send_results(session: Session, results: Any) -> None:
        progress.after_results(services, session, results)

    def opted_out(session: Session, contact_id: int, family: str, why: str) -> None:
        progress.on_opt_out(services, session, contact_id, family, why)

    def inbound(session: Session, account_id: int, contact_id: int, channel: str) -> None:
        triggers.on_inbound(services, session, account_id, contact_id, channel)

    def cancelled(session: Session, campaign_id: int) -> None:
        progress.end_all(session, campaign_id, services.clock())

    hub.on_signal("send_results", send_results)
    hub.on_signal("opted_out", opted_out)
    hub.on_signal("inbound", inbound)
    hub.on_signal("campaign_cancelled", cancelled)
