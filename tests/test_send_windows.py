"""Quiet hours (DESIGN section 16, issue 24 items 2, 3 and 6): send windows in real time zones (zoneinfo with
tzdata), each recipient's zone, messages that wait outside their window without using an attempt, and the 400s
for windows that cannot be kept. "Now" is the app's clock (`services.clock`), never a sleep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend.campaigns.waiting import send_window_reason
from backend.campaigns.windows import SendWindow, local_instant
from backend.campaigns.zones import phone_zone, recipient_zone
from backend.dispatch.claims import claim_next
from backend.store.models import Message
from tests.campaign_helpers import wait_status
from tests.fakes.twilio import FakeTwilio
from tests.helpers import wait_for
from tests.timing_support import Clock, add_people, configure_sms, create_campaign, phones, start_campaign

NEW_YORK, KOLKATA, ADELAIDE = ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Adelaide")


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


# -- the window itself ------------------------------------------------------------------------------------------


def test_it_keeps_a_window_that_crosses_midnight_open_until_the_next_morning():
    night = SendWindow.parse({"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": "America/New_York"})
    assert night.is_open(at(NEW_YORK, 2027, 1, 8, 23, 30), NEW_YORK)  # Friday night
    assert night.is_open(at(NEW_YORK, 2027, 1, 9, 5, 59), NEW_YORK)  # Saturday early: Friday's window
    assert not night.is_open(at(NEW_YORK, 2027, 1, 9, 6, 0), NEW_YORK)
    assert not night.is_open(at(NEW_YORK, 2027, 1, 9, 23, 0), NEW_YORK)  # Saturday night: not a window day
    assert night.next_opening(at(NEW_YORK, 2027, 1, 9, 12, 0), NEW_YORK) == at(NEW_YORK, 2027, 1, 15, 22, 0)


def test_it_moves_a_start_inside_a_dst_gap_forward_to_when_the_clocks_jump():
    # 2027-03-14: New York's clocks jump from 02:00 EST to 03:00 EDT (07:00 UTC); 02:30 does not exist that day.
    assert local_instant(date(2027, 3, 14), time(2, 30), NEW_YORK) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    window = SendWindow.parse({"days": ["sun"], "start": "02:30", "end": "04:00", "timezone": "America/New_York"})
    opens = window.next_opening(datetime(2027, 3, 14, 5, 0, tzinfo=UTC), NEW_YORK)
    assert opens == datetime(2027, 3, 14, 7, 0, tzinfo=UTC) and opens.astimezone(NEW_YORK).hour == 3
    assert window.is_open(datetime(2027, 3, 14, 7, 30, tzinfo=UTC), NEW_YORK)


def test_it_reads_windows_in_zones_with_half_hour_offsets():
    window = SendWindow.parse({"days": ["mon", "tue"], "start": "09:00", "end": "17:00", "timezone": "recipient"})
    # Kolkata is UTC+05:30: 09:00 there is 03:30 UTC; Adelaide in January (DST) is UTC+10:30: 09:00 is 22:30 UTC.
    assert window.next_opening(datetime(2027, 1, 4, 0, 0, tzinfo=UTC), KOLKATA) == datetime(
        2027, 1, 4, 3, 30, tzinfo=UTC
    )
    assert window.next_opening(datetime(2027, 1, 3, 12, 0, tzinfo=UTC), ADELAIDE) == datetime(
        2027, 1, 3, 22, 30, tzinfo=UTC
    )
    assert not window.is_open(datetime(2027, 1, 4, 3, 29, tzinfo=UTC), KOLKATA)
    assert window.is_open(datetime(2027, 1, 4, 3, 30, tzinfo=UTC), KOLKATA)


def test_it_finds_each_recipients_zone_from_contact_phone_or_default():
    assert recipient_zone("Asia/Kolkata", "+12125550123", None) == ("Asia/Kolkata", "from_contact")
    assert recipient_zone(None, "+12125550123", None) == ("America/New_York", "from_phone")
    # +7 916 (Russian mobiles) spans 16 zones with different offsets; +1 800 is toll-free, all of North America.
    assert phone_zone("+79161234567") is None and phone_zone("+18005550123") is None
    assert recipient_zone(None, "+79161234567", "Europe/Moscow") == ("Europe/Moscow", "default")
    assert recipient_zone(None, "+123", None) == (None, "unknown")


# -- bad input --------------------------------------------------------------------------------------------------


def problems_of(answer) -> dict[str, str]:
    assert answer.status_code == 400, answer.get_json()
    return {d["field"]: d["reason"] for d in answer.get_json()["details"]}


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "Mars/Olympus_Mons"}, "send_window.timezone"),
        ({"days": ["mon"], "start": "09:00", "end": "09:00", "timezone": "UTC"}, "send_window.end"),
        ({"days": ["monday", "funday"], "start": "09:00", "end": "17:00", "timezone": "UTC"}, "send_window.days"),
        ({"days": [], "start": "09:00", "end": "17:00", "timezone": "UTC"}, "send_window.days"),
        ({"days": ["mon"], "start": "9am", "end": "17:00", "timezone": "UTC"}, "send_window.start"),
    ],
)
def test_it_refuses_a_window_that_cannot_be_kept_naming_the_field(client, auth, services, twilio, window, field):
    account = configure_sms(services, twilio)
    add_people(services, account, phones(1))
    answer = client.post(
        "/api/campaigns",
        json={"name": "W", "channel": "sms", "body": "Hi", "recipients": {"all": True}, "send_window": window},
        headers=auth,
    )
    assert field in problems_of(answer)


def test_it_refuses_a_recipient_window_when_zones_are_unknown_and_says_how_many(client, auth, services, twilio):
    account = configure_sms(services, twilio)
    add_people(services, account, [{"phone": "+79161234567"}, {"phone": "+79161234568"}, *phones(1)])
    window = {"days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "recipient"}
    body = {"name": "W", "channel": "sms", "body": "Hi", "recipients": {"all": True}, "send_window": window}
    answer = client.post("/api/campaigns", json=body, headers=auth)
    assert "2 recipients have no known time zone" in problems_of(answer)["send_window.timezone"]
    assert client.put("/api/settings", json={"default_timezone": "Europe/Moscow"}, headers=auth).status_code == 200
    assert client.post("/api/campaigns", json=body, headers=auth).status_code == 201


def test_it_refuses_an_unknown_time_zone_for_a_contact_and_the_default(client, auth):
    answer = client.post("/api/contacts", json={"phone": "+12125550123", "timezone": "Europe/Atlantis"}, headers=auth)
    assert "timezone" in problems_of(answer)
    assert "default_timezone" in problems_of(
        client.put("/api/settings", json={"default_timezone": "Nowhere"}, headers=auth)
    )
    saved = client.post("/api/contacts", json={"phone": "+12125550123", "timezone": "Asia/Kolkata"}, headers=auth)
    assert saved.status_code == 201 and saved.get_json()["timezone"] == "Asia/Kolkata"


def test_it_imports_a_time_zone_column_and_reports_an_unknown_zone_on_its_row(client, auth):
    csv = "name,phone,time zone\nAna,+12125550123,Asia/Kolkata\nBo,+12125550124,Moon/Base\n"
    answer = client.post(
        "/api/contacts/import", data={"file": (__import__("io").BytesIO(csv.encode()), "people.csv")}, headers=auth
    )
    result = answer.get_json()
    assert answer.status_code == 200 and result["imported"] == 2, result
    notes = result.get("warnings", []) + result["errors"]
    assert any(n["row"] == 3 and n["column"] == "time zone" and "time zone" in n["reason"] for n in notes), notes
    people = {c["name"]: c["timezone"] for c in client.get("/api/contacts", headers=auth).get_json()["items"]}
    assert people == {"Ana": "Asia/Kolkata", "Bo": None}


# -- waiting for the window -------------------------------------------------------------------------------------


def kolkata_window(now: datetime, opens_in_h: float, hours: float = 2) -> dict[str, object]:
    local = now.astimezone(KOLKATA) + timedelta(hours=opens_in_h)
    end = local + timedelta(hours=hours)
    day = local.strftime("%a").lower()
    days = sorted({day, (local - timedelta(days=1)).strftime("%a").lower()})
    return {"days": days, "start": local.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": "recipient"}


def test_it_keeps_messages_queued_until_their_window_opens_without_using_an_attempt(client, auth, services, twilio):
    clock = services.clock = Clock(datetime(2027, 1, 4, 0, 0, tzinfo=UTC))  # 05:30 in Kolkata, a Monday
    account = configure_sms(services, twilio)
    add_people(services, account, [{"phone": p["phone"], "timezone": "Asia/Kolkata"} for p in phones(3)])
    window = {"days": ["mon"], "start": "09:00", "end": "17:00", "timezone": "recipient"}
    campaign = create_campaign(client, auth, send_window=window)
    start_campaign(client, auth, campaign["id"])
    with services.db.read() as session:
        rows = session.execute(select(Message.status, Message.attempts, Message.next_attempt_at)).all()
    assert rows == [("queued", 0, datetime(2027, 1, 4, 3, 30, tzinfo=UTC))] * 3
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    assert view["quiet_hours"]["text"] == "Quiet hours: 3 messages wait for 09:00 in their time zone"
    assert view["status_reason"] == "Waiting for the send window (Mon 09:00-17:00, each recipient's time zone)"
    listed = client.get("/api/campaigns", headers=auth).get_json()["items"]
    assert listed[0]["status_reason"] == view["status_reason"]
    clock.now = datetime(2027, 1, 4, 4, 0, tzinfo=UTC)  # 09:30 in Kolkata: open
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    assert view["quiet_hours"] is None and view["status_reason"] is None


def test_a_waiting_reason_names_the_window_in_words():
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    madrid = {"days": weekdays, "start": "09:00", "end": "17:00", "timezone": "Europe/Madrid"}
    assert send_window_reason(madrid) == "Waiting for the send window (Mon-Fri 09:00-17:00, Europe/Madrid)"
    odd = {"days": ["sun", "mon", "wed", "sat"], "start": "22:00", "end": "06:30", "timezone": "UTC"}
    assert send_window_reason(odd) == "Waiting for the send window (Mon, Wed, Sat-Sun 22:00-06:30, UTC)"
    every = {"start": "08:00", "end": "20:00", "timezone": "recipient"}
    assert send_window_reason(every) == (
        "Waiting for the send window (every day 08:00-20:00, each recipient's time zone)"
    )


def test_it_puts_a_claimed_message_back_when_its_window_has_closed(client, auth, services, twilio):
    account = configure_sms(services, twilio)
    add_people(services, account, [{"phone": p["phone"], "timezone": "Asia/Kolkata"} for p in phones(2)])
    real_now = datetime.now(UTC)
    campaign = create_campaign(client, auth, send_window=kolkata_window(real_now, -0.5))  # open for 1.5 h more
    start_campaign(client, auth, campaign["id"])
    services.clock = Clock(real_now + timedelta(hours=3))  # the window has closed since the messages were queued
    with services.db.write() as session:
        claimed = claim_next(
            session,
            account_id=account,
            channel="sms",
            owner="test",
            now=real_now + timedelta(seconds=1),
            lease_s=60,
            limit=5,
        )
        assert len(claimed) == 2
        kept = services.hooks.trim_batch(session, claimed)
    assert kept == []
    with services.db.read() as session:
        rows = session.execute(select(Message.status, Message.attempts, Message.next_attempt_at)).all()
    assert all(
        status == "queued" and attempts == 0 and due > real_now + timedelta(hours=20) for status, attempts, due in rows
    ), rows


def test_it_sends_inside_the_window_with_a_validity_period_that_ends_with_it(client, auth, services, twilio, running):
    account = configure_sms(services, twilio)
    add_people(services, account, [{"phone": p["phone"], "timezone": "Asia/Kolkata"} for p in phones(2)])
    now = datetime.now(UTC)
    campaign = create_campaign(client, auth, send_window=kolkata_window(now, -0.5))  # closes in 1.5 h
    start_campaign(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    periods = [int(p.form["ValidityPeriod"]) for p in twilio.posts()]
    assert len(periods) == 2 and all(5000 <= p <= 5400 for p in periods), periods


def test_it_puts_a_message_back_when_its_window_closes_while_it_waits_to_be_sent(
    client, auth, services, twilio, running
):
    # One send at a time, the first held at the provider: the second is claimed (inside its window) and waits in
    # the dispatcher while the app's clock passes the window's end. Checked again right before it goes, it waits
    # for the next opening without using an attempt.
    clock = services.clock = Clock(datetime(2027, 1, 4, 11, 0, tzinfo=UTC))  # Monday 16:30 in Kolkata
    account = configure_sms(services, twilio, concurrency=1)
    add_people(services, account, [{"phone": p["phone"], "timezone": "Asia/Kolkata"} for p in phones(2)])
    held, create = threading.Event(), twilio._create
    twilio._create = lambda form: held.wait(30) and create(form)  # type: ignore[method-assign]
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "recipient"}
    campaign = create_campaign(client, auth, send_window=window)
    start_campaign(client, auth, campaign["id"])

    def statuses() -> list[tuple[str, int]]:
        with services.db.read() as session:
            return [tuple(r) for r in session.execute(select(Message.status, Message.attempts).order_by(Message.id))]

    wait_for(
        lambda: statuses() == [("sending", 1)] * 2 and len(twilio.posts()) == 1,
        timeout=30,
        what="both claimed, one out",
    )
    clock.now = datetime(2027, 1, 4, 11, 45, tzinfo=UTC)  # 17:15 in Kolkata: closed until Tuesday 09:00
    held.set()
    wait_for(lambda: sorted(statuses()) == [("queued", 0), ("sent", 1)], timeout=30, what="the second put back")
    with services.db.read() as session:
        due = session.scalars(select(Message.next_attempt_at).where(Message.status == "queued")).one()
    assert due == datetime(2027, 1, 5, 3, 30, tzinfo=UTC)
    assert len(twilio.posts()) == 1
    assert twilio.posts()[0].form["ValidityPeriod"] == "1800"  # counted right before it went: 16:30 to 17:00


def test_it_lets_a_one_to_one_reply_through_during_quiet_hours(client, auth, services, twilio, running):
    configure_sms(services, twilio)
    add_people(services, 1, [{"phone": p["phone"], "timezone": "Asia/Kolkata"} for p in phones(2)])
    now = datetime.now(UTC)
    campaign = create_campaign(client, auth, send_window=kolkata_window(now, 3))  # closed for 3 more hours
    start_campaign(client, auth, campaign["id"])
    reply = {"source": "sms", "to": phones(1)[0]["phone"], "body": "Your parcel is at the door"}
    answer = client.post("/api/conversations/support-7/messages", json=reply, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    wait_for(lambda: len(twilio.created()) >= 1, what="the reply")
    assert [m["body"] for m in twilio.created()] == ["Your parcel is at the door"]
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    assert view["counts"]["queued"] == 2 and view["quiet_hours"]["waiting"] == 2
