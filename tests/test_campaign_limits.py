"""The campaign view says which limit holds a running campaign's rate back (issue 12 item 8): `pace_per_min` (the
configured pace) beside `rate_per_min`, and `limited_by` (`pace`, `daily_cap` or `provider`). Against real aiosmtpd
servers, one of them 0.2 s away per reply (a slow provider)."""

from __future__ import annotations

from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create, view


def test_it_says_the_pace_holds_a_paced_campaign_back(client, auth, services, smtp, account, running):
    add_contacts(services, account, 16)
    campaign = create(client, auth, rate={"per_minute": 150})
    act(client, auth, campaign["id"], "start")
    # A few gaps in, so the measured rate is the pace's and not the first connection's set-up time.
    wait_for(lambda: smtp.count >= 6, timeout=30, what="six messages")
    current = view(client, auth, campaign["id"])
    assert current["pace_per_min"] == 150.0
    assert current["rate_per_min"] > 0 and current["limited_by"] == "pace", current


def test_it_says_the_provider_holds_an_unpaced_campaign_back(client, auth, services, running):
    with FakeSmtpServer("plain", reply_delay_s=0.2) as slow:
        account = configure_smtp(services, slow.settings(connections=1))
        add_contacts(services, account, 30)
        campaign = create(client, auth)
        act(client, auth, campaign["id"], "start")
        wait_for(lambda: slow.count >= 3, timeout=20, what="three messages")
        current = view(client, auth, campaign["id"])
        act(client, auth, campaign["id"], "cancel")
    assert current["pace_per_min"] is None  # SMTP has no pace of its own, nor has this campaign
    assert current["limited_by"] == "provider", current


def test_it_says_the_daily_cap_holds_a_capped_campaign_back(client, auth, services, smtp, account, running):
    add_contacts(services, account, 4)
    campaign = create(client, auth, rate={"daily_cap": 2})
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: view(client, auth, campaign["id"])["counts"]["sent"] == 2, timeout=20, what="two messages")
    current = view(client, auth, campaign["id"])
    assert current["status"] == "running" and current["limited_by"] == "daily_cap"
    assert current["pace_per_min"] is None
