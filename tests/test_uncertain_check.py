"""Uncertain sends checked against the provider (DESIGN section 6.8, issue 13 item 4).

The SMS channel asks the Twilio-speaking fake's Message list (by `To` and `DateSent`, the documented shape:
see tests/fakes/twilio/): a message Twilio has becomes `sent` with its SID; one Twilio never got is marked
safe to send again and the page says so; the export no longer says "pending" for either. Real HTTP, real
Chromium; the uncertain rows are those the recovery sweep leaves after a crash mid-send."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import insert, select

import backend.channels.sms.channel as sms_module
from backend.accounts import get_or_create_account
from backend.channels.base import ChannelContext, OutboundMessage, SendError
from backend.channels.sms.channel import SmsChannel
from backend.store.models import Campaign, Message, utcnow
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer
from tests.ui_support import chromium, go, wait_js

pytestmark = pytest.mark.browser

BODY = "Your table is ready"


def _channel(fake: FakeTwilio, tmp_path: Path, **options: Any) -> SmsChannel:
    settings, secrets = SmsChannel.validate_settings(fake.settings())
    return SmsChannel(settings, secrets, ChannelContext(account_id=1, data_dir=tmp_path, options=options))


def test_it_finds_what_twilio_got_and_knows_what_it_never_got(tmp_path: Path) -> None:
    with FakeTwilio() as fake:
        channel = _channel(fake, tmp_path, sms_read_timeout_s=0.3)
        since = utcnow() - timedelta(minutes=1)
        # The answer was lost after Twilio stored the message ("slow"), or the request never got there ("lost").
        fake.fail("+15551230001", "slow", delay_s=1.0, times=1)
        fake.fail("+15551230002", "lost", delay_s=1.0, times=1)
        for number in ("+15551230001", "+15551230002"):
            with pytest.raises(SendError) as error:
                channel.send(OutboundMessage(id=1, account_id=1, channel="sms", recipient=number, body=BODY))
            assert error.value.uncertain

        found = channel.find_sent("+15551230001", BODY, since)
        assert found is not None and found.sid == fake.created()[0]["sid"] and found.sent_at is not None
        absent = channel.find_sent("+15551230002", BODY, since)
        assert absent is not None and absent.sid is None
        # Another text to the same number is not ours; neither is one from before the send.
        assert channel.find_sent("+15551230001", "Something else", since).sid is None  # type: ignore[union-attr]
        later = channel.find_sent("+15551230001", BODY, utcnow() + timedelta(minutes=1))
        assert later is not None and later.sid is None
        lookups = [r for r in fake.received if r.method == "GET" and r.path.endswith("/Messages.json")]
        assert lookups, "asked through the list resource"


def test_it_reads_every_page_before_saying_absent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sms_module, "LOOKUP_PAGE_SIZE", 1)
    with FakeTwilio() as fake:
        channel = _channel(fake, tmp_path)
        sid = fake.add_message("+15551230003", BODY, None)
        for i in range(3):  # newer messages to the same number push ours to the last page
            fake.add_message("+15551230003", f"later {i}", None)
        found = channel.find_sent("+15551230003", BODY, utcnow() - timedelta(minutes=1))
        assert found is not None and found.sid == sid
        # Twilio unreachable (nothing listens on its port any more): no answer at all, never "absent"
        gone = _channel(fake, tmp_path)
    assert gone.find_sent("+15551230003", BODY, utcnow()) is None


def _uncertain_campaign(services: Any, numbers: list[str]) -> tuple[int, list[int]]:
    """A completed SMS campaign whose messages are `uncertain`, as the recovery sweep leaves them."""
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
        campaign = Campaign(account_id=account_id, name="Tables", channel="sms", body=BODY, status="completed",
                            total=len(numbers))  # fmt: skip
        session.add(campaign)
        session.flush()
        now = utcnow()
        rows = [
            {"account_id": account_id, "channel": "sms", "recipient": n, "body": BODY, "sender_type": "campaign",
             "sender_id": str(campaign.id), "campaign_id": campaign.id, "status": "uncertain", "attempts": 1,
             "last_error": "the app stopped while sending", "meta": {}, "created_at": now, "updated_at": now}
            for n in numbers
        ]  # fmt: skip
        session.execute(insert(Message), rows)
        ids = list(session.scalars(select(Message.id).where(Message.campaign_id == campaign.id).order_by(Message.id)))
        return campaign.id, ids


def test_it_settles_uncertain_sms_with_twilio_and_says_which_are_safe_to_resend(start_server) -> None:
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    auth = bearer(server.token)
    with FakeTwilio() as fake:
        assert requests.put(f"{server.url}/api/channels/sms", json=fake.settings(), headers=auth, timeout=10).ok
        sid = fake.add_message("+15551230011", BODY, None)  # Twilio got this one; the app never heard back
        campaign_id, (got, never) = _uncertain_campaign(services, ["+15551230011", "+15551230012"])
        job = services.uncertain_check
        job.first_check_after_s = 0
        job.absent_after_s = 3600  # a fresh miss is looked at again, not yet called absent
        assert job.run_once() == {"checked": 2, "found": 1, "absent": 0, "unknown": 0, "later": 1}
        job.absent_after_s = 0  # ... and once the send is old enough, it is
        with services.db.write() as session:
            session.get(Message, never).reconcile_next_at = utcnow()  # type: ignore[union-attr]
        assert job.run_once()["absent"] == 1

        found = requests.get(f"{server.url}/api/messages/{got}", headers=auth, timeout=10).json()
        assert (found["status"], found["provider_message_id"], found["reconcile_state"]) == ("sent", sid, "found")
        missing = requests.get(f"{server.url}/api/messages/{never}", headers=auth, timeout=10).json()
        assert (missing["status"], missing["reconcile_state"]) == ("uncertain", "absent")
        campaign = requests.get(f"{server.url}/api/campaigns/{campaign_id}", headers=auth, timeout=10).json()
        assert (campaign["counts"]["sent"], campaign["counts"]["uncertain"]) == (1, 1)
        export = requests.get(f"{server.url}/api/campaigns/{campaign_id}/export.csv", headers=auth, timeout=10).text
        lines = {line.split(",")[1]: line for line in export.splitlines()[1:]}
        assert ",sent,pending," in lines["'+15551230011"]  # sent after all: its delivery is now checked as usual
        assert ",uncertain,not received by the provider: safe to send again," in lines["'+15551230012"]
        assert job.run_once()["checked"] == 0, "settled messages are not asked about again"

        with chromium(1400, 900) as driver:
            driver.get(f"{server.url}/#token={server.token}")
            go(driver, f"campaigns/{campaign_id}")
            driver.find_element("css selector", "#tab-uncertain").click()
            note = wait_js(
                driver,
                "const n = document.querySelector('[data-list=uncertain] [data-note=safe-to-resend]');"
                "return n && n.closest('tr').innerText",
                10,
                "the safe-to-resend note",
            )
            assert "+15551230012" in note and "Not received by the provider: safe to send again." in note
