"""Contact routes: list and search, create / change / delete with validation, opt-outs (route, unsubscribe link,
campaigns), and account isolation."""

from __future__ import annotations

import io
from typing import Any

from backend.campaigns.unsubscribe import unsubscribe_token
from tests.helpers import bearer


def create(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/contacts", headers=auth, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listing(client: Any, auth: dict[str, str], query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/contacts{query}", headers=auth)
    assert response.status_code == 200
    return response.get_json()


def test_it_lists_searches_and_pages_contacts(client: Any, auth: dict[str, str]) -> None:
    client.put("/api/settings", headers=auth, json={"default_country": "GB"})
    for i in range(12):
        create(client, auth, name=f"Customer {i:02d}", email=f"c{i}@shop.example", phone=f"07911 123{i:03d}")
    create(client, auth, name="Zoë Müller", email="zoe@other.example")

    page = listing(client, auth, "?limit=5&offset=10")
    assert page["total"] == 13
    assert [c["name"] for c in page["items"]] == ["Customer 10", "Customer 11", "Zoë Müller"]
    assert page["items"][0]["phone"] == "+447911123010"  # national number + the account's default country
    assert [c["name"] for c in listing(client, auth, "?q=zoë")["items"]] == ["Zoë Müller"]
    assert listing(client, auth, "?q=SHOP.example&limit=2") == listing(client, auth, "?q=shop&limit=2")
    assert listing(client, auth, "?q=shop&limit=2")["total"] == 12
    assert [c["email"] for c in listing(client, auth, "?q=%2B447911123003")["items"]] == ["c3@shop.example"]
    bad = client.get("/api/contacts?limit=0", headers=auth)
    assert bad.status_code == 400


def test_it_creates_changes_and_deletes_a_contact_with_clear_errors(client: Any, auth: dict[str, str]) -> None:
    ana = create(client, auth, name="Ana", phone="+351 912 345 678", fields={"city": "Porto"})
    assert (ana["phone"], ana["email"], ana["opted_out"], ana["fields"]) == (
        "+351912345678",
        None,
        False,
        {"city": "Porto"},
    )

    refused = client.post("/api/contacts", headers=auth, json={"name": 5, "phone": "12", "email": "not-an-address"})
    assert refused.status_code == 400
    fields = {d["field"] for d in refused.get_json()["details"]}
    assert fields == {"name", "phone", "email"}
    nothing = client.post("/api/contacts", headers=auth, json={"name": "Nobody"})
    assert nothing.get_json()["details"] == [
        {"field": "phone", "reason": "a contact needs a phone number or an email address"}
    ]
    twin = client.post("/api/contacts", headers=auth, json={"phone": "+351912345678"})
    assert twin.status_code == 409 and "already has this phone number" in twin.get_json()["message"]

    changed = client.patch(f"/api/contacts/{ana['id']}", headers=auth, json={"email": "Ana@Example.PT"})
    assert changed.get_json()["email"] == "ana@example.pt"
    bad = client.patch(f"/api/contacts/{ana['id']}", headers=auth, json={"fields": ["not", "an", "object"]})
    assert bad.status_code == 400 and bad.get_json()["details"][0]["field"] == "fields"
    assert client.get(f"/api/contacts/{ana['id']}", headers=auth).get_json()["email"] == "ana@example.pt"

    assert client.delete(f"/api/contacts/{ana['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/contacts/{ana['id']}", headers=auth).status_code == 404
    assert listing(client, auth)["total"] == 0


def test_it_keeps_accounts_apart(client: Any, auth: dict[str, str], services: Any) -> None:
    other = bearer(services.account_token("other"))
    ana = create(client, auth, name="Ana", email="ana@example.com")
    data = b"Name,Email\r\nAna B,ana@example.com\r\n"
    report = client.post("/api/contacts/import", headers=other, data={"file": (io.BytesIO(data), "c.csv")}).get_json()
    assert report["imported"] == 1  # the same address is a new contact in the other account

    theirs = listing(client, other)
    assert [c["name"] for c in theirs["items"]] == ["Ana B"] and theirs["total"] == 1
    assert [c["name"] for c in listing(client, auth)["items"]] == ["Ana"]
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/opt-out")):
        response = getattr(client, method)(f"/api/contacts/{ana['id']}{suffix}", headers=other, json={"name": "X"})
        assert response.status_code == 404, (method, suffix)
    assert client.get(f"/api/contacts/{ana['id']}", headers=auth).get_json()["name"] == "Ana"


def test_it_deletes_chosen_contacts_in_one_go_and_only_the_callers(
    client: Any, auth: dict[str, str], services: Any
) -> None:
    other = bearer(services.account_token("other"))
    ana, bo, cy = (create(client, auth, name=n, email=f"{n.lower()}@example.com") for n in ("Ana", "Bo", "Cy"))
    theirs = create(client, other, name="Dee", email="dee@example.com")
    body = {"contact_ids": [ana["id"], cy["id"], theirs["id"]]}
    response = client.post("/api/contacts/bulk-delete", headers=auth, json=body)
    assert (response.status_code, response.get_json()) == (200, {"deleted": 2})
    assert [c["name"] for c in listing(client, auth)["items"]] == ["Bo"] and bo["id"]
    assert [c["name"] for c in listing(client, other)["items"]] == ["Dee"]
    refused = client.post("/api/contacts/bulk-delete", headers=auth, json={"contact_ids": "all"})
    assert refused.status_code == 400


def test_it_never_messages_an_opted_out_contact_again(client: Any, auth: dict[str, str]) -> None:
    ana = create(client, auth, name="Ana", email="ana@example.com")
    bo = create(client, auth, name="Bo", email="bo@example.com")
    campaign = {"name": "News", "channel": "smtp", "subject": "Hi", "body": "Hello {{ name }}"}
    before = client.post("/api/campaigns", headers=auth, json={**campaign, "recipients": {"all": True}}).get_json()
    assert before["counts"]["total"] == 2

    out = client.post(f"/api/contacts/{bo['id']}/opt-out", headers=auth).get_json()
    assert out["opted_out"] is True and out["opted_out_at"]
    assert out["cancelled_messages"] == 1  # Bo's message still queued in the draft campaign
    queued = client.get(f"/api/campaigns/{before['id']}/messages?limit=10", headers=auth).get_json()["items"]
    assert {m["recipient"]: m["status"] for m in queued} == {"ana@example.com": "queued", "bo@example.com": "cancelled"}

    after = client.post("/api/campaigns", headers=auth, json={**campaign, "recipients": {"all": True}})
    assert after.status_code == 201
    assert (after.get_json()["counts"]["total"], after.get_json()["opted_out"]) == (1, 1)
    messages = client.get(f"/api/campaigns/{after.get_json()['id']}/messages", headers=auth).get_json()["items"]
    assert [m["recipient"] for m in messages] == ["ana@example.com"]

    # importing Bo again (a newer file) neither opts him back in nor makes him reachable
    data = b"Name,Email\r\nBo Again,bo@example.com\r\n"
    client.post("/api/contacts/import", headers=auth, data={"file": (io.BytesIO(data), "c.csv")})
    assert client.get(f"/api/contacts/{bo['id']}", headers=auth).get_json()["opted_out"] is True
    client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth)
    nobody = client.post("/api/campaigns", headers=auth, json={**campaign, "recipients": {"all": True}})
    assert nobody.status_code == 400
    assert nobody.get_json()["message"].startswith("None of the chosen contacts can get this message (opted out")


def test_it_opts_a_contact_out_of_one_channel_family_by_hand_and_back_in(client: Any, auth: dict[str, str]) -> None:
    ana = create(client, auth, name="Ana", email="ana@example.com", phone="+14155550101")
    out = client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth, json={"family": "sms"}).get_json()
    assert out["opt_outs"]["sms"]["why"] == "by_hand" and out["opt_outs"]["email"] is None
    assert out["opted_out"] is False
    texts = {"name": "Texts", "channel": "sms", "body": "Hi", "recipients": {"all": True}}
    refused = client.post("/api/campaigns", headers=auth, json=texts)
    assert refused.status_code == 400  # Ana is the only contact and is out of SMS
    mail = {"name": "Mail", "channel": "smtp", "subject": "Hi", "body": "Hi", "recipients": {"all": True}}
    assert client.post("/api/campaigns", headers=auth, json=mail).get_json()["counts"]["total"] == 1

    back = client.post(f"/api/contacts/{ana['id']}/opt-in", headers=auth, json={"family": "sms"}).get_json()
    assert back["opt_outs"]["sms"] is None
    assert client.post("/api/campaigns", headers=auth, json=texts).get_json()["counts"]["total"] == 1
    # out of everything, then back in to SMS only: email and WhatsApp stay opted out
    client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth)
    partly = client.post(f"/api/contacts/{ana['id']}/opt-in", headers=auth, json={"family": "sms"}).get_json()
    assert partly["opted_out"] is False and partly["opt_outs"]["sms"] is None
    assert partly["opt_outs"]["email"]["why"] == "by_hand" and partly["opt_outs"]["whatsapp"]["why"] == "by_hand"
    wrong = client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth, json={"family": "fax"})
    assert wrong.status_code == 400 and wrong.get_json()["details"][0]["field"] == "family"


def test_it_unsubscribes_from_email_through_the_links_button_or_one_click_post_but_not_a_get(
    client: Any, auth: dict[str, str], services: Any
) -> None:
    ana = create(client, auth, name="Ana", email="ana@example.com", phone="+14155550101")
    bo = create(client, auth, name="Bo", email="bo@example.com")
    key = services.keys.jwt_key

    # A mail scanner or link preview fetches the link: a page with a button, nobody is unsubscribed.
    page = client.get(f"/unsubscribe/{unsubscribe_token(key, 1, ana['id'])}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<form method="post">' in text and "<button" in text and "<script" not in text
    assert [c["opted_out"] for c in listing(client, auth)["items"]] == [False, False]
    button = client.post(f"/unsubscribe/{unsubscribe_token(key, 1, ana['id'])}", data={"List-Unsubscribe": "One-Click"})
    assert button.status_code == 200 and "You are unsubscribed" in button.get_data(as_text=True)
    one_click = client.post(
        f"/unsubscribe/{unsubscribe_token(key, 1, bo['id'])}",
        data={"List-Unsubscribe": "One-Click"},
        content_type="application/x-www-form-urlencoded",
    )
    assert one_click.status_code == 200
    people = listing(client, auth)["items"]
    assert [c["opt_outs"]["email"]["why"] for c in people] == ["unsubscribe", "unsubscribe"]
    assert [(c["opted_out"], c["opt_outs"]["sms"]) for c in people] == [(False, None), (False, None)]
    # an email unsubscribe leaves SMS campaigns to Ana alone
    sms = {"name": "Texts", "channel": "sms", "body": "Hi", "recipients": {"all": True}}
    assert client.post("/api/campaigns", headers=auth, json=sms).get_json()["counts"]["total"] == 1
    again = client.post(f"/unsubscribe/{unsubscribe_token(key, 1, ana['id'])}")
    assert again.status_code == 200  # a second click is harmless

    forged = client.post(f"/unsubscribe/{unsubscribe_token(b'another key', 1, ana['id'])}")
    assert forged.status_code == 404 and "not valid" in forged.get_json()["message"]
    for bad in ("garbage", "1.1.%C3%A9", "%C2%B2.1.abc", "1.1." + "a" * 500):
        answer = client.get(f"/unsubscribe/{bad}")
        assert answer.status_code == 404 and answer.get_json()["error"] == "not_found", bad
