"""Helpers for the timing tests (issue 24): an SMS channel at the Twilio-speaking server, contacts with phones and
time zones, campaigns created and started through the API, and a clock the tests set by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from backend.accounts import get_or_create_account
from backend.channels.sms.channel import SmsChannel
from backend.store.models import ChannelConfig, Contact, utcnow
from tests.fakes.twilio import FakeTwilio


@dataclass
class Clock:
    """The app's clock (`services.clock`), moved by hand."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def configure_sms(services: Any, twilio: FakeTwilio, account: str = "default", **changes: Any) -> int:
    """Store SMS settings pointing at `twilio` as the channels API would; returns the account id."""
    plain, secrets = SmsChannel.validate_settings(twilio.settings(**changes))
    with services.db.write() as session:
        account_id = get_or_create_account(session, account).id
        session.add(ChannelConfig(account_id=account_id, channel="sms", settings=plain, state="ready"))
        services.secrets.save(session, account_id, "sms", secrets)
    services.channels.forget(account_id, "sms")
    return account_id


def add_people(services: Any, account_id: int, people: list[dict[str, Any]]) -> None:
    """Contacts from dicts holding `phone`, and optionally `email`, `name`, `timezone`."""
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "name": p.get("name", f"Person {i}"),
            "phone": p.get("phone"),
            "email": p.get("email"),
            "fields": {},
            "timezone": p.get("timezone"),
            "created_at": now,
            "updated_at": now,
        }
        for i, p in enumerate(people)
    ]
    with services.db.write() as session:
        session.execute(insert(Contact), rows)


def phones(n: int, prefix: str = "+1415252") -> list[dict[str, Any]]:
    """`n` valid US numbers (San Francisco: one zone, America/Los_Angeles)."""
    return [{"phone": f"{prefix}{i:04d}"} for i in range(n)]


def create_campaign(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"name": "Timed", "channel": "sms", "body": "Hi {{ name }}", "recipients": {"all": True}}
    payload.update(body)
    answer = client.post("/api/campaigns", json=payload, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def start_campaign(client: Any, auth: dict[str, str], campaign_id: int) -> dict[str, Any]:
    answer = client.post(f"/api/campaigns/{campaign_id}/start", headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())
