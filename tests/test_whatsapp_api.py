# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""WhatsApp end to end through the HTTP API of a real server: connect, QR, scan, send, disconnect.

Real Werkzeug server with its dispatchers, real headless Chromium, the fake WhatsApp Web page.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
import requests
from sqlalchemy import select

from backend.store.models import Communication, Lease, Message
from tests.fakes.whatsapp_web import FakeWhatsAppWeb, leftover_browser_processes, wait_until
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)
from tests.helpers import bearer

pytestmark = pytest.mark.browser


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.headers = url, bearer(token)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + path, headers=self.headers, timeout=10, **kwargs)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        items = self.call("GET", "/api/events?limit=1000").json()["items"]
        return [e for e in items if type_ is None or e["type"] == type_]

    def texts(self, type_: str) -> list[str]:
        return [e["text"] for e in self.events(type_)]


def queue_message(api: Api, recipient: str, body: str) -> int:
    """A support reply over WhatsApp, as the conversations view sends it."""
    payload = {"source": "whatsapp", "to": recipient, "body": body}
    answer = api.call("POST", "/api/conversations/support-1/messages", json=payload)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def start_campaign(api: Api, name: str, body: str, contact_ids: list[int]) -> int:
    """A WhatsApp campaign to these contacts, created and started through the API; returns its id."""
    payload = {"name": name, "channel": "whatsapp", "body": body, "recipients": {"contact_ids": contact_ids}}
    campaign = api.call("POST", "/api/campaigns", json=payload)
    assert campaign.status_code == 201, campaign.text
    campaign_id = int(campaign.json()["id"])
    assert api.call("POST", f"/api/campaigns/{campaign_id}/start").status_code in (200, 202)
    return campaign_id


def connect_and_scan(api: Api, fake: FakeWhatsAppWeb) -> None:
    api.call("POST", "/api/channels/whatsapp/connect")
    wait_until(lambda: "Scan QR code to authenticate" in api.texts("channel.status"), what="the QR prompt")
    fake.scan()
    wait_until(lambda: "Client is ready!" in api.texts("channel.status"), what="ready")


def test_it_connects_scans_sends_and_disconnects_through_the_api(start_server, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    fake.configure(invalid_numbers=["12025550100"])
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    services = server.app.extensions["bulkmsg"]
    api = Api(server.url, server.token)

    saved = api.call("PUT", "/api/channels/whatsapp", json={"min_delay_s": 0, "max_delay_s": 0, "daily_cap": 50})
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"] == {"min_delay_s": 0.0, "max_delay_s": 0.0, "daily_cap": 50, "headless": True}

    started = time.monotonic()
    connect = api.call("POST", "/api/channels/whatsapp/connect")
    assert connect.status_code == 202 and time.monotonic() - started < 2, "connect answers before the scan"

    wait_until(lambda: "Scan QR code to authenticate" in api.texts("channel.status"), what="the QR prompt")
    qr = wait_until(lambda: [e for e in api.events("channel.qr") if e["data"]["data_url"]], what="a QR event")
    assert qr[0]["data"]["data_url"].startswith("data:image/png;base64,")
    with services.db.read() as session:
        assert session.get(Lease, "whatsapp:1") is not None, "the session is held through the database lease"

    fake.scan()
    wait_until(lambda: "Client is ready!" in api.texts("channel.status"), what="ready")
    assert api.texts("channel.status") == [
        api.texts("channel.status")[0],  # the settings' own status
        "Starting WhatsApp client...",
        "Initializing WhatsApp client...",
        "Scan QR code to authenticate",
        "Authenticated!",
        "Client is ready!",
    ]
    assert api.events("channel.qr")[-1]["data"]["data_url"] is None
    listed = {c["channel"]: c for c in api.call("GET", "/api/channels").json()}
    assert (listed["whatsapp"]["state"], listed["whatsapp"]["detail"]) == ("ready", "Client is ready!")

    body = "Line one\nLine two: ¿qué tal? 😀"
    sent_id = queue_message(api, "+12025550123", body)
    failed_id = queue_message(api, "+12025550100", "nobody there")
    progress = wait_until(lambda: len(api.events("send.progress")) >= 2 and api.events("send.progress"), what="sends")
    assert {e["text"] for e in progress} == {"Sent to +12025550123", "Failed: not registered"}
    assert [m["text"] for m in fake.sent()] == [body]
    with services.db.read() as session:
        sent, failed = session.get(Message, sent_id), session.get(Message, failed_id)
        assert (sent.status, sent.provider_message_id) == ("sent", fake.sent()[0]["row_id"])
        if fake.state.config.markup == "2025":
            assert sent.provider_message_id == f"true_12025550123@c.us_{fake.sent()[0]['id']}"
        assert (failed.status, failed.last_error) == ("failed", "not registered")

    profile = services.config.data_dir / "whatsapp-profile" / "account-1"
    assert leftover_browser_processes(profile) != []
    assert api.call("POST", "/api/channels/whatsapp/disconnect").status_code == 200
    wait_until(lambda: api.texts("channel.status")[-1] == "Disconnected", what="Disconnected")
    assert leftover_browser_processes(profile) == []
    with services.db.read() as session:
        assert session.scalars(select(Lease)).all() == [], "the lease is released"


def test_it_logs_in_again_by_itself_after_an_app_restart_and_quits_chromium_when_the_app_closes(
    start_server, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    paths = {"whatsapp_url": fake.url, "chromium": chromium_paths[0], "chromedriver": chromium_paths[1]}
    first = start_server(**paths)
    api = Api(first.url, first.token)
    assert api.call("PUT", "/api/channels/whatsapp", json={}).status_code == 200
    connect_and_scan(api, fake)
    profile = first.app.extensions["bulkmsg"].config.data_dir / "whatsapp-profile" / "account-1"

    first.stop(pause_campaigns=False)  # closing the app
    assert leftover_browser_processes(profile) == []

    # Same data directory: the saved WhatsApp profile. The app reconnects by itself, nobody clicks Connect.
    second = start_server(**paths)
    api = Api(second.url, second.token)
    seen = max(i for i, e in enumerate(api.events()) if e["text"] == "Client is ready!") + 1
    wait_until(lambda: "Client is ready!" in [e["text"] for e in api.events()[seen:]], what="ready again")
    after_restart = [e for e in api.events()[seen:] if e["type"] in ("channel.status", "channel.qr")]
    assert [e["text"] for e in after_restart] == [
        "Starting WhatsApp client...",
        "Initializing WhatsApp client...",
        "Authenticated!",
        "Client is ready!",
    ], "no QR: the saved login was used"
    second.stop(pause_campaigns=False)
    assert leftover_browser_processes(profile) == []


def test_it_paces_a_campaign_and_pauses_it_when_whatsapp_says_the_number_is_throttled(
    start_server, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    fake.configure(invalid_numbers=["12025550102"])
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    api = Api(server.url, server.token)
    rate = {"min_delay_s": 1.0, "max_delay_s": 1.5, "daily_cap": 100}
    assert api.call("PUT", "/api/channels/whatsapp", json=rate).status_code == 200
    connect_and_scan(api, fake)

    ids = []
    for n in range(1, 6):
        made = api.call("POST", "/api/contacts", json={"name": f"Guest {n}", "phone": f"+1202555010{n}"})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    campaign_id = start_campaign(api, "Reminder", "Hi {{ name }},\nsee you tomorrow 🙂", ids)

    wait_until(lambda: len(api.events("send.progress")) >= 3, timeout=30, what="three sends")
    fake.configure(throttled=True)  # WhatsApp starts refusing: the campaign must pause, not fail everyone
    wait_until(
        lambda: api.call("GET", f"/api/campaigns/{campaign_id}").json()["status"] == "paused", timeout=30,
        what="the campaign to pause",
    )  # fmt: skip
    progress = api.events("send.progress")
    texts = [e["text"] for e in progress]
    assert texts[:3] == ["Sent to +12025550101", "Failed: not registered", "Sent to +12025550103"]
    assert any("sending messages too quickly" in t for t in texts[3:]), texts
    assert [m["text"] for m in fake.sent()] == ["Hi Guest 1,\nsee you tomorrow 🙂", "Hi Guest 3,\nsee you tomorrow 🙂"]
    counts = api.call("GET", f"/api/campaigns/{campaign_id}").json()["counts"]
    assert (counts["sent"], counts["failed"], counts["queued"]) == (2, 1, 2)
    # Paced: a random pause of 1-1.5 s between sends.
    times = [datetime.fromisoformat(e["ts"].replace("Z", "+00:00")) for e in progress[:3]]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 1.0 for gap in gaps), gaps


def test_it_turns_delivered_and_read_ticks_into_message_updates(start_server, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    api = Api(server.url, server.token)
    assert api.call("PUT", "/api/channels/whatsapp", json={}).status_code == 200
    connect_and_scan(api, fake)

    message_id = queue_message(api, "+12025550123", "did you get this?")
    wait_until(lambda: api.call("GET", f"/api/messages/{message_id}").json()["status"] == "sent", what="sent")
    fake.ack(fake.sent()[-1]["id"], "delivered")

    def settled() -> dict[str, Any] | None:
        for event in api.events("message.updated"):
            shown = event["data"]["message"]
            if shown["id"] == message_id and shown["delivered"] is True:
                return shown
        return None

    shown = wait_until(settled, timeout=30, what="a message.updated with delivered=true")
    assert shown["delivery"] == "delivered" and shown["metadata"]["communication_id"]


def test_it_sends_a_campaign_and_a_reply_and_settles_their_ticks_for_opaque_ids(
    start_server, fake_whatsapp_web, chromium_paths
):
    # Ids like true_<opaque>@lid_<hex> say nothing about the number: the recipient kept beside the message finds
    # its chat again (bare-hex ids: tests/test_whatsapp_send.py). Each chat opens with earlier messages in it.
    fake = fake_whatsapp_web
    fake.configure(id_shape="lid")
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    services = server.app.extensions["bulkmsg"]
    api = Api(server.url, server.token)
    rate = {"min_delay_s": 0, "max_delay_s": 0, "daily_cap": 100}
    assert api.call("PUT", "/api/channels/whatsapp", json=rate).status_code == 200
    connect_and_scan(api, fake)

    made = api.call("POST", "/api/contacts", json={"name": "Zoë", "phone": "+12025550131"})
    assert made.status_code == 201, made.text
    start_campaign(api, "Opaque ids", "Hi {{ name }} 👋\nsee you", [made.json()["id"]])
    wait_until(lambda: len(fake.sent()) == 1, timeout=30, what="the campaign message")
    fake.ack(fake.sent()[0]["id"], "read")  # read before anyone looked: one final answer

    reply_id = queue_message(api, "+12025550132", "Your table is booked ✔")
    wait_until(lambda: len(fake.sent()) == 2, timeout=30, what="the reply")
    fake.ack(fake.sent()[1]["id"], "delivered")
    texts = wait_until(lambda: len(api.events("send.progress")) >= 2 and api.texts("send.progress"), what="progress")
    assert set(texts) == {"Sent to +12025550131", "Sent to +12025550132"}

    def updated() -> dict[int, str]:
        found = {}
        for event in api.events("message.updated"):
            shown = event["data"]["message"]
            if shown["delivered"] is True:
                found[shown["id"]] = shown["delivery"]
        return found if len(found) == 2 else {}

    settled = wait_until(updated, timeout=40, what="both messages settled through message.updated")
    assert settled[reply_id] == "delivered"
    with services.db.read() as session:
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        by_row = {m.provider_message_id: m for m in messages}
        assert set(by_row) == {m["row_id"] for m in fake.sent()}, "the ids of the new rows, not the earlier ones"
        communications = session.scalars(select(Communication)).all()
    assert {c.provider for c in communications} == {"whatsapp"}
    assert {(by_row[c.provider_event_id.rsplit(":", 1)[0]].recipient, c.provider_status) for c in communications} >= {
        ("+12025550131", "read"),
        ("+12025550132", "delivered"),
    }


def test_it_pauses_a_campaign_on_the_restriction_bar_leaves_its_messages_queued_and_keeps_replying(
    start_server, fake_whatsapp_web, chromium_paths
):
    # New chats only: the page replaces their message box by "Your account on linked devices is restricted...".
    fake = fake_whatsapp_web
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    api = Api(server.url, server.token)
    rate = {"min_delay_s": 0, "max_delay_s": 0, "daily_cap": 100}
    assert api.call("PUT", "/api/channels/whatsapp", json=rate).status_code == 200
    connect_and_scan(api, fake)
    first = queue_message(api, "+12025550151", "Your order is ready")  # an existing chat from now on
    wait_until(lambda: api.call("GET", f"/api/messages/{first}").json()["status"] == "sent", what="the first reply")

    fake.configure(new_chats_restricted=True)
    ids = []
    for n in (2, 3, 4):
        made = api.call("POST", "/api/contacts", json={"name": f"Guest {n}", "phone": f"+1202555015{n}"})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    campaign_id = start_campaign(api, "New faces", "Hi {{ name }}", ids)
    words = "WhatsApp says: Your account on linked devices is restricted. You can't start new chats right now."
    paused = wait_until(
        lambda: (c := api.call("GET", f"/api/campaigns/{campaign_id}").json())["status"] == "paused" and c,
        timeout=40,
        what="the campaign to pause",
    )
    assert (paused["counts"]["queued"], paused["counts"]["failed"], paused["counts"]["sent"]) == (3, 0, 0)
    assert words in api.texts("channel.status")
    assert any(words in text for text in api.texts("campaign.status")), api.texts("campaign.status")

    reply = queue_message(api, "+12025550151", "We open at 9")  # the existing chat still sends
    wait_until(lambda: api.call("GET", f"/api/messages/{reply}").json()["status"] == "sent", what="the reply")
    assert [m["text"] for m in fake.sent()] == ["Your order is ready", "We open at 9"]


def test_it_sends_a_campaign_photo_from_the_media_library_end_to_end(start_server, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    api = Api(server.url, server.token)
    assert api.call("PUT", "/api/channels/whatsapp", json={"min_delay_s": 0, "max_delay_s": 0}).status_code == 200
    connect_and_scan(api, fake)
    data = _png()
    media = api.call("POST", "/api/media", files={"file": ("offer.png", data)}).json()
    contact = api.call("POST", "/api/contacts", json={"name": "Ana", "phone": "+14155550101"}).json()
    payload = {"name": "Offer", "channel": "whatsapp", "body": "This week only, {{ first_name }}!",
               "recipients": {"contact_ids": [contact["id"]]}, "attachments": [{"media_id": media["id"]}]}  # fmt: skip
    campaign = api.call("POST", "/api/campaigns", json=payload)
    assert campaign.status_code == 201, campaign.text
    assert api.call("POST", f"/api/campaigns/{campaign.json()['id']}/start").status_code == 200
    wait_until(lambda: any(s["media"] for s in fake.sent()), timeout=60, what="the photo at the page")
    sent = [s for s in fake.sent() if s["media"]][-1]
    assert sent["text"] == "This week only, Ana!" and sent["media"]["data"] == data
    assert sent["media"]["filename"] == "offer.png"


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(out, "PNG")
    return out.getvalue()
