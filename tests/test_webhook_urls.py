"""Where a webhook may point (DESIGN section 17): no link-local, multicast, 0.0.0.0 or cloud metadata address
ever; loopback and private ones only while the server binds loopback; the address checked again at connect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend.app import create_app
from backend.store.migrate import upgrade
from backend.webhooks_out.urls import AddressPolicy
from tests.webhook_support import add_endpoint, default_account, deliveries, receiver, verified


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://169.254.10.1/hook", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.251/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://0.0.0.0:8080/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://100.100.100.200/hook", "metadata"),
        ("http://[fd00:ec2::254]/hook", "metadata"),
        ("http://[::ffff:169.254.169.254]/hook", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("ftp://127.0.0.1/hook", "http and https"),
        ("file:///etc/passwd", "http and https"),
        ("http://user:pw@127.0.0.1/hook", "password"),
        ("http://127.0.0.1:99999/hook", "port"),
        ("not a url", "http"),
    ],
)
def test_it_refuses_a_forbidden_url_with_400(client, auth, url, why) -> None:
    response = client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=auth)
    assert response.status_code == 400
    assert why in response.get_json()["message"] and response.get_json()["details"][0]["field"] == "url"


def test_it_accepts_loopback_and_private_addresses_while_bound_to_loopback(client, auth) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "https://10.1.2.3/hook", "http://[::1]:9/"):
        assert client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=auth).status_code == 201


@pytest.fixture
def public_client(make_config: Any) -> Iterator[tuple[Any, dict[str, str]]]:
    """An app whose server binds every interface (0.0.0.0)."""
    app = create_app(make_config(host="0.0.0.0"))  # noqa: S104 - the configuration under test
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield app.test_client(), {"Authorization": f"Bearer {services.account_token()}"}
    services.db.dispose()


def test_it_refuses_loopback_and_private_addresses_when_the_server_is_public(public_client) -> None:
    client, auth = public_client
    for url in ("http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://192.168.1.10/hook", "http://[fc00::1]/"):
        response = client.post("/api/webhooks", json={"url": url, "events": ["*"]}, headers=auth)
        assert response.status_code == 400 and "private" in response.get_json()["message"], url


def test_it_checks_the_address_again_when_it_connects(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    answers = {"hooks.example.test": ["127.0.0.1"]}
    services.webhooks_out.policy = AddressPolicy(allow_private=True, resolver=lambda host, _port: answers[host])
    url = r.url.replace("127.0.0.1", "hooks.example.test")
    hook = add_endpoint(client, auth, url)
    account = default_account(services)
    services.hub.emit(account, "channel.status", "One", data={"state": "ready"})
    services.webhooks_out.run_once()
    assert [verified(hook["secret"], got)["data"]["state"] for got in r.received] == ["ready"]
    assert r.received[0].headers["host"] == f"hooks.example.test:{r.server.server_port}"

    answers["hooks.example.test"] = ["169.254.169.254"]  # the name now points at the metadata service
    services.hub.emit(account, "channel.status", "Two", data={"state": "error"})
    services.webhooks_out.run_once()
    latest = deliveries(client, auth, hook["id"])[0]
    assert latest["status"] == "pending" and latest["response_status"] is None
    assert latest["last_error"] == "Refused: 169.254.169.254 is a cloud metadata address"
    assert len(r.received) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"url": 5, "events": ["*"]},
        {"url": "http://127.0.0.1:9/", "events": "everything"},
        {"url": "http://127.0.0.1:9/", "events": []},
        {"url": "http://127.0.0.1:9/", "events": ["message.deleted"]},
        {"url": "http://127.0.0.1:9/", "events": [["*"]]},
        {"url": "http://127.0.0.1:9/", "events": ["*"], "include_body": "yes"},
        {"url": "http://127.0.0.1:9/" + "a" * 3000, "events": ["*"]},
    ],
)
def test_it_answers_a_malformed_webhook_400(client, auth, body) -> None:
    response = client.post("/api/webhooks", json=body, headers=auth)
    assert response.status_code == 400 and response.get_json()["details"]
    hook = client.post("/api/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["*"]}, headers=auth).get_json()
    patched = client.patch(f"/api/webhooks/{hook['id']}", json=body, headers=auth)
    assert patched.status_code == 400
