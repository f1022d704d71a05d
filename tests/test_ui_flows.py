"""A user's whole path through the UI, in real headless Chromium against the real server and the fake providers:
set up a channel, import contacts, opt one out, compose, start, watch the campaign to its final summary, see
delivery arrive, pause and resume, and watch a conversation's tick change live."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer
from tests.ui_support import (
    chromium,
    confirm_start,
    free_port,
    go,
    js_errors,
    screenshot_dir,
    set_viewport,
    shoot,
    text_of,
    wait_js,
    wait_view,
)

pytestmark = pytest.mark.browser

CSV = (
    "Name,Mobile,Email,Code\n"
    "Ana Silva,+1 415 555 0101,ana@example.com,A1\n"
    "Ben Okafor,+14155550102,ben@example.com,B2\n"
    "Chloé Müller,+14155550103,chloe@example.com,C3\n"
    "Dev Nguyen,not a phone,,D4\n"
    "Eli Smith,+14155550105,eli@example.com,E5\n"
)


@pytest.fixture
def server(start_server: Any) -> Any:
    """A live server whose public URL is itself, so the fake Twilio's signed callbacks reach it."""
    port = free_port()
    return start_server(port=port, public_url=f"http://127.0.0.1:{port}")


def api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, server.url + path, headers=bearer(server.token), timeout=15, **kwargs)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def click(driver: Any, selector: str) -> None:
    retry_stale(lambda: _click(driver, selector))


def _click(driver: Any, selector: str) -> None:
    element = driver.find_element(By.CSS_SELECTOR, selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def fill(driver: Any, selector: str, value: str) -> None:
    def once() -> None:
        element = driver.find_element(By.CSS_SELECTOR, selector)
        element.clear()
        element.send_keys(value)

    retry_stale(once)


def retry_stale(action: Any, timeout: float = 5.0) -> None:
    """Run a UI action again when the element was re-rendered between finding and using it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            action()
            return
        except StaleElementReferenceException:
            if time.monotonic() > deadline:
                raise


def confirm_dialog(driver: Any) -> None:
    wait_js(driver, "return document.querySelector('dialog[open]')", what="the confirmation dialog")
    click(driver, "dialog[open] button[value=yes]")


def open_app(driver: Any, server: Any) -> None:
    driver.get(f"{server.url}/#token={server.token}")
    wait_view(driver, "dashboard")


def set_up_sms_in_the_ui(driver: Any, twilio: FakeTwilio, shots: Path) -> None:
    go(driver, "channels")
    card = 'article[data-channel="sms"]'
    driver.execute_script(f"document.querySelector('{card} details').open = true")
    for key, value in twilio.settings().items():
        fill(driver, f"{card} [name={key}]", value)
    click(driver, f"{card} button[type=submit]")
    wait_js(driver, f"return document.querySelector('{card}').dataset.state === 'ready'", what="SMS ready")
    assert driver.execute_script(f"return document.querySelector('{card}').dataset.tone") == "ok"
    secret = driver.find_element(By.CSS_SELECTOR, f"{card} [name=auth_token]")
    assert secret.get_attribute("value") == "" and "Saved" in secret.get_attribute("placeholder")
    shoot(driver, shots, "channels-sms-ready")


def import_contacts_in_the_ui(driver: Any, tmp_path: Path, shots: Path) -> None:
    go(driver, "contacts")
    upload = tmp_path / "customers.csv"
    upload.write_text(CSV, encoding="utf-8")
    click(driver, ".page-actions .btn.primary")
    driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(upload))
    wait_js(driver, "return document.querySelector('.mapping select')", what="the column mapping")
    mapping = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.mapping select')]"
        ".map((s) => [s.dataset.column, s.value]))"
    )
    assert mapping == {"Name": "name", "Mobile": "phone", "Email": "email", "Code": "fields.code"}, mapping
    assert "Ana Silva" in text_of(driver, ".table-wrap")
    shoot(driver, shots, "contacts-import-mapping")
    click(driver, "button[data-action=check-import]")
    wait_js(driver, "return document.querySelector('[data-diff]')", what="what the import will change")
    assert "Nothing has been written yet." in text_of(driver, "section[aria-labelledby=import-title]")
    click(driver, "button[data-action=import]")
    wait_js(driver, "return document.querySelector('[data-imported]')", what="the report, not the diff")
    wait_js(driver, "return document.querySelector('.import-errors')", what="the import report")
    report = text_of(driver, "section[aria-labelledby=import-title]")
    assert "4 new" in report, report
    rejected = text_of(driver, ".import-errors tbody")
    assert "5" in rejected and "phone" in rejected.lower(), rejected
    shoot(driver, shots, "contacts-import-report")
    click(driver, "button[data-action=done]")
    wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 4", what="4 contacts listed")

    eli = driver.execute_script(
        "return [...document.querySelectorAll('tr[data-contact]')].find((r) => r.innerText.includes('Eli'))"
        ".dataset.contact"
    )
    click(driver, f'tr[data-contact="{eli}"] details.opt-outs summary')
    click(driver, f'tr[data-contact="{eli}"] input[aria-label$="opted out of Everything"]')
    wait_js(driver, f"return document.querySelector('tr[data-contact=\"{eli}\"]').innerText.includes('Opted out')")
    fill(driver, "input[type=search]", "chlo")
    wait_js(driver, "return document.querySelectorAll('tr[data-contact]').length === 1", what="the search")
    shoot(driver, shots, "contacts-search")


def compose_and_start(driver: Any, shots: Path, body: str, *, per_minute: int | None = None) -> str:
    go(driver, "compose")
    click(driver, "input[type=radio][value=sms]")
    fill(driver, "form[aria-label='New campaign'] input[type=text]", "Spring reminder")
    fill(driver, "textarea", body)
    wait_js(driver, "return document.querySelector('.preview-bubble').innerText.includes('Hi Ana')", what="preview")
    if per_minute:
        fill(driver, "input[name=per_minute]", str(per_minute))
    warnings = text_of(driver, "form[aria-label='New campaign']")
    assert "opted out" in warnings.lower()
    shoot(driver, shots, "compose")
    click(driver, "form[aria-label='New campaign'] button[type=submit]")
    wait_js(driver, "return document.querySelector('dialog[open]')", what="the summary before sending")
    shoot(driver, shots, "compose-confirm")
    summary = confirm_start(driver)
    assert "now?" in summary and "SMS" in summary and "SMS parts" in summary, summary
    wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the campaign monitor")
    wait_view(driver, "campaigns")
    return driver.execute_script("return location.hash.split('/').pop()")


def test_it_takes_a_user_from_import_to_a_delivered_campaign(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium() as driver:
        open_app(driver, server)
        set_up_sms_in_the_ui(driver, twilio, shots)
        import_contacts_in_the_ui(driver, tmp_path, shots)
        campaign = compose_and_start(driver, shots, "Hi {{ name }}, your code is {{ fields.code }}.")

        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=60, what="the summary")
        assert "Mass messaging complete. Sent: 3, Failed: 0" in text_of(driver, "[data-summary=completed]")
        # Eli opted out in the contacts screen: the monitor names him as left out, and why.
        click(driver, "button[data-tab=left-out]")
        wait_js(driver, "return document.querySelector('[data-list=left-out]').innerText.includes('Eli Smith')")
        assert "opted out of everything" in text_of(driver, "[data-list=left-out]")
        assert "Left out (1)" in text_of(driver, "button[data-tab=left-out]")
        click(driver, "button[data-tab=activity]")
        shoot(driver, shots, f"campaign-{campaign}-summary")
        driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        set_viewport(driver, 420, 900)
        assert driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 0
        shoot(driver, shots, f"campaign-{campaign}-summary-dark-narrow")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        set_viewport(driver, 1280, 800)
        bodies = sorted(m["body"] for m in twilio.created())
        assert bodies == [
            "Hi Ana Silva, your code is A1.",
            "Hi Ben Okafor, your code is B2.",
            "Hi Chloé Müller, your code is C3.",
        ]
        for message in twilio.created():
            # 409: the delivery job's poll of Twilio saw "delivered" first and stored it; the callback repeats it.
            assert twilio.deliver(message["sid"]) in (200, 204, 409)
        wait_js(driver, "return document.querySelector('[data-stat=delivered] .value').innerText === '3'", timeout=30)
        assert driver.execute_script("return document.querySelectorAll('.log-viewport .log-row:not([hidden])').length")
        wait_js(driver, "return document.querySelector('.progress .p-delivered').style.width === '100%'")
        shoot(driver, shots, f"campaign-{campaign}-completed")

        go(driver, "")
        wait_js(driver, f"return document.querySelector('.campaign-row[data-campaign=\"{campaign}\"]')")
        shoot(driver, shots, "dashboard-after-campaign")
        assert js_errors(driver) == []


def test_it_pauses_and_resumes_a_running_campaign(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium() as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        for i in range(1, 7):
            api(server, "POST", "/api/contacts", json={"name": f"Ana {i}", "phone": f"+1415555{i:04d}"})
        open_app(driver, server)
        compose_and_start(driver, shots, "Hi {{ name }}", per_minute=30)

        wait_js(driver, "return document.querySelector('[data-stat=sent] .value').innerText === '1'", timeout=20)
        click(driver, "button[data-action=pause]")
        wait_js(driver, "return document.querySelector('.pill[data-status=paused]')", what="paused")
        sent_when_paused = len(twilio.created())
        shoot(driver, shots, "campaign-paused")
        time.sleep(3)  # a check that nothing happens: at 30 a minute the next send was due within 2 s
        assert len(twilio.created()) == sent_when_paused, "a paused campaign went on sending"

        click(driver, "button[data-action=resume]")
        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=60, what="completion")
        assert len(twilio.created()) == 6
        assert "Sent: 6, Failed: 0" in text_of(driver, "[data-summary=completed]")
        assert js_errors(driver) == []


def test_it_shows_a_conversation_tick_change_live(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    with FakeTwilio() as twilio, chromium() as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        contact = api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "phone": "+14155550101"})
        open_app(driver, server)
        go(driver, f"conversations/contact-{contact['id']}")
        wait_js(driver, "return document.querySelector('.composer textarea')", what="the composer")
        assert driver.find_element(By.CSS_SELECTOR, ".composer input[aria-label=To]").get_attribute("value") == (
            "+14155550101"
        )
        fill(driver, ".composer textarea", "Your parcel is on its way.")
        click(driver, ".composer button[type=submit]")
        wait_js(driver, "return document.querySelector('.bubble[data-tick=sent]')", timeout=20, what="sent tick")
        shoot(driver, shots, "conversation-sent")

        (message,) = twilio.created()
        assert message["body"] == "Your parcel is on its way."
        assert twilio.deliver(message["sid"]) in (200, 204, 409)  # 409: a poll stored it first
        wait_js(driver, "return document.querySelector('.bubble[data-tick=delivered]')", timeout=10, what="delivered")
        assert driver.find_element(By.CSS_SELECTOR, ".bubble .tick").get_attribute("title") == "Delivered"
        shoot(driver, shots, "conversation-delivered")
        assert js_errors(driver) == []


def test_it_lists_failed_messages_retries_them_and_exports_csv(server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with FakeTwilio() as twilio, chromium() as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        for i in range(1, 4):
            api(server, "POST", "/api/contacts", json={"name": f"Ana {i}", "phone": f"+1415555010{i}"})
        twilio.fail("+14155550102", "invalid", times=1)  # refused (Twilio 21211: invalid number, for good)
        open_app(driver, server)
        compose_and_start(driver, shots, "Hi {{ name }}")

        wait_js(driver, "return document.querySelector('[data-summary=completed]')", timeout=60, what="the summary")
        assert "Sent: 2, Failed: 1" in text_of(driver, "[data-summary=completed]")
        click(driver, "button[data-tab=failed]")
        row = wait_js(
            driver, "const r = document.querySelector('table[data-list=failed] tbody tr'); return r && r.innerText"
        )
        assert "+14155550102" in row
        shoot(driver, shots, "campaign-failed-list")

        # An invalid number fails for good: it is not offered for retry, and the row says why.
        assert "Refused for good: not retried" in row
        assert driver.execute_script("return document.querySelector('button[data-action=retry-failed]').disabled")
        assert text_of(driver, "[data-summary=completed] strong") == "Completed with 1 of 3 failed"
        assert len(twilio.created()) == 2

        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        click(driver, "button[data-action='export csv']")
        exported = until_file(downloads, "campaign-")
        text = exported.read_text(encoding="utf-8-sig")
        assert text.splitlines()[0].startswith("Message ID,Recipient")
        assert text.count("+14155550") == 3 and "left out" not in text
        click(driver, "button[data-tab=left-out]")
        wait_js(
            driver, "return document.querySelector('[data-list=left-out]').innerText.includes('Nobody was left out')"
        )
        assert js_errors(driver) == []


def until_file(directory: Path, prefix: str, timeout: float = 10.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in directory.iterdir() if p.name.startswith(prefix) and not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"no {prefix}* file was downloaded to {directory}")
