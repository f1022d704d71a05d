"""Contact search finds a name whatever its case and accents, by any word, on SQLite and PostgreSQL; the index
follows every change and is filled for contacts that existed before the migration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from backend.app import create_app
from backend.contacts import search_index
from backend.store.migrate import upgrade
from backend.store.search_key import fold
from tests.helpers import bearer, wait_for

NAMES = [
    "Émile Zola",
    "Œdipe Roi",
    "Ångström Anders",
    "Łukasz Nowak",
    "Zoë Müller",
    "Søren Kierkegaard",
    "Hans Straße",
    "Ólafur Arnalds",
    "王小明",
    "Дмитрий Шостакович",
    "Anne-Marie O'Neil",
]


@pytest.fixture
def api(make_config: Any, database_url: str) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    client = app.test_client()
    headers = bearer(services.account_token())
    yield client, headers, services
    services.db.dispose()


def names(client: Any, headers: dict[str, str], q: str) -> list[str]:
    response = client.get("/api/contacts", headers=headers, query_string={"q": q})
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == len(body["items"])
    return [c["name"] for c in body["items"]]


def test_it_folds_case_accents_and_special_letters() -> None:
    assert [fold(n) for n in ("ÉMILE", "Œdipe", "Ångström", "Łukasz", "Zoë", "Søren", "Straße", "ẞ", "Þór")] == [
        "emile",
        "oedipe",
        "angstrom",
        "lukasz",
        "zoe",
        "soren",
        "strasse",
        "ss",
        "thor",
    ]


def test_it_finds_names_whatever_their_case_and_accents(api: Any) -> None:
    client, headers, _ = api
    for i, name in enumerate(NAMES):
        assert (
            client.post("/api/contacts", headers=headers, json={"name": name, "email": f"p{i}@x.example"}).status_code
            < 300
        )
    expected = {
        "emile": ["Émile Zola"],
        "ÉMILE": ["Émile Zola"],
        "Émi": ["Émile Zola"],
        "zola": ["Émile Zola"],
        "emile zo": ["Émile Zola"],
        "oedipe": ["Œdipe Roi"],
        "angstrom": ["Ångström Anders"],
        "ÅNGSTRÖM": ["Ångström Anders"],
        "lukasz": ["Łukasz Nowak"],
        "zoe": ["Zoë Müller"],
        "muller": ["Zoë Müller"],
        "soren": ["Søren Kierkegaard"],
        "kierke": ["Søren Kierkegaard"],
        "strasse": ["Hans Straße"],
        "olafur": ["Ólafur Arnalds"],
        "王小": ["王小明"],
        "дмитрий": ["Дмитрий Шостакович"],
        "ШОСТ": ["Дмитрий Шостакович"],
        "marie": ["Anne-Marie O'Neil"],
        "oneil": [],
        "o'neil": ["Anne-Marie O'Neil"],
        "xyz": [],
    }
    for q, want in expected.items():
        assert names(client, headers, q) == want, q


def test_it_finds_contacts_by_email_and_by_phone_typed_any_way(api: Any) -> None:
    client, headers, _ = api
    client.put("/api/settings", headers=headers, json={"default_country": "GB"})
    client.post(
        "/api/contacts", headers=headers, json={"name": "Ana", "phone": "07911 123456", "email": "ana@shop.example"}
    )
    for q in ("ana@", "SHOP.EX", "+44 7911 123", "07911123", "447911", "7911-12"):
        assert names(client, headers, q) == ["Ana"], q


def test_it_keeps_the_index_in_step_with_changes_and_deletions(api: Any) -> None:
    client, headers, _ = api
    made = client.post("/api/contacts", headers=headers, json={"name": "Zoë Adams", "phone": "+14155550101"}).get_json()
    assert client.patch(f"/api/contacts/{made['id']}", headers=headers, json={"name": "Élodie Adams"}).status_code < 300
    assert names(client, headers, "zoe") == []
    assert names(client, headers, "elodie") == ["Élodie Adams"]
    assert client.delete(f"/api/contacts/{made['id']}", headers=headers).status_code in (200, 204)
    assert names(client, headers, "elodie") == []


def test_it_indexes_imported_contacts_and_their_updates(api: Any) -> None:
    client, headers, _ = api
    first = "Name,Email\nÉmile Zola,emile@x.example\nZoë Müller,zoe@x.example\n"
    client.post("/api/contacts/import", headers=headers, data={"file": (_file(first), "a.csv")})
    assert names(client, headers, "emile") == ["Émile Zola"]
    again = "Name,Email\nÉmilie Zola,emile@x.example\n"
    client.post("/api/contacts/import", headers=headers, data={"file": (_file(again), "b.csv")})
    assert names(client, headers, "emili") == ["Émilie Zola"]
    assert names(client, headers, "zoe") == ["Zoë Müller"]


def test_it_counts_and_pages_each_contact_once_however_many_of_its_terms_match(api: Any) -> None:
    client, headers, _ = api
    rows = "".join(f"Ana Silva {n},ana.silva{n}@x.example\n" for n in range(30))  # name and email both match
    client.post("/api/contacts/import", headers=headers, data={"file": (_file("Name,Email\n" + rows), "a.csv")})
    seen = []
    for offset in (0, 10, 20, 30):
        response = client.get(
            "/api/contacts", headers=headers, query_string={"q": "ANA", "limit": 10, "offset": offset}
        )
        body = response.get_json()
        assert body["total"] == 30
        seen += [c["id"] for c in body["items"]]
    assert len(seen) == 30 and seen == sorted(set(seen))
    far = client.get("/api/contacts", headers=headers, query_string={"q": "ana", "offset": 2**62})
    assert far.status_code == 200 and far.get_json() == {"items": [], "total": 30}


def test_a_large_import_leaves_postgresql_searching_the_index_alone(make_config: Any, pg_url: str) -> None:
    # Index-only scans need pages marked all-visible, which only a vacuum does (autovacuum may be off, as on these
    # machines, or not have run yet): after a large import the app vacuums the index itself (search_index.tidy).
    app = create_app(make_config(database_url=pg_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    try:
        client, headers = app.test_client(), bearer(services.account_token())
        rows = "".join(f"Rosa Rossi {n},rosa{n}@x.example\n" for n in range(search_index.TIDY_AFTER_CONTACTS))
        answer = client.post(
            "/api/contacts/import", headers=headers, data={"file": (_file("Name,Email\n" + rows), "a.csv")}
        )
        assert answer.get_json()["imported"] == search_index.TIDY_AFTER_CONTACTS

        def heap_fetches() -> int:
            with services.db.read() as session:
                session.execute(text("SET LOCAL enable_seqscan = off"))  # small table: ask for the index as at scale
                plan = session.execute(
                    text(
                        "EXPLAIN (ANALYZE) SELECT contact_id FROM contact_terms "
                        "WHERE account_id = 1 AND term >= 'ros' AND term < 'rot'"
                    )
                ).scalars()
                lines = [line for line in plan if "Heap Fetches" in line]
            assert lines, "no index-only scan"
            return int(lines[0].split(":")[1])

        wait_for(lambda: heap_fetches() == 0, timeout=20, what="the search index to be vacuumed")
        with services.db.read() as session:
            found, total = search_index.search(session, 1, "ros", 5, 0)
        assert total == search_index.TIDY_AFTER_CONTACTS and len(found) == 5
    finally:
        services.db.dispose()


def test_a_small_import_does_not_vacuum(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, headers, _ = api
    asked: list[Any] = []
    monkeypatch.setattr(search_index, "tidy_soon", asked.append)
    client.post(
        "/api/contacts/import", headers=headers, data={"file": (_file("Name,Email\nAna,a@x.example\n"), "a.csv")}
    )
    assert asked == []
    many = "".join(f"Ana {n},a{n}@x.example\n" for n in range(search_index.TIDY_AFTER_CONTACTS))
    client.post("/api/contacts/import", headers=headers, data={"file": (_file("Name,Email\n" + many), "b.csv")})
    assert len(asked) == 1


def test_it_fills_the_key_of_contacts_stored_before_the_migration(make_config: Any, database_url: str) -> None:
    services = create_app(make_config(database_url=database_url)).extensions["bulkmsg"]
    try:
        upgrade(services.db, "0009_conversation_claim")
        with services.db.write() as session:
            conn = session.connection()
            conn.execute(text("INSERT INTO accounts (name, settings, created_at) VALUES ('old', '{}', '2026-01-01')"))
            account = conn.execute(text("SELECT id FROM accounts WHERE name = 'old'")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO contacts (account_id, name, email, fields, opted_out, created_at, updated_at) "
                    "VALUES (:a, 'Łukasz Nowak', 'l@x.example', '{}', false, '2026-01-01', '2026-01-01')"
                ),
                {"a": account},
            )
        upgrade(services.db)
        from backend.contacts.search_index import search

        with services.db.read() as session:
            rows, total = search(session, account, "LUKASZ", 10, 0)
            assert (total, [c.name for c in rows]) == (1, ["Łukasz Nowak"])
            assert rows[0].search_key == "lukasz nowak l@x.example"
    finally:
        services.db.dispose()


def _file(content: str) -> Any:
    import io

    return io.BytesIO(content.encode())
