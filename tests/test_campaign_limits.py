"""The campaign view says which limit holds a running campaign's rate back (issue 12 item 8): `pace_per_min` (the
configured pace) beside `rate_per_min`, and `limited_by` (`pace`, `daily_cap`, `provider` only when the provider
asked us to slow down, else `speed`), and `measured` false while the campaign is still starting (issue 26 item 3:
no diagnosis before there is a rate to diagnose). Against real aiosmtpd servers, one of them 0.2 s away per reply
(a slow provider) and one that answers "451 4.7.1 rate limit exceeded"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from backend.store.models import Campaign, utcnow
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create, view


def started_seconds_ago(services, campaign_id: int, seconds: float) -> None:
    """The campaign has been running this long (its rate is measured over its sends of the last minute)."""
    with services.db.write() as session:
        started = utcnow() - timedelta(seconds=seconds)
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(started_at=started))


def test_it_says_starting_before_it_has_measured_anything(client, auth, services, smtp, account, running):
    add_contacts(services, account, 16)
    campaign = create(client, auth, rate={"per_minute": 150})
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 2, timeout=30, what="two messages")
    current = view(client, auth, campaign["id"])
    assert current["measured"] is False and current["limited_by"] is None, current
    act(client, auth, campaign["id"], "cancel")


def test_it_says_the_pace_holds_a_paced_campaign_back(client, auth, services, smtp, account, running):
    add_contacts(services, account, 16)
    campaign = create(client, auth, rate={"per_minute": 150})
    act(client, auth, campaign["id"], "start")
    # A few gaps in, so the measured rate is the pace's and not the first connection's set-up time.
    wait_for(lambda: smtp.count >= 6, timeout=30, what="six messages")
    started_seconds_ago(services, campaign["id"], 20)
    current = view(client, auth, campaign["id"])
    assert current["pace_per_min"] == 150.0
    assert current["rate_per_min"] > 0 and current["limited_by"] == "pace", current


def test_it_does_not_blame_a_slow_provider_that_never_asked_to_slow_down(client, auth, services, running):
    with FakeSmtpServer("plain", reply_delay_s=0.2) as slow:
        account = configure_smtp(services, slow.settings(connections=1))
        add_contacts(services, account, 30)
        campaign = create(client, auth)
        act(client, auth, campaign["id"], "start")
        wait_for(lambda: slow.count >= 3, timeout=20, what="three messages")
        started_seconds_ago(services, campaign["id"], 20)
        current = view(client, auth, campaign["id"])
        act(client, auth, campaign["id"], "cancel")
    assert current["pace_per_min"] is None  # SMTP has no pace of its own, nor has this campaign
    assert current["limited_by"] == "speed" and current["measured"] is True, current


def test_it_says_the_provider_holds_it_back_when_it_asked_to_slow_down(client, auth, services, running):
    with FakeSmtpServer("plain", reply_delay_s=0.05) as limited:
        account = configure_smtp(services, limited.settings(connections=1))
        add_contacts(services, account, 40)
        limited.refuse("person0@example.org", "451 4.7.1 Rate limit exceeded, slow down", times=1)
        campaign = create(client, auth)
        act(client, auth, campaign["id"], "start")
        wait_for(lambda: limited.count >= 3, timeout=20, what="three messages")
        started_seconds_ago(services, campaign["id"], 20)
        current = view(client, auth, campaign["id"])
        act(client, auth, campaign["id"], "cancel")
    assert current["limited_by"] == "provider", current


def test_it_says_the_daily_cap_holds_a_capped_campaign_back(client, auth, services, smtp, account, running):
    add_contacts(services, account, 4)
    campaign = create(client, auth, rate={"daily_cap": 2})
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: view(client, auth, campaign["id"])["counts"]["sent"] == 2, timeout=20, what="two messages")
    current = view(client, auth, campaign["id"])
    assert current["status"] == "running" and current["limited_by"] == "daily_cap"
    assert current["pace_per_min"] is None
