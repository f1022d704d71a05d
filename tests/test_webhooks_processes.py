"""Several processes on one PostgreSQL share the outgoing webhooks through endpoint leases: each event reaches
each endpoint once, while events keep arriving and both processes pass over every endpoint."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from backend.app import create_app
from backend.store.migrate import upgrade
from tests.helpers import wait_for
from tests.webhook_support import add_endpoint, default_account, receiver, verified

pytestmark = pytest.mark.postgres

ENDPOINTS = 4
EVENTS = 150


def test_it_delivers_each_event_once_per_endpoint_across_two_processes(
    make_config, pg_url, receivers, tmp_path
) -> None:
    config = make_config(database_url=pg_url)
    app = create_app(config)
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {services.account_token()}"}
    hooks = [(receiver(receivers), None) for _ in range(ENDPOINTS)]
    hooks = [(r, add_endpoint(client, auth, r.url, ["campaign.status"])) for r, _ in hooks]
    account = default_account(services)
    stop = tmp_path / "stop"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.webhook_process", str(config.data_dir), pg_url, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for n in range(EVENTS):
            services.hub.emit(account, "campaign.status", f"Event {n}", data={"n": n})
        wait_for(
            lambda: all(len(r.received) >= EVENTS for r, _ in hooks),
            timeout=60,
            interval=0.2,
            what="every endpoint to get every event",
        )
    finally:
        stop.touch()
        outputs = [w.communicate(timeout=60) for w in workers]
    for r, hook in hooks:
        assert hook is not None
        numbers = Counter(verified(hook["secret"], got)["data"]["n"] for got in r.received)
        assert sorted(numbers) == list(range(EVENTS)) and set(numbers.values()) == {1}
        assert len({got.headers["webhook-id"] for got in r.received}) == EVENTS
    passes = [int(out.split()[1]) for out, _err in outputs]
    assert all(p > 0 for p in passes), outputs  # both processes did part of the work
    services.db.dispose()


@pytest.fixture
def pg_app(make_config: Any, pg_url: str) -> Iterator[Any]:
    app = create_app(make_config(database_url=pg_url))
    upgrade(app.extensions["bulkmsg"].db)
    yield app
    app.extensions["bulkmsg"].db.dispose()


def test_it_waits_for_an_event_that_commits_after_a_later_one(pg_app, receivers) -> None:
    services, client = pg_app.extensions["bulkmsg"], pg_app.test_client()
    auth = {"Authorization": f"Bearer {services.account_token()}"}
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url, ["campaign.status"])
    account = default_account(services)
    with services.db.write() as session:
        services.hub.record(session, account, "campaign.status", "Early", data={"n": 0})  # takes its id now
        services.hub.emit(account, "campaign.status", "Late", data={"n": 1})  # a later id, committed first
        services.webhooks_out.run_once()
        assert r.received == []  # the cursor does not pass the id still in flight
    services.webhooks_out.run_once()
    assert [verified(hook["secret"], got)["data"]["n"] for got in r.received] == [0, 1]


def test_it_passes_an_id_that_was_rolled_back_after_the_grace(pg_app, receivers) -> None:
    services, client = pg_app.extensions["bulkmsg"], pg_app.test_client()
    auth = {"Authorization": f"Bearer {services.account_token()}"}
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url, ["campaign.status"])
    account = default_account(services)
    services.webhooks_out.horizon.grace_s = 0.5
    with pytest.raises(RuntimeError), services.db.write() as session:
        services.hub.record(session, account, "campaign.status", "Never", data={"n": -1})
        raise RuntimeError("rolled back")
    services.hub.emit(account, "campaign.status", "After", data={"n": 1})
    services.webhooks_out.run_once()
    assert r.received == []  # a young gap: it may still commit
    wait_for(
        lambda: services.webhooks_out.run_once() and r.received,
        timeout=10,
        interval=0.2,
        what="the event after the rolled-back id",
    )
    assert [verified(hook["secret"], got)["data"]["n"] for got in r.received] == [1]
