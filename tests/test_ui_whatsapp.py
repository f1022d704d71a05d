"""WhatsApp on the Channels screen, in real Chromium, against the fake WhatsApp Web page: the QR is shown large
while it rotates, and cleared once the phone is linked; "open in another window" is shown and Connect takes the
session back."""

# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)
from tests.ui_support import chromium, go, js_errors, screenshot_dir, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser

CARD = 'article[data-channel="whatsapp"]'
QR_SRC = f"(document.querySelector('{CARD} .qr-box img') || {{}}).src"


def test_it_shows_the_qr_large_until_the_phone_is_linked(
    start_server: Any, fake_whatsapp_web: Any, chromium_paths: tuple[str, str], tmp_path: Path
) -> None:
    shots = screenshot_dir(tmp_path)
    server = start_server(
        whatsapp_url=fake_whatsapp_web.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1]
    )
    with chromium() as driver:
        driver.get(f"{server.url}/#token={server.token}")
        wait_view(driver, "dashboard")
        go(driver, "channels")
        driver.find_element("css selector", f"{CARD} button[data-action=connect]").click()

        first = wait_js(driver, f"return {QR_SRC}", timeout=30, what="the QR code")
        assert first.startswith("data:image/png;base64,")
        width = driver.execute_script(
            f"return document.querySelector('{CARD} .qr-box img').getBoundingClientRect().width"
        )
        assert width >= 250, f"the QR is {width}px wide; it must be large enough to scan"
        assert driver.execute_script(f"return document.querySelector('{CARD}').dataset.tone") == "warn"
        wait_js(driver, f"return ({QR_SRC} || '') !== {first!r}", timeout=10, what="the QR to rotate")
        shoot(driver, shots, "channels-whatsapp-qr")

        fake_whatsapp_web.scan()
        wait_js(driver, f"return document.querySelector('{CARD}').dataset.state === 'ready'", timeout=30, what="ready")
        assert driver.execute_script(f"return document.querySelector('{CARD} .qr-box').hidden") is True
        assert driver.execute_script(f"return document.querySelector('{CARD}').dataset.tone") == "ok"
        shoot(driver, shots, "channels-whatsapp-ready")

        # WhatsApp Web opened elsewhere: the card says so and Connect takes the session back ("Use here").
        fake_whatsapp_web.open_elsewhere()
        wait_js(driver, f"return document.querySelector('{CARD}').dataset.state === 'conflict'", timeout=15,
                what="the conflict state")  # fmt: skip
        card_text = driver.find_element("css selector", CARD).text
        assert "WhatsApp is open in another window" in card_text
        assert "Click Connect to use WhatsApp here" in card_text
        driver.find_element("css selector", f"{CARD} button[data-action=connect]").click()
        wait_js(driver, f"return document.querySelector('{CARD}').dataset.state === 'ready'", timeout=15, what="ready")
        assert fake_whatsapp_web.use_here_clicks() == 1

        driver.find_element("css selector", f"{CARD} button[data-action=disconnect]").click()
        wait_js(driver, f"return document.querySelector('{CARD}').dataset.state === 'disconnected'", timeout=30)
        assert js_errors(driver) == []
