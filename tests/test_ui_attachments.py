"""Compose with a file, in real headless Chromium: the file is chosen from disk, uploaded to the media library,
shown with its thumbnail, and the saved campaign carries it; a program renamed .pdf is refused with a sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.smtp_server import FakeSmtpServer
from tests.test_media import EXE, png
from tests.test_ui_flows import api, fill, open_app
from tests.ui_support import chromium, go, screenshot_dir, set_viewport, shoot, text_of, wait_js

pytestmark = pytest.mark.browser


def test_it_attaches_an_uploaded_image_and_refuses_a_disguised_program(start_server: Any, tmp_path: Path) -> None:
    shots = screenshot_dir(tmp_path)
    photo, program = tmp_path / "table.png", tmp_path / "invoice.pdf"
    photo.write_bytes(png("green"))
    program.write_bytes(EXE)
    server = start_server()
    with FakeSmtpServer("plain") as smtp, chromium(1400, 900) as driver:
        api(server, "PUT", "/api/channels/smtp", json=smtp.settings())
        api(server, "POST", "/api/contacts", json={"name": "Ana Silva", "email": "ana@example.org"})
        open_app(driver, server)
        go(driver, "compose")
        driver.find_element("css selector", "input[type=radio][value=smtp]").click()
        fill(driver, "form[aria-label='New campaign'] input[type=text]", "Tables")
        fill(driver, "input[name=subject]", "Your table")
        fill(driver, "textarea", "Hi {{ first_name }}, here is your table.")
        picker = driver.find_element("css selector", "[data-part=attachments] input[type=file]")
        picker.send_keys(str(photo))
        wait_js(driver, "return document.querySelector('.file-list .file-thumb img')", what="the thumbnail")
        assert "table.png" in text_of(driver, "[data-part=attachments]")
        assert "25 MB" in text_of(driver, "[data-part=attachments]")
        picker.send_keys(str(program))
        wait_js(driver, "return document.body.innerText.includes('programs and scripts cannot be attached')",
                what="the refusal")  # fmt: skip
        assert "invoice.pdf" not in text_of(driver, "ul[aria-label='Attached files']")
        shoot(driver, shots, "compose-attachments-desktop")
        set_viewport(driver, 390, 844)
        driver.execute_script("document.querySelector('[data-part=attachments]').scrollIntoView()")
        shoot(driver, shots, "compose-attachments-phone")
        set_viewport(driver, 1400, 900)
        driver.find_element("css selector", "button[data-action=save-draft]").click()
        wait_js(driver, "return /^#\\/campaigns\\/\\d+$/.test(location.hash)", what="the saved draft")
        campaign = driver.execute_script("return location.hash.split('/').pop()")
        (media,) = api(server, "GET", "/api/media")["items"]
        assert api(server, "GET", f"/api/campaigns/{campaign}")["attachments"] == [
            {"media_id": media["id"], "as_document": False}
        ]
