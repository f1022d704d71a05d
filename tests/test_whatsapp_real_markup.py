# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""The whole send flow against a saved copy of real WhatsApp Web markup (tests/fakes/whatsapp_web/real_page.html:
verbatim rows from public DOM dumps of 2023 and 2024, the Lexical composer and send button as 2025 public
material describes them), so a change of our selectors is checked against reality, not only against our fake.
Also one verbatim row of the 2026 page (tests/fakes/whatsapp_web/real_rows_2026.html, captured 26 August 2026)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from backend.channels.base import OutboundMessage
from backend.channels.whatsapp import WhatsAppChannel, rows
from backend.channels.whatsapp.browser import BrowserConfig, start_browser
from tests.fakes.whatsapp_web import FakeWhatsAppWeb, StatusRecorder, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import chromium_paths  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

#: the outgoing row of the 2024 dump, already in the chat (its tick says " Leído ": read, in Spanish).
EARLIER_ID = "true_593998557785@c.us_3EB04F7528778CD583D844_out"


def test_it_sends_and_follows_the_ticks_on_real_markup(tmp_path, chromium_paths):
    with FakeWhatsAppWeb(page="real") as fake:
        recorder = StatusRecorder()
        channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake.url, recorder, chromium_paths))
        try:
            channel.connect()
            assert channel.wait_ready(15), recorder.texts()

            body = "Hola Johan,\nyour documents are ready ✅\n\n— Zoë 🙂"
            provider_id = channel.send(
                OutboundMessage(id=1, account_id=1, channel="whatsapp", recipient="+593 99 855 7785", body=body)
            )
            (arrived,) = fake.sent()
            assert (arrived["phone"], arrived["text"]) == ("593998557785", body)
            assert provider_id == arrived["row_id"] != EARLIER_ID, "the row that was not there before"

            shown = channel.session.run(lambda driver, stop: rows.read_outgoing(driver), 10)
            assert [r.row_id for r in shown] == [EARLIER_ID, provider_id]
            assert shown[0].status == "delivered", "a double tick; its label is not in English, so not read"
            assert shown[1].text == body

            fake.ack(arrived["id"], "delivered")
            delivered = wait_until(lambda: _report(channel, provider_id, "delivered"), what="delivered")
            assert (delivered.provider, delivered.success) == ("whatsapp", True)
            fake.ack(arrived["id"], "read")
            assert wait_until(lambda: _report(channel, provider_id, "read"), what="read").success is True
        finally:
            channel.close()


def _report(channel: WhatsAppChannel, provider_id: str, status: str):
    report = channel.fetch_delivery(provider_id, "+593998557785")
    return report if report is not None and report.status == status else None


REAL_ROW_2026 = Path(__file__).parent / "fakes" / "whatsapp_web" / "real_rows_2026.html"


def test_it_reads_a_real_2026_row_as_ours_and_delivered_not_read(tmp_path, chromium_paths):
    # A verbatim row of 26 August 2026 (Spanish interface): " Entregado " over the double tick `wds-ic-read`.
    browser = start_browser(
        BrowserConfig(profile_dir=tmp_path / "profile", chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    )
    try:
        html = REAL_ROW_2026.read_text(encoding="utf-8")
        browser.driver.get("data:text/html;charset=utf-8," + quote(html))
        (row,) = rows.read_rows(browser.driver)
    finally:
        browser.quit()
    assert (row.row_id, row.outgoing, row.status) == ("3EB07DC7F8222875F0598F", True, "delivered")
    assert row.text is not None and row.text.startswith("Pedido — Sagrado Sushi") and "Total: $74.950" in row.text
    assert row.time == "12:33 a. m., 26/8/2026"
