# ruff: noqa: F811 - pytest fixtures imported from tests/inbox_support are requested by name
"""Channel fallback after an RFC 3464 hard bounce read through the real Dovecot inbox (DESIGN sections 16 and
19): the email was accepted by the server, the bounce came back later, and exactly one SMS goes to the
Twilio-speaking fake, however often the report is read."""

from __future__ import annotations

from typing import Any

from tests.fakes.twilio import FakeTwilio
from tests.helpers import wait_for
from tests.inbox_support import configure, delivery_report, http, imap, polled, smtp  # noqa: F401 (fixtures)


def test_it_falls_back_to_one_sms_after_a_hard_bounce_in_the_inbox(live_server, http, smtp, imap, polled) -> None:
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    with FakeTwilio() as twilio:
        assert http.put(f"{base}/api/channels/sms", json=twilio.settings(), timeout=30).ok
        http.post(f"{base}/api/contacts", json={"name": "Bo", "email": "bo@example.org", "phone": "+14155550102"},
                  timeout=5)  # fmt: skip
        body = {"name": "News", "channel": "smtp", "subject": "News", "body": "Hello {{ name }}",
                "recipients": {"all": True}, "fallback": [{"channel": "sms", "on": ["hard_bounce"]}]}  # fmt: skip
        campaign = http.post(f"{base}/api/campaigns", json=body, timeout=30).json()
        assert http.post(f"{base}/api/campaigns/{campaign['id']}/start", timeout=10).ok
        wait_for(lambda: smtp.received, timeout=30, what="the email at the server")
        our_id = str(smtp.received[0].message["Message-ID"])
        imap.deliver(delivery_report(our_id, "bo@example.org"))
        assert http.post(f"{base}/api/trigger/inbox", timeout=60).json()["bounces"] == 1
        wait_for(lambda: twilio.created(), timeout=30, what="the fallback SMS")
        imap.deliver(delivery_report(our_id, "bo@example.org").replace(b"<dsn-", b"<dsn-again-"))
        http.post(f"{base}/api/trigger/inbox", timeout=60)

        def counts() -> dict[str, Any] | None:
            view = http.get(f"{base}/api/campaigns/{campaign['id']}", timeout=10).json()
            return view["counts"] if view["counts"]["fallback_sent"] == 1 else None

        wait_for(counts, timeout=30, what="the fallback counted")
        assert [(m["to"], m["body"]) for m in twilio.created()] == [("+14155550102", "Hello Bo")]
