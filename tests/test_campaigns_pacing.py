"""Pacing a campaign (per minute, a random delay, a daily cap over a rolling 24 hours read from the store),
SendGrid's identifying header on relayed mail, and Gmail's daily limit resuming by itself."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from backend.campaigns.pacing import Pace
from backend.channels.base import ChannelContext, OutboundMessage
from backend.channels.smtp.channel import SmtpChannel, is_sendgrid_host
from backend.store.models import Campaign, Message, utcnow
from tests.campaign_helpers import add_contacts, event_texts, wait_status
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for


def create(client: Any, auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Paced",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    body.update(changes)
    answer = client.post("/api/campaigns", json=body, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def start(client: Any, auth: dict[str, str], campaign_id: int) -> None:
    answer = client.post(f"/api/campaigns/{campaign_id}/start", headers=auth)
    assert answer.status_code == 200, answer.get_json()


def gaps(smtp: FakeSmtpServer) -> list[float]:
    times = sorted(item.at for item in smtp.received)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_it_sends_no_faster_than_the_campaigns_per_minute(client, auth, services, smtp, account, running, monkeypatch):
    add_contacts(services, account, 4)
    campaign = create(client, auth, rate={"per_minute": 150})  # one every 0.4 s
    # Measured on the app's own clock, where the pace is kept: each claimed message takes a token of the
    # campaign's bucket. (Arrival times at the mail server also carry the machine's scheduling delays: under
    # load a send held up 2 s after its token lands right before the next one, which proves nothing either way.)
    pacer = services.hooks.pacer
    taken: list[float] = []
    keep_taking = pacer.take

    def take(campaign_id: int, pace: Any, n: int) -> None:
        taken.extend([time.monotonic()] * n)
        keep_taking(campaign_id, pace, n)

    monkeypatch.setattr(pacer, "take", take)
    start(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    assert smtp.count == 4 and len(taken) == 4, (smtp.count, taken)
    # A rate (a token bucket holding one message at this pace), not a gap after each send: no two together,
    # each token at least 0.4 s after the one before.
    between = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert min(between) >= 0.4 - 0.005, between


def test_it_waits_a_random_delay_between_min_and_max(client, auth, services, smtp, account, running, monkeypatch):
    add_contacts(services, account, 6)
    campaign = create(client, auth, rate={"min_delay_s": 0.1, "max_delay_s": 0.4})
    drawn: list[float] = []
    draw = Pace.gap_s

    def gap_s(pace: Pace) -> float:
        drawn.append(draw(pace))
        return drawn[-1]

    monkeypatch.setattr(Pace, "gap_s", gap_s)
    start(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    # The pause is drawn anew after each send, between min and max (random, not one fixed delay) ...
    assert drawn and all(0.1 <= gap <= 0.4 for gap in drawn) and max(drawn) - min(drawn) > 0.02, drawn
    # ... and kept: the next message reaches the server no sooner (a busy machine can only make it later).
    between = gaps(smtp)
    assert len(between) == 5 and all(gap >= 0.1 - 0.005 for gap in between), between


def test_it_keeps_the_daily_cap_over_the_last_24_hours_as_stored(client, auth, services, smtp, account, running):
    add_contacts(services, account, 6)
    campaign = create(client, auth, rate={"daily_cap": 4})
    with services.db.write() as session:  # an earlier run (before a restart): two inside the window, one outside
        ids = list(
            session.scalars(select(Message.id).where(Message.campaign_id == campaign["id"]).order_by(Message.id))
        )
        for message_id, hours_ago in zip(ids[:3], (23, 1, 25), strict=True):
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(status="sent", sent_at=utcnow() - timedelta(hours=hours_ago))
            )
    start(client, auth, campaign["id"])

    wait_for(lambda: smtp.count >= 2, timeout=20, what="the two messages the cap allows")
    wait_for(
        lambda: any(
            t.startswith("Daily cap of 4 messages reached") for t in event_texts(services, account, "campaign.status")
        ),
        what="the cap notice",
    )
    current = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    assert smtp.count == 2 and current["status"] == "running" and current["counts"]["queued"] == 1


def test_it_adds_sendgrids_identifying_header_when_relaying_through_sendgrid(smtp, tmp_path):
    assert is_sendgrid_host("smtp.sendgrid.net") and is_sendgrid_host("SMTP.SendGrid.NET.")
    assert not is_sendgrid_host("sendgrid.net.example.com") and not is_sendgrid_host("mail.example.com")
    plain, secrets = SmtpChannel.validate_settings(smtp.settings())
    channel = SmtpChannel(plain, secrets, ChannelContext(account_id=3, data_dir=tmp_path))
    message = OutboundMessage(id=41, account_id=3, channel="smtp", recipient="ana@example.org", body="Hi", subject="Hi")
    channel.send(message)
    channel.via_sendgrid = True  # what a `*.sendgrid.net` host sets; the fake listens on 127.0.0.1
    channel.send(OutboundMessage(**{**message.__dict__, "id": 42}))
    channel.close()
    plain_mail, relayed = (item.message for item in smtp.received)
    assert "X-SMTPAPI" not in plain_mail
    assert relayed["X-SMTPAPI"] == '{"unique_args":{"bulkmsg_account":"3","bulkmsg_message_id":"42"}}'


def test_it_resumes_a_campaign_paused_until_a_known_time_by_itself(client, auth, services, smtp, account, running):
    from backend.campaigns.hooks import CampaignHooks
    from backend.campaigns.jobs import resume_due
    from backend.dispatch.outcomes import Outcome

    add_contacts(services, account, 3)
    campaign = create(client, auth)
    start(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    # The shape Gmail's daily limit takes (SendError(pause_campaign=True, retry_after=...)), on a fresh campaign.
    second = create(client, auth, name="Later")
    with services.db.write() as session:
        session.execute(update(Campaign).where(Campaign.id == second["id"]).values(status="running"))
        hooks: CampaignHooks = services.hooks
        outcome = Outcome("queued", error="Gmail's daily sending limit was reached.", pause_campaign=True)
        outcome = Outcome(**{**outcome.__dict__, "resume_at": utcnow() + timedelta(hours=7)})
        hooks._settle(session, second["id"], outcome, 0, {}, False, hooks.channel_pace(account, "smtp"), False)
    paused = client.get(f"/api/campaigns/{second['id']}", headers=auth).get_json()
    assert paused["status"] == "paused" and "It resumes by itself at" in paused["status_reason"]
    assert paused["resume_at"] is not None
    assert resume_due(services) == 0  # not yet

    with services.db.write() as session:  # seven hours later
        session.execute(update(Campaign).where(Campaign.id == second["id"]).values(resume_at=utcnow()))
    done = wait_status(client, auth, second["id"], "completed", timeout=20)
    assert done["counts"]["sent"] == 3 and done["resume_at"] is None
    assert smtp.count == 6


def test_it_pauses_after_every_batch(client, auth, services, smtp, account, running):
    add_contacts(services, account, 5)
    campaign = create(client, auth, rate={"batch": {"size": 2, "pause_s": 1}})
    start(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    between = gaps(smtp)
    # 2, pause, 2, pause, 1: the pauses fall after the 2nd and the 4th message, and only there.
    assert between[1] >= 0.95 and between[3] >= 0.95, between
    assert between[0] < 0.9 and between[2] < 0.9, between


def test_it_refuses_a_batch_that_is_not_a_size_and_a_pause(client, auth, services, smtp, account):
    add_contacts(services, account, 1)
    for batch in (
        {"size": 0, "pause_s": 5},
        {"size": 10},
        {"size": 10, "pause_s": 0},
        [10, 5],
        {"size": True, "pause_s": 5},
    ):
        answer = client.post(
            "/api/campaigns",
            json={
                "name": "B",
                "channel": "smtp",
                "subject": "Hi",
                "body": "Hello",
                "recipients": {"all": True},
                "rate": {"batch": batch},
            },  # fmt: skip
            headers=auth,
        )
        assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "rate.batch", batch
