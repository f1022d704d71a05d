"""A placeholder finds a contact's custom field whatever the case, accents and spacing of the column it came
from ("Ville" imported as `ville` is `{{ fields.Ville }}`), as GOV.UK Notify matches placeholders; a field that
is not there is still a missing placeholder."""

from __future__ import annotations

import keyword
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.campaigns.templates import compile_template, contact_context, field_key
from backend.store.search_key import fold

#: names Jinja reads as words of its own, not as a variable.
JINJA_WORDS = {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else"}


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


def _contact(client: Any, auth: Any, **fields: Any) -> int:
    answer = client.post("/api/contacts", headers=auth, json=fields)
    assert answer.status_code == 201, answer.get_json()
    return int(answer.get_json()["id"])


def test_it_finds_a_column_written_as_a_plain_name_with_spaces_or_another_case(client: Any, auth: Any) -> None:
    ana = _contact(client, auth, name="Ana Lima", email="ana@example.org",
                   fields={"Ville": "Lyon", "First name": "Nana", "Date de naissance": "1990"})  # fmt: skip
    body = "{{ Ville }} {{ VILLE }} {{ first name }} {{ NAME }} {{ date de naissance }} {{ fields.date de naissance }}"
    assert preview(client, auth, body, ana)["body"] == "Lyon Lyon Nana Ana Lima 1990 1990"


def test_it_suggests_the_field_a_misspelt_placeholder_meant(client: Any, auth: Any) -> None:
    ana = _contact(client, auth, name="Ana", email="ana@example.org", fields={"Ville": "Lyon"})
    shown = preview(client, auth, "See you in {{ Vile }}", ana)
    assert shown["missing"] == ["Vile"] and shown["suggestions"] == {"Vile": "fields.Ville"}
    body = {"name": "X", "channel": "smtp", "subject": "Hi", "body": "{{ fields.vile }}", "recipients": {"all": True}}
    refused = client.post("/api/campaigns", headers=auth, json=body)
    assert refused.status_code == 400
    (detail,) = refused.get_json()["details"]
    assert detail["suggest"] == "fields.Ville" and "did you mean {{ fields.Ville }}?" in detail["reason"]
    assert not preview(client, auth, "{{ fields.zzz_unrelated }}", ana).get("suggestions")


_WORD = st.text(alphabet="abcdeéèàüçnoxyzABCDÉ", min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(words=st.lists(_WORD, min_size=1, max_size=3))
def test_it_matches_a_column_however_its_name_is_cased_spaced_or_accented(words: list[str]) -> None:
    column = " ".join(words)
    context = contact_context("Ana", None, None, {column: "VALUE"})
    for written in {column.upper(), column.lower(), column.replace(" ", "_"), fold(column), field_key(column)}:
        template = compile_template("{{ fields[" + repr(written) + "] }}", "body")
        assert template.render(context) == "VALUE", written
    key = field_key(column)
    if key.isidentifier() and key not in context and not keyword.iskeyword(key) and key not in JINJA_WORDS:
        assert compile_template("{{ " + column.upper().replace(" ", "_") + " }}", "body").render(context) == "VALUE"


def test_it_leaves_jinja_expressions_of_plain_words_alone() -> None:
    context = contact_context("Ana", None, None, {"vip": "yes", "City name": "Porto"})
    assert compile_template("{{ fields.vip or 'no' }}|{{ not fields.vip }}", "body").render(context) == "yes|False"
    assert compile_template("{{ 'a' if fields.vip else 'b' }}", "body").render(context) == "a"
    assert compile_template("{{ city name }}", "body").render(context) == "Porto"
