"""The `message.updated` events the database builds in bulk carry exactly `message_view(message)`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.app import create_app
from backend.jobs.delivery.status import DeliveryStatusJob
from backend.store.migrate import upgrade
from backend.store.models import Message
from backend.views import MAX_DELIVERY_CHECKS, message_view
from tests.delivery_support import Clock, add_report, add_sent, updated_events


@pytest.fixture
def services(database_url: str, make_config: Any) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    services.account_token()
    yield services
    services.db.dispose()


def test_it_puts_the_message_exactly_as_the_api_shows_it_in_every_bulk_event(services: Any) -> None:
    clock = Clock()
    ids = add_sent(services, 5, at=clock.now - timedelta(seconds=1))
    with services.db.write() as session:
        for message_id in ids:
            row = session.get(Message, message_id)
            row.meta = {"note": None, "tags": ["a", "b"], "source_ref": message_id}
        first = session.get(Message, ids[1])
        first.subject, first.recipient_name, first.last_error = "Your order", "Zoë O'Brien", "retried once"
        last = session.get(Message, ids[4])
        last.delivery_check_attempts = MAX_DELIVERY_CHECKS
    add_report(services, ids[0], "read")
    add_report(services, ids[1], "delivered")
    add_report(services, ids[2], "undelivered", error_code="30003", error_text="")
    add_report(services, ids[3], "bounce", error_text="Mailbox full")

    done = DeliveryStatusJob(services, clock=clock).run_once()

    assert (done["delivered"], done["undelivered"], done["expired"]) == (2, 2, 1)
    events = updated_events(services)
    with services.db.read() as session:
        expected = {m.id: message_view(m) for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    assert [e["id"] for e in events] == ids
    for event in events:
        shown = {k: v for k, v in event.items() if not k.startswith("_")}
        assert shown == expected[event["id"]], event["id"]
    assert [(e["_text"], e["_level"]) for e in events] == [
        ("Delivered to ann0@example.org", "success"),
        ("Delivered to ann1@example.org", "success"),
        ("Not delivered to ann2@example.org: 30003", "error"),
        ("Not delivered to ann3@example.org: Mailbox full", "error"),
        (f"No delivery report for ann4@example.org after {MAX_DELIVERY_CHECKS} checks", "warning"),
    ]
    assert events[4]["delivery"] == "expired" and events[0]["metadata"]["communication_id"] is not None
