"""Nobody left out silently: a campaign keeps who it did not send to and why in words, lists them, and the CSV
export carries them, with headers in words, the list separator and the time zone the user's spreadsheet wants."""

from __future__ import annotations

import csv
import io
from typing import Any

from backend.runtime import Runtime
from tests.campaign_helpers import wait_status


def contact(client: Any, auth: dict[str, str], **fields: Any) -> int:
    answer = client.post("/api/contacts", json=fields, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return int(answer.get_json()["id"])


def test_it_names_who_was_left_out_and_why_in_the_list_and_the_export(client, auth, smtp, account, app):
    contact(client, auth, name="Ana", email="ana@example.org")
    bo = contact(client, auth, name="Bo", email="bo@example.org")
    contact(client, auth, name="Cy", phone="+14155550103")
    assert client.post(f"/api/contacts/{bo}/opt-out", json={"family": "email"}, headers=auth).status_code == 200
    body = {"name": "News", "channel": "smtp", "subject": "Hi", "body": "Hello", "recipients": {"all": True}}
    created = client.post("/api/campaigns", json=body, headers=auth).get_json()
    assert created["left_out"] == 2
    left = client.get(f"/api/campaigns/{created['id']}/left-out", headers=auth).get_json()
    assert left["total"] == 2
    by_name = {row["name"]: row for row in left["items"]}
    assert by_name["Bo"]["reason"] == "opted_out" and by_name["Bo"]["detail"].startswith("opted out of email on 20")
    assert by_name["Bo"]["detail"].endswith("(set by hand)")
    assert (by_name["Cy"]["reason"], by_name["Cy"]["detail"]) == ("no_address", "no email address")

    runtime = Runtime(app)
    runtime.start()
    try:
        client.post(f"/api/campaigns/{created['id']}/start", headers=auth)
        wait_status(client, auth, created["id"], "completed")
    finally:
        runtime.stop()
    answer = client.get(f"/api/campaigns/{created['id']}/export.csv?sep=;&tz=Europe/Paris", headers=auth)
    assert answer.status_code == 200
    text = answer.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert (
        text.splitlines()[0]
        == "Message ID;Recipient;Name;Status;Delivery;Reason;Attempts;Sent at (Europe/Paris);Provider ID"
    )
    by_recipient = {row["Name"]: row for row in rows}
    assert by_recipient["Ana"]["Status"] == "sent" and by_recipient["Ana"]["Sent at (Europe/Paris)"][:2] == "20"
    assert "T" not in by_recipient["Ana"]["Sent at (Europe/Paris)"]  # a local time a person reads, not ISO UTC
    assert (by_recipient["Bo"]["Status"], by_recipient["Bo"]["Recipient"]) == ("left out", "bo@example.org")
    assert by_recipient["Cy"]["Reason"] == "no email address"


def test_it_refuses_an_unknown_separator_or_zone(client, auth, account):
    contact(client, auth, name="Ana", email="ana@example.org")
    body = {"name": "News", "channel": "smtp", "subject": "Hi", "body": "Hello", "recipients": {"all": True}}
    campaign = client.post("/api/campaigns", json=body, headers=auth).get_json()["id"]
    for query, field in (("sep=|", "sep"), ("tz=Mars/Olympus", "tz"), ("tz=../../etc/passwd", "tz")):
        answer = client.get(f"/api/campaigns/{campaign}/export.csv?{query}", headers=auth)
        assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == field
