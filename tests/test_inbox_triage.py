"""The inbox's triage: filters (unread, needs reply, open, done, channel, tag), a done state that a new message
from the contact reopens (an automatic reply does not), saved replies, and list previews cut by grapheme
clusters, on SQLite and PostgreSQL (the filters are SQL on JSON and aggregates that differ between them)."""

from __future__ import annotations

import pytest

from tests.test_conversation_threads import config, configure_directly, new_contact, receive  # noqa: F401 (config: the fixture)

BOTH_STORES = pytest.mark.parametrize("store", ["sqlite", "postgresql"])  # the `config` fixture reads it
ANA, BEN, CID = "+14155552671", "+14155552672", "+14155552673"


def ids(client, auth, **query) -> list[str]:
    response = client.get("/api/conversations", query_string=query, headers=auth)
    assert response.status_code == 200, response.get_json()
    page = response.get_json()
    assert page["total"] == len(page["items"])
    return [item["id"] for item in page["items"]]


@BOTH_STORES
def test_it_filters_threads_and_keeps_done_until_the_contact_writes_again(client, auth, services, store):
    configure_directly(services, "sms")
    ana = new_contact(client, auth, name="Ana", phone=ANA, email="ana@example.com")
    ben = new_contact(client, auth, name="Ben", phone=BEN, tags=["VIP"])
    receive(services, "sms", ANA, "Where is my parcel?", "SM1")
    receive(services, "sms", BEN, "Thanks!", "SM2")
    client.post(f"/api/conversations/contact-{ben['id']}/messages", json={"body": "You're welcome"}, headers=auth)
    receive(services, "smtp", "cid@example.com", "Hello from Cid", "imap:1:1")
    a, b = f"contact-{ana['id']}", f"contact-{ben['id']}"
    (c,) = set(ids(client, auth)) - {a, b}

    assert ids(client, auth, view="unread") == [c, b, a]
    counts = client.get("/api/conversations", headers=auth).get_json()["counts"]
    assert counts == {"all": 3, "unread": 3, "needs_reply": 2, "open": 3, "done": 0}
    sms = client.get("/api/conversations?channel=sms&view=done", headers=auth).get_json()["counts"]
    assert sms == {"all": 2, "unread": 2, "needs_reply": 1, "open": 2, "done": 0}  # the view does not narrow them
    assert ids(client, auth, view="needs_reply") == [c, a]  # Ben got an answer
    assert ids(client, auth, channel="email") == [c]
    assert ids(client, auth, channel="sms", tag="vip") == [b]  # the tag's name folded
    client.post(f"/api/conversations/{c}/read", headers=auth)
    assert ids(client, auth, view="unread") == [b, a]

    done = client.post(f"/api/conversations/{a}/done", headers=auth)
    assert done.get_json() == {"id": a, "done": True}
    assert ids(client, auth, view="done") == [a]
    assert ids(client, auth, view="open") == [c, b]
    assert client.get("/api/conversations", headers=auth).get_json()["counts"]["done"] == 1
    assert a not in ids(client, auth, view="needs_reply")
    assert client.get(f"/api/conversations/{a}", headers=auth).get_json()["done"] is True

    # An out-of-office keeps it done; the contact writing again reopens it and it needs a reply.
    receive(services, "sms", ANA, "(away)", "SM3", meta={"auto": True}, auto=True)
    assert ids(client, auth, view="done") == [a]
    receive(services, "sms", ANA, "Any news?", "SM4")
    assert ids(client, auth, view="done") == []
    assert ids(client, auth, view="needs_reply")[0] == a
    client.post(f"/api/conversations/{b}/done", headers=auth)
    assert client.post(f"/api/conversations/{b}/reopen", headers=auth).get_json() == {"id": b, "done": False}
    assert ids(client, auth, view="done") == []
    events = client.get("/api/events", query_string={"limit": 500}, headers=auth).get_json()["items"]
    assert [e["data"]["done"] for e in events if e["type"] == "conversation.done"] == [True, True, False]


def test_it_refuses_unknown_filters_and_marking_an_empty_thread_done(client, auth):
    bad = client.get("/api/conversations?view=later", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["details"] == [{"field": "view", "reason": "unknown value"}]
    assert client.get("/api/conversations?channel=fax", headers=auth).status_code == 400
    assert client.post("/api/conversations/contact-999/done", headers=auth).status_code == 404


def test_it_marks_done_a_thread_that_holds_only_campaign_messages(client, auth, services):
    configure_directly(services, "smtp")
    ana = new_contact(client, auth, name="Ana", email="ana@example.com")
    news = {"name": "News", "channel": "smtp", "subject": "News", "body": "Hi", "recipients": {"all": True}}
    assert client.post("/api/campaigns", json=news, headers=auth).status_code == 201
    thread = f"contact-{ana['id']}"
    assert client.post(f"/api/conversations/{thread}/done", headers=auth).get_json() == {"id": thread, "done": True}
    assert client.get(f"/api/conversations/{thread}", headers=auth).get_json()["done"] is True


def test_it_cuts_the_list_preview_between_grapheme_clusters(client, auth, services):
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one cluster of five code points
    receive(services, "sms", ANA, "Hi\n\n" + family * 200, "SM9")
    (item,) = client.get("/api/conversations", headers=auth).get_json()["items"]
    assert item["preview"] == "Hi " + family * 116 + "…"  # 120 clusters: "Hi ", 116 families and the ellipsis


def test_it_keeps_saved_replies_per_account(client, auth, services):
    made = client.post(
        "/api/saved-replies", json={"name": "Shipped", "body": "Your parcel shipped today."}, headers=auth
    )
    assert made.status_code == 201
    reply = made.get_json()
    assert client.post("/api/saved-replies", json={"name": "Shipped", "body": "x"}, headers=auth).status_code == 409
    bad = client.post("/api/saved-replies", json={"name": " ", "colour": "red"}, headers=auth)
    assert bad.status_code == 400
    assert {d["field"] for d in bad.get_json()["details"]} == {"name", "body", "colour"}
    edited = client.patch(f"/api/saved-replies/{reply['id']}", json={"body": "Shipped: {{ name }}"}, headers=auth)
    assert edited.get_json()["body"] == "Shipped: {{ name }}" and edited.get_json()["name"] == "Shipped"
    client.post("/api/saved-replies", json={"name": "Apology", "body": "Sorry about that."}, headers=auth)
    page = client.get("/api/saved-replies", headers=auth).get_json()
    assert [r["name"] for r in page["items"]] == ["Apology", "Shipped"] and page["total"] == 2

    other = {"Authorization": f"Bearer {services.account_token('other')}"}
    assert client.get("/api/saved-replies", headers=other).get_json()["items"] == []
    assert client.delete(f"/api/saved-replies/{reply['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/saved-replies/{reply['id']}", headers=auth).status_code == 204
    assert [r["name"] for r in client.get("/api/saved-replies", headers=auth).get_json()["items"]] == ["Apology"]
