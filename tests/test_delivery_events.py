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


def test_it_shows_the_whole_message_of_a_bulk_event_to_every_reader_of_the_log(
    database_url: str, make_config: Any
) -> None:
    """A bulk event stores a reference; `GET /api/events` and an outgoing webhook both carry the message whole."""
    from backend.events.hub import envelope
    from backend.store.models import Event
    from backend.webhooks_out import payloads
    from tests.helpers import bearer

    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    auth = bearer(services.account_token())
    clock = Clock()
    [message_id] = add_sent(services, 1, at=clock.now - timedelta(seconds=1))
    add_report(services, message_id, "delivered")
    DeliveryStatusJob(services, clock=clock).run_once()

    with services.db.read() as session:
        [stored] = session.scalars(select(Event).where(Event.type == "message.updated")).all()
        expected = message_view(session.get(Message, message_id))
        hooked = payloads.event_data(stored, payloads.messages_for(session, [stored]))
    # What the sweep wrote: the message's id and the outcome it announces (tens of bytes, not 650); SQLite's JSON
    # has no booleans.
    assert set(stored.data) == {"message_id", "delivered", "expired"} and stored.data["message_id"] == message_id
    assert stored.data["delivered"] in (True, 1) and stored.data["expired"] in (False, 0)
    assert envelope(stored)["data"] == stored.data  # without the page's views: left as it is
    assert hooked == {"message": expected}
    listed = app.test_client().get("/api/events", headers=auth).get_json()["items"]
    [shown] = [e for e in listed if e["type"] == "message.updated"]
    assert shown["data"] == {"message": expected} and shown["text"] == "Delivered to ann0@example.org"
    services.db.dispose()
