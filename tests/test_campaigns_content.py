"""What a campaign says and to whom: templates in a sandbox, missing placeholders refused before anything is
queued, preview for real contacts, the CSV export with formula-looking cells neutralised, and header injection
through contact data refused per message."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import insert

from backend.runtime import Runtime
from backend.store.models import Contact
from tests.campaign_helpers import add_contacts, event_texts, wait_status


def contact(client: Any, auth: dict[str, str], **fields: Any) -> int:
    answer = client.post("/api/contacts", json=fields, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return int(answer.get_json()["id"])


def campaign_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Content",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    "template",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ fields.__class__.__subclasses__() }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{% for c in fields.__class__.__mro__ %}{{ c }}{% endfor %}",
    ],
)
def test_it_refuses_templates_that_reach_for_python_internals(client, auth, account, template):
    contact(client, auth, name="Ana", email="ana@example.org")
    answer = client.post("/api/campaigns", json=campaign_body(body=template), headers=auth)
    assert answer.status_code == 400
    assert client.get("/api/campaigns", headers=auth).get_json()["total"] == 0


def test_it_names_every_recipient_missing_a_placeholder_and_queues_nothing(client, auth, services, account):
    add_contacts(services, account, 2)
    first = contact(client, auth, name="Nomad One", email="n1@example.org")
    contact(client, auth, name="Nomad Two", email="n2@example.org")
    answer = client.post(
        "/api/campaigns", json=campaign_body(subject="{{ fields.plan }}", body="In {{ fields.city }}"), headers=auth
    )
    assert answer.status_code == 400
    error = answer.get_json()
    assert (
        "Nomad One" in error["message"] and "Nomad Two" in error["message"] and "{{ fields.city }}" in error["message"]
    )
    assert {d["recipient"] for d in error["details"]} == {
        "person0@example.org",
        "person1@example.org",
        "n1@example.org",
        "n2@example.org",
    }
    assert any(d["contact_id"] == first for d in error["details"])
    listed = client.get("/api/campaigns", headers=auth).get_json()
    assert listed["total"] == 0


def test_it_previews_the_message_for_real_contacts(client, auth, account):
    ana = contact(client, auth, name="Ana Lima", email="ana@example.org", fields={"city": "Porto"})
    bo = contact(client, auth, name="Bo", email="bo@example.org")
    answer = client.post(
        "/api/campaigns/preview",
        json={"subject": "Hi {{ first_name }}", "body": "See you in {{ fields.city }}", "contact_ids": [ana, bo]},
        headers=auth,
    )
    assert answer.status_code == 200
    items = {item["contact_id"]: item for item in answer.get_json()["items"]}
    assert (items[ana]["subject"], items[ana]["body"]) == ("Hi Ana", "See you in Porto")
    assert items[bo]["missing"] == ["fields.city"] and "{{ fields.city }} has no value" in items[bo]["error"]


def test_it_exports_results_with_formula_looking_cells_neutralised(client, auth, services, smtp, account, app):
    names = ['=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "Plain"]
    with services.db.write() as session:  # straight into the store: the contacts API trims the tab and CR
        session.execute(
            insert(Contact),
            [
                {"account_id": account, "name": name, "email": f"x{i}@example.org", "fields": {}, "opted_out": False}
                for i, name in enumerate(names)
            ],
        )
    smtp.refuse("x0@example.org", "550 =cmd|' /C calc'!A0")
    created = client.post("/api/campaigns", json=campaign_body(subject="Hi", body="Hello"), headers=auth).get_json()
    runtime = Runtime(app)
    runtime.start()
    try:
        client.post(f"/api/campaigns/{created['id']}/start", headers=auth)
        wait_status(client, auth, created["id"], "completed")
    finally:
        runtime.stop()
    answer = client.get(f"/api/campaigns/{created['id']}/export.csv", headers=auth)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    # A UTF-8 byte-order mark first: without it Excel reads the file in the ANSI code page and garbles accents.
    assert answer.get_data().startswith(b"\xef\xbb\xbfMessage ID,Recipient,Name,Status,")
    rows = list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    by_recipient = {row["Recipient"]: row for row in rows}
    assert [by_recipient[f"x{i}@example.org"]["Name"] for i in range(len(names))] == ["'" + n for n in names[:-1]] + [
        "Plain"
    ]
    assert by_recipient["x0@example.org"]["Status"] == "failed"
    assert by_recipient["x1@example.org"]["Status"] == "sent"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r", row


def test_it_refuses_a_line_break_smuggled_in_through_contact_data(client, auth, services, smtp, account, app):
    contact(client, auth, name="Eve\r\nBcc: victim@example.net", email="eve@example.org")
    contact(client, auth, name="Ana", email="ana@example.org")
    created = client.post(
        "/api/campaigns", json=campaign_body(subject="Hi {{ name }}", body="Hello"), headers=auth
    ).get_json()
    runtime = Runtime(app)
    runtime.start()
    try:
        client.post(f"/api/campaigns/{created['id']}/start", headers=auth)
        done = wait_status(client, auth, created["id"], "completed")
    finally:
        runtime.stop()
    assert (done["counts"]["sent"], done["counts"]["failed"]) == (1, 1)
    assert [r.rcpt_tos for r in smtp.received] == [["ana@example.org"]]
    assert all("victim" not in r.raw.decode() for r in smtp.received)
    assert any("line break" in t for t in event_texts(services, account, "send.progress"))
