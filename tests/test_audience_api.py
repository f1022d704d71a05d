"""Tags, bulk tagging, tagged imports, segments and campaigns sent to tags, segments and filters (DESIGN section
14), on SQLite and PostgreSQL; bad filters are refused with the path of each problem."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from backend.app import create_app
from backend.store.migrate import upgrade
from tests.helpers import bearer


@pytest.fixture
def api(make_config: Any, database_url: str) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield app.test_client(), bearer(services.account_token()), services
    services.db.dispose()


def _contact(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/contacts", headers=auth, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _names(client: Any, auth: dict[str, str], **query: Any) -> list[str]:
    response = client.get("/api/contacts", headers=auth, query_string=query)
    assert response.status_code == 200, response.get_json()
    return [c["name"] for c in response.get_json()["items"]]


def test_it_creates_renames_colours_and_deletes_tags_unique_whatever_their_case_and_accents(api: Any) -> None:
    client, auth, _ = api
    vip = client.post("/api/tags", headers=auth, json={"name": "Clientes VIP", "color": "#ffaa00"})
    assert vip.status_code == 201
    assert {k: vip.get_json()[k] for k in ("name", "color")} == {"name": "Clientes VIP", "color": "#ffaa00"}
    again = client.post("/api/tags", headers=auth, json={"name": "CLIENTES  víp"})
    assert again.status_code == 409 and "already exists" in again.get_json()["message"]
    assert client.post("/api/tags", headers=auth, json={"name": "a,b"}).status_code == 400
    assert client.post("/api/tags", headers=auth, json={"name": "x", "color": "url(evil)"}).status_code == 400
    lyon = client.post("/api/tags", headers=auth, json={"name": "Lyon"}).get_json()
    tag_id = vip.get_json()["id"]
    assert client.patch(f"/api/tags/{tag_id}", headers=auth, json={"name": "lyon"}).status_code == 409
    renamed = client.patch(f"/api/tags/{tag_id}", headers=auth, json={"name": "VIP", "color": "red"})
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "VIP"
    ana = _contact(client, auth, name="Ana", email="ana@x.example", tags=["vip", "New one"])
    assert ana["tags"] == ["New one", "VIP"]  # the existing tag by its folded name, the unknown one created
    listing = client.get("/api/tags", headers=auth).get_json()
    assert [(t["name"], t["contacts"]) for t in listing["items"]] == [("Lyon", 0), ("New one", 1), ("VIP", 1)]
    changed = client.patch(f"/api/contacts/{ana['id']}", headers=auth, json={"tags": ["Lyon"]}).get_json()
    assert changed["tags"] == ["Lyon"]
    assert client.delete(f"/api/tags/{lyon['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/contacts/{ana['id']}", headers=auth).get_json()["tags"] == []
    other = bearer(api[2].account_token("other"))
    assert client.patch(f"/api/tags/{tag_id}", headers=other, json={"name": "mine"}).status_code == 404
    assert client.get("/api/tags", headers=other).get_json()["items"] == []


def test_it_tags_every_imported_row_and_reads_a_tags_column(api: Any) -> None:
    client, auth, _ = api
    data = 'Name,Email,Tags\r\nAna,ana@x.example,Lyon; vip\r\nBo,bo@x.example,\r\nCy,cy@x.example,"VIP,Paris"\r\n'
    response = client.post(
        "/api/contacts/import",
        headers=auth,
        data={"file": (io.BytesIO(data.encode()), "c.csv"), "tags": "Spring fair"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["imported"] == 3
    people = {c["name"]: c["tags"] for c in client.get("/api/contacts", headers=auth).get_json()["items"]}
    assert people == {
        "Ana": ["Lyon", "Spring fair", "vip"],
        "Bo": ["Spring fair"],
        "Cy": ["Paris", "Spring fair", "vip"],
    }
    assert _names(client, auth, tag="VIP") == ["Ana", "Cy"]


def test_it_tags_all_matches_in_bulk_and_says_how_many_changed(api: Any) -> None:
    client, auth, services = api
    for i in range(30):
        _contact(
            client, auth, name=f"P{i:02d}", email=f"p{i}@x.example", fields={"n": i}, tags=["old"] if i < 5 else []
        )
    other = bearer(services.account_token("other"))
    _contact(client, other, name="Theirs", email="p1@x.example", fields={"n": 1})
    body = {"filter": {"field": "fields.n", "op": "lt", "value": 10}, "add_tags": ["Ten"], "remove_tags": ["old"]}
    first = client.post("/api/contacts/bulk", headers=auth, json=body)
    assert first.get_json() == {"matched": 10, "changed": 10}
    again = client.post("/api/contacts/bulk", headers=auth, json=body)
    assert again.get_json() == {"matched": 10, "changed": 0}
    assert len(_names(client, auth, tag="ten", limit=100)) == 10
    assert _names(client, auth, tag="old") == []
    assert _names(client, other, tag="ten") == []  # the other account's look-alike was not tagged
    ids = [c["id"] for c in client.get("/api/contacts?limit=3", headers=auth).get_json()["items"]]
    by_ids = client.post("/api/contacts/bulk", headers=auth, json={"contact_ids": ids, "remove_tags": ["ten"]})
    assert by_ids.get_json() == {"matched": 3, "changed": 3}
    theirs = client.get("/api/contacts", headers=other).get_json()["items"][0]["id"]
    foreign = client.post("/api/contacts/bulk", headers=auth, json={"contact_ids": [theirs], "add_tags": ["x"]})
    assert foreign.get_json() == {"matched": 0, "changed": 0}
    assert client.post("/api/contacts/bulk", headers=auth, json={"contact_ids": ids}).status_code == 400


def test_it_saves_edits_counts_and_lists_segments(api: Any) -> None:
    client, auth, services = api
    _contact(client, auth, name="Ana", phone="+33612345678", tags=["vip"])
    _contact(client, auth, name="Bo", email="bo@x.example", tags=["vip"])
    _contact(client, auth, name="Cy", phone="+4915112345678")
    made = client.post(
        "/api/segments",
        headers=auth,
        json={
            "name": "French VIPs",
            "filter": {
                "all": [
                    {"field": "tags", "op": "has_any", "value": ["VIP"]},
                    {"field": "country", "op": "eq", "value": "FR"},
                ]
            },
        },
    )
    assert made.status_code == 201, made.get_json()
    segment = made.get_json()
    assert _names(client, auth, segment=segment["id"]) == ["Ana"]
    changed = client.patch(
        f"/api/segments/{segment['id']}",
        headers=auth,
        json={"filter": {"field": "tags", "op": "has_any", "value": ["vip"]}},
    )
    assert changed.status_code == 200
    count = client.post("/api/segments/count", headers=auth, json={"segment_id": segment["id"]}).get_json()
    assert (count["total"], count["reachable"], [c["name"] for c in count["sample"]]) == (
        2,
        {"sms": 1, "email": 1, "whatsapp": 1},
        ["Ana", "Bo"],
    )
    assert [s["name"] for s in client.get("/api/segments", headers=auth).get_json()["items"]] == ["French VIPs"]
    other = bearer(services.account_token("other"))
    assert client.get(f"/api/segments/{segment['id']}", headers=other).status_code == 404
    assert client.post("/api/segments/count", headers=other, json={"segment_id": segment["id"]}).status_code == 404
    bad = client.patch(f"/api/segments/{segment['id']}", headers=auth, json={"filter": {"field": "x"}})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_filter"


def test_it_sends_a_campaign_to_a_segment_minus_a_tag_and_refuses_to_delete_the_segment_it_uses(api: Any) -> None:
    client, auth, _ = api
    for name, phone, tags in (
        ("Ana", "+33612345671", ["vip"]),
        ("Bo", "+33612345672", ["vip", "staff"]),
        ("Cy", "+33612345673", []),
        ("Di", "+33612345674", ["vip"]),
    ):
        _contact(client, auth, name=name, phone=phone, tags=tags)
    segment = client.post(
        "/api/segments",
        headers=auth,
        json={"name": "VIPs", "filter": {"field": "tags", "op": "has_any", "value": ["vip"]}},
    ).get_json()
    recipients = {"segment_id": segment["id"], "exclude": {"tags": ["staff"]}}
    campaign = client.post(
        "/api/campaigns",
        headers=auth,
        json={"name": "Spring", "channel": "sms", "body": "Hi {{ name }}", "recipients": recipients},
    )
    assert campaign.status_code == 201, campaign.get_json()
    view = campaign.get_json()
    assert view["counts"]["total"] == 2
    assert view["recipients"]["segment_id"] == segment["id"]
    assert view["recipients"]["exclude"] == {"tags": ["staff"], "match": "any"}
    assert view["recipients"]["resolved"] == {"matched": 2, "recipients": 2, "opted_out": 0, "no_address": 0}
    messages = client.get(f"/api/campaigns/{view['id']}/messages", headers=auth).get_json()["items"]
    assert sorted(m["body"] for m in messages) == ["Hi Ana", "Hi Di"]
    refused = client.delete(f"/api/segments/{segment['id']}", headers=auth)
    assert refused.status_code == 409 and "Spring" in refused.get_json()["message"]
    # A copy sends the campaign's own recipients again (what they resolved to is left out and counted afresh).
    copy = client.post(
        "/api/campaigns",
        headers=auth,
        json={"name": "Copy", "channel": "sms", "body": "Hi", "recipients": view["recipients"]},
    )
    assert copy.status_code == 201 and copy.get_json()["counts"]["total"] == 2
    for made in (view, copy.get_json()):
        assert client.post(f"/api/campaigns/{made['id']}/cancel", headers=auth).status_code == 200
    assert client.delete(f"/api/segments/{segment['id']}", headers=auth).status_code == 204


def test_it_sends_to_tags_and_to_filters_and_says_why_nobody_can_get_it(api: Any) -> None:
    client, auth, _ = api
    ana = _contact(client, auth, name="Ana", phone="+33612345671", tags=["a", "b"])
    _contact(client, auth, name="Bo", email="bo@x.example", tags=["a"])
    client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth, json={"family": "sms"})

    def create(recipients: Any, channel: str = "sms") -> Any:
        return client.post(
            "/api/campaigns",
            headers=auth,
            json={"name": "C", "channel": channel, "subject": "S", "body": "Hi", "recipients": recipients},
        )

    nobody = create({"tags": ["A"], "match": "any"})
    assert nobody.status_code == 400
    assert nobody.get_json()["message"].endswith("1 opted out of sms messages and 1 has no phone number.")
    assert nobody.get_json()["details"][0] | {} == {
        "field": "recipients",
        "reason": "no reachable recipient",
        "opted_out": 1,
        "no_address": 1,
    }
    by_all_tags = create({"tags": ["a", "B"], "match": "all"}, "smtp")
    assert by_all_tags.status_code == 400 and "no email address" in by_all_tags.get_json()["message"]
    by_filter = create({"filter": {"field": "has.email", "op": "is", "value": True}}, "smtp")
    assert by_filter.status_code == 201 and by_filter.get_json()["counts"]["total"] == 1
    bad = create({"filter": {"all": [{"field": "name", "op": "gt", "value": 1}]}})
    assert bad.status_code == 400
    assert bad.get_json()["error"] == "invalid_filter"
    assert bad.get_json()["details"][0]["path"] == "recipients.filter.all.0.op"
    assert create({"tags": ["a"], "match": "most"}).status_code == 400
    assert create({"segment_id": 999}).status_code == 404


def _deep(depth: int) -> Any:
    node: Any = {"field": "name", "op": "eq", "value": "x"}
    for _ in range(depth):
        node = {"all": [node]}
    return node


BAD_FILTERS = [
    ({"all": [{"field": "name", "op": "gt", "value": 1}]}, "all.0.op"),
    (_deep(6), "all.0.all.0.all.0.all.0.all.0.all"),
    ({"any": [{"field": "name", "op": "eq", "value": str(i)} for i in range(51)]}, "any.50"),
    ({"field": "fields.ci-ty", "op": "eq", "value": "x"}, "field"),
    ({"field": "fields." + "k" * 65, "op": "eq", "value": "x"}, "field"),
    ({"field": "name", "op": "in", "value": [str(i) for i in range(1001)]}, "value"),
    ({"field": "name", "op": "eq", "value": "x" * 501}, "value"),
    ({"field": "tags", "op": "contains", "value": "x"}, "op"),
    ({"field": "created_at", "op": "before", "value": "last tuesday"}, "value"),
    ({"field": "fields.n", "op": "between", "value": [1]}, "value"),
    ({"field": "opted_out.fax", "op": "is", "value": True}, "field"),
    ({"not": {"field": "has.phone", "op": "is", "value": "yes"}}, "not.value"),
    ({"all": {"field": "name"}}, "all"),
    ({"field": "name", "op": "eq", "value": "x", "account_id": 2}, "account_id"),
    ([1, 2], ""),
]


@pytest.mark.parametrize(("tree", "path"), BAD_FILTERS)
def test_it_refuses_a_bad_filter_with_the_path_of_the_problem(
    client: Any, auth: dict[str, str], tree: Any, path: str
) -> None:
    for response in (
        client.post("/api/segments/count", headers=auth, json={"filter": tree}),
        client.get("/api/contacts", headers=auth, query_string={"filter": json.dumps(tree)}),
        client.post("/api/segments", headers=auth, json={"name": "x", "filter": tree}),
    ):
        assert response.status_code == 400, response.get_json()
        body = response.get_json()
        assert body["error"] == "invalid_filter"
        assert path in [d["path"] for d in body["details"]], body


def test_it_matches_sql_and_account_ids_in_values_as_plain_text(
    client: Any, auth: dict[str, str], services: Any
) -> None:
    other = bearer(services.account_token("other"))
    _contact(client, other, name="Theirs", email="t@x.example", fields={"account_id": "1"})
    _contact(client, auth, name="O'Brien; DROP TABLE contacts; --", email="o@x.example")
    for value in ("1 OR 1=1", "' OR ''='", "%", "_", "O'Brien; DROP TABLE contacts; --", "1"):
        for field in ("name", "fields.account_id"):
            tree = {
                "any": [
                    {"field": field, "op": "eq", "value": value},
                    {"field": field, "op": "contains", "value": value},
                ]
            }
            names = _names(client, auth, filter=json.dumps(tree))
            assert "Theirs" not in names
            expected = ["O'Brien; DROP TABLE contacts; --"] if field == "name" and value.startswith("O'") else []
            assert names == expected or (value in ("%", "_") and names == []), (field, value, names)
    assert _names(client, auth) == ["O'Brien; DROP TABLE contacts; --"]


def test_it_fills_what_filters_read_for_contacts_stored_before_the_migration(
    make_config: Any, database_url: str
) -> None:
    from sqlalchemy import text

    services = create_app(make_config(database_url=database_url)).extensions["bulkmsg"]
    try:
        upgrade(services.db, "0011_heal_outcomes")
        with services.db.write() as session:
            conn = session.connection()
            conn.execute(text("INSERT INTO accounts (name, settings, created_at) VALUES ('old', '{}', '2026-01-01')"))
            account = conn.execute(text("SELECT id FROM accounts WHERE name = 'old'")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO contacts (account_id, name, phone, fields, opt_outs, search_key, created_at, "
                    "updated_at) VALUES (:a, 'Łukasz Nowak', '+48501234567', :f, '{}', 'lukasz nowak', "
                    "'2026-01-01', '2026-01-01')"
                ),
                {"a": account, "f": '{"city": "Łódź", "age": "42"}'},
            )
        upgrade(services.db)
        client = create_app(make_config(database_url=database_url)).test_client()
        auth = bearer(services.account_token("old"))
        tree = {"all": [{"field": "name", "op": "starts_with", "value": "LUKASZ"},
                        {"field": "country", "op": "eq", "value": "pl"},
                        {"field": "fields.city", "op": "eq", "value": "lodz"},
                        {"field": "fields.age", "op": "gte", "value": 42}]}  # fmt: skip
        assert _names(client, auth, filter=json.dumps(tree)) == ["Łukasz Nowak"]
        counted = client.post("/api/segments/count", headers=auth, json={"filter": tree}).get_json()
        assert (counted["reachable"], counted["no_address"]) == ({"sms": 1, "email": 0, "whatsapp": 1}, 0)
    finally:
        services.db.dispose()


def test_it_filters_by_the_contacts_time_zone(api: Any) -> None:
    client, auth, _services = api
    _contact(client, auth, name="Ana", phone="+33612345678", timezone="Europe/Paris")
    _contact(client, auth, name="Raj", phone="+919876543210", timezone="Asia/Kolkata")
    _contact(client, auth, name="Cy", phone="+4915112345678")
    paris = json.dumps({"field": "timezone", "op": "eq", "value": "europe/PARIS"})
    assert _names(client, auth, filter=paris) == ["Ana"]
    unknown = json.dumps({"field": "timezone", "op": "is_not_set"})
    assert _names(client, auth, filter=unknown) == ["Cy"]
    asia = json.dumps({"field": "timezone", "op": "starts_with", "value": "Asia/"})
    assert _names(client, auth, filter=asia) == ["Raj"]


def test_it_counts_who_is_reachable_after_every_kind_of_write(api: Any) -> None:
    """The count reads `contacts.reach`, which the database keeps: it follows a contact created through the API,
    one written in plain SQL (as imports and merges write), an opt-out, an opt-in and a phone taken away."""
    from sqlalchemy import text

    client, auth, services = api
    ana = _contact(client, auth, name="Ana", phone="+14155552671", email="ana@example.com")
    _contact(client, auth, name="Bo", email="bo@example.com")
    with services.db.write() as session:
        session.execute(
            text(
                "INSERT INTO contacts (account_id, name, phone, fields, opt_outs, search_key, created_at, updated_at) "
                "VALUES (1, 'Cy', '+14155552672', '{}', :o, 'cy', '2026-01-01', '2026-01-01')"
            ),
            {"o": '{"whatsapp": {"at": "2026-01-01T00:00:00Z", "why": "stop"}}'},
        )

    def figures() -> tuple[dict[str, int], int, int]:
        got = client.post("/api/segments/count", headers=auth, json={"filter": {"all": []}}).get_json()
        return got["reachable"], got["opted_out"], got["no_address"]

    assert figures() == ({"sms": 2, "email": 2, "whatsapp": 1}, 0, 0)
    assert client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth, json={"family": "sms"}).status_code == 200
    assert figures() == ({"sms": 1, "email": 2, "whatsapp": 1}, 0, 0)
    assert client.post(f"/api/contacts/{ana['id']}/opt-in", headers=auth, json={"family": "sms"}).status_code == 200
    patched = client.patch(f"/api/contacts/{ana['id']}", headers=auth, json={"phone": None})
    assert patched.status_code == 200, patched.get_json()
    assert figures() == ({"sms": 1, "email": 2, "whatsapp": 0}, 0, 0)
    assert client.post(f"/api/contacts/{ana['id']}/opt-out", headers=auth).status_code == 200
    assert figures() == ({"sms": 1, "email": 1, "whatsapp": 0}, 1, 0)
    not_opted = {"all": [{"field": "opted_out.sms", "op": "is", "value": False},
                         {"field": "has.phone", "op": "is", "value": True}]}  # fmt: skip
    assert _names(client, auth, filter=json.dumps(not_opted)) == ["Cy"]
