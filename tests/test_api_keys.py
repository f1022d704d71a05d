"""API keys (DESIGN section 17): shown once, stored as a hash, scoped, revoked and expired on the next request."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.store.models import ApiKey
from tests.helpers import bearer


def create_key(client: Any, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/api-keys", json={"name": "Shop", **body}, headers=auth)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def test_it_shows_the_key_once_and_keeps_only_its_hash(client, auth, services) -> None:
    created = create_key(client, auth, scopes=["read", "send"])
    assert re.fullmatch(r"bm_[A-Za-z0-9_-]{43}", created["key"])
    assert created["prefix"] == created["key"][:9] and created["scopes"] == ["read", "send"]
    listed = client.get("/api/api-keys", headers=auth).get_json()
    assert listed["total"] == 1 and created["key"] not in str(listed)
    assert set(listed["items"][0]) >= {"id", "name", "prefix", "scopes", "last_used_at"}
    with services.db.read() as session:
        row = session.scalars(select(ApiKey)).one()
        stored = [str(v) for v in vars(row).values()]
    assert not any(created["key"] in value or created["key"][3:] in value for value in stored)


def test_it_lets_a_key_do_exactly_what_its_scopes_allow(client, auth) -> None:
    reader = bearer(create_key(client, auth, scopes=["read"])["key"])
    assert client.get("/api/campaigns", headers=reader).status_code == 200
    assert client.get("/api/contacts", headers=reader).status_code == 200
    refused = client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org"}, headers=reader)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope" and "`contacts`" in refused.get_json()["message"]
    no_send = client.post("/api/campaigns", json={}, headers=reader).get_json()
    assert "`send`" in no_send["message"]
    admin = client.get("/api/webhooks", headers=reader).get_json()
    assert "`admin`" in admin["message"]
    assert client.get("/api/channels", headers=reader).status_code == 200  # secrets masked: reading is `read`
    refused = client.put("/api/settings", json={"default_country": "DE"}, headers=reader)
    assert refused.status_code == 403 and "`admin`" in refused.get_json()["message"]

    writer = bearer(create_key(client, auth, scopes=["contacts"])["key"])
    made = client.post("/api/contacts", json={"name": "Ana", "email": "ana@example.org"}, headers=writer)
    assert made.status_code == 201
    assert client.get("/api/contacts", headers=writer).status_code == 403  # reading needs `read`

    boss = bearer(create_key(client, auth, scopes=["admin"])["key"])
    assert client.get("/api/webhooks", headers=boss).status_code == 200
    escalate = client.post("/api/api-keys", json={"name": "more", "scopes": ["send"]}, headers=boss)
    assert escalate.status_code == 403 and "send" in escalate.get_json()["message"]


def test_it_refuses_a_revoked_key_on_the_next_request(client, auth) -> None:
    created = create_key(client, auth)
    key = bearer(created["key"])
    assert client.get("/api/campaigns", headers=key).status_code == 200
    assert client.delete(f"/api/api-keys/{created['id']}", headers=auth).status_code == 204
    gone = client.get("/api/campaigns", headers=key)
    assert gone.status_code == 401 and created["key"] not in gone.get_data(as_text=True)
    assert client.get("/api/api-keys", headers=auth).get_json()["total"] == 0


def test_it_refuses_an_expired_key(client, auth, services, clock) -> None:
    expires = (clock() + timedelta(hours=1)).isoformat()
    key = bearer(create_key(client, auth, expires_at=expires)["key"])
    assert client.get("/api/campaigns", headers=key).status_code == 200
    clock.advance(hours=1, seconds=1)
    assert client.get("/api/campaigns", headers=key).status_code == 401


def test_it_notes_when_a_key_was_last_used(client, auth, clock) -> None:
    created = create_key(client, auth)
    assert client.get("/api/api-keys", headers=auth).get_json()["items"][0]["last_used_at"] is None
    client.get("/api/campaigns", headers=bearer(created["key"]))
    assert client.get("/api/api-keys", headers=auth).get_json()["items"][0]["last_used_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "scopes": ["everything"]},
        {"name": "x", "scopes": []},
        {"name": "x", "expires_at": "tomorrow"},
        {"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
    ],
)
def test_it_refuses_a_bad_key_request_with_400(client, auth, body) -> None:
    response = client.post("/api/api-keys", json=body, headers=auth)
    assert response.status_code == 400 and response.get_json()["details"]


def test_it_answers_a_wrong_key_401_as_fast_as_a_revoked_one(client, auth, caplog) -> None:
    created = create_key(client, auth)
    client.delete(f"/api/api-keys/{created['id']}", headers=auth)
    caplog.set_level(logging.DEBUG)
    wrong = "bm_" + "A" * 43

    def timed(key: str) -> float:
        started = time.perf_counter()
        for _ in range(50):
            assert client.get("/api/campaigns", headers=bearer(key)).status_code == 401
        return time.perf_counter() - started

    timed(wrong)
    a, b = timed(wrong), timed(created["key"])
    assert max(a, b) / min(a, b) < 3  # generous: the machine is shared; both take one indexed lookup
    assert created["key"] not in caplog.text and wrong not in caplog.text
