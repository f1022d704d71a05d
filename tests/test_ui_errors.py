"""Every error the UI can show, walked in real headless Chromium against the real server: each is plain words
naming the field as its form labels it, with the fix, and none shows errno text, backticks, exception names,
internal keys (account_sid, client_config, min_delay_s ...), "Contact 12" or the same sentence twice."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.test_ui_flows import api, click, fill, open_app
from tests.ui_support import chromium, go, js_errors, screenshot_dir, shoot, until, wait_js

pytestmark = pytest.mark.browser

INTERNAL_KEYS = [
    *("account_sid", "auth_token", "from_number", "api_base_url", "messaging_service_sid", "client_config"),
    *("client_id", "client_secret", "from_name", "from_address", "min_delay_s", "max_delay_s", "daily_cap"),
    *("per_minute", "public_url", "default_country", "sendgrid_public_key", "webhook_secret", "scheduled_at"),
    *("contact_ids", "verify_tls"),
]
FORBIDDEN = [
    (re.compile(r"Errno|\[Errno"), "errno text"),
    (re.compile(r"`"), "a backtick"),
    (re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception|File)\b"), "an exception name"),
    (re.compile(r"\b(?:" + "|".join(INTERNAL_KEYS) + r")\b"), "an internal key"),
    (re.compile(r"\bContact \d+\b"), "a contact by number"),
    (re.compile(r"Traceback|undefined|null|NaN|\[object"), "program text"),
]
SHOWN = """
return [...document.querySelectorAll('.notice.err, .toast.err, [data-warning=err]')]
  .filter((el) => el.offsetParent !== null).map((el) => el.innerText);
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Seen:
    """Collects every error text shown, and checks each as it is met."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.texts: list[str] = []

    def expect(self, what: str, *, contains: str, timeout: float = 15.0) -> str:
        def shown() -> list[str]:
            return [str(t) for t in self.driver.execute_script(SHOWN)]

        until(lambda: any(contains in t for t in shown()), timeout=timeout, what=what)
        found = shown()
        for text in found:
            check(text, what)
        self.texts.extend(found)
        return "\n".join(t for t in found if contains in t)


def check(text: str, what: str) -> None:
    for pattern, name in FORBIDDEN:
        assert not pattern.search(text), f"{what}: {name} in {text!r}"
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|\n", text) if len(s.strip()) > 12]
    repeated = {s for s in sentences if sentences.count(s) > 1}
    assert not repeated, f"{what}: said twice: {repeated} in {text!r}"


def save_channel(driver: Any, channel: str, values: dict[str, str]) -> None:
    card = f'article[data-channel="{channel}"]'
    driver.execute_script(f"document.querySelector('{card} details').open = true")
    for key, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, f"{card} [name={key}]")
        driver.execute_script("arguments[0].value = ''", field)
        if value:
            field.send_keys(value)
    driver.execute_script(f"document.querySelectorAll('{card} .notice.err').forEach((n) => n.remove())")
    click(driver, f"{card} button[type=submit]")


def test_it_words_every_error_for_the_user(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with chromium() as driver:
        open_app(driver, server)
        seen = Seen(driver)
        go(driver, "channels")
        save_channel(driver, "smtp", {"host": "", "from_address": ""})
        text = seen.expect("SMTP settings left empty", contains="Server")
        assert "Sender address" in text or "From address" in text, text
        save_channel(driver, "smtp", {"host": "127.0.0.1", "port": str(closed_port()), "from_address": "a@b.example"})
        text = seen.expect("SMTP server not answering", contains="could not connect")
        assert "Check the server name and port" in text, text
        shoot(driver, shots, "error-smtp")
        save_channel(driver, "sms", {"from_number": "123"})
        text = seen.expect("SMS settings incomplete", contains="Account SID")
        assert "Sending number" in text, text
        assert "E.164 form with its country code" in text, text  # the fix the server declares for the field
        save_channel(
            driver,
            "sms",
            {"account_sid": "AC" + "0" * 32, "auth_token": "x", "from_number": "+15005550006",
             "api_base_url": f"http://127.0.0.1:{closed_port()}"},
        )  # fmt: skip
        seen.expect("Twilio not reachable", contains="reach")
        save_channel(driver, "gmail", {"client_config": "nope"})
        seen.expect("Gmail client JSON not JSON", contains="OAuth client JSON")
        save_channel(driver, "gmail", {"client_config": '{"installed": {}}'})
        seen.expect("Gmail client JSON incomplete", contains="client ID")
        save_channel(driver, "whatsapp", {"min_delay_s": "30", "max_delay_s": "5"})
        text = seen.expect("WhatsApp pauses reversed", contains="Longest pause")
        assert "Shortest pause (seconds)" in text, text
        shoot(driver, shots, "error-channels")

        go(driver, "settings")
        fill(driver, "input[name=public_url]", "ftp://x")
        fill(driver, "input[name=default_country]", "XX")
        click(driver, "form[aria-labelledby=settings-title] button[type=submit]")
        text = seen.expect("bad settings", contains="Public URL")
        assert "Default country" in text, text

        go(driver, "contacts")
        api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "email": "ana@x.example"})
        for body, contains in (({"tel": "123"}, "country code"), ({}, "phone number or an email"),
                               ({"email": "ana@x.example"}, "Another contact")):  # fmt: skip
            driver.execute_script("document.querySelectorAll('.notice.err').forEach((n) => n.remove())")
            if not driver.find_elements(By.CSS_SELECTOR, "form[aria-label='New contact']"):
                click(driver, ".page-actions .btn:not(.primary)")
            for kind in ("tel", "email"):
                fill(driver, f"form[aria-label='New contact'] input[type={kind}]", body.get(kind, ""))
            click(driver, "form[aria-label='New contact'] button[type=submit]")
            seen.expect(f"contact {body}", contains=contains)

        click(driver, ".page-actions .btn.primary")
        upload = tmp_path / "notes.csv"
        upload.write_text("Name,Notes\nAna,vip\n", encoding="utf-8")
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
        wait_js(driver, "return document.querySelector('.mapping select')", what="the mapping")
        broken = tmp_path / "broken.xlsx"
        broken.write_bytes(b"\x00\x01\x02 not a workbook")
        click(driver, "section[aria-labelledby=import-title] .row.end .btn:not(.primary)")
        driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(broken))
        seen.expect("a broken workbook", contains="XLSX")

        go(driver, "compose")
        click(driver, "input[type=radio][value=smtp]")
        fill(driver, "textarea[name=body]", "Hi {{ fields.city }}")
        text = seen.expect("a placeholder without a value", contains="Ana Silva")
        assert "fields.city" in text, text
        fill(driver, "textarea[name=body]", "Hi {{ name")
        seen.expect("a broken template", contains="template has an error")
        fill(driver, "input[name=test_to]", "not an address")
        click(driver, "button[data-action=send-test]")
        seen.expect("a test to a bad address", contains="test was not sent")
        fill(driver, "input[name=name]", "")
        click(driver, "form[aria-label='New campaign'] button[type=submit]")
        seen.expect("no campaign name", contains="Give the campaign a name")
        shoot(driver, shots, "error-compose")

        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/*"]})
        go(driver, "campaigns")
        text = seen.expect("the server away", contains="could not be loaded")
        assert "bulkmsg serve" in text, text
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        assert len(seen.texts) >= 15
        assert js_errors(driver) == []


@pytest.fixture
def server(start_server: Any) -> Any:
    return start_server()
