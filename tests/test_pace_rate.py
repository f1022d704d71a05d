"""A campaign's `per_minute` pace is a rate, not a concurrency limit (DESIGN section 5, issue 24 item 1).

Against the Twilio-speaking server taking 0.3 s a request: a campaign paced well above what one request at a time
achieves keeps several requests in flight (the server's own count) and each recipient gets one message; a random
pause still sends one at a time; a slow pace is still kept over the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.campaigns.pacing import Pace, Pacer
from tests.campaign_helpers import wait_status
from tests.fakes.twilio import FakeTwilio
from tests.timing_support import add_people, configure_sms, create_campaign, phones, start_campaign


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_it_keeps_the_channels_concurrency_in_flight_for_a_paced_campaign(client, auth, services, twilio, running):
    twilio.request_delay_s = 0.3
    account = configure_sms(services, twilio, per_minute=6000, concurrency=4)
    add_people(services, account, phones(16))
    campaign = create_campaign(client, auth, rate={"per_minute": 6000})
    start_campaign(client, auth, campaign["id"])
    view = wait_status(client, auth, campaign["id"], "completed", timeout=60)
    sent_to = sorted(m["to"] for m in twilio.created())
    assert view["counts"]["sent"] == 16 and sent_to == sorted(p["phone"] for p in phones(16))
    assert twilio.max_in_flight >= 3  # not one at a time


def test_it_sends_one_at_a_time_with_a_random_pause(client, auth, services, twilio, running):
    twilio.request_delay_s = 0.1
    account = configure_sms(services, twilio, per_minute=6000, concurrency=4)
    add_people(services, account, phones(4))
    campaign = create_campaign(client, auth, rate={"min_delay_s": 0.05, "max_delay_s": 0.1})
    start_campaign(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed", timeout=60)
    assert len(twilio.created()) == 4 and twilio.max_in_flight == 1


def test_it_lets_a_token_bucket_run_at_its_rate_and_no_faster():
    clock = [0.0]
    pacer = Pacer(read_session=lambda: None, clock=lambda: clock[0])
    pace = Pace(per_minute=600)  # 10 a second; the bucket holds 2.5 s x 0.25 = a quarter second's worth
    claimed = 0
    for _ in range(100):  # ten seconds in steps of 0.1 s, claiming whatever the bucket allows
        n = int(pacer.tokens(7, pace))
        pacer.take(7, pace, n)
        claimed += n
        clock[0] += 0.1
    assert 95 <= claimed <= 103
