"""The send plan (DESIGN section 16, issue 24 item 4): day by day, when a campaign finishes, and what holds it
back (window, daily cap shared with the channel's other running campaigns, pace), on the app's clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from backend.store.models import Account, Campaign, ChannelConfig, Contact
from tests.fakes.twilio import FakeTwilio
from tests.timing_support import Clock, add_people, configure_sms, create_campaign

MONDAY_0930_KOLKATA = datetime(2027, 1, 4, 4, 0, tzinfo=UTC)
WEEKDAYS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "20:00", "timezone": "recipient"}


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def kolkata_people(n: int) -> list[dict[str, str]]:
    return [{"phone": f"+9198765{i:05d}", "timezone": "Asia/Kolkata"} for i in range(n)]


def test_it_plans_what_the_daily_cap_leaves_for_tomorrow_from_the_window(client, auth, services, twilio):
    services.clock = Clock(MONDAY_0930_KOLKATA)
    account = configure_sms(services, twilio)
    add_people(services, account, kolkata_people(52))
    body = {"rate": {"per_minute": 6000, "daily_cap": 40}, "send_window": WEEKDAYS}
    campaign = create_campaign(client, auth, **body)
    plan = client.get(f"/api/campaigns/{campaign['id']}/plan?tz=Asia/Kolkata", headers=auth).get_json()
    assert [(d["date"], d["count"]) for d in plan["days"]] == [("2027-01-04", 40), ("2027-01-05", 12)]
    assert plan["days"][1]["from"] == "2027-01-05T09:30:00+05:30"  # 24 hours after the first day's sends
    assert plan["held_by"] == ["daily_cap"] and plan["finish_at"].startswith("2027-01-05T04:00")
    assert plan["timezones"] == {"from_contact": 52, "from_phone": 0, "default": 0}
    draft = {"name": "D", "channel": "sms", "body": "Hi", "recipients": {"all": True}, **body}
    same = client.post("/api/campaigns/plan?tz=Asia/Kolkata", json=draft, headers=auth).get_json()
    assert same["days"] == plan["days"] and same["timezones"] == plan["timezones"]


def test_it_plans_the_night_out_and_names_the_window(client, auth, services, twilio):
    services.clock = Clock(datetime(2027, 1, 4, 16, 0, tzinfo=UTC))  # 21:30 in Kolkata: closed until 09:00
    account = configure_sms(services, twilio)
    add_people(services, account, [*kolkata_people(3), {"phone": "+12125550123"}])  # New York: 11:00, open
    campaign = create_campaign(client, auth, rate={"per_minute": 60}, send_window=WEEKDAYS)
    plan = client.get(f"/api/campaigns/{campaign['id']}/plan?tz=UTC", headers=auth).get_json()
    assert [(d["date"], d["count"]) for d in plan["days"]] == [("2027-01-04", 1), ("2027-01-05", 3)]
    assert plan["days"][1]["from"] == "2027-01-05T03:30:00+00:00"  # 09:00 in Kolkata
    assert plan["held_by"] == ["window"]
    assert plan["timezones"] == {"from_contact": 3, "from_phone": 1, "default": 0}


def test_it_shares_the_channels_daily_cap_with_its_other_running_campaigns(client, auth, services, twilio):
    services.clock = Clock(MONDAY_0930_KOLKATA)
    account = configure_sms(services, twilio)
    with services.db.write() as session:
        row = session.query(ChannelConfig).filter_by(account_id=account, channel="sms").one()
        row.settings = {**row.settings, "daily_cap": 60}
    add_people(services, account, kolkata_people(50))
    other = create_campaign(client, auth, name="Other")
    with services.db.write() as session:
        session.execute(update(Campaign).where(Campaign.id == other["id"]).values(status="running"))
    campaign = create_campaign(client, auth, rate={"per_minute": 6000})
    plan = client.get(f"/api/campaigns/{campaign['id']}/plan?tz=Asia/Kolkata", headers=auth).get_json()
    assert [d["count"] for d in plan["days"]] == [30, 20]  # half of 60 a day each
    assert "daily_cap" in plan["held_by"]


def test_it_plans_a_draft_as_its_campaign_would_be_planned(client, auth, services, twilio):
    # Zones from the contact, the phone (New York) and the account's default (a +7 number spans many offsets),
    # and the contacts creation leaves out: one opted out of SMS, one with no phone.
    services.clock = Clock(datetime(2027, 1, 4, 16, 0, tzinfo=UTC))
    account = configure_sms(services, twilio)
    with services.db.write() as session:
        owner = session.get(Account, account)
        owner.settings = {**(owner.settings or {}), "default_timezone": "Europe/Moscow"}
    people = [*kolkata_people(3), {"phone": "+12125550123"}, {"phone": "+79161234567"}, {"email": "a@example.com"}]
    add_people(services, account, [*people, {"phone": "+12125550124", "timezone": "Asia/Kolkata"}])
    with services.db.write() as session:
        session.execute(
            update(Contact).where(Contact.phone == "+12125550124").values(opt_outs={"sms": {"why": "STOP"}})
        )
        session.execute(update(Contact).where(Contact.phone == "+12125550123").values(opt_outs=None))  # none at all
    body = {"rate": {"per_minute": 60}, "send_window": WEEKDAYS}
    campaign = create_campaign(client, auth, **body)
    plan = client.get(f"/api/campaigns/{campaign['id']}/plan?tz=UTC", headers=auth).get_json()
    draft = {"name": "D", "channel": "sms", "body": "Hi", "recipients": {"all": True}, **body}
    same = client.post("/api/campaigns/plan?tz=UTC", json=draft, headers=auth).get_json()
    assert plan["timezones"] == {"from_contact": 3, "from_phone": 1, "default": 1}
    assert same["timezones"] == plan["timezones"] and same["days"] == plan["days"]
    assert sum(d["count"] for d in same["days"]) == 5
