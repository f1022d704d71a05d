# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""The whole send flow against a saved copy of real WhatsApp Web markup (tests/fakes/whatsapp_web/real_page.html:
verbatim rows from public DOM dumps of 2023 and 2024, the Lexical composer and send button as 2025 public
material describes them), so a change of our selectors is checked against reality, not only against our fake."""

from __future__ import annotations

import pytest

from backend.channels.base import OutboundMessage
from backend.channels.whatsapp import WhatsAppChannel, rows
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
