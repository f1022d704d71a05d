"""A campaign that cannot send says why in its own status (issue 23 item 6): `status_reason` in the API and a
"Waiting" notice on the monitor while its SMTP server is down, cleared by itself when the server is back; outage
probes at most 15 s apart while a campaign waits (60 s otherwise). Real parts: aiosmtpd stopped and started
again on its port under the running app, the monitor in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from backend.dispatch.outage import OUTAGE_MAX_DELAY_S, OUTAGE_WAITING_MAX_S, OutageTracker
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, wait_for
from tests.ui_support import chromium, screenshot_dir, set_viewport, shoot, text_of, wait_js, wait_view

CONTACTS = 30


def test_it_says_a_campaign_waits_for_its_channel_and_goes_on_when_it_answers(live_server, tmp_path: Path) -> None:
    services = live_server.app.extensions["bulkmsg"]
    auth = bearer(live_server.token)
    smtp = first = FakeSmtpServer("plain", keep_messages=True).start()
    try:
        account_id = configure_smtp(services, smtp.settings())
        add_contacts(services, account_id, CONTACTS)
        body = {"name": "Waiting", "channel": "smtp", "subject": "Hi", "body": "Hello {{ name }}",
                "recipients": {"all": True}, "rate": {"per_minute": 120}}  # fmt: skip
        campaign_id = requests.post(f"{live_server.url}/api/campaigns", json=body, headers=auth, timeout=10).json()[
            "id"
        ]
        assert requests.post(f"{live_server.url}/api/campaigns/{campaign_id}/start", headers=auth, timeout=10).ok
        wait_for(lambda: smtp.count >= 1, timeout=20, what="the first email")
        smtp.stop()  # the server goes away mid-campaign

        def campaign() -> dict[str, Any]:
            return dict(requests.get(f"{live_server.url}/api/campaigns/{campaign_id}", headers=auth, timeout=10).json())

        waiting = wait_for(lambda: (c := campaign())["status_reason"] and c, timeout=30, what="a reason to wait")
        assert waiting["status"] == "running"
        assert waiting["status_reason"].startswith("Waiting for the channel: The SMTP server refused the connection")
        listed = requests.get(f"{live_server.url}/api/campaigns", headers=auth, timeout=10).json()["items"]
        assert listed[0]["id"] == campaign_id and listed[0]["status_reason"].startswith("Waiting for the channel")

        shots = screenshot_dir(tmp_path / "shots")
        with chromium(1400, 900) as driver:
            driver.get(f"{live_server.url}/#token={live_server.token}")
            driver.execute_script("window.location.hash = arguments[0]", f"#/campaigns/{campaign_id}")
            wait_view(driver, "campaigns")
            wait_js(driver, "return !!document.querySelector('[data-summary=waiting]')", 15, "the waiting notice")
            notice = text_of(driver, "[data-summary=waiting]")
            assert "Waiting for the channel: The SMTP server refused the connection" in notice
            assert "It goes on by itself" in notice
            shoot(driver, shots, "campaign-waiting-1400x900")
            set_viewport(driver, 390, 844)
            shoot(driver, shots, "campaign-waiting-390x844")

            smtp = FakeSmtpServer("plain", keep_messages=True, port=smtp.port).start()  # back on its port
            done = wait_for(lambda: (c := campaign())["status"] == "completed" and c, timeout=60, what="completion")
            wait_js(driver, "return !document.querySelector('[data-summary=waiting]')", 15, "the notice to go")
        assert done["status_reason"] is None and done["counts"]["sent"] == CONTACTS
        everyone = first.arrivals() + smtp.arrivals()  # before and after the outage
        assert len(everyone) == CONTACTS and max(everyone.values()) == 1
    finally:
        smtp.stop()


def test_it_probes_at_most_15_s_apart_while_a_campaign_waits(live_server) -> None:
    services = live_server.app.extensions["bulkmsg"]
    waiting, idle = OutageTracker(services, 1, "smtp"), OutageTracker(services, 1, "smtp")
    waiting.campaign_waiting = True
    delays: dict[str, list[float]] = {"waiting": [], "idle": []}
    for _ in range(10):
        for name, tracker in (("waiting", waiting), ("idle", idle)):
            tracker.set_probing(True)  # the probe went out and found the channel down again
            tracker.note_outage("The SMTP server refused the connection")
            assert tracker.current is not None
            delays[name].append(tracker.current.delay_s)
    assert delays["waiting"][:5] == [1.0, 2.0, 4.0, 8.0, 15.0] and max(delays["waiting"]) == OUTAGE_WAITING_MAX_S
    assert max(delays["idle"]) == OUTAGE_MAX_DELAY_S == 60.0
