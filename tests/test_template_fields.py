"""A placeholder finds a contact's custom field whatever the case, accents and spacing of the column it came
from ("Ville" imported as `ville` is `{{ fields.Ville }}`), as GOV.UK Notify matches placeholders; a field that
is not there is still a missing placeholder."""

from __future__ import annotations

from typing import Any


def preview(client: Any, auth: dict[str, str], body: str, contact_id: int) -> dict[str, Any]:
    answer = client.post("/api/campaigns/preview", headers=auth, json={"body": body, "contact_ids": [contact_id]})
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json()["items"][0])


def test_it_matches_placeholders_to_fields_regardless_of_case_spaces_and_accents(client: Any, auth: Any) -> None:
    csv = "Name,Email,Ville,Date de naissance,Città\nÉmile,emile@x.example,Lyon,1840,Roma\n"
    report = client.post("/api/contacts/import", headers=auth, data={"file": (_bytes(csv), "c.csv")}).get_json()
    assert report["imported"] == 1
    (contact,) = client.get("/api/contacts", headers=auth).get_json()["items"]
    body = "{{ fields.Ville }} {{ fields.VILLE }} {{ fields.date_de_naissance }} {{ fields['Date de naissance'] }}"
    shown = preview(client, auth, body + " {{ fields.citta }}", contact["id"])
    assert shown.get("body") == "Lyon Lyon 1840 1840 Roma", (shown, contact["fields"])
    missing = preview(client, auth, "{{ fields.pays }}", contact["id"])
    assert missing["missing"] == ["fields.pays"]


def _bytes(text: str) -> Any:
    import io

    return io.BytesIO(text.encode())
