"""The General settings card: what a user types there is what the server stores; the webhook addresses each with
its name, where it goes and a Copy button that copies it; a new webhook secret only after a confirmation, and
the one shown is the one that signs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium.webdriver.common.by import By

from tests.delivery_support import signed
from tests.helpers import bearer, wait_for
from tests.ui_checks import contrast_failures, small_targets
from tests.ui_support import chromium, go, js_errors, screenshot_dir, set_viewport, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser


def test_it_saves_the_sendgrid_key_default_country_and_soft_bounce_limits_from_the_settings_card(
    live_server: Any, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()

    def settings() -> dict[str, Any]:
        answer = requests.get(f"{live_server.url}/api/settings", headers=bearer(live_server.token), timeout=10)
        return dict(answer.json())

    with chromium() as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        go(driver, "settings")
        box = wait_js(driver, "return document.querySelector('textarea[name=sendgrid_public_key]')")
        # Pasted as SendGrid shows it, wrapped over lines: the card joins them.
        box.send_keys(der[:40] + "\n" + der[40:])
        driver.find_element(By.CSS_SELECTOR, "input[name=default_country]").send_keys("de")
        driver.find_element(By.XPATH, "//form[@aria-labelledby='settings-title']//button[@type='submit']").click()
        wait_js(
            driver, "return [...document.querySelectorAll('.toast')].some(t => t.innerText.includes('Settings saved'))"
        )
        # Soft bounces: 0 is refused with the field named and marked; 5 within 30 days is stored.
        limit = driver.find_element(By.CSS_SELECTOR, "input[name=soft_bounce_limit]")
        days = driver.find_element(By.CSS_SELECTOR, "input[name=soft_bounce_days]")
        assert (limit.get_attribute("value"), days.get_attribute("value")) == ("3", "14")  # the defaults, shown
        limit.clear()
        limit.send_keys("0")
        driver.find_element(By.XPATH, "//form[@aria-labelledby='settings-title']//button[@type='submit']").click()
        notice = wait_js(driver, "const n = document.querySelector('form[aria-labelledby=settings-title] .notice.err');"
                                 "return n && n.innerText")  # fmt: skip
        assert "Temporary failures before an address is suppressed" in notice, notice
        assert "whole number from 1 to 100" in notice, notice
        assert limit.get_attribute("aria-invalid") == "true" and days.get_attribute("aria-invalid") is None
        shots = screenshot_dir(tmp_path / "shots")
        set_viewport(driver, 1400, 900)
        shoot(driver, shots, "settings-soft-bounce-error-1400x900")
        limit.clear()
        limit.send_keys("5")
        days.clear()
        days.send_keys("30")
        driver.find_element(By.XPATH, "//form[@aria-labelledby='settings-title']//button[@type='submit']").click()
        wait_for(lambda: (stored := settings())["soft_bounce_limit"] == 5 and stored, what="the new limits")
        assert not driver.find_elements(By.CSS_SELECTOR, "form[aria-labelledby=settings-title] .notice.err")
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "settings-soft-bounce-390x844")
        set_viewport(driver, 1280, 800)
        addresses_and_secret(driver, live_server, screenshot_dir(tmp_path))
        assert js_errors(driver) == []
    stored = settings()
    assert stored["sendgrid_public_key"] == der
    assert stored["default_country"] == "DE"
    assert (stored["soft_bounce_limit"], stored["soft_bounce_days"]) == (5, 30)


def addresses_and_secret(driver: Any, live_server: Any, shots: Path) -> None:
    assert "Set the public URL" in driver.find_element(By.CSS_SELECTOR, "form[aria-labelledby=settings-title]").text
    driver.find_element(By.CSS_SELECTOR, "input[name=public_url]").send_keys("https://bulk.example.com")
    driver.find_element(By.XPATH, "//form[@aria-labelledby='settings-title']//button[@type='submit']").click()
    wait_js(driver, "return document.querySelectorAll('.address-list li').length === 4", what="the four addresses")
    rows = {
        li.get_attribute("data-address"): li.text for li in driver.find_elements(By.CSS_SELECTOR, ".address-list li")
    }
    assert "https://bulk.example.com/webhooks/twilio/inbound" in rows["twilio_inbound"]
    assert "A message comes in" in rows["twilio_inbound"] and "Event Webhook" in rows["sendgrid_events"]
    driver.execute_script("document.querySelector('.webhook-addresses').scrollIntoView()")
    shoot(driver, shots, "settings-addresses-1280x800")
    set_viewport(driver, 390, 844)
    driver.execute_script("document.querySelector('.webhook-addresses').scrollIntoView()")
    shoot(driver, shots, "settings-addresses-390x844")
    set_viewport(driver, 1280, 800)
    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": live_server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    driver.find_element(By.CSS_SELECTOR, "li[data-address=twilio_inbound] button[data-copy]").click()
    copied = driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    assert copied == "https://bulk.example.com/webhooks/twilio/inbound"

    generate = driver.find_element(By.XPATH, "//button[text()='Generate a new webhook secret']")
    generate.click()
    asked = wait_js(
        driver, "const d = document.querySelector('dialog[open]'); return d && d.innerText", what="the question"
    )
    assert "403" in asked and "/webhooks/communications" in asked
    shoot(driver, shots, "settings-new-secret-question")
    assert contrast_failures(driver) == [] and small_targets(driver) == []  # the question, over the page
    driver.find_element(By.CSS_SELECTOR, "dialog[open] button[value=no]").click()
    assert not driver.find_elements(By.CSS_SELECTOR, "code[data-secret]")  # nothing changed
    generate.click()
    wait_js(driver, "return document.querySelector('dialog[open] button[value=yes]')").click()
    secret = wait_js(driver, "const c = document.querySelector('code[data-secret]'); return c && c.innerText")
    raw, headers = signed(secret, {"message_id": 999999, "provider": "x", "event_id": "e1", "status": "delivered"})
    answer = requests.post(f"{live_server.url}/webhooks/communications", data=raw, headers=headers, timeout=10)
    assert answer.status_code == 404  # signed with the secret shown: past the signature, no such message
