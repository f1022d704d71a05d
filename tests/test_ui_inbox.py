"""The contact's thread in real headless Chromium (1400x900 and a 390x844 phone) after the inbox read a bounce,
an automatic reply and a reply with quoted history through the real Dovecot inbox (issue 22 item 4): each says
what it is in words, and the whole mail is one click away."""
# ruff: noqa: F811 - pytest fixtures imported from tests/inbox_support are requested by name

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests import hostile_mail
from tests.inbox_support import (  # noqa: F401 - fixtures
    ANA,
    configure,
    delivery_report,
    http,
    imap,
    polled,
    reply,
    sent_email,
    smtp,
)
from tests.test_email_inbox import auto_reply
from tests.ui_support import chromium, go, js_errors, screenshot_dir, set_viewport, shoot, text_of, wait_js

pytestmark = pytest.mark.browser


def test_it_shows_a_bounce_and_an_automatic_reply_in_words_in_the_thread(
    live_server, http, smtp, imap, polled, tmp_path: Path
):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana Silva", "email": ANA}, timeout=5).json()
    _message, message_id = sent_email(http, base, smtp, ana["id"])
    imap.deliver(auto_reply(ANA, "Out of office: Your order", "Auto-Submitted: auto-replied\r\n", message_id))
    imap.deliver(reply(message_id, ANA, "Thanks, it arrived!"))
    imap.deliver(delivery_report(message_id, ANA))
    imap.deliver(hostile_mail.poison_mails()["From: <"])
    done = http.post(f"{base}/api/trigger/inbox", timeout=60).json()
    assert (done["auto"], done["replies"], done["bounces"], done["unreadable"]) == (1, 1, 1, 1)

    shots = screenshot_dir(tmp_path)
    with chromium(1400, 900) as driver:
        driver.get(f"{base}/#token={live_server.token}")
        go(driver, f"conversations/contact-{ana['id']}")
        wait_js(driver, "return document.querySelectorAll('.thread-body .bubble').length === 3", what="the thread")
        bounce = text_of(driver, ".bubble.out .bounce-line")
        assert bounce.startswith("Bounced (5.1.1):") and "User unknown" in bounce and "no longer mailed" in bounce
        assert "Automatic reply (Auto-Submitted: auto-replied)" in text_of(driver, ".bubble.auto .auto-line")
        person = driver.find_elements(By.CSS_SELECTOR, ".bubble.in:not(.auto)")[-1]
        assert person.find_element(By.CSS_SELECTOR, ".text").text == "Thanks, it arrived!"
        person.find_element(By.CSS_SELECTOR, ".whole-mail summary").click()
        assert "wrote:" in person.find_element(By.CSS_SELECTOR, ".whole-mail pre").text
        shoot(driver, shots, "thread-bounce-auto-reply")
        set_viewport(driver, 390, 844)
        shoot(driver, shots, "thread-bounce-auto-reply-phone")
        set_viewport(driver, 1400, 900)
        go(driver, "channels")
        wait_js(driver, "return document.querySelector('[data-channel=smtp] .inbox-status:not([hidden])')", what="it")
        status = text_of(driver, "[data-channel=smtp] .inbox-status")
        assert status == "Inbox: 1 mail could not be read; it stays in the mail folder."
        shoot(driver, shots, "channels-inbox-set-aside")
        assert js_errors(driver) == []
