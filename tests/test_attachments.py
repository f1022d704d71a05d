"""Campaign attachments end to end (DESIGN section 15): a file from the media library reaches aiosmtpd as a
MIME attachment (RFC 2231 name) and the Twilio-speaking server as an MMS fetched from its signed link; what a
channel cannot carry is refused with a sentence before anything is queued."""

from __future__ import annotations

import io
from typing import Any

import requests
from sqlalchemy import select

from backend.runtime import Runtime
from backend.store.models import Media, Message, utcnow
from tests.campaign_helpers import wait_status
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer, wait_for
from tests.test_media import PDF, png

PHOTO = png("blue")


def upload(client: Any, auth: dict[str, str], data: bytes, name: str) -> dict[str, Any]:
    answer = client.post("/api/media", data={"file": (io.BytesIO(data), name)}, headers=auth)
    assert answer.status_code in (200, 201), answer.get_json()
    return answer.get_json()


def contact(client: Any, auth: dict[str, str], **fields: Any) -> int:
    answer = client.post("/api/contacts", json=fields, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return int(answer.get_json()["id"])


def email_campaign(**changes: Any) -> dict[str, Any]:
    return {"name": "Menu", "channel": "smtp", "subject": "This week", "body": "See the menu attached.",
            "recipients": {"all": True}, **changes}  # fmt: skip


def test_it_mails_the_file_as_an_attachment_with_its_name_intact(client, auth, services, smtp, account, app):
    contact(client, auth, name="Ana", email="ana@example.org")
    menu = upload(client, auth, PDF, "Menü März.pdf")
    created = client.post("/api/campaigns", json=email_campaign(attachments=[{"media_id": menu["id"]}]), headers=auth)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["attachments"] == [{"media_id": menu["id"], "as_document": False}]
    runtime = Runtime(app)
    runtime.start()
    try:
        client.post(f"/api/campaigns/{created.get_json()['id']}/start", headers=auth)
        wait_status(client, auth, created.get_json()["id"], "completed")
    finally:
        runtime.stop()
    (mail,) = smtp.received
    assert mail.message.get_content_type() == "multipart/mixed"
    (part,) = list(mail.message.iter_attachments())
    assert part.get_filename() == "Menü März.pdf" and part.get_content_type() == "application/pdf"
    assert part.get_content() == PDF
    assert b"filename*=utf-8''Men%C3%BC%20M%C3%A4rz.pdf" in mail.raw


def test_it_refuses_files_over_the_servers_size_before_queueing_and_at_send(client, auth, services, app, tmp_path):
    from backend.channels.base import Attachment, ChannelContext, OutboundMessage, SendError
    from backend.channels.smtp.channel import SmtpChannel
    from tests.campaign_helpers import configure_smtp

    with FakeSmtpServer("plain", size_limit=4000) as small:
        configure_smtp(services, small.settings())
        contact(client, auth, name="Ana", email="ana@example.org")
        big = upload(client, auth, PDF + b"%" + b"0" * 4000 + b"\n", "big.pdf")
        made = client.post("/api/campaigns", json=email_campaign(attachments=[{"media_id": big["id"]}]), headers=auth)
        assert made.status_code == 400, made.get_json()
        assert "the mail server takes at most 4 KB" in made.get_json()["message"]
        assert made.get_json()["details"][0]["field"] == "attachments"
        # A server whose limit was not known when the campaign was made: the send refuses the one message.
        plain, secrets = SmtpChannel.validate_settings(small.settings())
        channel = SmtpChannel(plain, secrets, ChannelContext(account_id=1, data_dir=tmp_path))
        path = tmp_path / "big.pdf"
        path.write_bytes(b"%PDF-1.4\n" + b"0" * 6000)
        file = Attachment("big.pdf", "application/pdf", path=path)
        message = OutboundMessage(
            id=9,
            account_id=1,
            channel="smtp",
            recipient="ana@example.org",
            body="Hi",
            subject="Files",
            attachments=(file,),
        )
        try:
            channel.send(message)
            raise AssertionError("a message over the server's SIZE was sent")
        except SendError as exc:
            assert exc.permanent and "the mail server takes at most" in exc.reason
        finally:
            channel.close()
        assert small.received == []


def test_it_sends_an_mms_that_twilio_fetches_from_the_signed_link(start_server: Any) -> None:
    with FakeTwilio() as twilio:
        port = __import__("tests.ui_support", fromlist=["free_port"]).free_port()
        server = start_server(port=port, public_url=f"http://127.0.0.1:{port}")
        auth = bearer(server.token)
        session = requests.Session()
        session.headers.update(auth)
        assert session.put(f"{server.url}/api/channels/sms", json=twilio.settings(), timeout=30).ok
        assert session.post(f"{server.url}/api/contacts", json={"name": "Ana", "phone": "+14155550101"}, timeout=10).ok
        photo = session.post(f"{server.url}/api/media", files={"file": ("table.png", PHOTO)}, timeout=10).json()
        body = {"name": "MMS", "channel": "sms", "body": "Your table", "recipients": {"all": True},
                "attachments": [{"media_id": photo["id"]}]}  # fmt: skip
        campaign = session.post(f"{server.url}/api/campaigns", json=body, timeout=30)
        assert campaign.status_code == 201, campaign.text
        campaign_id = campaign.json()["id"]
        assert session.post(f"{server.url}/api/campaigns/{campaign_id}/start", timeout=10).ok

        def sent() -> dict[str, Any] | None:
            view = session.get(f"{server.url}/api/campaigns/{campaign_id}", timeout=10).json()
            return view if view["status"] == "completed" else None

        wait_for(sent, timeout=60, what="the MMS campaign to complete")
        (message,) = twilio.messages.values()
        assert twilio.media_of(message["sid"]) == [("image/png", PHOTO)]
        assert message["num_media"] == "1"
        (create,) = [r for r in twilio.received if r.method == "POST"]
        assert create.form["MediaUrl"].startswith(f"http://127.0.0.1:{port}/m/")
        assert session.get(create.form["MediaUrl"].replace("/m/", "/m/x"), timeout=10).status_code == 403


def _sms_ready(services: Any, account: int, public_url: str | None) -> None:
    from backend.store.models import Account

    with services.db.write() as session:
        row = session.get(Account, account)
        row.settings = {**(row.settings or {}), "public_url": public_url} if public_url else {}


def test_it_refuses_what_a_channel_cannot_carry_before_queueing(client, auth, services, account):
    contact(client, auth, name="Ana", email="ana@example.org", phone="+447911123456")
    contact(client, auth, name="Bo", email="bo@example.org", phone="+14155550102")
    photo = upload(client, auth, PHOTO, "p.png")
    doc = upload(client, auth, b"a,b\n1,2\n", "list.csv")

    def refused(body: dict[str, Any]) -> str:
        answer = client.post("/api/campaigns", json={"name": "X", "body": "Hi", "recipients": {"all": True}, **body},
                             headers=auth)  # fmt: skip
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["details"][0]["field"] == "attachments"
        return answer.get_json()["message"]

    sms = {"channel": "sms", "attachments": [{"media_id": photo["id"]}]}
    assert "public URL" in refused(sms)
    _sms_ready(services, account, "https://shop.example.org")
    assert "1 recipient is outside the US and Canada (+1)" in refused(sms)
    assert "not list.csv" in refused({"channel": "sms", "attachments": [{"media_id": doc["id"]}]})
    with services.db.write() as session:
        many = [
            Media(
                account_id=account,
                filename=f"f{i}.png",
                content_type="image/png",
                kind="image",
                size=10,
                sha256=f"{i:064x}",
                created_at=utcnow(),
            )  # fmt: skip
            for i in range(11)
        ]
        session.add_all(many)
        huge = Media(account_id=account, filename="huge.pdf", content_type="application/pdf", kind="document",
                     size=26 * 1024 * 1024, sha256="f" * 64, created_at=utcnow())  # fmt: skip
        session.add(huge)
        session.flush()
        ids, huge_id = [m.id for m in many], huge.id
    assert "at most 10 files, not 11" in refused({"channel": "sms", "attachments": [{"media_id": i} for i in ids]})
    assert "at most 25 MB" in refused(email_campaign(attachments=[{"media_id": huge_id}]) | {"name": "X"})
    assert "a WhatsApp message carries one file, not 2" in refused(
        {"channel": "whatsapp", "attachments": [{"media_id": photo["id"]}, {"media_id": doc["id"]}]}
    )
    with services.db.write() as session:
        video = Media(account_id=account, filename="clip.mp4", content_type="video/mp4", kind="video",
                      size=17 * 1024 * 1024, sha256="e" * 64, created_at=utcnow())  # fmt: skip
        session.add(video)
        session.flush()
        video_id = video.id
    assert "at most 16 MB" in refused({"channel": "whatsapp", "attachments": [{"media_id": video_id}]})
    assert "no file with id 999999" in refused(email_campaign(attachments=[{"media_id": 999999}]))
    assert "attached twice" in refused(email_campaign(attachments=[{"media_id": photo["id"]}] * 2))
    with services.db.read() as session:
        assert session.scalars(select(Message)).all() == []


def test_it_keeps_a_file_that_a_draft_still_uses(client, auth, account):
    contact(client, auth, name="Ana", email="ana@example.org")
    menu = upload(client, auth, PDF, "menu.pdf")
    made = client.post("/api/campaigns", json=email_campaign(attachments=[{"media_id": menu["id"]}]), headers=auth)
    assert made.status_code == 201
    answer = client.delete(f"/api/media/{menu['id']}", headers=auth)
    assert answer.status_code == 409 and "“Menu”" in answer.get_json()["message"]
    assert client.post(f"/api/campaigns/{made.get_json()['id']}/cancel", headers=auth).status_code == 200
    assert client.delete(f"/api/media/{menu['id']}", headers=auth).status_code == 204


def test_it_sends_a_file_with_a_one_to_one_reply(client, auth, smtp, account, app):
    ana = contact(client, auth, name="Ana", email="ana@example.org")
    menu = upload(client, auth, PDF, "menu.pdf")
    runtime = Runtime(app)
    runtime.start()
    try:
        answer = client.post(
            f"/api/conversations/contact-{ana}/messages",
            json={
                "source": "email",
                "to": "ana@example.org",
                "subject": "The menu",
                "body": "Here it is.",
                "attachments": [{"media_id": menu["id"]}],
            },  # fmt: skip
            headers=auth,
        )
        assert answer.status_code == 201, answer.get_json()
        wait_for(lambda: smtp.received, timeout=30, what="the reply to arrive")
    finally:
        runtime.stop()
    (mail,) = smtp.received
    (part,) = list(mail.message.iter_attachments())
    assert part.get_filename() == "menu.pdf" and part.get_content() == PDF
    refused = client.post(
        f"/api/conversations/contact-{ana}/messages",
        json={
            "source": "email",
            "to": "ana@example.org",
            "subject": "x",
            "body": "y",
            "attachments": [{"media_id": 0}],
        },
        headers=auth,
    )
    assert refused.status_code == 400 and refused.get_json()["details"][0]["field"] == "attachments"
