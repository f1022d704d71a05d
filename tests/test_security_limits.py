"""Everything a user stores is bounded (issue 14, item 4): custom fields (size, count, names, shape) through the
API and the importer, names, and the rendered message per channel (SMS 1,600 characters, WhatsApp 65,536) and a
template's output; each refusal is a 400 or 413 naming the field."""

from __future__ import annotations

import io
from typing import Any

import pytest

from backend.security.limits import MAX_FIELD_VALUE, MAX_FIELDS


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"notes": "x" * (18 * 1024 * 1024)}, "fields.notes"),
        ({"notes": "x" * (MAX_FIELD_VALUE + 1)}, "fields.notes"),
        ({f"f{i}": "v" for i in range(MAX_FIELDS + 1)}, "fields"),
        ({"n" * 65: "v"}, "fields." + "n" * 64),
        ({"nested": {"a": [1, 2, {"b": "c"}]}}, "fields.nested"),
        ({f"f{i}": "v" * 9000 for i in range(10)}, "fields"),
    ],
)
def test_it_refuses_custom_fields_beyond_their_limits_naming_them(
    client: Any, auth: dict[str, str], fields: dict[str, Any], named: str
) -> None:
    answer = client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org", "fields": fields},
                         headers=auth)  # fmt: skip
    assert answer.status_code in (400, 413), answer.status_code
    if answer.status_code == 400:
        assert named in [d["field"] for d in answer.get_json()["details"]]
    assert client.get("/api/contacts", headers=auth).get_json()["total"] == 0


def test_it_refuses_a_long_name(client: Any, auth: dict[str, str]) -> None:
    answer = client.post("/api/contacts", json={"name": "A" * 201, "email": "a@example.org"}, headers=auth)
    assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "name"


def test_it_reports_an_imported_row_whose_custom_fields_are_too_big(client: Any, auth: dict[str, str]) -> None:
    columns = ",".join(f"c{i}" for i in range(10))
    big = ",".join("v" * 9000 for _ in range(10))
    data = f"name,email,{columns}\nAna,ana@example.org,{big}\nBo,bo@example.org,{','.join('x' * 10)}\n".encode()
    answer = client.post("/api/contacts/import", data={"file": (io.BytesIO(data), "c.csv")}, headers=auth,
                         content_type="multipart/form-data")  # fmt: skip
    report = answer.get_json()
    assert answer.status_code == 200 and report["imported"] == 1
    assert report["errors"][0]["row"] == 2 and "KB" in report["errors"][0]["reason"]


@pytest.mark.parametrize(("channel", "limit"), [("sms", 1600), ("whatsapp", 65_536)])
def test_it_refuses_a_rendered_message_longer_than_its_channel_takes(
    client: Any, auth: dict[str, str], channel: str, limit: int
) -> None:
    client.post("/api/contacts", json={"name": "Ana", "phone": "+4915112345600"}, headers=auth)
    for body in (f"{{{{ 'x' * {limit + 1} }}}}", "{{ name * 100000 }}"):
        answer = client.post("/api/campaigns", json={"name": "Long", "channel": channel, "body": body,
                                                     "recipients": {"all": True}}, headers=auth)  # fmt: skip
        assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "body"
        assert f"{limit:,}" in answer.get_json()["message"]
    fits = client.post("/api/campaigns", json={"name": "Fits", "channel": channel, "body": f"{{{{ 'x' * {limit} }}}}",
                                               "recipients": {"all": True}}, headers=auth)  # fmt: skip
    assert fits.status_code == 201


def test_it_caps_what_a_template_renders_for_email(client: Any, auth: dict[str, str]) -> None:
    client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org"}, headers=auth)
    answer = client.post("/api/campaigns", json={"name": "Huge", "channel": "smtp", "subject": "Hi",
                                                 "body": "{% for i in range(20) %}{{ 'x' * 100000 }}{% endfor %}",
                                                 "recipients": {"all": True}}, headers=auth)  # fmt: skip
    assert answer.status_code == 400 and answer.get_json()["details"][0]["field"] == "body"
    assert "1,000,000 characters" in answer.get_json()["message"]
