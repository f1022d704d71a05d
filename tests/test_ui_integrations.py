"""Settings' "API keys" and "Webhooks" cards in real Chromium against a live server and real receivers: the key
shown once works and stops working when revoked; the secret shown verifies a test delivery with the official
`standardwebhooks`; a 410 receiver's endpoint shows why it was disabled and can be enabled again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.helpers import bearer
from tests.ui_support import chromium, go, js_errors, screenshot_dir, set_viewport, shoot, wait_js, wait_view
from tests.webhook_support import receiver, verified

pytestmark = pytest.mark.browser


def click(driver: Any, xpath: str) -> None:
    element = driver.find_element(By.XPATH, xpath)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def shown_secret(driver: Any, card: str) -> str:
    return wait_js(
        driver,
        f"const c = document.querySelector('form[aria-labelledby={card}] code[data-secret]'); return c && c.innerText",
        what=f"the secret shown in {card}",
    )


def create_key_in_ui(driver: Any) -> str:
    driver.find_element(By.CSS_SELECTOR, "input[name=key_name]").send_keys("Order system")
    click(driver, "//form[@aria-labelledby='api-keys-title']//input[@value='contacts']")
    click(driver, "//form[@aria-labelledby='api-keys-title']//button[@type='submit']")
    key = shown_secret(driver, "api-keys-title")
    wait_js(driver, "return document.querySelector('table.api-keys tbody tr')", what="the key in the list")
    return str(key)


def add_endpoint_in_ui(driver: Any, url: str) -> str:
    box = driver.find_element(By.CSS_SELECTOR, "input[name=webhook_url]")
    box.clear()
    box.send_keys(url)
    click(driver, "//form[@aria-labelledby='webhooks-title']//button[@type='submit']")
    wait_js(driver, f"return [...document.querySelectorAll('.endpoint-url')].some(e => e.innerText === {url!r})")
    return str(shown_secret(driver, "webhooks-title"))


def endpoint_xpath(url: str) -> str:
    return f"//section[contains(@class,'endpoint')][.//code[text()='{url}']]"


def test_it_creates_and_revokes_a_key_and_sends_a_signed_test_from_settings(
    live_server: Any, receivers: list[Any], tmp_path: Path
) -> None:
    ok = receiver(receivers)
    gone = receiver(receivers, then=(410, {}))
    shots = screenshot_dir(tmp_path)
    with chromium(1400, 900) as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        go(driver, "settings")
        key = create_key_in_ui(driver)
        driver.execute_script("document.querySelector('form[aria-labelledby=api-keys-title]').scrollIntoView()")
        shoot(driver, shots, "settings-key-shown-1400x900")
        assert key.startswith("bm_") and len(key) == 46
        row = driver.find_element(By.CSS_SELECTOR, "table.api-keys tbody tr").text
        assert "Order system" in row and key[:9] in row and key not in row and "read, contacts, send" in row
        http = requests.Session()
        http.trust_env = False
        assert http.get(f"{live_server.url}/api/contacts", headers=bearer(key), timeout=10).status_code == 200

        secret = add_endpoint_in_ui(driver, ok.url)
        click(driver, endpoint_xpath(ok.url) + "//button[text()='Send test']")
        wait_js(
            driver,
            "return document.querySelector('table.deliveries tr[data-status=succeeded]')",
            20,
            "the test delivered",
        )
        cells = driver.find_element(By.CSS_SELECTOR, "table.deliveries tr[data-status=succeeded]").text
        assert "webhook.test" in cells and "200" in cells and " ms" in cells
        assert verified(secret, ok.received[0])["type"] == "webhook.test"

        add_endpoint_in_ui(driver, gone.url)
        click(driver, endpoint_xpath(gone.url) + "//button[text()='Send test']")
        wait_js(
            driver, "return document.querySelector('table.deliveries tr[data-status=failed]')", 20, "the 410 answer"
        )
        go(driver, "dashboard")
        go(driver, "settings")
        reason = wait_js(driver, "const n = document.querySelector('.disabled-reason'); return n && n.innerText")
        assert "410" in reason
        show_webhooks = "document.querySelector('form[aria-labelledby=webhooks-title]').scrollIntoView()"
        shoot(driver, shots, "settings-integrations-1400x900")
        driver.execute_script(show_webhooks)
        shoot(driver, shots, "settings-webhooks-1400x900")
        set_viewport(driver, 390, 844)
        driver.execute_script(show_webhooks)
        shoot(driver, shots, "settings-webhooks-390x844")
        driver.execute_script("document.querySelector('form[aria-labelledby=api-keys-title]').scrollIntoView()")
        shoot(driver, shots, "settings-api-keys-390x844")
        set_viewport(driver, 1400, 900)

        gone.then = (200, {})
        click(driver, endpoint_xpath(gone.url) + "//button[text()='Enable']")
        wait_js(driver, "return !document.querySelector('.disabled-reason')", what="the endpoint enabled")

        click(driver, "//table[contains(@class,'api-keys')]//button[text()='Revoke']")
        click(driver, "//dialog//button[@value='yes']")
        wait_js(driver, "return !document.querySelector('table.api-keys')", what="the key gone from the list")
        assert http.get(f"{live_server.url}/api/contacts", headers=bearer(key), timeout=10).status_code == 401
        assert js_errors(driver) == []
