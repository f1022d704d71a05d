"""Helpers and fixtures for campaign tests: configure SMTP in the store, add contacts, queue a campaign's messages
in bulk, wait for a campaign's end, a plain SMTP server, the account that uses it, and the running background
parts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from backend.accounts import get_or_create_account
from backend.channels.smtp.channel import SmtpChannel
from backend.runtime import Runtime
from backend.store.models import Campaign, ChannelConfig, Contact, Event, Message, utcnow
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for


def configure_smtp(services: Any, settings: dict[str, Any], account: str = "default") -> int:
    """Store SMTP settings (password encrypted) as the channels API would; returns the account id."""
    plain, secrets = SmtpChannel.validate_settings(settings)
    with services.db.write() as session:
        account_id = get_or_create_account(session, account).id
        session.add(ChannelConfig(account_id=account_id, channel="smtp", settings=plain, state="ready"))
        services.secrets.save(session, account_id, "smtp", secrets)
    services.channels.forget(account_id, "smtp")
    return account_id


def add_contacts(services: Any, account_id: int, n: int, *, start: int = 0, **fields: Any) -> None:
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "name": f"Person {i}",
            "email": f"person{i}@example.org",
            "phone": None,
            "fields": {"city": f"City {i}", **fields},
            "opted_out": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(start, start + n)
    ]
    with services.db.write() as session:
        for begin in range(0, len(rows), 5000):
            session.execute(insert(Contact), rows[begin : begin + 5000])


def queue_campaign(
    services: Any, account_id: int, n: int, *, status: str = "running", at: datetime | None = None
) -> int:
    """A campaign of the account's SMTP channel with `n` queued messages (to person0@example.org ...), due at
    `at` (a second ago by default), written in bulk; returns its id."""
    due = at or utcnow() - timedelta(seconds=1)
    with services.db.write() as session:
        campaign = Campaign(account_id=account_id, name=status, channel="smtp", body="hi", status=status, total=n)
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
        for begin in range(0, n, 20000):
            session.execute(
                insert(Message),
                [
                    {
                        "account_id": account_id,
                        "channel": "smtp",
                        "recipient": f"person{i}@example.org",
                        "subject": "s",
                        "body": "hi",
                        "sender_type": "campaign",
                        "sender_id": str(campaign_id),
                        "campaign_id": campaign_id,
                        "status": "queued",
                        "next_attempt_at": due,
                        "meta": {},
                    }
                    for i in range(begin, min(n, begin + 20000))
                ],
            )
    return campaign_id


def event_texts(services: Any, account_id: int, type_: str) -> list[str]:
    with services.db.read() as session:
        return list(
            session.scalars(
                select(Event.text).where(Event.account_id == account_id, Event.type == type_).order_by(Event.id)
            )
        )


def wait_status(client: Any, auth: dict[str, str], campaign_id: int, status: str, timeout: float = 30) -> dict:
    def check() -> dict | None:
        view = client.get(f"/api/campaigns/{campaign_id}", headers=auth).get_json()
        return view if view["status"] == status else None

    return wait_for(check, timeout=timeout, interval=0.1, what=f"campaign {campaign_id} to be {status}")


# -- fixtures (registered in tests/conftest.py); a module may override `smtp` with another kind of server ------


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    """A plain aiosmtpd server on loopback that records what arrives."""
    with FakeSmtpServer("plain") as server:
        yield server


@pytest.fixture
def account(services: Any, smtp: FakeSmtpServer) -> int:
    """The default account, with the SMTP channel pointed at `smtp`."""
    return configure_smtp(services, smtp.settings())


@pytest.fixture
def running(app: Any, services: Any) -> Iterator[Runtime]:
    """The app with its background parts (dispatchers, campaign job) running."""
    runtime = Runtime(app)
    runtime.start()
    yield runtime
    runtime.stop()
