"""Audience filters (DESIGN section 14): every field and operator gives the same contacts on SQLite and
PostgreSQL, text compared whatever its case and accents, and another account's contacts never match."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from backend.app import create_app
from backend.store.migrate import upgrade
from backend.store.models import Campaign, Contact, Message, utcnow
from tests.helpers import bearer

EVERYONE = {"Émile Zola", "Zoë Müller", "Ana Silva", "Bob Stone", "Chloé Dupont", "Łukasz Nowak"}

PEOPLE: list[dict[str, Any]] = [
    {
        "name": "Émile Zola",
        "phone": "+33612345678",
        "email": "emile@lyon.example",
        "fields": {"city": "Lyon", "age": "42", "vip": "yes"},
        "tags": ["VIP", "Lyon"],
    },
    {
        "name": "Zoë Müller",
        "phone": "+4915112345678",
        "email": "zoe@berlin.example",
        "fields": {"city": "Berlin", "age": 31},
        "tags": ["vip"],
    },
    {"name": "Ana Silva", "phone": "+351912345678", "fields": {"city": "Porto", "age": "n/a"}},
    {
        "name": "Bob Stone",
        "email": "bob@x.example",
        "fields": {"age": " 55.5 ", "note": "100% sure'; DROP TABLE contacts; --"},
        "tags": ["Newsletter"],
    },
    {"name": "Chloé Dupont", "phone": "+12125550100", "email": "chloe@ny.example", "tags": ["Vîp", "newsletter"]},
    {"name": "Łukasz Nowak", "phone": "+48501234567", "email": "lukasz@pl.example", "fields": {"city": "Łódź"}},
]


@pytest.fixture
def api(make_config: Any, database_url: str) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield app.test_client(), bearer(services.account_token()), services
    services.db.dispose()


def _people(client: Any, auth: dict[str, str]) -> dict[str, int]:
    ids = {}
    for person in PEOPLE:
        response = client.post("/api/contacts", headers=auth, json=person)
        assert response.status_code == 201, response.get_json()
        ids[person["name"]] = response.get_json()["id"]
    for name, family in (("Ana Silva", "sms"), ("Bob Stone", "all"), ("Chloé Dupont", "email")):
        assert (
            client.post(f"/api/contacts/{ids[name]}/opt-out", headers=auth, json={"family": family}).status_code == 200
        )
    return ids


def _history(services: Any, ids: dict[str, int]) -> int:
    """A campaign: Émile got it (delivered) and replied, Zoë's failed, Chloé got it 10 days ago; Ana wrote in."""
    now = utcnow()
    with services.db.write() as session:
        account = session.get(Contact, ids["Ana Silva"]).account_id
        campaign = Campaign(account_id=account, name="Spring", channel="sms", body="Hi", status="completed")
        session.add(campaign)
        session.flush()

        def message(who: str, **values: Any) -> None:
            base = {"account_id": account, "channel": "sms", "recipient": "x", "body": "Hi", "contact_id": ids[who]}
            if values.get("direction") == "in":
                base.update(sender_type="conversation", sender_id=f"contact-{ids[who]}", status="received")
            else:
                base.update(sender_type="campaign", sender_id=str(campaign.id), campaign_id=campaign.id)
            session.add(Message(**{**base, **values}))

        message("Émile Zola", status="sent", delivered=True, sent_at=now - timedelta(days=2))
        message("Émile Zola", direction="in", created_at=now - timedelta(days=1))
        message("Zoë Müller", status="failed")
        message("Chloé Dupont", status="sent", sent_at=now - timedelta(days=10))
        message("Ana Silva", direction="in", created_at=now - timedelta(days=3))
        session.execute(
            update(Contact).where(Contact.id == ids["Łukasz Nowak"]).values(created_at=now - timedelta(days=40))
        )
        return campaign.id


def _cases(campaign: int) -> list[tuple[Any, set[str]]]:
    def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
        return {"field": field, "op": op, "value": value}

    twenty_days_ago = (utcnow() - timedelta(days=20)).date().isoformat()
    c = f"campaign.{campaign}"
    return [
        (leaf("name", "eq", "EMILE ZOLA"), {"Émile Zola"}),
        (leaf("name", "contains", "MULL"), {"Zoë Müller"}),
        (leaf("name", "starts_with", "chlo"), {"Chloé Dupont"}),
        (leaf("name", "ne", "ana silva"), EVERYONE - {"Ana Silva"}),
        (leaf("name", "not_contains", "o"), {"Ana Silva"}),
        (leaf("name", "in", ["ÁNA SILVA", "bob stone"]), {"Ana Silva", "Bob Stone"}),
        (leaf("name", "not_in", ["ana silva", "bob stone"]), EVERYONE - {"Ana Silva", "Bob Stone"}),
        (leaf("name", "contains", "lukasz"), {"Łukasz Nowak"}),
        (leaf("email", "is_not_set"), {"Ana Silva"}),
        (leaf("email", "contains", "EXAMPLE"), EVERYONE - {"Ana Silva"}),
        (leaf("email", "eq", "Zoe@Berlin.example"), {"Zoë Müller"}),
        (leaf("phone", "starts_with", "+33"), {"Émile Zola"}),
        (leaf("phone", "contains", "555-01"), {"Chloé Dupont"}),
        (leaf("phone", "is_not_set"), {"Bob Stone"}),
        (leaf("country", "eq", "fr"), {"Émile Zola"}),
        (leaf("country", "in", ["DE", "pl"]), {"Zoë Müller", "Łukasz Nowak"}),
        (leaf("country", "is_not_set"), {"Bob Stone"}),
        (leaf("fields.city", "eq", "lodz"), {"Łukasz Nowak"}),
        (leaf("fields.city", "eq", "LYON"), {"Émile Zola"}),
        (leaf("fields.city", "is_set"), {"Émile Zola", "Zoë Müller", "Ana Silva", "Łukasz Nowak"}),
        (leaf("fields.city", "is_not_set"), {"Bob Stone", "Chloé Dupont"}),
        (leaf("fields.city", "contains", "%"), set()),
        (leaf("fields.city", "contains", "_"), set()),
        (leaf("fields.note", "contains", "100%"), {"Bob Stone"}),
        (leaf("fields.note", "contains", "'; drop table contacts; --"), {"Bob Stone"}),
        (leaf("fields.city", "eq", "x' OR '1'='1"), set()),
        (leaf("fields.age", "gt", 40), {"Émile Zola", "Bob Stone"}),
        (leaf("fields.age", "lt", 40), {"Zoë Müller"}),
        (leaf("fields.age", "between", [50, 30]), {"Émile Zola", "Zoë Müller"}),
        (leaf("fields.age", "ne", 42), {"Zoë Müller", "Bob Stone"}),
        (leaf("fields.age", "eq", 31), {"Zoë Müller"}),
        (leaf("fields.age", "gte", 55.5), {"Bob Stone"}),
        (leaf("fields.city", "gt", 1), set()),
        (leaf("fields.age", "eq", "N/A"), {"Ana Silva"}),
        (leaf("tags", "has_any", ["vip"]), {"Émile Zola", "Zoë Müller", "Chloé Dupont"}),
        (leaf("tags", "has_any", "VÍP"), {"Émile Zola", "Zoë Müller", "Chloé Dupont"}),
        (leaf("tags", "has_all", ["VIP", "newsletter"]), {"Chloé Dupont"}),
        (leaf("tags", "has_none", ["VIP"]), {"Ana Silva", "Bob Stone", "Łukasz Nowak"}),
        (leaf("tags", "has_any", ["nobody has this"]), set()),
        (leaf("tags", "has_all", ["vip", "nobody has this"]), set()),
        (leaf("tags", "has_none", ["nobody has this"]), EVERYONE),
        (leaf("opted_out.sms", "is", True), {"Ana Silva", "Bob Stone"}),
        (leaf("opted_out.email", "is", True), {"Bob Stone", "Chloé Dupont"}),
        (leaf("opted_out.any", "is", True), {"Ana Silva", "Bob Stone", "Chloé Dupont"}),
        (leaf("opted_out.whatsapp", "is", False), EVERYONE - {"Bob Stone"}),
        (leaf("has.phone", "is", False), {"Bob Stone"}),
        (leaf("has.email", "is", True), EVERYONE - {"Ana Silva"}),
        (leaf("created_at", "more_than_days_ago", 30), {"Łukasz Nowak"}),
        (leaf("created_at", "within_last_days", 30), EVERYONE - {"Łukasz Nowak"}),
        (leaf("created_at", "before", twenty_days_ago), {"Łukasz Nowak"}),
        (leaf("created_at", "after", twenty_days_ago), EVERYONE - {"Łukasz Nowak"}),
        (leaf("last_sent_at", "within_last_days", 5), {"Émile Zola"}),
        (leaf("last_sent_at", "more_than_days_ago", 5), {"Chloé Dupont"}),
        (leaf("last_sent_at", "is_set"), {"Émile Zola", "Chloé Dupont"}),
        (leaf("last_sent_at", "is_not_set"), EVERYONE - {"Émile Zola", "Chloé Dupont"}),
        (leaf("last_inbound_at", "within_last_days", 2), {"Émile Zola"}),
        (leaf("last_inbound_at", "is_set"), {"Émile Zola", "Ana Silva"}),
        (leaf(f"{c}.received", "is", True), {"Émile Zola", "Chloé Dupont"}),
        (leaf(f"{c}.delivered", "is", True), {"Émile Zola"}),
        (leaf(f"{c}.failed", "is", True), {"Zoë Müller"}),
        (leaf(f"{c}.replied", "is", True), {"Émile Zola"}),
        (leaf(f"{c}.replied", "is", False), EVERYONE - {"Émile Zola"}),
        (leaf("campaign.999999.received", "is", True), set()),
        (
            {"all": [leaf("tags", "has_any", ["vip"]), {"not": leaf("opted_out.sms", "is", True)}]},
            {"Émile Zola", "Zoë Müller", "Chloé Dupont"},
        ),
        ({"any": [leaf("country", "eq", "FR"), leaf("country", "eq", "DE")]}, {"Émile Zola", "Zoë Müller"}),
        ({"not": {"not": leaf("fields.age", "gt", 40)}}, {"Émile Zola", "Bob Stone"}),
        ({"not": leaf("fields.age", "gt", 40)}, EVERYONE - {"Émile Zola", "Bob Stone"}),
        ({"all": []}, EVERYONE),
        ({"any": []}, set()),
        # "VIP customers in Lyon who have not replied in 30 days and are not opted out of SMS"
        (
            {
                "all": [
                    leaf("tags", "has_any", ["VIP"]),
                    leaf("fields.city", "eq", "lyon"),
                    {"not": leaf("last_inbound_at", "within_last_days", 30)},
                    leaf("opted_out.sms", "is", False),
                ]
            },
            set(),
        ),
        (
            {"all": [leaf("tags", "has_any", ["VIP"]), leaf("opted_out.sms", "is", False)]},
            {"Émile Zola", "Zoë Müller", "Chloé Dupont"},
        ),
    ]


def _names(client: Any, auth: dict[str, str], tree: Any) -> set[str]:
    response = client.get("/api/contacts", headers=auth, query_string={"filter": json.dumps(tree), "limit": 1000})
    assert response.status_code == 200, (tree, response.get_json())
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return {c["name"] for c in body["items"]}


def test_it_matches_every_field_and_operator_alike_on_both_databases(api: Any) -> None:
    client, auth, services = api
    ids = _people(client, auth)
    campaign = _history(services, ids)
    # Another account holds look-alikes of everyone: none of them may ever match.
    other = bearer(services.account_token("other"))
    for person in PEOPLE:
        twin = {**person, "name": person["name"] + " (other)"}
        assert client.post("/api/contacts", headers=other, json=twin).status_code == 201
    wrong = []
    for tree, expected in _cases(campaign):
        got = _names(client, auth, tree)
        if got != expected:
            wrong.append((tree, sorted(got), sorted(expected)))
    assert wrong == []


def test_it_counts_who_each_channel_reaches_with_a_sample(api: Any) -> None:
    client, auth, _services = api
    _people(client, auth)
    response = client.post("/api/segments/count", headers=auth, json={"filter": {"all": []}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] == 6
    # sms / whatsapp: 5 phones, Ana opted out of SMS, Bob of everything (and has no phone)
    assert body["reachable"] == {"sms": 4, "email": 3, "whatsapp": 5}
    assert body["opted_out"] == 1
    assert body["no_address"] == 0
    assert body["by_channel"]["sms"] == {"opted_out": 2, "no_address": 0}
    assert body["by_channel"]["email"] == {"opted_out": 2, "no_address": 1}
    assert [c["name"] for c in body["sample"]] == [p["name"] for p in PEOPLE]
    assert body["sample"][0]["tags"] == ["Lyon", "VIP"]
    by_tags = client.post("/api/segments/count", headers=auth, json={"tags": ["vip"], "match": "any"}).get_json()
    assert (by_tags["total"], by_tags["reachable"]["email"]) == (3, 2)
