"""Compose's quiet hours and plan, and the monitor's quiet-hours note, in real headless Chromium (issue 24)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.campaign_helpers import configure_smtp
from tests.fakes.twilio import FakeTwilio
from tests.test_ui_flows import click, fill
from tests.timing_support import add_people, configure_sms
from tests.ui_support import chromium, confirm_start, go, screenshot_dir, set_viewport, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_it_shows_the_plan_before_start_and_the_quiet_hours_after(
    start_server: Any, twilio, smtp, tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    account = configure_sms(services, twilio)
    configure_smtp(services, smtp.settings())  # a channel to fall back to (nobody here has an email address)
    add_people(
        services,
        account,
        [{"name": f"Ana {i}", "phone": f"+9198765{i:05d}", "timezone": "Asia/Kolkata"} for i in range(3)],
    )
    opens = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(hours=3)  # closed now, opens in 3 h
    with chromium(1400, 900) as driver:
        driver.get(f"{server.url}/#token={server.token}")
        wait_view(driver, "dashboard")
        go(driver, "compose")
        click(driver, "input[type=radio][value=sms]")
        fill(driver, "form[aria-label='New campaign'] input[type=text]", "Kolkata morning")
        fill(driver, "textarea", "Hi {{ name }}")
        click(driver, "input[name=quiet_hours]")
        for name, value in (("window_start", opens), ("window_end", opens + timedelta(hours=2))):
            driver.execute_script(
                "const i = document.querySelector(`input[name=${arguments[0]}]`); i.value = arguments[1];"
                "i.dispatchEvent(new Event('change'))",
                name,
                value.strftime("%H:%M"),
            )
        for box in driver.find_elements(By.CSS_SELECTOR, "fieldset input[type=checkbox][value]"):
            if not box.is_selected():
                box.click()
        Select(driver.find_element(By.CSS_SELECTOR, "select[name=fallback]")).select_by_value("smtp")
        summary = wait_js(
            driver,
            "const p = document.querySelector('.plan-summary');"
            "return p && !p.closest('[hidden]') && p.innerText.includes('Held back') && p.innerText",
            what="the plan with the window",
        )
        # "from" in the browser's zone (UTC here): when 08:xx in Kolkata comes.
        utc_open = opens.astimezone(UTC)
        assert summary.endswith(f"from {utc_open:%H:%M}. Held back by quiet hours."), summary
        assert summary.startswith("3 today" if utc_open.date() == datetime.now(UTC).date() else "3 tomorrow"), summary
        shoot(driver, shots, "compose-plan-1400")
        set_viewport(driver, 390, 844)
        driver.execute_script("document.querySelector('.plan').scrollIntoView({block: 'center'})")
        shoot(driver, shots, "compose-plan-390")
        set_viewport(driver, 1400, 900)
        click(driver, "form[aria-label='New campaign'] button[type=submit]")
        confirm_start(driver)
        wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the campaign monitor")
        note = wait_js(
            driver,
            "const n = document.querySelector('.limit-note'); return n && !n.hidden && n.innerText",
            what="the quiet-hours note",
        )
        assert note.startswith(f"Quiet hours: 3 messages wait for {opens:%H:%M} in their time zone"), note
        shoot(driver, shots, "monitor-quiet-1400")

        # Duplicate: the copy carries the quiet hours and the fallback, and its plan says the same.
        click(driver, "[data-action=duplicate]")
        wait_view(driver, "compose")
        wait_js(driver, "return document.querySelector('input[name=name]').value.startsWith('Copy of')")
        copied = driver.execute_script(
            "const q = (s) => document.querySelector(s);"
            "return [q('input[name=quiet_hours]').checked, q('input[name=window_start]').value,"
            " q('input[name=window_end]').value, q('select[name=window_timezone]').value,"
            " q('select[name=fallback]').value,"
            " [...document.querySelectorAll('fieldset input[type=checkbox][value]')].filter((b) => b.checked).length]"
        )
        ends = opens + timedelta(hours=2)
        assert copied == [True, f"{opens:%H:%M}", f"{ends:%H:%M}", "recipient", "smtp", 7], copied
        wait_js(
            driver,
            "const p = document.querySelector('.plan-summary');"
            "return p && !p.closest('[hidden]') && p.innerText.includes('Held back by quiet hours')",
            what="the copy's plan",
        )
        driver.execute_script("document.querySelector('.plan').scrollIntoView({block: 'center'})")
        shoot(driver, shots, "compose-copy-timing-1400")
        set_viewport(driver, 390, 844)
        driver.execute_script("document.querySelector('select[name=fallback]').scrollIntoView({block: 'center'})")
        shoot(driver, shots, "compose-copy-timing-390")
