# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""WhatsApp inbound end to end: a contact writes on the WhatsApp-like page while the channel is connected, and the
message reaches their thread and `/ws` (DESIGN section 8 "Inbound", issue 15 item 5).

Real Werkzeug server with its runtime (dispatchers, the inbound reader), real headless Chromium, the fake WhatsApp
Web page (tests/fakes/whatsapp_web: its chat list shows each unread chat titled by the number with a badge
"N unread messages", the shape 2025 automation code reads; its header says where each shape comes from).
"""

from __future__ import annotations

from typing import Any

import pytest

from backend.channels.whatsapp.channel import WhatsAppChannel
from backend.channels.whatsapp.incoming import phone_of_title
from backend.services import Services
from tests.fakes.whatsapp_web import FakeWhatsAppWeb, StatusRecorder, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)
from tests.helpers import EventSocket
from tests.test_whatsapp_api import Api, connect_and_scan, start_campaign


def start(
    start_server: Any, fake: FakeWhatsAppWeb, paths: tuple[str, str], rate: dict[str, Any]
) -> tuple[Api, Services]:
    server = start_server(whatsapp_url=fake.url, chromium=paths[0], chromedriver=paths[1])
    api = Api(server.url, server.token)
    assert api.call("PUT", "/api/channels/whatsapp", json=rate).status_code == 200
    connect_and_scan(api, fake)
    return api, server.app.extensions["bulkmsg"]


def add_contact(api: Api, name: str, phone: str) -> int:
    made = api.call("POST", "/api/contacts", json={"name": name, "phone": phone})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def thread(api: Api, contact_id: int) -> list[dict[str, Any]]:
    answer = api.call("GET", f"/api/conversations/contact-{contact_id}/messages")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


@pytest.mark.browser
def test_it_puts_what_contacts_write_on_whatsapp_into_their_threads_live(
    start_server, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    api, _ = start(start_server, fake, chromium_paths, {})
    ana = add_contact(api, "Ana", "+12025550141")
    socket = EventSocket(api.url, api.headers["Authorization"].split()[1])
    try:
        fake.receive("12025550141", "Is the shop open today? 🙂")
        created = socket.until(lambda e: e["type"] == "message.created", timeout=20)
    finally:
        socket.close()
    assert created["data"]["conversation_id"] == f"contact-{ana}"
    assert created["data"]["message"]["body"] == "Is the shop open today? 🙂"
    [message] = [m for m in thread(api, ana) if m["direction"] == "in"]
    assert (message["channel"], message["body"], message["recipient"]) == (
        "whatsapp",
        "Is the shop open today? 🙂",
        "+12025550141",
    )
    assert "Hi, is the shop open today?" not in [m["body"] for m in thread(api, ana)], "earlier rows are not re-read"

    # A number nobody knows becomes a contact, titled by the number the page shows.
    fake.receive("12025550199", "Who is this?")

    def newcomer() -> dict[str, Any] | None:
        items = api.call("GET", "/api/contacts").json()["items"]
        return next((c for c in items if c["phone"] == "+12025550199"), None)

    stranger = wait_until(newcomer, what="the unknown sender as a contact")
    assert [m["body"] for m in thread(api, stranger["id"])] == ["Who is this?"]

    # STOP on WhatsApp opts Ana out of whatsapp (not of SMS).
    fake.receive("12025550141", "STOP")
    shown = wait_until(
        lambda: (c := api.call("GET", f"/api/contacts/{ana}").json())["opt_outs"]["whatsapp"] and c,
        what="Ana opted out of whatsapp",
    )
    assert shown["opt_outs"]["whatsapp"]["why"] == "stop" and shown["opt_outs"]["sms"] is None
    assert [m["body"] for m in thread(api, ana) if m["direction"] == "in"] == ["Is the shop open today? 🙂", "STOP"]


@pytest.mark.browser
def test_it_reads_a_message_that_arrives_during_a_campaign_without_breaking_the_sends(
    start_server, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    fake.configure(slow_ms=400)  # each chat takes a moment to open: the message arrives while a send runs
    api, _ = start(start_server, fake, chromium_paths, {"min_delay_s": 0.5, "max_delay_s": 0.5, "daily_cap": 100})
    ids = [add_contact(api, f"Guest {n}", f"+1202555016{n}") for n in range(1, 5)]
    campaign_id = start_campaign(api, "Tomorrow", "Hi {{ name }}, see you tomorrow", ids)

    wait_until(lambda: len(fake.sent()) >= 1, timeout=30, what="the first send")
    fake.receive("12025550162", "Can I bring a friend?")  # Guest 2 writes while the campaign is sending

    done = wait_until(
        lambda: (c := api.call("GET", f"/api/campaigns/{campaign_id}").json())["status"] == "completed" and c,
        timeout=60,
        what="the campaign to complete",
    )
    assert done["counts"]["sent"] == 4 and done["counts"]["failed"] == 0
    assert sorted((m["phone"], m["text"]) for m in fake.sent()) == [
        (f"1202555016{n}", f"Hi Guest {n}, see you tomorrow") for n in range(1, 5)
    ]
    reply = wait_until(
        lambda: [m for m in thread(api, ids[1]) if m["direction"] == "in"], timeout=20, what="Guest 2's message"
    )
    assert [m["body"] for m in reply] == ["Can I bring a friend?"]
    sent_to_guest_2 = [m for m in thread(api, ids[1]) if m["direction"] == "out"]
    assert [m["status"] for m in sent_to_guest_2] == ["sent"]


@pytest.mark.browser
def test_it_finds_the_sender_of_a_chat_titled_by_a_name_from_the_chat_we_opened_or_the_contact_of_that_name(
    start_server, fake_whatsapp_web, chromium_paths
):
    # The phone's address book names these numbers: their chats are titled "Bea Costa", "Carl", "Dora".
    fake = fake_whatsapp_web
    fake.configure(contact_names={"12025550171": "Bea Costa", "12025550172": "Carl", "12025550173": "Dora"})
    api, services = start(start_server, fake, chromium_paths, {"min_delay_s": 0, "max_delay_s": 0, "daily_cap": 100})
    beatriz = add_contact(api, "Beatriz", "+12025550171")  # our name for her differs from the phone's
    carl = add_contact(api, "Carl", "+12025550172")  # never written to: found by the name the page shows
    sent = api.call("POST", f"/api/conversations/contact-{beatriz}/messages", json={"body": "Your order shipped"})
    assert sent.status_code == 201, sent.text
    wait_until(lambda: len(fake.sent()) == 1, timeout=30, what="the message to Beatriz")

    fake.receive("12025550173", "Hello?")  # Dora: a name nobody here knows
    fake.receive("12025550171", "Thanks!")
    fake.receive("12025550172", "Is it ready?")
    assert wait_until(lambda: [m["body"] for m in thread(api, beatriz) if m["direction"] == "in"], timeout=20) == [
        "Thanks!"
    ]
    assert wait_until(lambda: [m["body"] for m in thread(api, carl) if m["direction"] == "in"], timeout=20) == [
        "Is it ready?"
    ]
    wait_until(lambda: not any(m["unread"] for m in fake.chat_rows("12025550173")), what="Dora's chat read")
    assert services.whatsapp_inbound is not None
    services.whatsapp_inbound.run_once()  # waits for the pass that opened Dora's chat to end
    phones = [c["phone"] for c in api.call("GET", "/api/contacts").json()["items"]]
    assert sorted(phones) == ["+12025550171", "+12025550172"], "Dora's number is not known: nothing stored"


def test_it_knows_a_number_from_a_chat_title_only_when_the_title_is_a_number():
    # WhatsApp Web titles a chat with an unsaved number by the number, written internationally (the page may
    # wrap it in direction marks); a saved contact's chat is titled by the phone's name for it.
    assert phone_of_title("+1 202-555-0141") == "+12025550141"
    assert phone_of_title("\u202a+44 20 7946 0958\u202c") == "+442079460958"
    assert phone_of_title("+12025550199") == "+12025550199"
    assert phone_of_title("Ana") is None
    assert phone_of_title("Room 101") is None
    assert phone_of_title("2025550141") is None, "no + : not how the page writes a number"


def test_it_knows_the_number_of_a_chat_titled_by_a_name_once_we_opened_that_chat(tmp_path, chromium_paths):
    # The name a phone's address book gives a number says nothing about it; the chat `/send?phone=` opened
    # for that number (its header title is kept by `send`) does.
    context = whatsapp_context(tmp_path, "http://127.0.0.1:9", StatusRecorder(), chromium_paths)
    channel = WhatsAppChannel({}, {}, context)
    assert channel.sender_phone("Ana Lima") is None
    assert channel.sender_phone("+1 202-555-0141") == "+12025550141"
    channel.remember_chat("Ana Lima", "+12025550141")
    assert channel.sender_phone("Ana Lima") == "+12025550141"
