"""The SMTP channel's inbox against a real IMAP server (Dovecot): checked when saved, replies threaded to our
Message-IDs or by sender, RFC 3464 delivery reports settle the message and a hard bounce suppresses the address;
nothing is applied twice. SendGrid bounce events suppress the same way (tests/test_sendgrid_webhook.py).

The delivery report below has the shape RFC 3464 section 6 and Postfix's bounce daemon give it:
multipart/report; report-type=delivery-status with a human part, a message/delivery-status part (per-message
fields, then per-recipient Final-Recipient / Action / Status / Diagnostic-Code) and the returned headers
(text/rfc822-headers) (tests/inbox_support.py)."""
# ruff: noqa: F811 - pytest fixtures imported from tests/inbox_support are requested by name

from __future__ import annotations

import requests

from tests.helpers import EventSocket, bearer, wait_for
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


def test_it_checks_the_inbox_when_the_smtp_channel_is_saved(live_server, http, smtp, imap):
    base = live_server.url
    wrong = configure(http, base, smtp, imap, imap_password="not-it")
    assert wrong.status_code == 400
    assert "refused the inbox user name or password" in wrong.json()["message"]
    missing = configure(http, base, smtp, imap, imap_folder="Nowhere")
    assert missing.status_code == 400 and "Nowhere" in missing.json()["message"], imap.log()

    saved = configure(http, base, smtp, imap)
    assert saved.status_code == 200, saved.json()
    shown = saved.json()["settings"]
    assert (shown["imap_password"], shown["imap_folder"], shown["imap_host"]) == ("****", "INBOX", "127.0.0.1")
    assert "inbox INBOX" in saved.json()["detail"]
    assert imap.password not in http.get(f"{base}/api/channels", timeout=5).text
    # the password is bound to the host: pointing the inbox elsewhere asks for it again
    moved = http.put(f"{base}/api/channels/smtp", json={**smtp.settings(), "imap_host": "imap.example.org"}, timeout=20)
    assert moved.status_code == 400
    assert [d["field"] for d in moved.json()["details"]] == ["imap_password"]


def test_it_threads_replies_by_our_message_id_else_by_sender_and_reads_each_mail_once(
    live_server, http, smtp, imap, polled
):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    _message, message_id = sent_email(http, base, smtp, ana["id"])
    assert message_id.startswith("<bulkmsg.1.1.") and len(message_id.split("@")[0].split(".")[3]) == 20

    socket = EventSocket(base, live_server.token, after=None)
    try:
        imap.deliver(reply(message_id, ANA, "Thanks, it arrived!"))
        imap.deliver(reply(None, "bob@example.com", "Do you ship to Norway?", subject="Shipping"))
        done = http.post(f"{base}/api/trigger/inbox", timeout=30).json()
        created = socket.until(lambda e: e["type"] == "message.created" and e["data"]["message"]["direction"] == "in")
    finally:
        socket.close()
    assert (done["read"], done["replies"], done["error"]) == (2, 2, None)
    assert created["data"]["conversation_id"] == f"contact-{ana['id']}"

    thread = http.get(f"{base}/api/conversations/contact-{ana['id']}/messages", timeout=5).json()["items"]
    assert [(m["direction"], m["channel"], m["body"]) for m in thread] == [
        ("out", "smtp", "It shipped today."),
        ("in", "smtp", "Thanks, it arrived!"),
    ]
    assert thread[1]["subject"] == "Re: Your order" and thread[1]["metadata"]["in_reply_to"] == thread[0]["id"]
    # the whole mail, quoted history included, stays one click away
    assert "Your order" in thread[1]["metadata"]["full_text"] and "wrote:" in thread[1]["metadata"]["full_text"]
    people = {c["email"]: c for c in http.get(f"{base}/api/contacts", timeout=5).json()["items"]}
    assert set(people) == {ANA, "bob@example.com"} and people["bob@example.com"]["name"] == "Someone"
    bob_thread = http.get(f"{base}/api/conversations/contact-{people['bob@example.com']['id']}/messages", timeout=5)
    assert [m["body"] for m in bob_thread.json()["items"]] == ["Do you ship to Norway?"]

    again = http.post(f"{base}/api/trigger/inbox", timeout=30).json()
    assert again["read"] == 0
    # our answer in her thread goes back by email, in reply to her mail (her mail program threads it)
    answer = http.post(f"{base}/api/conversations/contact-{ana['id']}/messages", json={"body": "Great!"}, timeout=5)
    assert answer.status_code == 201 and answer.json()["subject"] == "Re: Your order"
    wait_for(lambda: len(smtp.received) == 2, what="the answer to arrive")
    assert answer.json()["recipient"] == ANA
    assert str(smtp.received[-1].message["In-Reply-To"]) == thread[1]["provider_message_id"]
    listed = http.get(f"{base}/api/conversations", timeout=5).json()
    assert sorted(c["unread"] for c in listed["items"]) == [1, 1]


def test_it_files_a_strangers_mail_with_our_message_id_under_the_stranger(live_server, http, smtp, imap, polled):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    _message, message_id = sent_email(http, base, smtp, ana["id"])
    account, number = message_id.split("@")[0].split(".")[1:3]
    guessed = f"<bulkmsg.{account}.{number}@example.com>"  # the old sequential form: no longer ours
    imap.deliver(reply(message_id, "mallory@evil.example", "unsubscribe", subject="unsubscribe"))
    imap.deliver(reply(guessed, "mallory2@evil.example", "Send my order to me instead"))

    done = http.post(f"{base}/api/trigger/inbox", timeout=30).json()

    assert (done["read"], done["replies"]) == (2, 2)
    thread = http.get(f"{base}/api/conversations/contact-{ana['id']}/messages", timeout=5).json()["items"]
    assert [m["direction"] for m in thread] == ["out"]  # nothing filed under Ana
    people = {c["email"]: c for c in http.get(f"{base}/api/contacts", timeout=5).json()["items"]}
    assert set(people) == {ANA, "mallory@evil.example", "mallory2@evil.example"}
    assert people[ANA]["opt_outs"]["email"] is None  # the stranger's "unsubscribe" opted out only the stranger
    assert people["mallory@evil.example"]["opt_outs"]["email"]["why"] == "unsubscribe"
    # and a reply from Ana's thread still goes to Ana
    answer = http.post(f"{base}/api/conversations/contact-{ana['id']}/messages", json={"body": "Hi"}, timeout=5)
    assert answer.status_code == 201 and answer.json()["recipient"] == ANA


def test_it_settles_a_bounced_email_as_undelivered_and_suppresses_a_hard_bounce(live_server, http, smtp, imap, polled):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    message, message_id = sent_email(http, base, smtp, ana["id"])
    imap.deliver(delivery_report(message_id, ANA, status="4.4.1", action="delayed"))

    http.post(f"{base}/api/trigger/inbox", timeout=30)
    delayed = http.get(f"{base}/api/messages/{message['id']}", timeout=5).json()
    assert delayed["delivered"] is None
    assert http.get(f"{base}/api/contacts/{ana['id']}", timeout=5).json()["opt_outs"]["email"] is None

    imap.deliver(delivery_report(message_id, ANA))
    done = http.post(f"{base}/api/trigger/inbox", timeout=30).json()
    assert done["bounces"] == 1
    settled = http.get(f"{base}/api/messages/{message['id']}", timeout=5).json()
    assert (settled["delivered"], settled["delivery"]) == (False, "undelivered")
    assert settled["metadata"]["communication_id"] is not None
    events = http.get(f"{base}/api/events?limit=200", timeout=5).json()["items"]
    [updated] = [e for e in events if e["type"] == "message.updated" and e["data"]["message"]["delivered"] is False]
    assert updated["text"].startswith(f"Not delivered to {ANA}: 550 5.1.1")
    suppressed = http.get(f"{base}/api/contacts/{ana['id']}", timeout=5).json()
    assert suppressed["opt_outs"]["email"]["why"] == "hard_bounce" and suppressed["opted_out"] is False
    news = {"name": "News", "channel": "smtp", "subject": "News", "body": "Hi", "recipients": {"all": True}}
    assert http.post(f"{base}/api/campaigns", json=news, timeout=5).status_code == 400  # Ana was the only one
    assert http.post(f"{base}/api/trigger/inbox", timeout=30).json()["read"] == 0


def test_it_suppresses_an_address_the_mail_server_refuses_as_unknown_while_sending(live_server, http, smtp):
    base = live_server.url
    assert http.put(f"{base}/api/channels/smtp", json=smtp.settings(), timeout=20).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    bo = http.post(f"{base}/api/contacts", json={"name": "Bo", "email": "bo@example.com"}, timeout=5).json()
    smtp.refuse(ANA, "550 5.1.1 <ana@example.com>: Recipient address rejected: User unknown")
    smtp.refuse("bo@example.com", "554 5.7.1 Message rejected as spam")
    sent = [
        http.post(
            f"{base}/api/conversations/contact-{who['id']}/messages",
            json={"source": "email", "subject": "Hi", "body": "Hello"},
            timeout=5,
        ).json()
        for who in (ana, bo)
    ]
    for message in sent:
        wait_for(lambda m=message: http.get(f"{base}/api/messages/{m['id']}", timeout=5).json()["status"] == "failed")

    opt_outs = {c["email"]: c["opt_outs"]["email"] for c in http.get(f"{base}/api/contacts", timeout=5).json()["items"]}
    assert opt_outs[ANA]["why"] == "hard_bounce"  # no such mailbox: never mailed again by a campaign
    assert opt_outs["bo@example.com"] is None  # refused for its content, not its address


def test_it_reads_the_text_of_a_huge_mail_without_loading_its_attachment_and_skips_mail_systems(
    live_server, http, smtp, imap, polled
):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    attachment = ("A" * 76 + "\r\n") * 26_000  # about 2 MB of base64
    huge = (
        "From: Carla <carla@example.com>\r\nTo: news@example.com\r\nSubject: Photos\r\n"
        "Message-ID: <huge-1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="X"\r\n\r\n'
        "--X\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere are the photos of the damage.\r\n"
        "--X\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="a.jpg"\r\n\r\n'
        f"{attachment}--X--\r\n"
    ).encode()
    imap.deliver(huge)
    imap.deliver(reply(None, "MAILER-DAEMON@mx.example.net", "Delivery failed (no report attached)"))

    done = http.post(f"{base}/api/trigger/inbox", timeout=60).json()

    assert (done["read"], done["replies"]) == (2, 1)
    [carla] = http.get(f"{base}/api/contacts", timeout=5).json()["items"]
    [message] = http.get(f"{base}/api/conversations/contact-{carla['id']}/messages", timeout=5).json()["items"]
    assert (carla["email"], message["body"]) == ("carla@example.com", "Here are the photos of the damage.")


def test_it_brings_a_reply_in_within_seconds_through_imap_idle(start_server, smtp, imap):
    live_server = start_server(inbox_poll_s=3600.0)  # no poll during the test: only IDLE can bring the reply
    http = requests.Session()
    http.trust_env = False
    http.headers.update(bearer(live_server.token))
    base = live_server.url
    services = live_server.app.extensions["bulkmsg"]
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    wait_for(lambda: services.inbox_watcher.watching(1), timeout=15, what="the inbox to be in IDLE")

    socket = EventSocket(base, live_server.token, after=None)
    try:
        imap.deliver(reply(None, ANA, "Is my order on its way?", subject="Order"))
        # no trigger and no poll: IDLE announced it (a generous wait: a loaded machine is slow, not wrong)
        created = socket.until(lambda e: e["type"] == "message.created", timeout=60)
    finally:
        socket.close()
    assert created["data"]["conversation_id"] == f"contact-{ana['id']}"
    assert created["data"]["message"]["body"] == "Is my order on its way?"


def auto_reply(sender: str, subject: str, header: str, original_id: str) -> bytes:
    return (
        f"From: Someone <{sender}>\r\nTo: news@example.com\r\nSubject: {subject}\r\n{header}"
        f"Message-ID: <auto-{abs(hash((sender, subject, header)))}@mail.example.org>\r\n"
        f"In-Reply-To: {original_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "I am away until Monday and will answer your mail then.\r\n"
    ).encode()


def test_it_stores_automatic_replies_marked_auto_never_unread_and_never_answers_them(
    live_server, http, smtp, imap, polled
):
    base = live_server.url
    assert configure(http, base, smtp, imap).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "email": ANA}, timeout=5).json()
    _message, message_id = sent_email(http, base, smtp, ana["id"])
    autos = [  # RFC 3834, the X- headers, Precedence, and out-of-office subjects in several languages
        ("Re: Your order", "Auto-Submitted: auto-replied\r\n"),
        ("Re: Your order", "X-Autoreply: yes\r\n"),
        ("Re: Your order", "X-Autorespond: Out of office\r\n"),
        ("Re: Your order", "Precedence: bulk\r\n"),
        ("Abwesenheitsnotiz: Your order", ""),
        ("Réponse automatique : Your order", ""),
        ("Automatic reply: Your order", ""),
    ]
    for subject, header in autos:
        imap.deliver(auto_reply(ANA, subject, header, message_id))
    imap.deliver(reply(message_id, ANA, "Thanks, it arrived!", subject="Re: Your order"))

    done = http.post(f"{base}/api/trigger/inbox", timeout=60).json()

    assert (done["read"], done["auto"], done["replies"]) == (len(autos) + 1, len(autos), 1)
    thread = http.get(f"{base}/api/conversations/contact-{ana['id']}/messages", timeout=5).json()["items"]
    inbound = [m for m in thread if m["direction"] == "in"]
    assert [m["metadata"].get("auto", False) for m in inbound] == [True] * len(autos) + [False]
    assert all(m["metadata"]["auto_reason"] for m in inbound[:-1])
    [listed] = http.get(f"{base}/api/conversations", timeout=5).json()["items"]
    assert listed["unread"] == 1  # only the person's reply
    assert len(smtp.received) == 1  # nothing was sent back to any of them
