"""An email campaign through the UI, in real headless Chromium, against the real server and a real SMTP server
(aiosmtpd): set up SMTP in the Channels form, compose with a subject template, start, and read what arrived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.fakes.smtp_server import FakeSmtpServer
from tests.test_ui_flows import api, click, fill, open_app
from tests.ui_support import chromium, confirm_start, go, js_errors, screenshot_dir, shoot, text_of, wait_js, wait_view

pytestmark = pytest.mark.browser


def set_up_smtp_in_the_ui(driver: Any, smtp: FakeSmtpServer) -> None:
    go(driver, "channels")
    card = 'article[data-channel="smtp"]'
    driver.execute_script(f"document.querySelector('{card} details').open = true")
    fill(driver, f"{card} [name=host]", smtp.host)
    fill(driver, f"{card} [name=port]", str(smtp.port))
    Select(driver.find_element(By.CSS_SELECTOR, f"{card} select[name=security]")).select_by_value("none")
    fill(driver, f"{card} [name=from_address]", "news@example.com")
    fill(driver, f"{card} [name=from_name]", "Café Ünïcode News")
    click(driver, f"{card} button[type=submit]")
    wait_js(driver, f"return document.querySelector('{card}').dataset.state === 'ready'", what="SMTP ready")


def test_it_sends_an_email_campaign_set_up_and_composed_in_the_ui(start_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server()
    for name, email in (("Ana Silva", "ana@example.com"), ("Chloé Müller", "chloe@example.com")):
        api(server, "POST", "/api/contacts", json={"name": name, "email": email})
    with FakeSmtpServer() as smtp, chromium() as driver:
        open_app(driver, server)
        set_up_smtp_in_the_ui(driver, smtp)
        go(driver, "compose")
        click(driver, "input[type=radio][value=smtp]")
        fill(driver, "form[aria-label='New campaign'] input[type=text]", "Autumn letter")
        fill(driver, "input[placeholder^='Your appointment']", "News for {{ name }}")
        fill(driver, "textarea", "Dear {{ name }},\nour shop opens at nine.")
        wait_js(
            driver, "return document.querySelector('.preview-bubble').innerText.includes('Dear Ana')", what="preview"
        )
        shoot(driver, shots, "compose-email")
        click(driver, "form[aria-label='New campaign'] button[type=submit]")
        confirm_start(driver)
        wait_view(driver, "campaigns")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=60, what="the summary")
        assert "Mass messaging complete. Sent: 2, Failed: 0" in text_of(driver, "[data-summary=completed]")
        shoot(driver, shots, "campaign-email-completed")
        assert js_errors(driver) == []

        assert smtp.arrivals() == {"ana@example.com": 1, "chloe@example.com": 1}
        chloe = next(r.message for r in smtp.received if r.rcpt_tos == ["chloe@example.com"])
        assert str(chloe["Subject"]) == "News for Chloé Müller"
        assert "Café Ünïcode News" in str(chloe["From"])
        assert "Dear Chloé Müller,\r\nour shop opens at nine." in chloe.get_body(("plain",)).get_content()
        assert chloe.get_body(("html",)) is not None and chloe["List-Unsubscribe"]
