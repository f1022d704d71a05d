"""Sign-in, tokens, the Host/Origin guards, error shapes, the event log."""

from __future__ import annotations

import subprocess
import sys

from backend.accounts import get_or_create_account
from backend.security.tokens import Principal
from tests.helpers import bearer


def test_it_answers_health_without_a_token(client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_it_refuses_api_calls_without_a_valid_token(client) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/events", headers=headers)
        assert response.status_code == 401
        body = response.get_json()
        assert body["error"] == "unauthorized" and "bulkmsg token" in body["message"]


def test_it_refuses_a_ws_ticket_used_as_an_api_token(client, services) -> None:
    account_id = services.signer.verify(services.account_token()).account_id
    ticket = services.signer.issue(Principal(account_id, "owner"), kind="ws", ttl_s=60)
    assert client.get("/api/events", headers=bearer(ticket)).status_code == 401


def test_it_exchanges_the_login_code_once(client, services) -> None:
    code = services.login_code()
    first = client.post("/api/session", json={"code": code})
    assert first.status_code == 200
    assert client.get("/api/events", headers=bearer(first.get_json()["token"])).status_code == 200
    second = client.post("/api/session", json={"code": code})
    assert second.status_code == 401
    assert "already used" in second.get_json()["message"]


def test_it_refuses_a_foreign_host_and_origin(client, auth) -> None:
    rebound = client.get("/api/health", headers={"Host": "attacker.example"})
    assert rebound.status_code == 403 and rebound.get_json()["error"] == "forbidden_host"
    for path in ("/", "/oauth/gmail/callback", "/ws"):
        assert client.get(path, headers={"Host": "attacker.example"}).status_code == 403, path
    # Signed provider webhooks are judged by their signature, whatever Host a tunnel forwards.
    tunnelled = client.post("/webhooks/communications", headers={"Host": "hooks.example"}, json={})
    assert tunnelled.get_json()["error"] != "forbidden_host"
    cross = client.get("/api/events", headers={**auth, "Origin": "http://attacker.example"})
    assert cross.status_code == 403 and cross.get_json()["error"] == "forbidden_origin"
    same = client.get("/api/events", headers={**auth, "Origin": "http://localhost"})
    assert same.status_code == 200


def test_it_answers_errors_as_json_without_stack_traces(client, auth) -> None:
    unknown_post = client.post("/api/nothing-here", headers=auth, json={})
    assert unknown_post.status_code == 404 and unknown_post.get_json()["error"] == "not_found"
    assert client.get("/webhooks/nothing").status_code == 404
    missing = client.get("/api/nothing-here", headers=auth)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    bad_json = client.post("/api/session", data="{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.get_json()["message"] == "The body is not valid JSON."
    not_json = client.post("/api/session", data="code=1")
    assert not_json.status_code == 415
    wrong_type = client.post("/api/session", json=["code"])
    assert wrong_type.status_code == 400
    bad_arg = client.get("/api/events?limit=abc", headers=auth)
    assert bad_arg.status_code == 400 and bad_arg.get_json()["details"][0]["field"] == "limit"
    for response in (missing, bad_json, not_json, wrong_type, bad_arg):
        assert b"Traceback" not in response.data


def test_it_lists_events_after_an_id_for_the_callers_account_only(client, services) -> None:
    with services.db.write() as session:
        a = get_or_create_account(session, "a").id
        b = get_or_create_account(session, "b").id
    ids = [services.hub.emit(a, "send.progress", f"Sent to +1555000{i}") for i in range(3)]
    services.hub.emit(b, "send.progress", "Sent to +19990000000")
    token_a = services.account_token("a")
    listed = client.get(f"/api/events?after={ids[0]}", headers=bearer(token_a)).get_json()
    assert [e["id"] for e in listed["items"]] == ids[1:]
    assert listed["total"] == 3
    everything = client.get("/api/events", headers=bearer(token_a)).get_json()["items"]
    assert all("+1999" not in e["text"] for e in everything)
    assert everything[0]["ts"].endswith("Z") and everything[0]["type"] == "send.progress"


def test_it_prints_a_token_for_an_account(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend", "token", "--account", "shop", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].count(".") == 2  # one JWT, alone on its line
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_it_explains_every_command_in_help() -> None:
    result = subprocess.run([sys.executable, "-m", "backend", "--help"], capture_output=True, text=True, timeout=60)
    for command in ("serve", "desktop", "token", "db"):
        assert command in result.stdout
