"""Audience in the UI, in real headless Chromium against the real server: the contacts screen shows a tag's
contacts and tags every match (not only the page); compose picks recipients by tags or a small filter with the
live count, and the campaign is created for exactly those contacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.helpers import bearer
from tests.ui_support import (
    chromium,
    confirm_start,
    go,
    js_errors,
    screenshot_dir,
    set_viewport,
    shoot,
    wait_js,
    wait_view,
)

pytestmark = pytest.mark.browser

PEOPLE = [
    ("Ana Silva", "+33612345671", ["VIP", "Lyon"]),
    ("Ben Okafor", "+33612345672", ["vip"]),
    ("Chloé Müller", "+4915112345673", []),
    ("Dev Nguyen", "+4915112345674", ["Lyon"]),
]


def api(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, server.url + path, headers=bearer(server.token), timeout=15, **kwargs)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def test_it_tags_every_match_and_sends_a_campaign_to_a_tag(live_server: Any, tmp_path: Path) -> None:
    server = live_server
    for name, phone, tags in PEOPLE:
        api(server, "POST", "/api/contacts", json={"name": name, "phone": phone, "tags": tags})
    for i in range(30):  # more than a page: "tag all matches" must reach beyond the page shown
        api(
            server,
            "POST",
            "/api/contacts",
            json={"name": f"Lyon fan {i:02d}", "phone": f"+3361234{i:04d}", "tags": ["Lyon"]},
        )
    shots = screenshot_dir(tmp_path)
    with chromium(1400, 900) as driver:
        driver.get(f"{server.url}/#token={server.token}")
        wait_view(driver, "dashboard")
        go(driver, "contacts")
        wait_js(driver, "return document.querySelector('.audience-bar option[value=\"tag:Lyon\"]')", what="tag options")
        Select(driver.find_element(By.CSS_SELECTOR, ".audience-bar select")).select_by_value("tag:Lyon")
        wait_js(driver, "return document.querySelector('.pager').innerText.includes('1–25 of 32')", what="Lyon's page")
        assert len(driver.find_elements(By.CSS_SELECTOR, "tr[data-contact]")) == 25
        driver.find_element(By.CSS_SELECTOR, ".audience-bar input").send_keys("Spring fair")
        driver.find_element(By.XPATH, "//button[normalize-space()='Tag all matches']").click()
        wait_js(driver, "return document.body.innerText.includes('32 of 32 matching contacts tagged')", what="toast")
        shoot(driver, shots, "contacts-audience-1400")
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "contacts-audience-390")
        set_viewport(driver, 1400, 900)
        tagged = api(server, "GET", "/api/contacts", params={"tag": "spring fair", "limit": 100})
        assert tagged["total"] == 32

        go(driver, "compose")
        driver.find_element(By.CSS_SELECTOR, "input[type=radio][value=sms]").click()
        driver.find_element(By.CSS_SELECTOR, "form[aria-label='New campaign'] input[type=text]").send_keys("VIPs")
        driver.find_element(By.CSS_SELECTOR, "textarea").send_keys("Hi {{ name }}")
        driver.find_element(By.CSS_SELECTOR, "input[type=radio][value=tags]").click()
        wait_js(driver, "return document.querySelector('.tag-choices input[value=VIP]')", what="the tags")
        driver.find_element(By.CSS_SELECTOR, ".tag-choices input[value=VIP]").click()
        wait_js(driver, "return document.querySelector('.audience-count').innerText.startsWith('2 contacts match')",
                what="the live count")  # fmt: skip
        shoot(driver, shots, "compose-tags-1400")
        driver.find_element(By.CSS_SELECTOR, "input[type=radio][value=filter]").click()
        wait_js(driver, "return document.querySelector('.filter-row select')", what="the filter builder")
        Select(driver.find_element(By.CSS_SELECTOR, ".filter-row select[aria-label=Field]")).select_by_value("country")
        driver.find_element(By.CSS_SELECTOR, ".filter-row input[aria-label=Value]").send_keys("de")
        wait_js(driver, "return document.querySelector('.audience-count').innerText.startsWith('2 contacts match')",
                what="the filter's count")  # fmt: skip
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "compose-filter-390")
        set_viewport(driver, 1400, 900)
        driver.find_element(By.CSS_SELECTOR, "input[type=radio][value=tags]").click()
        wait_js(driver, "return document.querySelector('.audience-count').innerText.startsWith('2 contacts match')")
        button = driver.find_element(By.CSS_SELECTOR, "form[aria-label='New campaign'] button[type=submit]")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        assert "Send to 2 people now?" in confirm_start(driver)
        wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the campaign monitor")
        campaign_id = driver.execute_script("return location.hash.split('/').pop()")
        campaign = api(server, "GET", f"/api/campaigns/{campaign_id}")
        assert campaign["recipients"]["tags"] == ["VIP"] and campaign["counts"]["total"] == 2
        # A copy goes to the same tags (not to everyone), counted again when it is created.
        go(driver, f"compose/copy/{campaign_id}")
        wait_js(driver, "return document.body.innerText.includes('Same audience as the original (tags: VIP)')",
                what="the copied audience")  # fmt: skip
        assert js_errors(driver) == []
