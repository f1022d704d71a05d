"""The Sequences page in real headless Chromium (issue 30): build a two-step sequence, start it, enrol everyone,
watch the funnel count the first step as sent by the live job and dispatcher, pause and resume; screenshots at
desktop and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.fakes.twilio import FakeTwilio
from tests.test_ui_flows import click, fill
from tests.timing_support import add_people, configure_sms, phones
from tests.ui_support import chromium, go, js_errors, screenshot_dir, set_viewport, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def funnel_cell(driver: Any, step: int, column: int) -> str:
    return str(
        driver.execute_script(
            "const r = document.querySelector(`table.funnel tr[data-step='${arguments[0]}']`);"
            "return r ? r.children[arguments[1]].innerText.trim() : ''",
            step,
            column,
        )
    )


def test_it_builds_starts_enrols_and_pauses_a_sequence(start_server: Any, twilio, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    account = configure_sms(services, twilio)
    add_people(services, account, [{**p, "name": n} for p, n in zip(phones(2), ["Ana Lima", "Bo Berg"], strict=True)])
    with chromium(1400, 900) as driver:
        driver.get(f"{server.url}/#token={server.token}")
        wait_view(driver, "dashboard")
        go(driver, "compose")
        wait_view(driver, "compose")
        click(driver, "[data-action=new-sequence]")  # compose leads to the sequence editor
        wait_js(driver, "return document.querySelector('fieldset.step textarea[name=body]')")
        fill(driver, "input[name=name]", "Welcome series")
        driver.find_element(By.CSS_SELECTOR, "select[name=channel] option[value=sms]").click()
        bodies = driver.find_elements(By.CSS_SELECTOR, "fieldset.step textarea[name=body]")
        bodies[0].send_keys("Welcome, {{ name }}!")
        bodies[1].send_keys("Still with us, {{ name }}?")
        shoot(driver, shots, "sequence-editor-desktop")
        click(driver, "button[type=submit]")
        wait_js(
            driver,
            "return location.hash.match(/#\\/sequences\\/\\d+$/) && document.querySelector('[data-action=start]')",
        )
        click(driver, "[data-action=start]")
        wait_js(driver, "return document.querySelector('[data-action=pause]')", what="the Pause button once running")
        click(driver, "#main button.btn.primary:not([data-action])")  # Enrol: everyone
        wait_js(driver, "return document.querySelector('.enrol-result').innerText.includes('2 enrolled')")
        wait_js(driver, "return document.querySelectorAll('tr[data-enrollment]').length === 2")
        # The live server's job queues the first step and the dispatcher sends it: the funnel says so.
        wait_js(
            driver,
            "const r = document.querySelector(`table.funnel tr[data-step='1']`);"
            "return r && r.children[3].innerText.trim() === '2'",
            timeout=40,
            what="step 1 sent to both",
        )
        assert funnel_cell(driver, 1, 2).endswith("2") and funnel_cell(driver, 2, 3) == "0"
        assert sorted(m["body"] for m in twilio.created()) == ["Welcome, Ana Lima!", "Welcome, Bo Berg!"]
        shoot(driver, shots, "sequence-monitor-desktop")
        click(driver, "[data-action=pause]")
        wait_js(driver, "return document.querySelector('[data-action=resume]')", what="paused")
        click(driver, "[data-action=resume]")
        wait_js(driver, "return document.querySelector('[data-action=pause]')", what="running again")
        click(driver, "[data-action=edit]")
        wait_js(driver, "return document.querySelectorAll('fieldset.step').length === 2")
        last = driver.find_elements(By.CSS_SELECTOR, "fieldset.step textarea[name=body]")[1]
        last.clear()
        last.send_keys("One more thing, {{ name }}.")
        driver.execute_script("document.querySelector('#main form').requestSubmit()")  # a toast may cover Save
        wait_js(
            driver,
            "return document.querySelector('.steps-list') && document.querySelector('.steps-list').innerText"
            ".includes('One more thing')",
            what="the changed step on the monitor",
        )
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "sequence-monitor-phone")
        go(driver, "compose")
        wait_view(driver, "compose")
        shoot(driver, shots, "compose-phone")
        go(driver, "sequences")
        wait_js(driver, "return document.querySelector('tr[data-sequence]')")
        assert "Welcome series" in driver.find_element(By.CSS_SELECTOR, "tr[data-sequence]").text
        shoot(driver, shots, "sequence-list-phone")
        set_viewport(driver, 1400, 900)
        shoot(driver, shots, "sequence-list-desktop")
        assert js_errors(driver) == []
