"""Compose, in real headless Chromium: variations and the SMS length hint. The preview shows what the chosen
contact gets, the note names the parts, the encoding and the character that forces Unicode, and the draft keeps
exactly the texts the preview showed (the seed travels from the preview to the campaign)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.twilio import FakeTwilio
from tests.test_ui_flows import api, fill, open_app
from tests.ui_support import chromium, go, screenshot_dir, set_viewport, shoot, text_of, wait_js

pytestmark = pytest.mark.browser


def test_it_shows_parts_encoding_and_variants_and_keeps_the_previewed_text(start_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server()
    with FakeTwilio() as twilio, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        ana = api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "phone": "+14155550101"})["id"]
        open_app(driver, server)
        go(driver, "compose")
        driver.find_element("css selector", "input[type=radio][value=sms]").click()
        fill(driver, "form[aria-label='New campaign'] input[type=text]", "Variants")
        fill(driver, "textarea", "{Hi|Hello|Hey} {{ first_name }} 😀, your table is ready.")
        wait_js(driver, "return document.querySelector('.preview-bubble').innerText.includes('Ana')", what="preview")
        wait_js(driver, "return document.querySelector('.sticky-side').innerText.includes('SMS part')", what="note")
        note = text_of(driver, ".sticky-side")
        assert "UCS-2, 1 SMS part" in note and "“😀” needs Unicode" in note and "3 variants" in note, note
        shown = text_of(driver, ".preview-bubble")
        shoot(driver, shots, "compose-variations-desktop")
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "compose-variations-phone")
        set_viewport(driver, 1400, 900)
        driver.find_element("css selector", "button[data-action=save-draft]").click()
        wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the saved draft")
        campaign = driver.execute_script("return location.hash.split('/').pop()")
        messages = api(server, "GET", f"/api/campaigns/{campaign}/messages")["items"]
        assert [m["body"] for m in messages if m["recipient"] == "+14155550101"] == [shown.strip()], (shown, messages)
        assert ana


def test_it_offers_to_replace_a_misspelt_placeholder(start_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server()
    with FakeTwilio() as twilio, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/sms", json=twilio.settings())
        api(server, "POST", "/api/contacts", json={"name": "Ana", "phone": "+14155550101", "fields": {"Ville": "Lyon"}})
        open_app(driver, server)
        go(driver, "compose")
        driver.find_element("css selector", "input[type=radio][value=sms]").click()
        fill(driver, "textarea", "See you in {{ Vile }}!")
        wait_js(driver, "return document.body.innerText.includes('did you mean {{ fields.Ville }}?')", what="hint")
        shoot(driver, shots, "compose-placeholder-suggestion")
        button = [b for b in driver.find_elements("css selector", "[data-warning] button") if "Replace" in b.text]
        button[0].click()
        wait_js(driver, "return document.querySelector('.preview-bubble').innerText.includes('See you in Lyon!')")
        assert (
            driver.find_element("css selector", "textarea").get_attribute("value") == "See you in {{ fields.Ville }}!"
        )
