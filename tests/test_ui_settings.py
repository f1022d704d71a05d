"""The General settings card: what a user types there is what the server stores."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium.webdriver.common.by import By

from tests.helpers import bearer
from tests.ui_support import chromium, go, js_errors, wait_js, wait_view

pytestmark = pytest.mark.browser


def test_it_saves_the_sendgrid_key_and_default_country_from_the_settings_card(live_server: Any) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
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
        assert js_errors(driver) == []
    stored = requests.get(f"{live_server.url}/api/settings", headers=bearer(live_server.token), timeout=10).json()
    assert stored["sendgrid_public_key"] == der
    assert stored["default_country"] == "DE"
