"""Campaigns sent over SMTP to a real aiosmtpd server, through the API and the real dispatcher."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from backend.store.models import Event
from tests.campaign_helpers import add_contacts, configure_smtp, event_texts, wait_status
from tests.fakes.smtp_server import FakeSmtpServer

ALL = {"all": True}


@pytest.fixture
def smtp() -> Any:
    with FakeSmtpServer("starttls", auth=("mailer", "s3cret")) as server:
        yield server


def create(client, auth, **changes) -> dict:
    body = {
        "name": "November news",
        "channel": "smtp",
        "subject": "News for {{ first_name }}",
        "body": "Hello {{ name }},\nsee you in {{ fields.city }}.",
        "recipients": {"all": True},
    }
    body.update(changes)
    response = client.post("/api/campaigns", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_it_sends_a_campaign_and_says_so_in_the_original_words(client, auth, services, smtp, running):
    account_id = configure_smtp(services, smtp.settings())
    add_contacts(services, account_id, 20)
    campaign = create(client, auth)
    assert campaign["status"] == "draft" and campaign["counts"]["total"] == 20

    started = client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth)
    assert started.status_code == 200, started.get_json()
    done = wait_status(client, auth, campaign["id"], "completed")

    assert done["counts"] | {"total": 20} == {
        "total": 20,
        "queued": 0,
        "sending": 0,
        "sent": 20,
        "failed": 0,
        "uncertain": 0,
        "delivered": 0,
        "undelivered": 0,
        "untracked": 20,  # a plain SMTP server reports no delivery: accepted, and that is all we will know
        "fallback_sent": 0,
    }
    assert sorted(smtp.arrivals().values()) == [1] * 20
    mail = next(r.message for r in smtp.received if r.rcpt_tos == ["person3@example.org"])
    assert str(mail["Subject"]) == "News for Person"
    assert "Hello Person 3,\r\nsee you in City 3." in mail.get_body(("plain",)).get_content()
    assert mail["List-Unsubscribe"].startswith("<mailto:news@example.com")
    statuses = event_texts(services, account_id, "campaign.status")
    assert statuses[0] == "Sending messages to 20 contacts..."
    assert statuses[-1] == "Mass messaging complete. Sent: 20, Failed: 0"
    assert "Sent to person3@example.org" in event_texts(services, account_id, "send.progress")
    # The log reads in order: the campaign's last "Sent to" comes before its summary.
    with services.db.read() as session:
        log = session.execute(select(Event.type, Event.text).where(Event.account_id == account_id).order_by(Event.id))
        types = [t for t, _ in log if t in ("send.progress", "campaign.status")]
    assert types[-1] == "campaign.status" and types[-2] == "send.progress"


def test_it_refuses_a_campaign_whose_placeholder_is_missing_for_a_recipient(client, auth, services, smtp):
    account_id = configure_smtp(services, smtp.settings())
    add_contacts(services, account_id, 3)
    client.post("/api/contacts", json={"name": "Nomad", "email": "nomad@example.org"}, headers=auth)
    response = client.post(
        "/api/campaigns",
        json={"name": "x", "channel": "smtp", "subject": "Hi", "body": "{{ fields.city }}", "recipients": ALL},
        headers=auth,
    )
    assert response.status_code == 400
    error = response.get_json()
    assert "{{ fields.city }}" in error["message"] and "Nomad" in error["message"]
    assert [(d["recipient"], d["placeholder"]) for d in error["details"]] == [("nomad@example.org", "fields.city")]
    assert client.get("/api/campaigns", headers=auth).get_json()["total"] == 0
