"""A campaign whose messages were sent but came back undelivered does not look like a success: the monitor
says "Completed: 1 not delivered" in amber, its "Not delivered" tab names the provider's reason in words, and
the export carries that reason. Real server, the Twilio-speaking fake sending signed callbacks, real Chromium."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer, wait_for
from tests.test_ui_flows import api, click, open_app
from tests.ui_checks import contrast_failures, small_targets
from tests.ui_support import chromium, free_port, go, screenshot_dir, set_viewport, shoot, text_of, wait_js

pytestmark = pytest.mark.browser


def test_it_ends_in_amber_when_a_message_came_back_undelivered(start_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    port = free_port()
    server = start_server(port=port, public_url=f"http://127.0.0.1:{port}")
    with FakeTwilio() as twilio, FakeSmtpServer("plain") as smtp, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        api(server, "PUT", "/api/channels/smtp", json=smtp.settings())  # another way to reach them
        for i in (1, 2):
            person = {"name": f"Ana {i}", "phone": f"+1415555010{i}", "email": f"ana{i}@example.org"}
            api(server, "POST", "/api/contacts", json=person)
        body = {"name": "Reminder", "channel": "sms", "body": "See you", "recipients": {"all": True}}
        campaign = api(server, "POST", "/api/campaigns", json=body)["id"]
        api(server, "POST", f"/api/campaigns/{campaign}/start")
        wait_for(lambda: len(twilio.created()) == 2, timeout=30, what="both messages at the provider")
        by_number = {m["to"]: m["sid"] for m in twilio.created()}
        assert twilio.deliver(by_number["+14155550101"], "delivered") in (204, 409)
        # 409: the delivery job's poll of Twilio saw "undelivered" first and stored it; the callback repeats it.
        assert twilio.deliver(by_number["+14155550102"], "undelivered", error_code="30003") in (204, 409)
        wait_for(
            lambda: api(server, "GET", f"/api/campaigns/{campaign}")["counts"]["undelivered"] == 1,
            timeout=30,
            what="the undelivered report to settle",
        )
        open_app(driver, server)
        go(driver, f"campaigns/{campaign}")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=30, what="the summary")
        assert text_of(driver, "[data-summary=completed] strong") == "Completed: 1 not delivered"
        assert driver.execute_script(
            "return document.querySelector('[data-summary=completed]').classList.contains('warn')"
        )
        click(driver, "button[data-tab=undelivered]")
        wait_js(driver, "return document.querySelector('table[data-list=undelivered] tbody tr')", what="the list")
        row = text_of(driver, "table[data-list=undelivered] tbody tr")
        assert "+14155550102" in row and "the phone is switched off or unreachable" in row, row
        assert "Not delivered\n1" in text_of(driver, ".stats")
        shoot(driver, shots, "campaign-undelivered-desktop")
        assert contrast_failures(driver) == [] and small_targets(driver) == []
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "campaign-undelivered-phone")
        # On a phone the list is a stack of cards: each value after its column's name, the reason included.
        card = "table[data-list=undelivered] tbody tr"
        driver.execute_script(f"document.querySelector('{card}').scrollIntoView({{block: 'center'}})")
        shoot(driver, shots, "campaign-undelivered-list-phone")
        assert driver.execute_script(f"return getComputedStyle(document.querySelector('{card}')).display") == "block"
        labels = driver.execute_script(
            f"return [...document.querySelector('{card}').cells].map((c) => c.dataset.label)"
        )
        assert "Recipient" in labels or "To" in labels, labels
        assert contrast_failures(driver) == [] and small_targets(driver) == []
        # Fallback exists: the one not reached by SMS is offered another channel, in compose, chosen, unsent.
        click(driver, "a[data-action=another-way]")
        wait_js(driver, "return document.querySelector('input[type=radio][value=smtp]:checked')", what="email chosen")
        wait_js(driver, "return document.querySelectorAll('.chosen-list [data-chosen]').length === 1", what="one")
        assert text_of(driver, ".chosen-list [data-chosen]").startswith("Ana 2")
        assert driver.find_element(By.CSS_SELECTOR, "input[name=subject]").get_attribute("value") == "Reminder"
        shoot(driver, shots, "compose-another-way-phone")
        set_viewport(driver, 1400, 900)
        shoot(driver, shots, "compose-another-way-desktop")
        assert smtp.count == 0  # nothing is sent until it is started
    export = requests.get(f"{server.url}/api/campaigns/{campaign}/export.csv", headers=bearer(server.token), timeout=10)
    rows = {r["Recipient"]: r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    assert rows["'+14155550102"]["Delivery"] == "undelivered"
    assert "switched off or unreachable" in rows["'+14155550102"]["Reason"]


def test_it_says_starting_instead_of_guessing_in_the_first_seconds(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    with FakeTwilio() as twilio, chromium(1400, 900) as driver:
        twilio.request_delay_s = 0.5  # a provider half a second away: the first seconds are no measure of the rest
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        for i in range(1, 9):
            api(server, "POST", "/api/contacts", json={"name": f"P{i}", "phone": f"+1415555011{i}"})
        body = {"name": "Slow", "channel": "sms", "body": "Hi", "recipients": {"all": True}}
        campaign = api(server, "POST", "/api/campaigns", json=body)["id"]
        open_app(driver, server)
        go(driver, f"campaigns/{campaign}")
        api(server, "POST", f"/api/campaigns/{campaign}/start")
        wait_js(driver, "return document.querySelector('.stats').innerText.includes('Starting…')", what="Starting…")
        figures = text_of(driver, ".stats")
        assert "Provider" not in figures and "h " not in figures, figures
        api(server, "POST", f"/api/campaigns/{campaign}/cancel")
