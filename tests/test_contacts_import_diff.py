"""The import's diff before anything is written, duplicates named, the country for local numbers in the preview,
and the undo of the latest import within a day (the API side of issue 26's items 7 and 8)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from backend.store.models import utcnow
from tests.test_contacts_import import contacts, preview, set_country, store_client, upload

__all__ = ["store_client"]  # the fixture: SQLite, and PostgreSQL when BULKMSG_TEST_DATABASE_URL is set

FIRST = "Name,Phone,Email,City\r\nŁukasz,+48 601 234 567,lukasz@example.pl,Kraków\r\nAna,+351 912 345 678,,Porto\r\n"
# The same people read back from a cp1252 export: "Ł" became "?", Ana moved, Bo is new.
AGAIN = (
    "Name,Phone,Email,City\r\n?ukasz,+48 601 234 567,lukasz@example.pl,Kraków\r\n"
    "Ana,+351 912 345 678,,Lisboa\r\nBo,+14155550123,,Boston\r\nBo,+1 415 555 0123,bo@example.org,\r\n"
)


def test_it_shows_a_reimport_per_column_and_writes_nothing_on_a_dry_run(client: Any, auth: dict[str, str]) -> None:
    upload(client, auth, FIRST.encode())
    before = contacts(client, auth)
    dry = upload(client, auth, AGAIN.encode(), dry_run="1").get_json()
    assert dry["dry_run"] is True and dry["import"] is None
    assert (dry["imported"], dry["updated"], dry["unchanged"], dry["skipped"]) == (1, 2, 0, 0)
    by_row = {c["row"]: c for c in dry["changes"]}
    assert by_row[2]["columns"] == [{"field": "name", "old": "Łukasz", "new": "?ukasz"}]
    assert by_row[3]["columns"] == [{"field": "fields.city", "old": "Porto", "new": "Lisboa"}]
    assert by_row[2]["contact_id"] == before["+48601234567"]["id"]
    assert dry["duplicates"] == [{"row": 5, "same_as": 4, "key": "+14155550123"}]
    assert contacts(client, auth) == before  # nothing written

    same = upload(client, auth, FIRST.encode(), dry_run="true").get_json()
    assert (same["imported"], same["updated"], same["unchanged"], same["changes"]) == (0, 0, 2, [])


def test_it_undoes_the_latest_import_and_keeps_what_changed_since(store_client: Any) -> None:
    client, auth = store_client, store_client.auth
    upload(client, auth, b"Name,Phone\r\nKeep Me,+14155550100\r\n")
    upload(client, auth, FIRST.encode())
    report = upload(client, auth, AGAIN.encode()).get_json()
    assert report["import"]["can_undo"] is True
    stored = contacts(client, auth)
    assert stored["+48601234567"]["name"] == "?ukasz"
    # Someone fixes Ana by hand after the import: the undo leaves her as she is now, and says so.
    ana = stored["+351912345678"]["id"]
    assert client.patch(f"/api/contacts/{ana}", headers=auth, json={"name": "Ana Sousa"}).status_code == 200
    latest = client.get("/api/contacts/imports/latest", headers=auth).get_json()
    assert latest["id"] == report["import"]["id"] and latest["filename"] == "contacts.csv"

    undone = client.post(f"/api/contacts/imports/{latest['id']}/undo", headers=auth).get_json()
    assert (undone["deleted"], undone["restored"]) == (1, 1)
    assert undone["kept"] == [{"contact_id": ana, "contact": "Ana Sousa", "reason": "changed since the import"}]
    after = contacts(client, auth)
    assert set(after) == {"+14155550100", "+48601234567", "+351912345678"}  # Bo, new in that import, is gone
    assert (after["+48601234567"]["name"], after["+48601234567"]["fields"]) == ("Łukasz", {"city": "Kraków"})
    assert after["+351912345678"]["name"] == "Ana Sousa"

    again = client.post(f"/api/contacts/imports/{latest['id']}/undo", headers=auth)
    assert again.status_code == 409 and again.get_json()["error"] == "already_undone"
    assert client.get("/api/contacts/imports/latest", headers=auth).get_json()["can_undo"] is False


def test_it_refuses_to_undo_a_day_old_or_an_earlier_import(client: Any, auth: dict[str, str], services: Any) -> None:
    first = upload(client, auth, b"Name,Phone\r\nAna,+14155550100\r\n").get_json()["import"]
    second = upload(client, auth, b"Name,Phone\r\nBo,+14155550101\r\n").get_json()["import"]
    earlier = client.post(f"/api/contacts/imports/{first['id']}/undo", headers=auth)
    assert earlier.status_code == 409 and earlier.get_json()["error"] == "not_latest"
    services.clock = lambda: utcnow() + timedelta(hours=24, minutes=1)
    late = client.post(f"/api/contacts/imports/{second['id']}/undo", headers=auth)
    assert late.status_code == 409 and late.get_json()["error"] == "too_late"
    assert len(contacts(client, auth)) == 2
    other = client.post("/api/contacts/imports/999999/undo", headers=auth)
    assert other.status_code == 404


def test_it_reads_local_numbers_in_the_chosen_country_in_the_preview(client: Any, auth: dict[str, str]) -> None:
    data = "Nom,Téléphone\r\nAmélie,06 12 34 56 78\r\nBruno,+33 6 98 76 54 32\r\nChloé,01 23 45 67 89\r\n".encode()
    seen = preview(client, auth, data).get_json()
    assert (seen["phone_column"], seen["phones_without_country"], seen["default_country"]) == ("Téléphone", 2, None)
    assert seen["rows"][0]["phone"]["stored"] is None and "no country code" in seen["rows"][0]["phone"]["problem"]
    assert seen["rows"][1]["phone"] == {"stored": "+33698765432", "problem": None}

    fields = {"file": (__import__("io").BytesIO(data), "c.csv"), "default_country": "fr"}
    french = client.post("/api/contacts/import/preview", headers=auth, data=fields, content_type="multipart/form-data")
    rows = french.get_json()["rows"]
    assert [r["phone"]["stored"] for r in rows] == ["+33612345678", "+33698765432", "+33123456789"]
    set_country(client, auth, "FR")
    assert preview(client, auth, data).get_json()["account_country"] == "FR"
    report = upload(client, auth, data, default_country="FR").get_json()
    assert report["imported"] == 3 and sorted(contacts(client, auth)) == sorted(r["phone"]["stored"] for r in rows)
