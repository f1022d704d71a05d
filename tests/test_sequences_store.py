"""Sequences on SQLite and PostgreSQL (issue 30): enrolment by the API, by a segment and by a tag trigger (once
per contact, whatever path tags them), the migration over a store holding tags, and two engines on one
PostgreSQL making each step of each enrolment once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from backend.app import create_app
from backend.store.migrate import upgrade
from backend.store.models import Message
from backend.store.models.sequences import SequenceEnrollment
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer
from tests.sequence_support import create_sequence, enrol, enrolments, run_engine, sends_per_step, start
from tests.timing_support import Clock, add_people, configure_sms, phones


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def api(make_config: Any, database_url: str) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield app.test_client(), bearer(services.account_token()), services
    services.channels.close_all()
    services.db.dispose()


def test_it_enrols_by_segment_and_by_a_tag_added_once_per_contact(api, twilio) -> None:
    client, auth, services = api
    services.clock = Clock(datetime.now(UTC))
    account = configure_sms(services, twilio)
    add_people(services, account, phones(3))
    assert client.post("/api/tags", json={"name": "new"}, headers=auth).status_code == 201
    sequence = create_sequence(client, auth, trigger={"type": "tag_added", "tag": "New"})
    assert sequence["sequence"]["trigger"]["tag"] == "new" and sequence["status"] == "draft"
    ids = [c["id"] for c in client.get("/api/contacts", headers=auth).get_json()["items"]]
    segment = client.post(
        "/api/segments",
        json={"name": "first", "filter": {"field": "phone", "op": "eq", "value": phones(1)[0]["phone"]}},
        headers=auth,
    ).get_json()
    assert enrol(client, auth, sequence["id"], segment_id=segment["id"])["enrolled"] == 1
    start(client, auth, sequence["id"])

    tagged = client.post("/api/contacts/bulk", json={"contact_ids": ids, "add_tags": ["new"]}, headers=auth)
    assert tagged.status_code == 200, tagged.get_json()
    run_engine(services)
    assert sorted(s for s, _, _ in enrolments(services).values()) == ["active"] * 3  # the first was in already
    with services.db.read() as session:
        sources = sorted(session.scalars(select(SequenceEnrollment.source)))
        queued = session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == sequence["id"]))
    assert sources == ["manual", "tag_added", "tag_added"] and queued == 3

    # Tagging again (off and on) does nothing: a contact enters once unless the sequence allows re-entry.
    client.post("/api/contacts/bulk", json={"contact_ids": ids, "remove_tags": ["new"]}, headers=auth)
    client.post("/api/contacts/bulk", json={"contact_ids": ids, "add_tags": ["new"]}, headers=auth)
    run_engine(services)
    assert len(enrolments(services)) == 3
    listed = client.get(f"/api/campaigns/{sequence['id']}/enrollments", headers=auth).get_json()
    assert listed["total"] == 3 and {i["current_step"] for i in listed["items"]} == {1}
    assert all(i["waiting_on_send"] for i in listed["items"])
    assert client.get(f"/api/campaigns/{sequence['id']}/enrollments?status=odd", headers=auth).status_code == 400
    events = [
        e for e in client.get("/api/events", headers=auth).get_json()["items"] if e["type"] == "sequence.enrolled"
    ]
    assert [(e["data"]["enrolled"], e["data"]["source"]) for e in events] == [(1, "manual"), (2, "tag_added")]
    hook = client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["sequence.exited"]}, headers=auth
    )
    assert hook.status_code == 201, hook.get_json()  # a webhook can follow who leaves a sequence

    # The tag that starts the sequence is not deleted while the sequence may still enrol (it would stop silently).
    listed_tags = client.get("/api/tags", headers=auth).get_json()
    tag_id = next(t["id"] for t in listed_tags.get("items", listed_tags) if t["name"] == "new")
    refused = client.delete(f"/api/tags/{tag_id}", headers=auth)
    assert refused.status_code == 409 and sequence["name"] in refused.get_json()["message"], refused.get_json()
    assert client.post(f"/api/campaigns/{sequence['id']}/cancel", headers=auth).status_code == 200
    assert client.delete(f"/api/tags/{tag_id}", headers=auth).status_code == 204


def test_it_adds_tag_times_over_a_store_that_holds_tags(make_config: Any, database_url: str) -> None:
    services = create_app(make_config(database_url=database_url)).extensions["bulkmsg"]
    try:
        upgrade(services.db, "0019_speed")
        with services.db.write() as session:
            conn = session.connection()
            conn.execute(text("INSERT INTO accounts (name, settings, created_at) VALUES ('a', '{}', '2026-01-01')"))
            conn.execute(
                text(
                    "INSERT INTO contacts (account_id, name, fields, opt_outs, search_key, name_key, fields_key, "
                    "created_at, updated_at) VALUES (1, 'Ana', '{}', '{}', '', '', '{}', '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(
                text("INSERT INTO tags (account_id, name, name_key, created_at) VALUES (1, 'x', 'x', '2026-01-01')")
            )
            conn.execute(text("INSERT INTO contact_tags (tag_id, contact_id) VALUES (1, 1)"))
        upgrade(services.db)
        with services.db.write() as session:
            conn = session.connection()
            conn.execute(
                text("INSERT INTO tags (account_id, name, name_key, created_at) VALUES (1, 'y', 'y', '2026-01-01')")
            )
            conn.execute(text("INSERT INTO contact_tags (tag_id, contact_id) VALUES (2, 1)"))
            rows = conn.execute(text("SELECT tag_id, created_at FROM contact_tags ORDER BY tag_id")).all()
        assert rows[0][1] is None and rows[1][1] is not None  # old links unknown; new ones stamped by the database
    finally:
        services.db.dispose()


def test_two_engines_on_one_postgresql_make_each_step_once(make_config: Any, pg_url: str, twilio) -> None:
    app = create_app(make_config(database_url=pg_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    client, auth = app.test_client(), bearer(services.account_token())
    try:
        account = configure_sms(services, twilio)
        add_people(services, account, phones(300))
        sequence = create_sequence(client, auth)
        start(client, auth, sequence["id"])
        assert (
            enrol(client, auth, sequence["id"], filter={"field": "has.phone", "op": "is", "value": True})["enrolled"]
            == 300
        )
        made: list[int] = []
        from backend.sequences import engine

        engine.BATCH, batch = 25, engine.BATCH  # small batches: the two claim side by side many times
        try:
            workers = [
                threading.Thread(target=lambda o=owner: made.append(run_engine(services, owner=o)))
                for owner in ("one", "two")
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(60)
        finally:
            engine.BATCH = batch
        assert sum(made) == 300 and all(made), made
        sends = sends_per_step(services)
        assert len(sends) == 300 and set(sends.values()) == {1}
        with services.db.read() as session:
            count = session.scalar(
                select(func.count()).select_from(Message).where(Message.campaign_id == sequence["id"])
            )
        assert count == 300
    finally:
        services.channels.close_all()
        services.db.dispose()
