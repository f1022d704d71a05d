"""Two-way threads in real headless Chromium (1400x900 and a 390x844 phone): a reply texted in through Twilio's
signed webhook shows up live in the list with an unread count, and in the thread on the left with its MMS link;
opening the thread reads it; the composer answers on the channel the contact last wrote on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer
from tests.ui_checks import contrast_failures, small_targets
from tests.ui_support import (
    chromium,
    free_port,
    go,
    js_errors,
    screenshot_dir,
    set_viewport,
    shoot,
    text_of,
    until,
    wait_js,
)

pytestmark = pytest.mark.browser
ANA = "+14155550101"
PHOTO = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")


@pytest.fixture
def server(start_server: Any) -> Any:
    port = free_port()
    return start_server(port=port, public_url=f"http://127.0.0.1:{port}")


def api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, server.url + path, headers=bearer(server.token), timeout=15, **kwargs)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def test_it_shows_a_texted_reply_live_with_its_unread_count_and_media_link(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        ana = api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "phone": ANA, "email": "ana@example.com"})
        api(server, "POST", f"/api/conversations/contact-{ana['id']}/messages", json={"body": "Your parcel shipped."})
        thread = f"contact-{ana['id']}"
        driver.get(f"{server.url}/#token={server.token}")
        go(driver, "conversations")
        wait_js(driver, f"return document.querySelector('a[data-conversation=\"{thread}\"]')", what="Ana's thread")

        status, *_ = twilio.send_inbound(
            f"{server.url}/webhooks/twilio/inbound", ANA, "Thanks! Box was damaged though.", media=(PHOTO,)
        )
        assert status == 200
        wait_js(
            driver,
            f"return document.querySelector('a[data-conversation=\"{thread}\"]')?.dataset.unread === '1'",
            what="the unread count to arrive live",
        )
        row = text_of(driver, f'a[data-conversation="{thread}"]')
        assert "Ana Silva" in row and "Thanks! Box was damaged though." in row and "SMS" in row
        shoot(driver, shots, "conversations-unread")

        driver.find_element(By.CSS_SELECTOR, f'a[data-conversation="{thread}"]').click()
        wait_js(driver, "return document.querySelector('.bubble.in')", what="the received message")
        bubbles = driver.execute_script(
            "return [...document.querySelectorAll('.thread-body .bubble')].map((b) => b.dataset.direction)"
        )
        assert bubbles == ["out", "in"]
        link = driver.find_element(By.CSS_SELECTOR, ".bubble.in .media a")
        assert link.get_attribute("href") == PHOTO[0] and "image/jpeg" in link.text
        assert driver.find_element(By.CSS_SELECTOR, ".composer select").get_attribute("value") == "sms"
        assert "not configured" in text_of(driver, ".composer select")  # email and WhatsApp are not set up
        wait_js(
            driver,
            f"return document.querySelector('a[data-conversation=\"{thread}\"]')?.dataset.unread === '0'",
            what="opening the thread to read it",
        )
        shoot(driver, shots, "conversation-two-way")

        twilio.send_inbound(f"{server.url}/webhooks/twilio/inbound", ANA, "Can you send a new one?")
        wait_js(driver, "return document.querySelectorAll('.bubble.in').length === 2", what="a second reply, live")
        triage(server, twilio, driver, thread, shots)
        assert js_errors(driver) == []


LONE_SURROGATE = r"/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/"


def triage(server: Any, twilio: FakeTwilio, driver: Any, thread: str, shots: Path) -> None:
    """Saved replies, Done and its reopening, the filters, an unknown sender saved as a contact, the phone."""
    box = driver.find_element(By.CSS_SELECTOR, ".composer textarea")
    box.send_keys("Sorry about the box: a new one is on its way.")
    driver.find_element(By.CSS_SELECTOR, ".saved-replies summary").click()
    driver.find_element(By.CSS_SELECTOR, ".saved-replies input[name=reply_name]").send_keys("Damaged box")
    driver.find_element(
        By.XPATH, "//details[@class='saved-replies']//button[contains(., 'Save the text above')]"
    ).click()
    wait_js(
        driver, "return document.querySelector('.saved-picker option[value]:not([value=\"\"])')", what="the saved reply"
    )
    box.clear()
    Select(driver.find_element(By.CSS_SELECTOR, ".saved-picker")).select_by_visible_text("Damaged box")
    assert box.get_attribute("value") == "Sorry about the box: a new one is on its way."
    assert [r["name"] for r in api(server, "GET", "/api/saved-replies")["items"]] == ["Damaged box"]
    box.send_keys(" Keep the old one.")  # saved again under the same name: asked, then replaced
    driver.find_element(By.CSS_SELECTOR, ".saved-replies input[name=reply_name]").send_keys("Damaged box")
    driver.find_element(
        By.XPATH, "//details[@class='saved-replies']//button[contains(., 'Save the text above')]"
    ).click()
    wait_js(driver, "return document.querySelector('dialog[open] button[value=yes]')", what="Replace?").click()
    wait_js(driver, "return !document.querySelector('dialog[open]')", what="the question answered")
    until(lambda: api(server, "GET", "/api/saved-replies")["items"][0]["body"].endswith("Keep the old one."))
    box.clear()

    row = f'a[data-conversation="{thread}"]'
    driver.find_element(By.CSS_SELECTOR, "button[data-action=done]").click()
    wait_js(driver, f"return document.querySelector('{row}')?.dataset.done === '1'", what="the thread listed as done")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=view]")).select_by_value("needs_reply")
    wait_js(driver, f"return !document.querySelector('{row}')", what="the done thread to leave Needs a reply")
    twilio.send_inbound(f"{server.url}/webhooks/twilio/inbound", ANA, "Hello? Still waiting.")
    wait_js(driver, f"return document.querySelector('{row}')?.dataset.waiting === '1'", what="the thread reopened")
    assert "Needs a reply (1)" in text_of(driver, "select[name=view]")
    assert not driver.find_element(By.CSS_SELECTOR, "a.convo-back").is_displayed()  # the list is beside it
    assert driver.find_element(By.CSS_SELECTOR, "button[data-action=done]").get_attribute("data-done") == "0"
    shoot(driver, shots, "conversations-needs-reply")
    assert contrast_failures(driver) == [] and small_targets(driver) == []
    Select(driver.find_element(By.CSS_SELECTOR, "select[name=view]")).select_by_value("")

    # Someone we did not know writes in, with emoji: the list cuts by what a person sees; the thread saves them.
    twilio.send_inbound(
        f"{server.url}/webhooks/twilio/inbound",
        "+14155550199",
        "Hi! " + "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 130,
    )
    stranger = wait_js(
        driver,
        "return [...document.querySelectorAll('a[data-conversation]')]"
        ".find((a) => a.innerText.includes('+14155550199'))",
        what="the unknown sender's thread",
    )
    line = stranger.find_element(By.CSS_SELECTOR, ".last").get_attribute("textContent")
    assert line.endswith("…") and not driver.execute_script(f"return {LONE_SURROGATE}.test(arguments[0])", line)
    stranger.click()
    name = wait_js(
        driver, "return document.querySelector('form.save-contact input[name=contact_name]')", what="Save as contact"
    )
    set_viewport(driver, 390, 844)
    shoot(driver, shots, "conversation-unknown-sender-phone")
    assert contrast_failures(driver) == [] and small_targets(driver) == []
    assert driver.execute_script("return getComputedStyle(document.querySelector('.convo-list')).display") == "none"
    name.send_keys("Zoe Martin")
    driver.find_element(By.CSS_SELECTOR, "form.save-contact button[type=submit]").click()
    wait_js(
        driver, "return document.querySelector('.thread-head h2').textContent === 'Zoe Martin'", what="the new name"
    )
    assert any(c["name"] == "Zoe Martin" for c in api(server, "GET", "/api/contacts")["items"])
    driver.find_element(By.CSS_SELECTOR, "a.convo-back").click()
    wait_js(driver, "return document.querySelector('.convo:not(.has-thread) .convo-list a')", what="the list, alone")
    shoot(driver, shots, "conversations-phone")


def test_it_shows_and_switches_a_contacts_opt_outs_per_channel(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        ana = api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "phone": ANA, "email": "ana@example.com"})
        twilio.send_inbound(f"{server.url}/webhooks/twilio/inbound", ANA, "STOP")
        driver.get(f"{server.url}/#token={server.token}")
        go(driver, "contacts")
        row = f'tr[data-contact="{ana["id"]}"]'
        wait_js(driver, f"return document.querySelector('{row}')", what="Ana's row")
        assert "Opted out of SMS" in text_of(driver, row)
        driver.find_element(By.CSS_SELECTOR, f"{row} details.opt-outs summary").click()
        boxes = {
            b.get_attribute("aria-label").rpartition(" of ")[2]: b
            for b in driver.find_elements(By.CSS_SELECTOR, f"{row} details.opt-outs input[type=checkbox]")
        }
        assert {k: b.is_selected() for k, b in boxes.items()} == {
            "SMS": True,
            "Email": False,
            "WhatsApp": False,
            "Everything": False,
        }
        shoot(driver, shots, "contact-opt-outs")
        boxes["Email"].click()
        wait_js(
            driver,
            f"return document.querySelector('{row}')?.innerText.includes('Opted out of SMS, Email')",
            what="the email opt-out to show",
        )
        shown = api(server, "GET", f"/api/contacts/{ana['id']}")
        assert shown["opt_outs"]["sms"]["why"] == "stop" and shown["opt_outs"]["email"]["why"] == "by_hand"
        assert js_errors(driver) == []
